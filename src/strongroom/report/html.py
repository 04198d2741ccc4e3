"""The archive report: a small self-contained HTML site about the whole archive.

An index page leads with what needs action, then the summary (collections,
bags, access levels, takedowns on a timeline, nodes, access changes) and one
line per collection linking its pages; each collection has pages of at most
``PAGE_BAGS`` bags, with their seeds' live status, each bag's size, fixity,
access level, designations and copies. So every page stays small however large
the archive grows, and the data comes from one bounded snapshot of the ledger
(one row per bag, per URL and per copy; no bag-info read, no query per bag).

No page makes an outside request, not even for fonts: CSS is inline, charts are
inline SVG drawn here, and there is no JavaScript. Jinja2 autoescaping keeps
hostile strings from bags and live pages (titles, URLs) inert. The site is
written atomically (see ``report.site``): a crash leaves the previous report or
the new one, complete.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote  # imported once: a from-import per bag cost 8 µs

from strongroom import SOFTWARE
from strongroom.core.archive import Archive
from strongroom.core.ledger import Ledger, open_ledger, utcnow
from strongroom.core.rows import BagFacts, WatchLatest, oxum
from strongroom.core.ui import human_bytes
from strongroom.report.attention import attention, last_report_time, note_report_time
from strongroom.report.charts import fixity_svg, parse_time, timeline_svg
from strongroom.report.rows import TAKEDOWN_STATUSES
from strongroom.report.status import (
    Snapshot,
    collector_paused,
    is_overdue,
    overdue_line,
    replication_view,
)

TAKEDOWNS_SHOWN = 500
# `strongroom replay` serves here by default; the report's replay links point at it.
REPLAY_BASE = "http://127.0.0.1:8080"
MAX_THUMBNAILS = 200
_NOT_DIGITS = re.compile(r"[^0-9]+")
_URL_SAFE = ":/?&=%#;,+@!$'()*~"  # kept as they are in a replay link's URL
_URL_PLAIN = re.compile(r"[A-Za-z0-9_.\-~:/?&=%#;,+@!$'()*]*")  # what quote leaves unchanged
PAGE_BAGS = 500  # bags per collection page: a page stays a few hundred KB


@dataclass(slots=True)
class BagRow:
    """One bag as the report shows it."""

    bag_id: str
    collection_id: str
    title: str
    access: str
    size: int
    files: int
    created: str
    seeds: list[str]
    designations: list[str]
    runs: int = 0  # how many fixity runs the ledger holds
    last_fixity: dict[str, Any] | None = None  # result, started, ended, mode of the latest
    fixity_svg: str = ""
    timestamp: str = ""  # RFC 3161: "timestamped <time> by <TSA>" or "timestamp pending"
    copies: list[dict[str, Any]] = field(default_factory=list)
    jurisdictions: list[str] = field(default_factory=list)
    compliant: bool | None = None
    replication_problems: list[str] = field(default_factory=list)
    signed: bool = False
    overdue: bool = False
    replay_url: str = ""
    thumbnail: str = ""  # a data: URI (the page loads nothing from outside)

    @property
    def size_h(self) -> str:
        return human_bytes(self.size)


def _bag_size(bag_dir: Path) -> tuple[int, int]:
    total = files = 0
    for p in bag_dir.rglob("*"):
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_size
            files += 1
    return total, files


def _stamp_line(latest: tuple[str, dict[str, Any]] | None) -> str:
    """One line on a bag's trusted timestamp, from the ledger's latest event."""
    if latest is None:
        return ""
    outcome, detail = latest
    if outcome == "pending":
        return "RFC 3161 timestamp pending"
    return f"timestamped {detail.get('time', '?')} by {detail.get('tsa', '?')} (RFC 3161)"


def _unknown_bag(archive: Archive, bag_id: str) -> BagRow:
    """A bag on disk that the ledger does not know: everything from its tag files."""
    from strongroom.bag.access import bag_designations
    from strongroom.bag.baginfo import first, read_bag_info
    from strongroom.replay.pywb import read_bag

    rb = read_bag(archive, bag_id)
    bag_dir = archive.bag_dir(bag_id)
    info = read_bag_info(bag_dir)
    size, files = oxum(first(info, "Payload-Oxum")) or _bag_size(bag_dir)
    row = BagRow(
        bag_id=bag_id,
        collection_id=rb.collection_id,
        title=rb.title,
        access=rb.access,
        size=size,
        files=files,
        created="",
        seeds=list(rb.seeds),
        designations=[d.label() for d in bag_designations(archive, bag_id)],
        signed=(bag_dir / "tagmanifest-sha512.txt.sig").is_file(),
        overdue=True,
    )
    row.fixity_svg = fixity_svg(0, None, None, (None, None), dt.datetime.now(dt.UTC))
    start = first(info, "Crawl-Start")
    row.replay_url = _replay_url(start, row.collection_id, row.access, row.seeds)
    return row


def _known_bag(
    archive: Archive,
    snap: Snapshot,
    facts: BagFacts,
    now: dt.datetime,
    line: tuple[dt.datetime, str],
) -> BagRow:
    """One bag from its facts row: no disk read but for an older or received bag whose
    payload size or signature no creation event recorded."""
    bag_id = facts.bag_id
    labels = facts.designations
    if labels is None:  # recorded before the ledger kept them: read its bag-info
        from strongroom.bag.access import bag_designations

        labels = [d.label() for d in bag_designations(archive, bag_id)]
    elif snap.archive_wide:
        from strongroom.core import policy

        labels = list(labels)
        for d in policy.designations_for_urls(facts.seeds, snap.archive_wide):
            labels += [d.label()] if d.label() not in labels else []
    size, files = facts.payload or _disk_size(archive, bag_id)
    signed = facts.signed
    if signed is None:
        signed = (archive.bag_dir(bag_id) / "tagmanifest-sha512.txt.sig").is_file()
    row = BagRow(
        bag_id=bag_id,
        collection_id=facts.collection_id,
        title=snap.titles(archive, facts.collection_id, bag_id),
        access=facts.access,
        size=size,
        files=files,
        created=facts.created,
        seeds=facts.seeds,
        designations=labels,
        runs=facts.runs,
        signed=signed,
    )
    if facts.fixity is not None:
        row.last_fixity = {
            "result": facts.fixity,
            "started": facts.fixity_started or "",
            "ended": facts.fixity_at,
            "mode": facts.fixity_mode or "",
        }
    row.fixity_svg = fixity_svg(
        facts.runs, facts.created, facts.last_good, (facts.fixity, facts.fixity_started), now
    )
    row.overdue = is_overdue(facts.fixity, facts.fixity_at, line)
    start = facts.crawl_start or facts.created
    row.replay_url = _replay_url(start, facts.collection_id, facts.access, facts.seeds)
    return row


def _disk_size(archive: Archive, bag_id: str) -> tuple[int, int]:
    """(payload bytes, files) from the bag's Payload-Oxum, else by walking it."""
    from strongroom.bag.baginfo import first, read_bag_info

    bag_dir = archive.bag_dir(bag_id)
    return oxum(first(read_bag_info(bag_dir), "Payload-Oxum")) or _bag_size(bag_dir)


