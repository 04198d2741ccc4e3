"""Status at a glance: one row per seed, from the bags, the ledger and the custody logs.

Each row joins what the archive knows about a seed: its latest capture, its
bags and their last fixity result, its live status (and since when), the legal
designations of its publisher, the access level of its latest bag, and how many
copies exist where. A row whose live page has been taken down says so loudly:
this archive may hold the only copy left.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strongroom.bag.baginfo import first, read_bag_info
from strongroom.core import policy
from strongroom.core.archive import Archive
from strongroom.core.collection import Collection
from strongroom.core.ledger import Ledger, open_ledger
from strongroom.watch.baseline import Target, targets
from strongroom.watch.statuses import GEO_BLOCKED, TAKEDOWN

if TYPE_CHECKING:
    from rich.console import Group
    from rich.table import Table

ALARM = "GONE LIVE — this archive may hold the only copy"
# A bag whose last good check is older than this is overdue; it matches the
# nightly cron line of the README (verify --due --interval 30d).
OVERDUE_SECONDS = 30 * 86400
FIXITY_RANK = {"invalid": 0, "error": 1, None: 2, "valid": 3}


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

    def overdue(self, now: dt.datetime | None = None) -> list[str]:
        """Bags never checked, or whose last good check is over 30 days old."""
        now = now or dt.datetime.now(dt.UTC)
        late = []
        for b in self.bags:
            at = _parse_time(b.fixity_at) if b.fixity == "valid" else None
            too_old = at is not None and (now - at).total_seconds() > OVERDUE_SECONDS
            if b.fixity is None or too_old:
                late.append(b.bag_id)
        return late

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
            "overdue": self.overdue(),
        }


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


# --- rendering -------------------------------------------------------------------------
LIVE_STYLE = {"ok": "green", "edited": "yellow", "unreachable": "dim", GEO_BLOCKED: "magenta"}
FIXITY_STYLE = {"valid": "green", "invalid": "bold red", "error": "red"}


def summary_line(rows: list[SeedStatus], archive: Archive) -> str:
    """One line: seeds, bags, valid, overdue, taken down, below the copy policy."""
    from strongroom.core.ui import plural

    bags = [b for r in rows for b in r.bags]
    valid = sum(1 for b in bags if b.fixity == "valid")
    overdue = sum(len(r.overdue()) for r in rows)
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
