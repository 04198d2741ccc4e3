"""The table rows of a collection page (seeds, and bags with their copies), written as HTML here.

Why not in the Jinja2 template like the rest of the page: these rows are the
whole archive (10,000 bags make 20,000 rows), and Jinja2 spent about 80 µs on
each bag's rows, mostly escaping each value through markupsafe's Markup
objects and looking attributes up; formatted here it costs a tenth of that.
A bag's copies are a column of its row (they were a second table that
repeated every bag).
Every value that comes from a bag, the ledger or a live page goes through
``html_text`` (HTML-escaped, quotes included) before it is written; only our own
markup and the charts drawn by ``report.charts`` (which escape their text)
go in as they are. ``test_report_escapes_hostile_values_on_every_page`` checks it.
Our own markup is ASCII (``&middot;``, not a middle dot): a page whose values are
ASCII then stays a one-byte-per-character string, which joins and encodes to
UTF-8 several times faster than one holding a single character above U+00FF.
"""

from __future__ import annotations

from html import escape
from typing import Any

from markupsafe import Markup

TAKEDOWN_STATUSES = {"redirect-home", "soft-404", "not-found", "gone", "blocked-451"}
STATUS_COLOURS = {
    "ok": "#2e7d32",
    "edited": "#b26a00",
    "unreachable": "#6d6d6d",
    "geo-blocked": "#7b1fa2",
}


def special(text: str) -> bool:
    """Whether ``text`` holds a character ``html.escape(quote=True)`` changes.

    Five substring tests (each one C scan of the text) cost a ninth of one regular
    expression search with a character class, and this runs over every row.
    """
    return "&" in text or "<" in text or ">" in text or '"' in text or "'" in text


def html_text(value: object) -> str:
    """``value`` as HTML text (quotes too): most values hold nothing to escape, and
    ``special`` finds that faster than ``html.escape``'s five replaces."""
    text = str(value)
    return escape(text, quote=True) if special(text) else text


_e = html_text


def status_colour(status: object) -> str:
    """The colour of a live-status pill (takedowns red)."""
    if status in TAKEDOWN_STATUSES:
        return "#c62828"
    return STATUS_COLOURS.get(str(status), "#6d6d6d")


def seed_rows(seeds: list[dict[str, Any]]) -> Markup:
    """One row per seed: URL, live status, last checked, how many bags hold it."""
    out = []
    for s in seeds:
        url, status = s["url"], s["status"]
        checked, code = s["checked_at"] or "", s["http_status"] or ""
        if special(f"{url}\x00{status}\x00{checked}\x00{code}"):  # rarely: escape
            url, status, checked, code = _e(url), _e(status), _e(checked), _e(code)
        checked = checked or "&mdash;"  # our markup: the page stays ASCII (see bag_table)
        more = f" &middot; {code}" if code else ""
        out.append(
            f'<tr><td class="url">{url}</td><td><span class="pill" style="background:'
            f' {status_colour(s["status"])}">{status}{more}</span></td>'
            f'<td class="muted">{checked}</td><td class="muted">{int(s["bags"])}</td></tr>'
        )
    return Markup("\n".join(out))


def _escaper(values: list[str]) -> Any:
    """``html_text`` for a row whose values hold something to escape, else ``str``: one
    search over the row's text replaces a search per value (24 per bag), and ``str``
    (of a ``str``: the same object) is a C call, not a Python one."""
    return html_text if special("\x00".join(values)) else str


def _bag_cell(b: Any, e: Any) -> str:
    parts = [f"<strong>{e(b.bag_id)}</strong>"]
    if b.replay_url:
        # how to serve it is said once, above the table (65 bytes a row saved)
        staff = ' <span class="muted">(staff)</span>' if b.access == "restricted" else ""
        parts.append(f'<br><a href="{e(b.replay_url)}">replay</a>{staff}')
    if not b.signed:
        parts.append('<br><span class="bad">unsigned</span>')
    bagged = f" &middot; bagged {e(b.created)}" if b.created else ""
    parts.append(f'<br><span class="muted">{e(b.files)} files{bagged}</span>')
    parts += [f'<br><span class="muted">Designation: {e(d)}</span>' for d in b.designations]
    if b.timestamp:
        parts.append(f'<br><span class="muted">{e(b.timestamp)}</span>')
    return "".join(parts)


