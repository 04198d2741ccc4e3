"""The archive report: one self-contained HTML page about the whole archive.

It shows collections and seeds, each bag's size, fixity history (a small SVG
timeline), live status from the watch, takedown events on a timeline, copies
and jurisdictions, and access levels with designations. The page makes no
outside request, not even for fonts: CSS is inline, charts are inline SVG drawn
here, and there is no JavaScript. Jinja2 autoescaping keeps hostile strings
from bags and live pages (titles, URLs) inert.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strongroom import SOFTWARE
from strongroom.core.archive import Archive
from strongroom.core.fsutil import atomic_write_text
from strongroom.core.ledger import Ledger, open_ledger, utcnow
from strongroom.core.ui import human_bytes
from strongroom.report.attention import (
    OVERDUE_SECONDS,
    attention,
    last_report_time,
    note_report_time,
    thumbnail_uri,
)
from strongroom.report.status import Snapshot

# Watch statuses meaning that readers can no longer see the page (see watch.py).
TAKEDOWN_STATUSES = {"redirect-home", "soft-404", "not-found", "gone", "blocked-451"}
STATUS_COLOURS = {
    "ok": "#2e7d32",
    "edited": "#b26a00",
    "unreachable": "#6d6d6d",
    "geo-blocked": "#7b1fa2",
}
CHART_W, CHART_H = 320, 34
# The report shows recent history; the ledger keeps all of it (``verify --history``).
FIXITY_RUNS_SHOWN = 50
TAKEDOWNS_SHOWN = 500
# `strongroom replay` serves here by default; the report's replay links point at it.
REPLAY_BASE = "http://127.0.0.1:8080"
MAX_THUMBNAILS = 200


@dataclass
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
    fixity: list[dict[str, Any]] = field(default_factory=list)
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

    @property
    def last_fixity(self) -> dict[str, Any] | None:
        return self.fixity[-1] if self.fixity else None


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        t = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _bag_size(bag_dir: Path) -> tuple[int, int]:
    total = files = 0
    for p in bag_dir.rglob("*"):
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_size
            files += 1
    return total, files


def fixity_svg(runs: list[dict[str, Any]], now: dt.datetime) -> str:
    """A small timeline: one mark per fixity run, green valid, red otherwise.

    Each run's time is parsed once (this draws 50 runs for each of 10,000 bags).
    """
    dated = [(r, t) for r in runs if (t := _parse_time(r.get("started"))) is not None]
    if not dated:
        return (
            f'<svg class="spark" width="{CHART_W}" height="{CHART_H}" role="img" '
            f'aria-label="no fixity checks yet"><line x1="6" y1="17" x2="{CHART_W - 6}" '
            'y2="17" stroke="#ccc" stroke-dasharray="3 3"/><text x="10" y="13" '
            'font-size="10" fill="#888">no fixity check yet</text></svg>'
        )
    start = min(t for _, t in dated)
    end = max(now, max(t for _, t in dated))
    span = max((end - start).total_seconds(), 1.0)
    parts = [
        f'<svg class="spark" width="{CHART_W}" height="{CHART_H}" role="img" '
        f'aria-label="{len(runs)} fixity checks">',
        f'<line x1="6" y1="17" x2="{CHART_W - 6}" y2="17" stroke="#b9c2cc"/>',
    ]
    for run, t in dated:
        x = 6 + (CHART_W - 12) * (t - start).total_seconds() / span
        ok = run.get("result") == "valid"
        title = html.escape(f"{run.get('started')} {run.get('mode')} {run.get('result')}")
        if ok:
            parts.append(
                f'<circle cx="{x:.1f}" cy="17" r="5" fill="#2e7d32"><title>{title}</title></circle>'
            )
        else:
            parts.append(
                f'<rect x="{x - 5:.1f}" y="8" width="10" height="18" fill="#c62828">'
                f"<title>{title}</title></rect>"
            )
    parts.append(
        f'<text x="6" y="33" font-size="9" fill="#666">{start:%Y-%m-%d}</text>'
        f'<text x="{CHART_W - 6}" y="33" font-size="9" fill="#666" text-anchor="end">'
        f"{end:%Y-%m-%d}</text></svg>"
    )
    return "".join(parts)


def _esc(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


def timeline_svg(events: list[dict[str, Any]], now: dt.datetime, width: int = 900) -> str:
    """Takedown events on one time axis, one labelled mark per event."""
    dated: list[tuple[dict[str, Any], dt.datetime]] = []
    for e in events:
        t = _parse_time(e.get("time"))
        if t is not None:
            dated.append((e, t))
    if not dated:
        return ""
    start = min(t for _, t in dated)
    end = max(now, max(t for _, t in dated))
    span = max((end - start).total_seconds(), 1.0)
    row_h = 22
    height = 40 + row_h * len(dated)
    parts = [
        f'<svg class="timeline" width="100%" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{len(dated)} takedown events">',
        f'<line x1="20" y1="20" x2="{width - 20}" y2="20" stroke="#1d2b3a" stroke-width="2"/>',
        f'<text x="20" y="14" font-size="11" fill="#555">{start:%Y-%m-%d}</text>',
        f'<text x="{width - 20}" y="14" font-size="11" fill="#555" text-anchor="end">'
        f"{end:%Y-%m-%d}</text>",
    ]
    for i, (e, t) in enumerate(sorted(dated, key=lambda p: p[1])):
        x = 20 + (width - 40) * (t - start).total_seconds() / span
        y = 40 + i * row_h
        label = f"{t:%Y-%m-%d %H:%M} · {e.get('status')} · {e.get('url')}"
        anchor = "end" if x > width * 0.6 else "start"
        dx = -8 if anchor == "end" else 8
        parts.append(
            f'<line x1="{x:.1f}" y1="20" x2="{x:.1f}" y2="{y}" stroke="#c8102e" '
            f'stroke-dasharray="2 2"/><circle cx="{x:.1f}" cy="{y}" r="5" fill="#c8102e"/>'
            f'<text x="{x + dx:.1f}" y="{y + 4}" font-size="11" fill="#222" '
            f'text-anchor="{anchor}">{_esc(label[:140])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _nodes(archive: Archive) -> list[dict[str, Any]]:
    """The nodes that share the ledger, with the bags each holds (empty on one machine)."""
    with open_ledger(archive.root) as ledger:
        return [{"name": name} | n for name, n in ledger.nodes().items()]


def _stamp_line(latest: tuple[str, dict[str, Any]] | None) -> str:
    """One line on a bag's trusted timestamp, from the ledger's latest event."""
    if latest is None:
        return ""
    outcome, detail = latest
    if outcome == "pending":
        return "RFC 3161 timestamp pending"
    return f"timestamped {detail.get('time', '?')} by {detail.get('tsa', '?')} (RFC 3161)"


def _bag_row(
    archive: Archive, ledger: Ledger, snap: Snapshot, bag_id: str, now: dt.datetime
) -> BagRow:
    """One bag: size, fixity runs, designations, copies, signature, screenshot.

    From the snapshot's ledger rows and one bag-info read; the latest fixity runs
    are one bounded, indexed query. A bag the ledger does not know (or knew before
    it kept designations) is read from its tag files instead.
    """
    from strongroom.bag.access import bag_designations
    from strongroom.bag.baginfo import first, read_bag_info, values
    from strongroom.core import policy
    from strongroom.report.status import replication

    bag_dir = archive.bag_dir(bag_id)
    info = read_bag_info(bag_dir)
    known = snap.bags.get(bag_id)
    if known is None:
        from strongroom.replay.pywb import read_bag

        rb = read_bag(archive, bag_id)
        collection_id, title, access, seeds = rb.collection_id, rb.title, rb.access, rb.seeds
    else:
        collection_id, access = str(known["collection_id"]), str(known["access"])
        seeds = [str(u) for u in known["seeds"]] or values(info, "Seed-URL")
        title = snap.titles(archive, collection_id, bag_id)
    frozen = known.get("designations") if known else None
    if frozen is None:
        labels = [d.label() for d in bag_designations(archive, bag_id)]
    else:
        labels = [str(x) for x in frozen]
        for d in policy.designations_for_urls(seeds, snap.archive_wide):
            labels += [d.label()] if d.label() not in labels else []
    runs = ledger.recent_fixity(bag_id, FIXITY_RUNS_SHOWN)
    size, files = _oxum(first(info, "Payload-Oxum")) or _bag_size(bag_dir)
    row = BagRow(
        bag_id=bag_id,
        collection_id=collection_id,
        title=title,
        access=access,
        size=size,
        files=files,
        created=str(known["created"]) if known else "",
        seeds=seeds,
        designations=labels,
        fixity=runs,
        fixity_svg=fixity_svg(runs, now),
    )
    rs = replication(archive, snap, bag_id)
    row.copies = rs.locations
    row.jurisdictions = rs.jurisdictions
    row.compliant = rs.compliant
    row.replication_problems = rs.problems
    row.signed = (bag_dir / "tagmanifest-sha512.txt.sig").is_file()
    row.overdue = _overdue(runs, now)
    row.replay_url = _replay_url(first(info, "Crawl-Start"), collection_id, access, seeds)
    return row


def _oxum(value: str) -> tuple[int, int] | None:
    """(payload bytes, payload files) from a Payload-Oxum value, or None."""
    m = re.fullmatch(r"\s*(\d{1,18})\.(\d{1,12})\s*", value)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _overdue(runs: list[dict[str, Any]], now: dt.datetime) -> bool:
    """Never checked, or the last good check is older than the nightly rotation's 30 days."""
    good = [t for t in (_parse_time(r.get("started")) for r in runs if r["result"] == "valid") if t]
    return not good or (now - max(good)).total_seconds() > OVERDUE_SECONDS


