"""Watch stage: live checks of the sources for takedowns and edits."""
