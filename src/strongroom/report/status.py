"""Status at a glance: one row per seed, from the bags, the ledger and the custody logs.

Each row joins what the archive knows about a seed: its latest capture, its
bags and their last fixity result, its live status (and since when), the legal
designations of its publisher, the access level of its latest bag, and how many
copies exist where. A row whose live page has been taken down says so loudly:
this archive may hold the only copy left.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strongroom.bag.baginfo import first, read_bag_info, values
from strongroom.core.archive import Archive
from strongroom.core.collection import DEFAULT_COLLECTION_ID, Collection, Designation
from strongroom.core.ledger import Ledger, open_ledger
from strongroom.core.rows import BagFacts, FixityLatest, WatchLatest
from strongroom.watch.baseline import BagRef, Target, latest_bag
from strongroom.watch.statuses import GEO_BLOCKED, TAKEDOWN

if TYPE_CHECKING:
    from rich.console import Group
    from rich.table import Table

    from strongroom.capture.record import CaptureRecord

ALARM = "GONE LIVE — this archive may hold the only copy"
# A bag whose last good check is older than this is overdue; it matches the
# nightly cron line of the README (verify --due --interval 30d).
OVERDUE_SECONDS = 30 * 86400
FIXITY_RANK = {"invalid": 0, "error": 1, None: 2, "valid": 3}
# A time as the ledger writes it (utcnow); such times compare as text.
_CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@contextlib.contextmanager
def collector_paused(*, freeze: bool = False) -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a snapshot's rows are built.

    Status and the report build a few hundred thousand small objects that hold no
    cycles and live until the command ends; each pass of the collector walks all
    of them again, and those passes were half of ``status`` at 10,000 bags.
    Reference counting still frees everything else meanwhile. ``freeze``, for a
    command that ends its process: what is alive at the end is frozen rather
    than walked once more when the collector resumes and again at exit.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was:
            gc.enable()


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
    def fixity(self) -> str | None:
        """The worst last result over the seed's bags (``None``: some never checked)."""
        if not self.bags:
            return None
        return min((b.fixity for b in self.bags), key=lambda f: FIXITY_RANK.get(f, 1))

    def overdue(
        self, now: dt.datetime | None = None, line: tuple[dt.datetime, str] | None = None
    ) -> list[str]:
        """Bags never checked, or whose last good check is over 30 days old (``line``:
        ``overdue_line(now)``, worked out once by a caller that asks for every seed)."""
        line = line or overdue_line(now or dt.datetime.now(dt.UTC))
        return [b.bag_id for b in self.bags if is_overdue(b.fixity, b.fixity_at, line)]

    @property
    def alarm(self) -> str | None:
        """The loud warning, when the live page is gone for readers."""
        if self.live_status in TAKEDOWN:
            return ALARM
        if self.live_status == GEO_BLOCKED:
            return "BLOCKED in some places — copies elsewhere matter"
        return None

    def as_dict(
        self, now: dt.datetime | None = None, line: tuple[dt.datetime, str] | None = None
    ) -> dict[str, Any]:
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
            "overdue": self.overdue(now, line),
        }


