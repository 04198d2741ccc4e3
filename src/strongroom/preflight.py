"""What is checked before any work starts: a URL list, and every configuration file.

``capture`` and ``archive`` both run these before anything is fetched or
created. Kept apart from the main job (``workflow.py``) so that a capture
imports neither the job's records nor what it needs to bag and verify.
"""

from __future__ import annotations

import sys

from strongroom.core.archive import Archive
from strongroom.core.collection import Collection, validate_url
from strongroom.errors import UsageError

# A URL list bigger than this is a mistake (a WARC given by accident), not a crawl plan.
MAX_URL_LIST_BYTES = 16 * 1024 * 1024
UNSIGNED_WARNING = (
    "this archive has no signing key, so its bags will be unsigned;"
    " run `strongroom keys init` first to sign them"
)


def read_url_list(source: str) -> list[str]:
    """URLs from a plain text file, one a line (``-`` reads standard input).

    Blank lines and lines starting with ``#`` are skipped, as in wget's ``-i``.
    Every URL is checked before anything is fetched; an error names the line.
    """
    name = "standard input" if source == "-" else source
    try:
        if source == "-":
            raw = sys.stdin.buffer.read(MAX_URL_LIST_BYTES + 1)
        else:
            with open(source, "rb") as fh:
                raw = fh.read(MAX_URL_LIST_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read the URL list {name}: {exc.strerror or exc}") from None
    if len(raw) > MAX_URL_LIST_BYTES:
        raise UsageError(f"{name}: a URL list over 16 MiB is not a URL list")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{name}: not UTF-8 text (expected one URL a line)") from None
    urls: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            urls.append(validate_url(line, f"{name}, line {number}"))
    if not urls:
        raise UsageError(f"{name}: no URLs in it (one http:// or https:// URL a line)")
    return list(dict.fromkeys(urls))


def preflight(
    archive: Archive, collection: Collection | None = None, *, signing: bool = True
) -> list[str]:
    """Check every configuration before any work starts; return warnings.

    A mistake in ``config.toml``, ``designations.toml`` or ``partners.toml``
    raises ``UsageError`` now, not after the first seed was fetched (which
    would leave an orphan capture behind). The collection was checked when it
    was loaded. A missing signing key is only a warning: unsigned bags are
    still evidence, but partners cannot check where they came from.
    ``signing=False`` (``capture``, which never signs) skips the key: loading
    it imports the cryptography library, a twentieth of a capture's start-up.
    """
    _ = archive.config  # parses config.toml
    archive.designations()
    if archive.partners_path.exists():  # else there is nothing to check, nor to import
        try:
            from strongroom.share.partners import load_partners
        except ImportError:  # sharing is optional for capture
            pass
        else:
            load_partners(archive)
    warnings: list[str] = []
    if not signing:
        return warnings
    from strongroom.bag.signing import load_private_key

    if load_private_key(archive.keys) is None:
        warnings.append(UNSIGNED_WARNING)
    return warnings
