"""Reading and writing ``bag-info.txt`` label lines (RFC 8493 section 2.2.2).

Labels may repeat (``Seed-URL``, ``Designation``), so a bag-info is a list of
(label, value) pairs, not a dict. Reading is tolerant of continuation lines
(leading whitespace) so that bags from other tools work; the strict checks
live in :mod:`strongroom.verify.validate`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strongroom.errors import UsageError

if TYPE_CHECKING:
    from strongroom.core.archive import Archive
    from strongroom.core.collection import Designation

MAX_BAG_INFO = 4 * 1024 * 1024  # far larger than any honest bag-info.txt
# The stable identifier of profiles/strongroom-web-archive-v1.0.json; a new
# profile version gets a new identifier, so old bags keep naming the old one.
PROFILE_ID = (
    "urn:strongroom:bagit-profile:web-archive:1.0"  # far larger than any honest bag-info.txt
)


def parse_bag_info(text: str) -> list[tuple[str, str]]:
    """Parse bag-info text into (label, value) pairs, joining continuation lines."""
    pairs: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line[0] in " \t" and pairs:
            label, value = pairs[-1]
            pairs[-1] = (label, f"{value} {line.strip()}")
            continue
        label, sep, value = line.partition(":")
        if not sep:
            continue
        pairs.append((label.strip(), value.strip()))
    return pairs


def read_bag_info(bag_dir: Path) -> list[tuple[str, str]]:
    """Read ``bag_dir/bag-info.txt`` (UTF-8, BOM tolerated); empty when absent."""
    path = Path(bag_dir) / "bag-info.txt"
    if not path.is_file() or path.is_symlink():
        return []
    if path.stat().st_size > MAX_BAG_INFO:
        raise UsageError(f"{path}: too large ({path.stat().st_size} bytes)")
    return parse_bag_info(path.read_bytes().decode("utf-8", "replace").lstrip("\ufeff"))


def values(pairs: Iterable[tuple[str, str]], label: str) -> list[str]:
    """Every value of a (case-insensitive) label, in order."""
    wanted = label.lower()
    return [v for k, v in pairs if k.lower() == wanted]


def first(pairs: Iterable[tuple[str, str]], label: str, default: str = "") -> str:
    found = values(pairs, label)
    return found[0] if found else default


def format_bag_info(pairs: Iterable[tuple[str, str]]) -> str:
    """Render pairs as bag-info text; CR/LF in values are folded to spaces."""
    lines = []
    for label, value in pairs:
        if ":" in label or not label.strip():
            raise ValueError(f"bad bag-info label {label!r}")
        clean = " ".join(str(value).split())
        lines.append(f"{label}: {clean}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class BagFacts:
    """What bag-info says about one new bag, gathered by the bagger."""

    bag_id: str
    collection_id: str
    seeds: Sequence[str]
    designations: Sequence[Designation]
    access: str
    files: int
    warcs: int
    total: int
    is_version_of: str | None
    fingerprint: str | None
    operator: str
    capture_id: str = ""


def build_bag_info(
    archive: Archive, meta: dict[str, Any], facts: BagFacts
) -> list[tuple[str, str]]:
    """The label lines of a new bag's bag-info.txt, in a stable order."""
    from strongroom import SOFTWARE
    from strongroom.core.ui import human_bytes

    cfg = archive.config
    coll = meta.get("collection") or {}
    curator = coll.get("curator") or {}
    if not isinstance(curator, dict):
        curator = {}
    configured = cfg.has_organization  # config.toml may hold only the inventory's place
    org = cfg.organization if configured else (curator.get("organization") or cfg.organization)
    title = str(coll.get("title") or "Ad-hoc captures")
    seeds = list(facts.seeds)
    pairs: list[tuple[str, str]] = [
        ("Source-Organization", str(org)),
        ("Contact-Name", cfg.contact_name or str(curator.get("name") or "")),
        ("Contact-Email", cfg.contact_email or str(curator.get("email") or "")),
        ("External-Identifier", facts.bag_id),
        ("External-Description", f"{title}: web capture of {', '.join(seeds) or 'no seeds'}"),
        ("Bagging-Date", dt.datetime.now(dt.UTC).date().isoformat()),
        ("Bag-Group-Identifier", facts.collection_id),
        ("Payload-Oxum", f"{facts.total}.{facts.files}"),
        ("Bag-Size", human_bytes(facts.total)),
        ("Bag-Software-Agent", SOFTWARE),
        ("Crawl-Start", str(meta.get("started") or "")),
        ("Crawl-End", str(meta.get("ended") or "")),
        ("Crawler-Software", str(meta.get("software") or "")),
        ("Crawl-Operator", facts.operator),
        # Labels the Beyond the Repository profile recommends, where we know them.
        ("Bag-Producing-Organization", str(org)),
        ("Organization-Address", cfg.address),
        ("Internal-Sender-Identifier", f"captures/{facts.capture_id}" if facts.capture_id else ""),
        ("Internal-Sender-Description", " ".join(str(coll.get("description") or "").split())),
        ("Bag-Count", "1 of 1"),  # a capture is always one bag
        ("BagIt-Profile-Identifier", PROFILE_ID),
    ]
    pairs += [("Seed-URL", s) for s in seeds]
    pairs.append(("WARC-Count", str(facts.warcs)))
    pairs += [("Designation", d.label()) for d in facts.designations]
    pairs.append(("Access", facts.access))
    embargo = coll.get("embargo_until")
    if isinstance(embargo, str) and embargo:
        pairs.append(("Embargo-Until", embargo))  # replay keeps the bag staff-only until then
    if facts.is_version_of:
        pairs.append(("Is-Version-Of", facts.is_version_of))
    if facts.fingerprint:
        pairs.append(("Signing-Key-Fingerprint", facts.fingerprint))
    # An empty label value is legal but useless; leave unset contact fields out.
    return [(k, v) for k, v in pairs if v != ""]