def status_documents(
    rows: list[SeedStatus], now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Every row as ``status --json`` prints it, against one clock reading."""
    line = overdue_line(now or dt.datetime.now(dt.UTC))
    with collector_paused():
        return [r.as_dict(line=line) for r in rows]


def overdue_line(now: dt.datetime) -> tuple[dt.datetime, str]:
    """The time before which a good check is late, also as the ledger writes times
    (formatted by hand: strftime costs more than all the comparisons it serves)."""
    c = now - dt.timedelta(seconds=OVERDUE_SECONDS)
    return c, f"{c.year:04d}-{c.month:02d}-{c.day:02d}T{c.hour:02d}:{c.minute:02d}:{c.second:02d}Z"


def is_overdue(fixity: str | None, at: str | None, line: tuple[dt.datetime, str]) -> bool:
    """Never checked, or the last check (``fixity`` at ``at``) was good but is older than
    ``line`` (a failed check is a problem of its own, not a late one)."""
    if fixity is None:
        return True
    if fixity != "valid" or not at:
        return False
    if len(at) == 20 and _CANONICAL.fullmatch(at):  # the ledger's own format: as text
        return at < line[1]
    when = _parse_time(at)
    return when is not None and when < line[0]


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


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
    """What status and the report need from the ledger, read with a handful of
    bounded queries: one row per bag, per URL and per copy, never a history table."""

    on_disk: set[str]
    facts: dict[str, BagFacts]
    watch: dict[str, WatchLatest]
    copies: dict[str, list[dict[str, Any]]]
    designations: list[Designation]  # archive-wide and the collection's
    archive_wide: tuple[Designation, ...] = ()
    # the latest fixity run of bags on disk that the bags table lacks (rarely any)
    orphans: dict[str, FixityLatest] = field(default_factory=dict)
    _titles: dict[str, str] = field(default_factory=dict)
    # replication counts of a bag without copies that stands alone, by whether it is here
    lone_counts: dict[bool, tuple[int, list[str], bool, list[str]]] = field(default_factory=dict)
    lone_views: dict[bool, tuple[list[dict[str, Any]], list[str], bool, list[str]]] = field(
        default_factory=dict
    )
    bags_dir: str = ""  # the archive's bags folder and a separator: a bag's path is one +

    def titles(self, archive: Archive, collection_id: str, bag_id: str) -> str:
        """A collection's title, read once from its first bag's tag files."""
        if collection_id not in self._titles:
            self._titles[collection_id] = bag_title(archive, bag_id)
        return self._titles[collection_id]

    @classmethod
    def load(cls, archive: Archive, ledger: Ledger, collection: Collection | None) -> Snapshot:
        copies: dict[str, list[dict[str, Any]]] = {}
        for row in ledger.copies():
            copies.setdefault(row["bag_id"], []).append(row)
        wide = archive.designations()
        designations: list[Designation] = []
        if wide or (collection is not None and collection.designations):
            from strongroom.core import policy  # its import costs start-up most runs skip

            designations = policy.all_designations(archive, collection)
        facts = ledger.bag_facts()
        on_disk = set(archive.bag_ids(known=facts))
        orphans = ledger.latest_fixity() if not on_disk <= facts.keys() else {}
        return cls(
            on_disk=on_disk,
            facts=facts,
            watch=ledger.watch_latest(),
            copies=copies,
            designations=designations,
            archive_wide=wide,
            orphans=orphans,
            bags_dir=os.path.join(archive.bags, ""),
        )


def bag_title(archive: Archive, bag_id: str) -> str:
    """The collection title in a bag's tags/capture.json, else its External-Description
    (as replay names the bag), without reading its custody log."""
    record = _capture_record(archive, bag_id)
    if record is not None and record.collection.title:
        return record.collection.title
    return first(read_bag_info(archive.bag_dir(bag_id)), "External-Description")


def _capture_record(archive: Archive, bag_id: str) -> CaptureRecord | None:
    """The bag's capture record, read by the one parser bag, replay and watch use.

    A damaged or newer record is passed over here without a word: status only
    enriches what it shows, and ``verify`` names the damage.
    """
    from strongroom.bag.record import bag_capture_record  # the status path stays light

    return bag_capture_record(archive.bag_dir(bag_id))[0]


def _refs(archive: Archive, snap: Snapshot) -> list[BagRef]:
    """The labels of every bag on disk: from the ledger, or bag-info for a bag it lacks."""
    refs = []
    for bag_id in sorted(snap.on_disk):
        row = snap.facts.get(bag_id)
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
            refs.append(
                BagRef(bag_id, row.collection_id, row.created[:10], row.is_version_of, row.seeds)
            )
    return refs


def seed_targets(refs: list[BagRef], collection: Collection | None) -> list[Target]:
    """One target per seed, with its latest bag, as ``watch`` chooses them."""
    by_url: dict[str, list[BagRef]] = {}
    for r in refs:
        for url in r.seeds:
            by_url.setdefault(url, []).append(r)
    pairs: list[tuple[str, list[BagRef], Any]]
    if collection is None:
        pairs = [(url, by_url[url], None) for url in sorted(by_url)]
    else:
        pairs = [
            (s.url, [r for r in by_url.get(s.url, []) if r.group in ("", collection.id)], s)
            for s in collection.seeds
        ]
    out = []
    for url, found, seed in pairs:
        if len(found) > 1:
            found = sorted(found, key=lambda r: (r.date, r.bag_id))
            head = latest_bag(found)
        else:  # one bag (most seeds): it is the latest
            head = found[0] if found else None
        cid = collection.id if collection else (head.group if head else "") or DEFAULT_COLLECTION_ID
        bag_ids = [r.bag_id for r in found]
        out.append(Target(url, cid, head.bag_id if head else None, bag_ids, seed=seed))
    return out


def replication_counts(
    archive: Archive, snap: Snapshot, bag_id: str
) -> tuple[int, list[str], bool | None, list[str]]:
    """Copies, jurisdictions, compliance and problems, by share's replication rule,
    from the snapshot's copy rows (no ledger query per bag).

    A bag with no copy elsewhere that stands alone has the same counts and
    problems as every other such bag (only its local copy counts), so those are
    worked out once per run: most bags of a large archive are in that case.
    """
    row = snap.facts.get(bag_id)
    key = None
    if bag_id not in snap.copies and row is not None and row.alone:
        key = bag_id in snap.on_disk
        if key in snap.lone_counts:
            copies, juris, ok, problems = snap.lone_counts[key]
            return copies, list(juris), ok, list(problems)
    rs = replication(archive, snap, bag_id)
    found = int(rs.copies), list(rs.jurisdictions), bool(rs.compliant), list(rs.problems)
    if key is not None:
        snap.lone_counts[key] = found
    return found


def replication_view(
    archive: Archive, snap: Snapshot, bag_id: str
) -> tuple[list[dict[str, Any]], list[str], bool, list[str]]:
    """(locations, jurisdictions, compliance, problems) of a bag, for the report.

    As in ``replication_counts``, a lone bag (no copy elsewhere, standing alone)
    is worked out once per run: only its local copy's location differs.
    """
    row = snap.facts.get(bag_id)
    if bag_id in snap.copies or row is None or not row.alone:
        rs = replication(archive, snap, bag_id)
        return rs.locations, rs.jurisdictions, rs.compliant, rs.problems
    key = bag_id in snap.on_disk
    template = snap.lone_views.get(key)
    if template is None:
        rs = replication(archive, snap, bag_id)
        template = snap.lone_views[key] = (
            rs.locations,
            rs.jurisdictions,
            rs.compliant,
            rs.problems,
        )
    locations, juris, ok, problems = template
    here = snap.bags_dir + bag_id  # os.path.join per bag cost more than the rest of this
    return [loc | {"location": here} for loc in locations], list(juris), ok, list(problems)


def replication(archive: Archive, snap: Snapshot, bag_id: str) -> Any:
    """share's ``ReplicationStatus`` of a bag, from the snapshot's copy rows."""
    from strongroom.share.replicate import replication_status

    row = snap.facts.get(bag_id)
    return replication_status(
        archive,
        bag_id,
        copies=lambda b: snap.copies.get(b, []),
        stands_alone=row is not None and row.alone,
        present=bag_id in snap.on_disk,
    )


def _designation_labels(archive: Archive, snap: Snapshot, target: Target) -> list[str]:
    """Labels frozen in the seed's bags, then today's designations of its publisher."""
    if len(target.bags) == 1 and not snap.designations:  # most seeds: one bag's labels
        row = snap.facts.get(target.bags[0])
        if row is not None and row.designations is not None:
            return list(dict.fromkeys(row.designations))
    labels: list[str] = []
    for bag_id in target.bags:
        row = snap.facts.get(bag_id)
        frozen = row.designations if row else None
        if frozen is None:  # a bag made before the ledger kept them: read its bag-info
            from strongroom.bag.access import bag_designations  # (custody: start-up)

            frozen = [d.label() for d in bag_designations(archive, bag_id)]
        labels += [x for x in frozen if x not in labels]
    if snap.designations:  # matching hosts costs a URL parse per seed
        from strongroom.core import policy

        for d in policy.designations_for_urls([target.url], snap.designations):
            if d.label() not in labels:
                labels.append(d.label())
    return labels


def _capture_time(archive: Archive, snap: Snapshot, bag_id: str) -> str:
    """When the bag's capture ended (ledger, else tags/capture.json), else its Bagging-Date."""
    row = snap.facts.get(bag_id)
    if row is not None and row.crawl_end:
        return row.crawl_end
    record = _capture_record(archive, bag_id)
    if record is not None and (record.ended or record.started):
        return record.ended or record.started
    info = read_bag_info(archive.bag_dir(bag_id))
    return first(info, "Crawl-End") or first(info, "Bagging-Date")


def _bag_state(archive: Archive, snap: Snapshot, bag_id: str) -> BagState:
    row = snap.facts.get(bag_id)
    if row is None:  # not in the ledger: its bag-info says when it was made
        bagged = first(read_bag_info(archive.bag_dir(bag_id)), "Bagging-Date")
        fx = snap.orphans.get(bag_id)
        return BagState(bag_id, bagged, fx.result if fx else None, fx.ended if fx else None)
    return BagState(bag_id, row.created[:10], row.fixity, row.fixity_at)


def seed_status(archive: Archive, snap: Snapshot, target: Target) -> SeedStatus:
    """The status row of one seed, from the snapshot (no query per seed)."""
    head = target.bag_id
    row = SeedStatus(
        url=target.url,
        collection_id=target.collection_id,
        latest_bag=head,
        last_capture=_capture_time(archive, snap, head) if head else None,
        bags=[_bag_state(archive, snap, b) for b in target.bags],
    )
    live = snap.watch.get(target.url)
    if live is not None:
        row.live_status, row.live_since, row.live_checked_at = (
            live.status,
            live.since,
            live.checked_at,
        )
    row.designations = _designation_labels(archive, snap, target)
    if head:
        known = snap.facts.get(head)
        if known is not None and known.access:
            row.access = known.access
        else:
            from strongroom.bag.access import current_access

            row.access = current_access(archive, head)
        (
            row.copies,
            row.jurisdictions,
            row.replication_ok,
            row.replication_problems,
        ) = replication_counts(archive, snap, head)
    return row


def seed_statuses(archive: Archive, collection: Collection | None = None) -> list[SeedStatus]:
    """One status row per seed of the archive (or of one collection)."""
    archive.require()
    with collector_paused():
        with open_ledger(archive.root) as ledger:
            snap = Snapshot.load(archive, ledger, collection)
        found = seed_targets(_refs(archive, snap), collection)
        return [seed_status(archive, snap, t) for t in found]


# --- rendering -------------------------------------------------------------------------
LIVE_STYLE = {"ok": "green", "edited": "yellow", "unreachable": "dim", GEO_BLOCKED: "magenta"}
FIXITY_STYLE = {"valid": "green", "invalid": "bold red", "error": "red"}


def summary_line(rows: list[SeedStatus], archive: Archive) -> str:
    """One line: seeds, bags, valid, overdue, taken down, below the copy policy."""
    from strongroom.core.ui import plural

    bags = [b for r in rows for b in r.bags]
    valid = sum(1 for b in bags if b.fixity == "valid")
    line = overdue_line(dt.datetime.now(dt.UTC))
    overdue = sum(len(r.overdue(line=line)) for r in rows)
    down = sum(1 for r in rows if r.live_status in TAKEDOWN)
    below = sum(1 for r in rows if r.replication_ok is False)
    policy = archive.config.replication
    return (
        f"{plural(len(rows), 'seed')} · {plural(len(bags), 'bag')} · {valid} valid"
        f" · {overdue} overdue · {down} taken down · {below} below the copy policy"
        f" ({policy.min_copies} in {policy.min_jurisdictions} jurisdictions)"
    )


def nodes_line(archive: Archive) -> str:
    """The nodes sharing this archive's ledger and the bags each holds ("" when none reported)."""
    with open_ledger(archive.root) as ledger:
        nodes = ledger.nodes()
    if not nodes:
        return ""
    parts = [
        f"{name} ({n['jurisdiction'] or 'jurisdiction not set'}, {n['bags']} bags)"
        for name, n in nodes.items()
    ]
    return "nodes: " + ", ".join(parts)


def _cells(r: SeedStatus, min_copies: int) -> tuple[str, str, str, str]:
    """The plain text of the fixed columns: live, fixity, access, copies."""
    copies = f"{r.copies}/{min_copies}" if r.latest_bag else "-"
    if r.jurisdictions:
        copies += " " + ",".join(r.jurisdictions)
    return (
        r.live_status or "never watched",
        r.fixity or ("never" if r.bags else "-"),
        r.access or "-",
        copies,
    )


def status_table(rows: list[SeedStatus], archive: Archive, width: int) -> Table:
    """The status table for a terminal ``width`` columns wide.

    Ids never wrap: the fixed columns take what their values need, the seed
    column what is left, and a URL longer than that is cut in the middle (the
    host and the page name stay); ``--json`` has every URL whole.
    """
    from rich import box
    from rich.table import Table

    from strongroom.core.ui import esc

    policy = archive.config.replication
    heads = ("live", "fixity", "access", "copies")
    plain = [_cells(r, policy.min_copies) for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in plain)) for i, h in enumerate(heads)]
    # Each column is padded by one space a side, the outer edges are not, and
    # SIMPLE_HEAD puts a one-space rule between columns.
    ncols = len(heads) + 1
    seed_w = max(32, width - sum(widths) - (2 * ncols - 2) - (ncols - 1))
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("seed / latest bag", width=seed_w, overflow="fold")
    for head, w in zip(heads, widths, strict=True):
        table.add_column(head, width=w, no_wrap=True)
    for r, (live, fix, access, copies) in zip(rows, plain, strict=True):
        table.add_row(
            _seed_cell(r, seed_w),
            f"[{_live_style(r.live_status)}]{esc(live)}[/]",
            f"[{FIXITY_STYLE.get(fix, 'yellow')}]{esc(fix)}[/]",
            esc(access),
            f"[red]{esc(copies)}[/red]" if r.replication_ok is False else esc(copies),
        )
    return table


def _seed_cell(r: SeedStatus, width: int) -> Group:
    """The URL (cut in the middle), and below it, indented, the latest bag and notes."""
    from rich.console import Group
    from rich.padding import Padding
    from rich.text import Text

    from strongroom.core.ui import esc, middle_cut

    notes = []
    if r.latest_bag:
        older = f" [dim](+{len(r.bags) - 1} older)[/dim]" if len(r.bags) > 1 else ""
        notes.append(f"[cyan]{esc(r.latest_bag)}[/cyan]{older}")
    else:
        notes.append("[red]no bag yet[/red]")
    notes += [f"[yellow]designated: {esc(d)}[/yellow]" for d in r.designations]
    if r.alarm:
        notes.append(f"[bold red]{esc(r.alarm)}[/bold red]")
    return Group(
        Text(middle_cut(r.url, width), overflow="ellipsis", no_wrap=True),
        Padding(Text.from_markup("\n".join(notes)), (0, 0, 0, 2)),
    )


def _live_style(status: str | None) -> str:
    if status is None:
        return "dim"
    return "bold red" if status in TAKEDOWN else LIVE_STYLE.get(status, "yellow")
