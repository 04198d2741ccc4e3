"""Allow ``python -m strongroom``."""

from strongroom.cli import main

main()
