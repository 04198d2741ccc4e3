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

from strongroom.bag.baginfo import first, read_bag_info, values
from strongroom.core import policy
from strongroom.core.archive import Archive
from strongroom.core.collection import DEFAULT_COLLECTION_ID, Collection, Designation
from strongroom.core.ledger import FixityLatest, Ledger, WatchLatest, open_ledger
from strongroom.watch.baseline import BagRef, Target, latest_bag
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


@dataclass
class Snapshot:
    """What status needs from the ledger, read with a handful of bounded queries:
    one row per bag, per URL and per copy, never a whole history table."""

    on_disk: set[str]
    bags: dict[str, dict[str, Any]]
    fixity: dict[str, FixityLatest]
    watch: dict[str, WatchLatest]
    copies: dict[str, list[dict[str, Any]]]
    captured: dict[str, str]
    designations: list[Designation]
    no_jurisdiction: str = ""  # the problem a local copy without a jurisdiction states

    @classmethod
    def load(cls, archive: Archive, ledger: Ledger, collection: Collection | None) -> Snapshot:
        copies: dict[str, list[dict[str, Any]]] = {}
        for row in ledger.copies():
            copies.setdefault(row["bag_id"], []).append(row)
        return cls(
            on_disk=set(archive.bag_ids()),
            bags=ledger.bags(),
            fixity=ledger.latest_fixity(),
            watch=ledger.watch_latest(),
            copies=copies,
            captured=ledger.capture_ends(),
            designations=policy.all_designations(archive, collection),
            no_jurisdiction="this archive's jurisdiction is not set ([organization]"
            f" jurisdiction in {archive.config_path}); the local copy counts for no jurisdiction",
        )


def _refs(archive: Archive, snap: Snapshot) -> list[BagRef]:
    """The labels of every bag on disk: from the ledger, or bag-info for a bag it lacks."""
    refs = []
    for bag_id in sorted(snap.on_disk):
        row = snap.bags.get(bag_id)
        if row is None:
            info = read_bag_info(archive.bag_dir(bag_id))
            refs.append(
                BagRef(
                    bag_id,
                    first(info, "Bag-Group-Identifier"),
                    first(info, "Bagging-Date"),
                    first(info, "Is-Version-Of"),
                    values(info, "Seed-URL"),
                )
            )
        else:
            created = str(row["created"] or "")
            refs.append(
                BagRef(
                    bag_id,
                    str(row["collection_id"]),
                    created[:10],
                    str(row["is_version_of"] or ""),
                    [str(u) for u in row["seeds"]],
                )
            )
    return refs


def seed_targets(refs: list[BagRef], collection: Collection | None) -> list[Target]:
    """One target per seed, with its latest bag, as ``watch`` chooses them."""
    by_url: dict[str, list[BagRef]] = {}
    for r in refs:
        for url in r.seeds:
            by_url.setdefault(url, []).append(r)
    pairs: list[tuple[str, list[BagRef]]]
    if collection is None:
        pairs = [(url, by_url[url]) for url in sorted(by_url)]
    else:
        pairs = [
            (s.url, [r for r in by_url.get(s.url, []) if r.group in ("", collection.id)])
            for s in collection.seeds
        ]
    out = []
    for url, found in pairs:
        found = sorted(found, key=lambda r: (r.date, r.bag_id))
        head = latest_bag(found)
        cid = collection.id if collection else (head.group if head else "") or DEFAULT_COLLECTION_ID
        out.append(Target(url, cid, head.bag_id if head else None, [r.bag_id for r in found]))
    return out


def replication_counts(
    archive: Archive, snap: Snapshot, bag_id: str
) -> tuple[int, list[str], bool | None, list[str]]:
    """Copies, jurisdictions, compliance and problems, by share's replication rule
    (the local copy plus each ``ok`` copy at a partner), from the snapshot's rows."""
    rule = archive.config.replication
    own = archive.config.jurisdiction
    problems: list[str] = []
    juris: set[str] = set()
    count = 0
    if bag_id in snap.on_disk:
        count += 1
        if own:
            juris.add(own)
        else:
            problems.append(snap.no_jurisdiction)
    else:
        problems.append(f"no local copy in {archive.bags}")
    for row in snap.copies.get(bag_id, []):
        if row["status"] == "ok":
            count += 1
            if row["jurisdiction"]:
                juris.add(row["jurisdiction"])
        else:
            problems.append(f"copy at {row['partner']} is {row['status']} ({row['location']})")
    if count < rule.min_copies:
        problems.append(f"{count} of {rule.min_copies} copies")
    if len(juris) < rule.min_jurisdictions:
        problems.append(f"{len(juris)} of {rule.min_jurisdictions} jurisdictions")
    ok = count >= rule.min_copies and len(juris) >= rule.min_jurisdictions
    return count, sorted(juris), ok, problems


def _designation_labels(archive: Archive, snap: Snapshot, target: Target) -> list[str]:
    """Labels frozen in the seed's bags, then today's designations of its publisher."""
    labels: list[str] = []
    for bag_id in target.bags:
        row = snap.bags.get(bag_id)
        frozen = row.get("designations") if row else None
        if frozen is None:  # a bag made before the ledger kept them: read its bag-info
            frozen = [d.label() for d in policy.bag_designations(archive, bag_id)]
        labels += [str(x) for x in frozen if str(x) not in labels]
    if snap.designations:  # matching hosts costs a URL parse per seed
        for d in policy.designations_for_urls([target.url], snap.designations):
            if d.label() not in labels:
                labels.append(d.label())
    return labels


def _capture_time(archive: Archive, snap: Snapshot, bag_id: str) -> str:
    """When the bag's capture ended (ledger, else tags/capture.json), else its Bagging-Date."""
    row = snap.bags.get(bag_id)
    if row and row.get("capture_id") in snap.captured:
        return snap.captured[row["capture_id"]]
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


def seed_status(archive: Archive, snap: Snapshot, target: Target) -> SeedStatus:
    """The status row of one seed, from the snapshot (no query per seed)."""
    row = SeedStatus(
        url=target.url,
        collection_id=target.collection_id,
        latest_bag=target.bag_id,
        last_capture=_capture_time(archive, snap, target.bag_id) if target.bag_id else None,
    )
    for bag_id in target.bags:
        fx = snap.fixity.get(bag_id)
        known = snap.bags.get(bag_id)
        bagged = (
            str(known["created"])[:10]
            if known
            else first(read_bag_info(archive.bag_dir(bag_id)), "Bagging-Date")
        )
        row.bags.append(
            BagState(bag_id, bagged, fx.result if fx else None, fx.ended if fx else None)
        )
    live = snap.watch.get(target.url)
    if live is not None:
        row.live_status, row.live_since, row.live_checked_at = (
            live.status,
            live.since,
            live.checked_at,
        )
    row.designations = _designation_labels(archive, snap, target)
    if target.bag_id:
        known = snap.bags.get(target.bag_id)
        level = known.get("access") if known else None
        row.access = level if level else policy.current_access(archive, target.bag_id)
        (
            row.copies,
            row.jurisdictions,
            row.replication_ok,
            row.replication_problems,
        ) = replication_counts(archive, snap, target.bag_id)
    return row


def seed_statuses(archive: Archive, collection: Collection | None = None) -> list[SeedStatus]:
    """One status row per seed of the archive (or of one collection)."""
    archive.require()
    with open_ledger(archive.root) as ledger:
        snap = Snapshot.load(archive, ledger, collection)
    found = seed_targets(_refs(archive, snap), collection)
    return [seed_status(archive, snap, t) for t in found]
