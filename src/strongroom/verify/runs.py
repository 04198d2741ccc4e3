"""What verify checks and what one check of a bag found: ``Target`` and ``BagRun``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strongroom.core.archive import Archive
from strongroom.core.fsutil import is_within
from strongroom.errors import UsageError
from strongroom.verify.findings import BagReport, Problem, show


@dataclass(frozen=True)
class Target:
    """A bag to check: ``bag_id`` is set when the bag belongs to the archive."""

    path: Path
    bag_id: str | None = None

    @property
    def name(self) -> str:
        return self.bag_id or show(str(self.path))


def resolve_targets(archive: Archive, items: Sequence[str]) -> list[Target]:
    """``BAG-ID`` resolves against ``<archive>/bags/``; anything else must be a folder."""
    targets: list[Target] = []
    for item in items:
        candidate = archive.bags / item
        if "/" not in item and item not in (".", "..") and candidate.is_dir():
            targets.append(Target(candidate, item))
            continue
        path = Path(item)
        if not path.is_dir():
            raise UsageError(f"{show(item)}: not a bag id in {archive.bags} and not a folder")
        path = path.absolute()
        # a path that points into the archive's bags folder is an archive bag
        if archive.bags.is_dir() and is_within(archive.bags, path):
            rel = path.resolve().relative_to(archive.bags.resolve())
            if len(rel.parts) == 1:
                targets.append(Target(archive.bags / rel.parts[0], rel.parts[0]))
                continue
        targets.append(Target(path))
    return targets


def all_targets(archive: Archive) -> list[Target]:
    return [Target(archive.bag_dir(b), b) for b in archive.bag_ids()]


@dataclass
class BagRun:
    """The outcome of checking one bag."""

    target: Target
    mode: str
    started: str
    ended: str = ""
    seconds: float = 0.0
    report: BagReport | None = None
    outside: list[Problem] = field(default_factory=list)
    error: str | None = None  # something prevented a verdict
    notes: list[str] = field(default_factory=list)  # the RFC 3161 time, a profile note
    # the custody check (the head it was checked against, its report), for record_run
    custody: tuple[Any, Any] | None = None
    prepared: Any = None  # the custody line a worker built ahead (bag.custody.PreparedLine)

    @property
    def problems(self) -> list[Problem]:
        return (self.report.problems if self.report else []) + self.outside

    @property
    def result(self) -> str:
        if self.error is not None:
            return "error"
        return "invalid" if self.problems else "valid"

    def to_dict(self) -> dict[str, Any]:
        rep = self.report.to_dict() if self.report else {}
        rep["problems"] = [p.to_dict() for p in self.problems]
        return {
            "bag": self.target.bag_id,
            "path": str(self.target.path),
            "mode": self.mode,
            "result": self.result,
            "error": self.error,
            "started": self.started,
            "ended": self.ended,
            "seconds": round(self.seconds, 3),
            "notes": self.notes,
            **{k: v for k, v in rep.items() if k not in ("path", "mode")},
        }
