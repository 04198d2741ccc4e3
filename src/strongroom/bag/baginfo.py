"""Reading and writing ``bag-info.txt`` label lines (RFC 8493 section 2.2.2).

Labels may repeat (``Seed-URL``, ``Designation``), so a bag-info is a list of
(label, value) pairs, not a dict. Reading is tolerant of continuation lines
(leading whitespace) so that bags from other tools work; the strict checks
live in :mod:`strongroom.verify.validate`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from strongroom.errors import UsageError

MAX_BAG_INFO = 4 * 1024 * 1024  # far larger than any honest bag-info.txt


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
