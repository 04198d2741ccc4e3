"""Read-only views over the archive: the status table and the HTML report."""
