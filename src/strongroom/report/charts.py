"""The report's inline SVG charts, drawn here (the page loads nothing from outside).

Every string that comes from a bag, a ledger row or a live page is escaped
before it goes into the SVG; the numbers are ours.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from strongroom.report.rows import html_text as escape

CHART_W, CHART_H = 320, 34


def parse_time(value: str | None) -> dt.datetime | None:
    """An ISO 8601 time (``Z`` or an offset; none means UTC), or None."""
    if not value:
        return None
    try:
        t = dt.datetime.fromisoformat(str(value))  # Python 3.11 reads a "Z" suffix
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


# The fixity chart of one bag, one per row of a collection page (10,000 of them at
# 10,000 bags): its look is in the page's stylesheet (``.spark`` in
# report-base.html.j2), so a row carries only its marks, and the axis's right end
# (now, the same for every row) is named once, in the column's heading.
_NO_CHECK = (
    '<svg class="spark" viewBox="0 0 320 34" role="img" aria-label="no fixity checks yet">'
    '<path class="n" d="M6 17H314"/><text class="n" x="10" y="13">no fixity check yet</text></svg>'
)
_DAYS: dict[int, str] = {}  # day number -> its ISO date (the axis's left end)


def _seconds(value: str | None) -> float | None:
    """``parse_time(value)`` as seconds since the epoch (None: no time)."""
    t = parse_time(value)
    return None if t is None else t.timestamp()


def _day(seconds: float) -> str:
    day = int(seconds // 86400)
    label = _DAYS.get(day)
    if label is None:
        try:
            label = (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()
        except OverflowError:  # year 1 at an offset east of UTC: before date.min
            label = dt.date.min.isoformat() if day < 0 else dt.date.max.isoformat()
        _DAYS[day] = label
    return label


def fixity_svg(
    runs: int,
    created: str | None,
    last_good: str | None,
    latest: tuple[str | None, str | None],
    now: dt.datetime,
) -> str:
    """A bag's fixity at a glance, from its summary row: from bagging (the date at its
    left) to now, a green ring at its latest good full check and a mark for its latest
    run (a green dot when valid, a red bar otherwise, each titled with its time and
    result), and how many runs there were. Where the latest run is the latest good
    full check, one dot says both.

    Drawn from the one summary row the ledger keeps per bag, so it costs the same
    whatever the history's length (``strongroom verify --history BAG`` lists it all).
    """
    result, started = latest
    if not runs or result is None:
        return _NO_CHECK
    end = now.timestamp()
    good_at, latest_at, begin = _seconds(last_good), _seconds(started), _seconds(created)
    start = end
    for t in (begin, good_at, latest_at):
        if t is not None and t < start:
            start = t
    scale = (CHART_W - 12) / max(end - start, 1.0)
    parts = [
        f'<svg class="spark" viewBox="0 0 {CHART_W} {CHART_H}" role="img" '
        f'aria-label="{runs} fixity checks"><path d="M6 17H314"/>'
    ]
    both = result == "valid" and last_good == started
    if good_at is not None and not both:
        title = escape(f"last good full check {last_good}")
        parts.append(
            f'<circle class="g" cx="{6 + scale * (good_at - start):.1f}" cy="17" r="4">'
            f"<title>{title}</title></circle>"
        )
    if latest_at is not None:
        x = 6 + scale * (latest_at - start)
        title = escape(f"latest check {started}: {result}")
        if both:
            parts.append(
                f'<circle class="v" cx="{x:.1f}" cy="17" r="5"><title>{title}'
                " (the last good full check)</title></circle>"
            )
        elif result == "valid":
            parts.append(
                f'<circle class="v" cx="{x:.1f}" cy="17" r="5"><title>{title}</title></circle>'
            )
        else:
            parts.append(
                f'<rect class="x" x="{x - 5:.1f}" y="8" width="10" height="18">'
                f"<title>{title}</title></rect>"
            )
    parts.append(
        f'<text x="6" y="33">{_day(start)}</text><text class="m" x="{CHART_W // 2}" y="33">'
        f"{runs} check{'s' if runs != 1 else ''}</text></svg>"
    )
    return "".join(parts)


def timeline_svg(events: list[dict[str, Any]], now: dt.datetime, width: int = 900) -> str:
    """Takedown events on one time axis, one labelled mark per event."""
    dated: list[tuple[dict[str, Any], dt.datetime]] = []
    for e in events:
        t = parse_time(e.get("time"))
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
            f'text-anchor="{anchor}">{escape(label[:140])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
