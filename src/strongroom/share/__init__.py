"""Share stage: partners, sending, export, receiving and repair."""
