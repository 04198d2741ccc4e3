"""strongroom: a preservation toolkit for web journalism at risk of takedown.

Capture pages into WARC files, package them as signed BagIt bags, verify their
fixity over time, watch the live sources, and share copies with partners.
Every command of the CLI is a thin wrapper over a function in this package, so
another program can use strongroom as a library.
"""

# The one place the version is set (pyproject.toml reads it from here): reading
# it back through importlib.metadata costs every command ~30 ms of start-up.
__version__ = "0.1.0"

SOFTWARE = f"strongroom/{__version__}"

__all__ = ["SOFTWARE", "__version__"]
