"""What needs action: the report's first panel, and the bits it is made from.

Each item names what is wrong and the command that deals with it, so that the
report reads as a to-do list: invalid bags, bags overdue for fixity, takedowns
and edits since the last report, bags below the copy policy, unsigned bags,
bags whose trusted timestamp is still pending.
When nothing needs action, the list is empty and the page says so.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from strongroom.core.archive import Archive
from strongroom.core.fsutil import atomic_write_bytes, atomic_write_text, read_only_fs

# Bags are strongroom.report.html.BagRow (not imported: html imports this module).
BagRow = Any

# A bag whose last good check is older than this is overdue; it matches the
# README's nightly cron line (verify --due --interval 30d).
OVERDUE_SECONDS = 30 * 86400
LAST_REPORT = ".report-last"
THUMB_SIZE = (320, 200)
# A screenshot bigger than this is not decoded for a thumbnail (decompression bombs).
MAX_SCREENSHOT_BYTES = 32 * 1024 * 1024
MAX_SCREENSHOT_PIXELS = 80_000_000


def last_report_time(archive: Archive) -> str | None:
    """When the previous report was written (None: this is the first)."""
    path = archive.root / LAST_REPORT
    try:
        text = path.read_text("utf-8").strip() if path.stat().st_size < 100 else ""
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def note_report_time(archive: Archive, when: str) -> None:
    """Remember when this report was written, for "since the last report".

    Not on a read-only archive (a mounted backup, an auditor's copy, reported with
    ``-o`` elsewhere): it cannot remember, and its original keeps its own time.
    """
    if read_only_fs(archive.root):
        return
    atomic_write_text(archive.root / LAST_REPORT, when + "\n")


def _item(kind: str, level: str, title: str, things: list[str], command: str) -> dict[str, Any]:
    return {"kind": kind, "level": level, "title": title, "items": things, "command": command}


def attention(
    archive: Archive,
    bags: list[BagRow],
    changes: list[dict[str, Any]],
    since: str | None,
) -> list[dict[str, Any]]:
    """The needs-attention list, most severe first; empty when all is well."""
    from strongroom.core.ui import plural

    found: list[dict[str, Any]] = []
    invalid = [b.bag_id for b in bags if b.last_fixity and b.last_fixity["result"] != "valid"]
    if invalid:
        found.append(
            _item(
                "invalid",
                "bad",
                f"{plural(len(invalid), 'bag')} failed the last fixity check",
                invalid,
                f"strongroom repair {invalid[0]}   (restores damaged files from a partner's"
                " good copy; then strongroom history BAG-ID)",
            )
        )
    news = [c for c in changes if since is None or str(c["time"]) > since]
    gone = [f"{c['url']} ({c['status']}, {c['time']})" for c in news if c["status"] != "edited"]
    if gone:
        found.append(
            _item(
                "takedowns",
                "bad",
                f"{plural(len(gone), 'page')} taken down since the last report",
                gone,
                "strongroom status   (this archive may hold the only copy: keep it replicated"
                " with strongroom replicate --all)",
            )
        )
    edited = [f"{c['url']} ({c['time']})" for c in news if c["status"] == "edited"]
    if edited:
        found.append(
            _item(
                "edits",
                "warn",
                f"{plural(len(edited), 'page')} edited since the last report",
                edited,
                "strongroom watch --all --recapture   (bags the new version beside the old one)",
            )
        )
    found += _policy_items(archive, bags)
    return found


def _policy_items(archive: Archive, bags: list[BagRow]) -> list[dict[str, Any]]:
    """Overdue, below the copy policy, unsigned, waiting for a timestamp."""
    from strongroom.core.ui import plural

    found: list[dict[str, Any]] = []
    overdue = [b.bag_id for b in bags if b.overdue]
    if overdue:
        found.append(
            _item(
                "overdue",
                "warn",
                f"{plural(len(overdue), 'bag')} overdue for fixity (no good check in 30 days)",
                overdue,
                "strongroom verify --due --interval 30d   (nightly from cron: see the README)",
            )
        )
    below = [b.bag_id for b in bags if b.compliant is False and b.access != "dark"]
    if below:
        policy = archive.config.replication
        command = "strongroom replicate --all"
        if not archive.partners_path.exists():
            command = (
                f"add partners to {archive.partners_path} (partners.example.toml explains"
                " each field), then strongroom replicate --all"
            )
        found.append(
            _item(
                "copies",
                "warn",
                f"{plural(len(below), 'bag')} below the copy policy"
                f" ({policy.min_copies} copies in {policy.min_jurisdictions} jurisdictions)",
                below,
                command,
            )
        )
    unsigned = [b.bag_id for b in bags if not b.signed]
    if unsigned:
        from strongroom.bag.signing import load_private_key

        has_key = load_private_key(archive.keys) is not None
        found.append(
            _item(
                "unsigned",
                "warn",
                f"{plural(len(unsigned), 'bag')} unsigned: partners cannot check their origin",
                unsigned,
                ("" if has_key else "strongroom keys init, then ")
                + "strongroom archive -c COLLECTION.toml   (new bags of these pages are signed)",
            )
        )
    pending = [b.bag_id for b in bags if "pending" in b.timestamp]
    if pending:
        found.append(
            _item(
                "timestamps",
                "warn",
                f"{plural(len(pending), 'bag')} waiting for a trusted timestamp (made offline)",
                pending,
                "strongroom timestamp --pending   (hourly from cron, once a TSA answers)",
            )
        )
    return found


def thumbnail_uri(archive: Archive, bag_id: str) -> str:
    """A small JPEG of the top of the bag's screenshot, as a data: URI ("" if none).

    Made once with Pillow and kept in ``<archive>/thumbnails/`` (a bag's payload
    never changes, so neither does its thumbnail). A screenshot that is too big,
    a symlink or not a PNG gets no thumbnail.
    """
    cache = archive.root / "thumbnails" / f"{bag_id}.jpg"
    if not cache.is_file():
        shot = _screenshot(archive.bag_dir(bag_id))
        data = _make_thumbnail(shot) if shot else None
        if data is None:
            return ""
        atomic_write_bytes(cache, data)
    return "data:image/jpeg;base64," + base64.b64encode(cache.read_bytes()).decode("ascii")


def _screenshot(bag_dir: Path) -> Path | None:
    folder = bag_dir / "data" / "derivatives"
    if not folder.is_dir() or folder.is_symlink():
        return None
    for p in sorted(folder.glob("*.png")):
        if p.is_file() and not p.is_symlink() and p.stat().st_size <= MAX_SCREENSHOT_BYTES:
            return p
    return None


def _make_thumbnail(path: Path) -> bytes | None:
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_SCREENSHOT_PIXELS
    try:
        with Image.open(path) as img:
            if img.format != "PNG":
                return None
            width = img.width
            top = img.crop((0, 0, width, min(img.height, width * THUMB_SIZE[1] // THUMB_SIZE[0])))
            top = top.convert("RGB")
            top.thumbnail(THUMB_SIZE)
            buf = io.BytesIO()
            top.save(buf, "JPEG", quality=72, optimize=True)
            return buf.getvalue()
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError):
        return None