def _last_check(last: dict[str, Any] | None, e: Any) -> str:
    if not last:
        return '<span class="empty">never</span>'
    cls = "ok" if last["result"] == "valid" else "bad"
    return (
        f'<span class="{cls}">{e(last["result"])}</span><br>'
        f'<span class="muted">{e(last["started"])} &middot; {e(last["mode"])}</span>'
    )


def _copies_cell(b: Any, seen: dict[tuple[Any, ...], int], cells: list[tuple[str, str]]) -> int:
    """The number of the bag's copies cell in ``cells``: (good copies and jurisdictions,
    where each copy is and the problems). Most bags of a large archive have the same
    cell (only their local copy, the same problems): each distinct one is written once."""
    key = (
        b.compliant,
        tuple(b.jurisdictions),
        tuple(b.replication_problems),
        *((c["partner"], c.get("jurisdiction"), c["status"]) for c in b.copies),
    )
    n = seen.get(key)
    if n is None:
        where = "<br>".join(
            f"{_e(c['partner'])}"
            + (f" ({_e(c['jurisdiction'])})" if c.get("jurisdiction") else "")
            + f" &middot; {_e(c['status'])}"
            for c in b.copies
        )
        where = where or '<span class="empty">none recorded</span>'
        where += "".join(f'<br><span class="bad">{_e(p)}</span>' for p in b.replication_problems)
        good = "ok" if b.compliant else "bad"
        juris = _e(", ".join(b.jurisdictions)) or "&mdash;"
        count = f'<span class="{good}">{len(b.copies)} cop{"y" if len(b.copies) == 1 else "ies"}'
        n = seen[key] = len(cells)
        cells.append((f"{count}</span> &middot; {juris}", where))
    return n


def bag_rows(bags: list[Any]) -> Markup:
    """The rows of ``bag_table`` alone."""
    return bag_table(bags)[0]


def bag_table(bags: list[Any]) -> tuple[Markup, Markup]:
    """One row per bag: screenshot, bag (replay link, signature, files, designations,
    timestamp), access, size, fixity chart, last check, copies and jurisdictions; and
    the copy notes. Where copies and problems are the same for several bags of the
    page (a large archive's lone bags), they are written once, as a note below the
    table that their rows link to, instead of in each row (a fifth of the page)."""
    seen: dict[tuple[Any, ...], int] = {}
    cells: list[tuple[str, str]] = []
    ids = [_copies_cell(b, seen, cells) for b in bags]
    uses = [0] * len(cells)
    for n in ids:
        uses[n] += 1
    notes: dict[int, int] = {}  # cell -> note number
    for n, used in enumerate(uses):
        if used > 1:
            notes[n] = len(notes) + 1
    copies = [
        f'{count}<br><a class="muted" href="#copy-note-{notes[n]}">note {notes[n]}</a>'
        if n in notes
        else f'{count}<br><span class="muted">{where}</span>'
        for n, (count, where) in enumerate(cells)
    ]
    out = []
    for b, n in zip(bags, ids, strict=True):
        last = b.last_fixity or {}
        e = _escaper(
            [b.bag_id, b.replay_url, b.created, b.access, b.timestamp, b.thumbnail,
             *b.designations, str(last.get("result")), str(last.get("started")),
             str(last.get("mode")), *b.seeds[:1]]
        )  # fmt: skip
        if b.thumbnail:
            alt = e(f"screenshot of {b.seeds[0] if b.seeds else b.bag_id}")
            shot = f'<img class="thumb" alt="{alt}" src="{e(b.thumbnail)}">'
        else:
            shot = '<div class="nothumb">no screenshot</div>'
        out.append(
            f"<tr><td>{shot}</td><td>{_bag_cell(b, e)}</td>"
            f'<td><span class="pill {e(b.access)}">{e(b.access)}</span></td>'
            f"<td>{b.size_h}</td><td>{b.fixity_svg}</td>"
            f"<td>{_last_check(b.last_fixity, e)}</td><td>{copies[n]}</td></tr>"
        )
    listed = [
        f'<p id="copy-note-{note}"><strong>Note {note}</strong> ({uses[n]} bags): {cells[n][1]}</p>'
        for n, note in notes.items()
    ]
    return Markup("\n".join(out)), Markup("\n".join(listed))