def _replay_url(crawl_start: str, collection_id: str, access: str, seeds: list[str]) -> str:
    """Where ``strongroom replay`` shows the bag's first seed (none for dark bags)."""
    from urllib.parse import quote

    if access == "dark" or not seeds:
        return ""
    stamp = "".join(c for c in crawl_start if c.isdigit())
    name = collection_id if access == "public" else f"{collection_id}-restricted"
    return f"{REPLAY_BASE}/{name}/{stamp[:14]}/" + quote(seeds[0], safe=":/?&=%#;,+@!$'()*~")


def _bag_rows(archive: Archive, ledger: Ledger, now: dt.datetime) -> list[BagRow]:
    """Every bag on disk, from one snapshot of the ledger (bounded at any archive size)."""
    snap = Snapshot.load(archive, ledger, None)
    rows = [_bag_row(archive, ledger, snap, b, now) for b in sorted(snap.on_disk)]
    stamps = ledger.latest_timestamps()
    for row in rows:
        row.timestamp = _stamp_line(stamps.get(row.bag_id))
    # Thumbnails for the newest bags only, so that the page stays light.
    for row in sorted(rows, key=lambda r: r.created, reverse=True)[:MAX_THUMBNAILS]:
        row.thumbnail = thumbnail_uri(archive, row.bag_id)
    return rows