def _replay_url(crawl_start: str, collection_id: str, access: str, seeds: list[str]) -> str:
    """Where ``strongroom replay`` shows the bag's first seed (none for dark bags)."""
    if access == "dark" or not seeds:
        return ""
    stamp = _NOT_DIGITS.sub("", crawl_start)
    name = collection_id if access == "public" else f"{collection_id}-restricted"
    seed = seeds[0]
    if not _URL_PLAIN.fullmatch(seed):  # quote leaves a plain URL as it is: skip its cost
        seed = quote(seed, safe=_URL_SAFE)
    return f"{REPLAY_BASE}/{name}/{stamp[:14]}/{seed}"


def _bag_rows(archive: Archive, snap: Snapshot, ledger: Ledger, now: dt.datetime) -> list[BagRow]:
    """Every bag on disk, from one snapshot of the ledger (bounded at any archive size)."""
    from strongroom.report.attention import thumbnail_uri

    rows = []
    line = overdue_line(now)
    for bag_id in sorted(snap.on_disk):
        facts = snap.facts.get(bag_id)
        if facts is None:
            row = _unknown_bag(archive, bag_id)
            fx = snap.orphans.get(bag_id)
            if fx is not None:
                row.last_fixity = {"result": fx.result, "started": "", "ended": fx.ended,
                                   "mode": ""}  # fmt: skip
                row.overdue = is_overdue(fx.result, fx.ended, line)
        else:
            row = _known_bag(archive, snap, facts, now, line)
        row.copies, row.jurisdictions, row.compliant, row.replication_problems = replication_view(
            archive, snap, bag_id
        )
        rows.append(row)
    stamps = ledger.latest_timestamps()
    for row in rows:
        row.timestamp = _stamp_line(stamps.get(row.bag_id))
    # Thumbnails for the newest bags only, so that the pages stay light.
    for row in sorted(rows, key=lambda r: r.created, reverse=True)[:MAX_THUMBNAILS]:
        row.thumbnail = thumbnail_uri(archive, row.bag_id)
    return rows


def _changes(ledger: Ledger, statuses: set[str]) -> list[dict[str, Any]]:
    """Watch results where a URL entered one of ``statuses``, oldest first."""
    return [
        {
            "time": r["checked_at"],
            "url": r["url"],
            "status": r["status"],
            "previous": r["previous_status"],
            "http_status": r["http_status"],
            "vantage": r["vantage"],
        }
        for r in ledger.status_changes(statuses, limit=TAKEDOWNS_SHOWN)
    ]


