"""strongroom: a preservation toolkit for web journalism at risk of takedown.

Capture pages into WARC files, package them as signed BagIt bags, verify their
fixity over time, watch the live sources, and share copies with partners.
Every command of the CLI is a thin wrapper over a function in this package, so
another program can use strongroom as a library.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("strongroom")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+src"

SOFTWARE = f"strongroom/{__version__}"

__all__ = ["SOFTWARE", "__version__"]
