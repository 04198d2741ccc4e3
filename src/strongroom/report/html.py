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
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strongroom import SOFTWARE
from strongroom.core.archive import Archive
from strongroom.core.fsutil import atomic_write_text
from strongroom.core.ledger import open_ledger, utcnow
from strongroom.core.ui import human_bytes

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
    copies: list[dict[str, Any]] = field(default_factory=list)
    jurisdictions: list[str] = field(default_factory=list)
    compliant: bool | None = None
    replication_problems: list[str] = field(default_factory=list)

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
    """A small timeline: one mark per fixity run, green valid, red otherwise."""
    times = [t for t in (_parse_time(r.get("started")) for r in runs) if t]
    if not times:
        return (
            f'<svg class="spark" width="{CHART_W}" height="{CHART_H}" role="img" '
            f'aria-label="no fixity checks yet"><line x1="6" y1="17" x2="{CHART_W - 6}" '
            'y2="17" stroke="#ccc" stroke-dasharray="3 3"/><text x="10" y="13" '
            'font-size="10" fill="#888">no fixity check yet</text></svg>'
        )
    start = min(times)
    end = max(now, max(times))
    span = max((end - start).total_seconds(), 1.0)
    parts = [
        f'<svg class="spark" width="{CHART_W}" height="{CHART_H}" role="img" '
        f'aria-label="{len(runs)} fixity checks">',
        f'<line x1="6" y1="17" x2="{CHART_W - 6}" y2="17" stroke="#b9c2cc"/>',
    ]
    for run in runs:
        t = _parse_time(run.get("started"))
        if not t:
            continue
        x = 6 + (CHART_W - 12) * (t - start).total_seconds() / span
        ok = run.get("result") == "valid"
        colour = "#2e7d32" if ok else "#c62828"
        title = f"{run.get('started')} {run.get('mode')} {run.get('result')}"
        shape = (
            f'<circle cx="{x:.1f}" cy="17" r="5" fill="{colour}">'
            if ok
            else f'<rect x="{x - 5:.1f}" y="8" width="10" height="18" fill="{colour}">'
        )
        closing = "</circle>" if ok else "</rect>"
        parts.append(f"{shape}<title>{_esc(title)}</title>{closing}")
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
    pairs = [(e, _parse_time(e.get("time"))) for e in events]
    dated = [(e, t) for e, t in pairs if t is not None]
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


def _oxum(archive: Archive, bag_id: str) -> tuple[int, int]:
    """(payload bytes, payload files) from bag-info's Payload-Oxum: one small read."""
    from strongroom.bag.baginfo import first, read_bag_info

    m = re.fullmatch(
        r"\s*(\d+)\.(\d+)\s*", first(read_bag_info(archive.bag_dir(bag_id)), "Payload-Oxum")
    )
    return (int(m.group(1)), int(m.group(2))) if m else _bag_size(archive.bag_dir(bag_id))


def _copies(archive: Archive, snap: Any, bag_id: str) -> list[dict[str, Any]]:
    """Every known copy: the local one, then each partner's row."""
    out: list[dict[str, Any]] = []
    if bag_id in snap.on_disk:
        out.append(
            {
                "partner": "local",
                "location": str(archive.bag_dir(bag_id)),
                "jurisdiction": archive.config.jurisdiction,
                "status": "ok",
                "verified_at": None,
            }
        )
    keys = ("partner", "location", "jurisdiction", "status", "verified_at")
    return out + [{k: r[k] for k in keys} for r in snap.copies.get(bag_id, [])]


def _bag_rows(archive: Archive, ledger: Any, snap: Any, now: dt.datetime) -> list[BagRow]:
    """One row per bag on disk: ledger rows from the snapshot, one bag-info read, and
    the latest fixity runs (a bounded, indexed query per bag)."""
    from strongroom.core import policy
    from strongroom.report.status import replication_counts

    archive_wide = archive.designations()
    titles: dict[str, str] = {}
    rows: list[BagRow] = []
    for bag_id in sorted(snap.on_disk):
        known = snap.bags.get(bag_id) or {}
        collection_id = str(known.get("collection_id") or "")
        if not known or collection_id not in titles:
            from strongroom.replay.pywb import read_bag

            rb = read_bag(archive, bag_id)
            collection_id = collection_id or rb.collection_id
            titles.setdefault(collection_id, rb.title)
        seeds = [str(u) for u in known.get("seeds") or []] or read_seeds(archive, bag_id)
        frozen = known.get("designations")
        labels = (
            [str(x) for x in frozen]
            if frozen is not None
            else [d.label() for d in policy.bag_designations(archive, bag_id)]
        )
        labels += [
            d.label()
            for d in policy.designations_for_urls(seeds, archive_wide)
            if d.label() not in labels
        ]
        runs = ledger.recent_fixity(bag_id, FIXITY_RUNS_SHOWN)
        size, files = _oxum(archive, bag_id)
        _count, juris, ok, problems = replication_counts(archive, snap, bag_id)
        rows.append(
            BagRow(
                bag_id=bag_id,
                collection_id=collection_id,
                title=titles.get(collection_id, ""),
                access=str(known.get("access") or policy.current_access(archive, bag_id)),
                size=size,
                files=files,
                created=str(known.get("created") or ""),
                seeds=seeds,
                designations=labels,
                fixity=runs,
                fixity_svg=fixity_svg(runs, now),
                copies=_copies(archive, snap, bag_id),
                jurisdictions=juris,
                compliant=ok,
                replication_problems=problems,
            )
        )
    return rows


def read_seeds(archive: Archive, bag_id: str) -> list[str]:
    from strongroom.bag.baginfo import read_bag_info, values

    return values(read_bag_info(archive.bag_dir(bag_id)), "Seed-URL")


def gather(archive: Archive, now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything the report shows, as plain data (also the ``--json`` document).

    Bounded at any archive size: one row per bag and per URL from the ledger,
    the latest fixity runs of each bag, the latest takedowns and exports.
    """
    from strongroom.report.status import Snapshot

    now = now or dt.datetime.now(dt.UTC)
    archive.require()
    with open_ledger(archive.root) as ledger:
        snap = Snapshot.load(archive, ledger, None)
        bags = _bag_rows(archive, ledger, snap, now)
        latest = ledger.latest_watch_rows()
        takedowns = [
            {
                "time": r["checked_at"],
                "url": r["url"],
                "status": r["status"],
                "previous": r["previous_status"],
                "http_status": r["http_status"],
                "vantage": r["vantage"],
            }
            for r in ledger.status_changes(TAKEDOWN_STATUSES, limit=TAKEDOWNS_SHOWN)
        ]
        exports = ledger.events(types=("export", "access change"), limit=50)
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
    access_counts: dict[str, int] = {"public": 0, "restricted": 0, "dark": 0}
    for b in bags:
        access_counts[b.access] = access_counts.get(b.access, 0) + 1
    return {
        "generated": utcnow(),
        "software": SOFTWARE,
        "organization": archive.config.organization,
        "jurisdiction": archive.config.jurisdiction,
        "archive": str(archive.root),
        "collections": [c | {"seeds": list(c["seeds"].values())} for c in collections.values()],
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
            },
            default=str,
        )
    )
