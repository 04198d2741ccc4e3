"""WARC files: writing records with our own digests, and reading them back."""
