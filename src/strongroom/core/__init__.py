"""Shared floor: archive layout, collections, the ledger, atomic files, output, policy."""

# Where the archive is when no --archive is given. Here rather than in archive.py
# so that the CLI's --archive option is defined without importing the archive's
# types: `strongroom capture --help` and shell completion start a fifth faster.
ENV_ARCHIVE = "STRONGROOM_ARCHIVE"
DEFAULT_ARCHIVE = "archive"
