"""The pages of a bag, with their title and text, for a WACZ ``pages.jsonl``.

ReplayWeb.page lists pages by title and searches their ``text``. The title is
the page's ``<title>``, read from its HTML response record in the bag's WARCs;
the text is the rendered text the screenshot step saved
(``derivatives/<slug>.txt``, linked to its page by the rendering event beside
it) or, for a page without one, the text of its HTML. Everything is read from
the bag, which is hostile input like any other: bodies, titles and texts are
bounded, and a page we cannot read keeps its URL as its title.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

MAX_BODY = 4 * 1024 * 1024  # read at most this much of one HTML page
MAX_TITLE = 500
MAX_TEXT = 200_000  # characters of text per page in pages.jsonl
MAX_EVENT = 1024 * 1024
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)


def _clean(text: str, limit: int) -> str:
    return " ".join(text.split())[:limit]


def html_title(body: bytes, encoding: str = "utf-8") -> str:
    """The ``<title>`` of an HTML document, entity-decoded and one line."""
    m = _TITLE.search(body[:MAX_BODY])
    if not m:
        return ""
    return _clean(html.unescape(m.group(1).decode(encoding or "utf-8", "replace")), MAX_TITLE)


def html_text(body: bytes, encoding: str = "utf-8") -> str:
    """The visible text of an HTML document (scripts and styles left out)."""
    from strongroom.core.libxml import LOCK

    text = body[:MAX_BODY].decode(encoding or "utf-8", "replace")
    with LOCK:  # libxml2 one thread at a time (a watch may extract text meanwhile)
        try:
            import lxml.html
            from lxml.etree import ParserError

            doc = lxml.html.document_fromstring(text)
        except (ValueError, ParserError):
            return ""
        for bad in doc.xpath("//script|//style|//noscript|//head"):
            bad.drop_tree()
        # itertext, joined with spaces: text_content() glues "</h1><p>" words together
        words = " ".join(doc.itertext())
        del doc  # freed here, under the lock
    return _clean(words, MAX_TEXT)


def _rendered_texts(bag: Path) -> dict[str, str]:
    """URL -> rendered text, from the derivatives' rendering events."""
    out: dict[str, str] = {}
    deriv = bag / "data" / "derivatives"
    if not deriv.is_dir() or deriv.is_symlink():
        return out
    for ev_path in sorted(deriv.glob("*.json")):
        if ev_path.is_symlink() or ev_path.stat().st_size > MAX_EVENT:
            continue
        try:
            event = json.loads(ev_path.read_bytes().decode("utf-8"))
            url = event["source"]["target_uri"]
            names = [d["file"] for d in event["derivatives"] if str(d["file"]).endswith(".txt")]
        except (ValueError, KeyError, TypeError):
            continue
        for name in names:
            txt = deriv / str(name)
            if isinstance(url, str) and "/" not in str(name) and txt.is_file():
                with open(txt, "rb") as fh:
                    out.setdefault(
                        url, _clean(fh.read(MAX_TEXT * 4).decode("utf-8", "replace"), MAX_TEXT)
                    )
    return out


def _html_pages(warcs: list[Path], wanted: set[str]) -> dict[str, tuple[str, str]]:
    """URL -> (title, text) of the first HTML response for each wanted URL."""
    from warcio.archiveiterator import ArchiveIterator

    found: dict[str, tuple[str, str]] = {}
    for path in warcs:
        try:
            with open(path, "rb") as fh:
                for rec in ArchiveIterator(fh):
                    url = rec.rec_headers.get_header("WARC-Target-URI")
                    if rec.rec_type != "response" or url not in wanted or url in found:
                        continue
                    ctype = rec.http_headers.get_header("Content-Type") if rec.http_headers else ""
                    if "html" not in (ctype or "").lower():
                        continue
                    body = rec.content_stream().read(MAX_BODY)
                    m = re.search(r"charset=([\w-]+)", ctype or "", re.IGNORECASE)
                    enc = m.group(1) if m else "utf-8"
                    try:
                        "".encode(enc)
                    except LookupError:
                        enc = "utf-8"
                    found[url] = (html_title(body, enc), html_text(body, enc))
        except Exception:  # a damaged WARC: the pages we found so far still count
            continue
    return found


def page_entries(bag: Path, warcs: list[Path], urls: list[str]) -> list[dict[str, Any]]:
    """``pages.jsonl`` rows: url, title (the page's <title>, else the URL) and text."""
    rendered = _rendered_texts(bag)
    from_html = _html_pages(warcs, set(urls))
    rows = []
    for url in urls:
        title, text = from_html.get(url, ("", ""))
        row: dict[str, Any] = {"url": url, "title": title or url}
        body = rendered.get(url) or text
        if body:
            row["text"] = body
        rows.append(row)
    return rows