def _latest_watch(ledger: Ledger) -> dict[str, dict[str, Any]]:
    """The latest watch result of every URL."""
    return ledger.latest_watch_rows()


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


def _collections(bags: list[BagRow], latest: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Collections with their seeds' live status and bags."""
    collections: dict[str, dict[str, Any]] = {}
    for b in bags:
        c = collections.setdefault(
            b.collection_id,
            {"id": b.collection_id, "title": b.title, "bags": [], "seeds": {}},
        )
        c["bags"].append(b.bag_id)
        for url in b.seeds:
            w = latest.get(url)
            c["seeds"].setdefault(
                url,
                {
                    "url": url,
                    "status": w["status"] if w else "not watched",
                    "checked_at": w["checked_at"] if w else "",
                    "http_status": w["http_status"] if w else None,
                    "bags": [],
                },
            )["bags"].append(b.bag_id)
    return [c | {"seeds": list(c["seeds"].values())} for c in collections.values()]


def gather(archive: Archive, now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything the report shows, as plain data (also the ``--json`` document)."""
    now = now or dt.datetime.now(dt.UTC)
    archive.require()
    with open_ledger(archive.root) as ledger:
        bags = _bag_rows(archive, ledger, now)
        latest = _latest_watch(ledger)
        takedowns = _changes(ledger, TAKEDOWN_STATUSES)
        edits = _changes(ledger, {"edited"})
        exports = ledger.events(types=("export", "access change"), limit=50)
    access_counts: dict[str, int] = {"public": 0, "restricted": 0, "dark": 0}
    for b in bags:
        access_counts[b.access] = access_counts.get(b.access, 0) + 1
    since = last_report_time(archive)
    return {
        "generated": utcnow(),
        "software": SOFTWARE,
        "organization": archive.config.organization,
        "jurisdiction": archive.config.jurisdiction,
        "archive": str(archive.root),
        "collections": _collections(bags, latest),
        "bags": bags,
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
        "nodes": _nodes(archive),
    }


def render(data: dict[str, Any]) -> str:
    """The HTML page for ``gather``'s data (Jinja2 template shipped in the package)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("strongroom", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["status_colour"] = lambda s: (
        "#c62828" if s in TAKEDOWN_STATUSES else STATUS_COLOURS.get(s, "#6d6d6d")
    )
    return env.get_template("report.html.j2").render(**data)


def write_report(archive: Archive, output: Path | None = None) -> tuple[Path, dict[str, Any]]:
    """Write the report atomically (default ``<archive>/report.html``); return path and data."""
    data = gather(archive)
    html = render(data)
    path = Path(output) if output else archive.root / "report.html"
    if path.is_dir():
        path = path / "report.html"
    atomic_write_text(path, html)
    note_report_time(archive, data["generated"])
    return path.absolute(), data


def summary(data: dict[str, Any]) -> dict[str, Any]:
    """A JSON-friendly summary of the report data."""
    return json.loads(
        json.dumps(
            {
                "generated": data["generated"],
                "collections": [
                    {"id": c["id"], "bags": c["bags"], "seeds": c["seeds"]}
                    for c in data["collections"]
                ],
                "bags": [
                    {
                        "bag_id": b.bag_id,
                        "access": b.access,
                        "size": b.size,
                        "fixity_runs": len(b.fixity),
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