def _seed_row(url: str, latest: WatchLatest | None) -> dict[str, Any]:
    return {
        "url": url,
        "status": latest.status if latest else "not watched",
        "checked_at": latest.checked_at if latest else "",
        "http_status": latest.http_status if latest else None,
        "bags": [],
    }


def _collections(bags: list[BagRow], latest: dict[str, WatchLatest]) -> list[dict[str, Any]]:
    """Collections with their bags (in pages of ``PAGE_BAGS``), seeds and fixity counts."""
    collections: dict[str, dict[str, Any]] = {}
    for b in bags:
        c = collections.get(b.collection_id)
        if c is None:
            c = collections[b.collection_id] = {
                "id": b.collection_id, "title": b.title, "bags": [], "seeds": {},
                "valid": 0, "failed": 0, "never": 0, "bytes": 0,
            }  # fmt: skip
        c["bags"].append(b.bag_id)
        c["bytes"] += b.size
        last = b.last_fixity
        c["never" if last is None else "valid" if last["result"] == "valid" else "failed"] += 1
        for url in b.seeds:
            seed = c["seeds"].get(url)
            if seed is None:
                seed = c["seeds"][url] = _seed_row(url, latest.get(url))
            seed["bags"].append(b.bag_id)
    return [
        c | {"seeds": list(c["seeds"].values()), "bag_count": len(c["bags"]),
             "seed_count": len(c["seeds"]), "size": human_bytes(c["bytes"])}
        for c in collections.values()
    ]  # fmt: skip


def gather(archive: Archive, now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything the report shows, as plain data (also the ``--json`` document)."""
    now = now or dt.datetime.now(dt.UTC)
    archive.require()
    with open_ledger(archive.root) as ledger:
        snap = Snapshot.load(archive, ledger, None)
        bags = _bag_rows(archive, snap, ledger, now)
        takedowns = _changes(ledger, TAKEDOWN_STATUSES)
        edits = _changes(ledger, {"edited"})
        exports = ledger.events(types=("export", "access change"), limit=50)
        nodes = [{"name": name} | n for name, n in ledger.nodes().items()]
    access_counts: dict[str, int] = {"public": 0, "restricted": 0, "dark": 0}
    for b in bags:
        access_counts[b.access] = access_counts.get(b.access, 0) + 1
    since = last_report_time(archive)
    return {
        "generated": utcnow(),
        "today": now.date().isoformat(),  # the right end of every fixity chart
        "software": SOFTWARE,
        "organization": archive.config.organization,
        "jurisdiction": archive.config.jurisdiction,
        "archive": str(archive.root),
        "collections": _collections(bags, snap.watch),
        "bags": bags,
        "bag_count": len(bags),
        "takedowns": takedowns,
        "takedown_svg": timeline_svg(takedowns, now),
        "events": exports,
        "access_counts": access_counts,
        "total_size": human_bytes(sum(b.size for b in bags)),
        "policy": {
            "min_copies": archive.config.replication.min_copies,
            "min_jurisdictions": archive.config.replication.min_jurisdictions,
        },
        "since": since,
        "attention": attention(archive, bags, [*takedowns, *edits], since),
        "nodes": nodes,
        "page_size": PAGE_BAGS,
    }


def write_report(archive: Archive, output: Path | None = None) -> tuple[Path, dict[str, Any]]:
    """Write the report site (index default ``<archive>/report.html``); return path and data."""
    from strongroom.report.site import write_site

    with collector_paused():
        data = gather(archive)
        path = Path(output) if output else archive.root / "report.html"
        if path.is_dir():
            path = path / "report.html"
        write_site(path, data)
    note_report_time(archive, data["generated"])
    return path.absolute(), data


def summary(data: dict[str, Any]) -> dict[str, Any]:
    """A JSON-friendly summary of the report data."""
    return json.loads(
        json.dumps(
            {
                "generated": data["generated"],
                "collections": [
                    {"id": c["id"], "bags": c["bags"], "seeds": c["seeds"], "pages": c["pages"]}
                    for c in data["collections"]
                ],
                "bags": [
                    {
                        "bag_id": b.bag_id,
                        "access": b.access,
                        "size": b.size,
                        "fixity_runs": b.runs,
                        "last_fixity": b.last_fixity,
                        "copies": len(b.copies),
                        "jurisdictions": b.jurisdictions,
                        "designations": b.designations,
                    }
                    for b in data["bags"]
                ],
                "takedowns": data["takedowns"],
                "access_counts": data["access_counts"],
                "attention": data["attention"],
                "nodes": data.get("nodes", []),
            },
            default=str,
        )
    )


__all__ = ["BagRow", "gather", "parse_time", "summary", "write_report"]
