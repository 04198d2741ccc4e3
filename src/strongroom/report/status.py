"""Status at a glance: one row per seed, from the bags, the ledger and the custody logs.

Each row joins what the archive knows about a seed: its latest capture, its
bags and their last fixity result, its live status (and since when), the legal
designations of its publisher, the access level of its latest bag, and how many
copies exist where. A row whose live page has been taken down says so loudly:
this archive may hold the only copy left.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from strongroom.bag.baginfo import first, read_bag_info
from strongroom.core import policy
from strongroom.core.archive import Archive
from strongroom.core.collection import Collection
from strongroom.core.ledger import Ledger, open_ledger
from strongroom.watch.baseline import Target, targets
from strongroom.watch.statuses import GEO_BLOCKED, TAKEDOWN

ALARM = "GONE LIVE — this archive may hold the only copy"


@dataclass
class BagState:
    bag_id: str
    bagged: str
    fixity: str | None  # valid | invalid | error | None (never checked)
    fixity_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "bag_id": self.bag_id,
            "bagged": self.bagged,
            "fixity": self.fixity,
            "fixity_at": self.fixity_at,
        }


@dataclass
class SeedStatus:
    url: str
    collection_id: str
    latest_bag: str | None
    last_capture: str | None
    bags: list[BagState] = field(default_factory=list)
    live_status: str | None = None
    live_since: str | None = None
    live_checked_at: str | None = None
    designations: list[str] = field(default_factory=list)
    access: str | None = None
    copies: int = 0
    jurisdictions: list[str] = field(default_factory=list)
    replication_ok: bool | None = None
    replication_problems: list[str] = field(default_factory=list)

    @property
    def alarm(self) -> str | None:
        """The loud warning, when the live page is gone for readers."""
        if self.live_status in TAKEDOWN:
            return ALARM
        if self.live_status == GEO_BLOCKED:
            return "BLOCKED in some places — copies elsewhere matter"
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "collection_id": self.collection_id,
            "latest_bag": self.latest_bag,
            "last_capture": self.last_capture,
            "bags": [b.as_dict() for b in self.bags],
            "live_status": self.live_status,
            "live_since": self.live_since,
            "live_checked_at": self.live_checked_at,
            "designations": self.designations,
            "access": self.access,
            "copies": self.copies,
            "jurisdictions": self.jurisdictions,
            "replication_ok": self.replication_ok,
            "replication_problems": self.replication_problems,
            "alarm": self.alarm,
        }


def live_history(ledger: Ledger, url: str) -> tuple[str | None, str | None, str | None]:
    """(status now, since when, last checked) from the ledger's latest watch row."""
    latest = ledger.watch_latest(url).get(url)
    if latest is None:
        return None, None, None
    return latest.status, latest.since, latest.checked_at


def last_fixity(ledger: Ledger, bag_id: str) -> tuple[str | None, str | None]:
    return ledger.last_fixity(bag_id)


def replication(archive: Archive, bag_id: str) -> tuple[int, list[str], bool | None, list[str]]:
    """Copies, jurisdictions, compliance and problems, from the share room."""
    from strongroom.share.replicate import replication_status

    rs = replication_status(archive, bag_id)
    return int(rs.copies), list(rs.jurisdictions), bool(rs.compliant), list(rs.problems)


def _capture_time(archive: Archive, bag_id: str) -> str:
    """When the bag's capture ended (tags/capture.json), else its Bagging-Date."""
    path = archive.bag_dir(bag_id) / "tags" / "capture.json"
    if path.is_file() and not path.is_symlink() and path.stat().st_size < 4 * 1024 * 1024:
        try:
            data = json.loads(path.read_bytes())
            when = data.get("ended") or data.get("started") if isinstance(data, dict) else None
            if isinstance(when, str) and when:
                return when
        except (ValueError, UnicodeDecodeError):
            pass
    info = read_bag_info(archive.bag_dir(bag_id))
    return first(info, "Crawl-End") or first(info, "Bagging-Date")


def seed_status(
    archive: Archive, ledger: Ledger, target: Target, collection: Collection | None
) -> SeedStatus:
    """The status row of one seed."""
    row = SeedStatus(
        url=target.url,
        collection_id=target.collection_id,
        latest_bag=target.bag_id,
        last_capture=_capture_time(archive, target.bag_id) if target.bag_id else None,
    )
    for bag_id in target.bags:
        result, at = last_fixity(ledger, bag_id)
        bagged = first(read_bag_info(archive.bag_dir(bag_id)), "Bagging-Date")
        row.bags.append(BagState(bag_id, bagged, result, at))
    row.live_status, row.live_since, row.live_checked_at = live_history(ledger, target.url)
    labels: list[str] = []
    for bag_id in target.bags:
        for d in policy.bag_designations(archive, bag_id):
            if d.label() not in labels:
                labels.append(d.label())
    for d in policy.designations_for_urls(
        [target.url], policy.all_designations(archive, collection)
    ):
        if d.label() not in labels:
            labels.append(d.label())
    row.designations = labels
    if target.bag_id:
        row.access = policy.current_access(archive, target.bag_id)
        (
            row.copies,
            row.jurisdictions,
            row.replication_ok,
            row.replication_problems,
        ) = replication(archive, target.bag_id)
    return row


def seed_statuses(archive: Archive, collection: Collection | None = None) -> list[SeedStatus]:
    """One status row per seed of the archive (or of one collection)."""
    archive.require()
    found = targets(archive, collection)
    with open_ledger(archive.root) as ledger:
        return [seed_status(archive, ledger, t, collection) for t in found]
