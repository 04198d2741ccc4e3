"""Page text for comparison: decoding, visible and main text, similarity, phrases.

Watching compares words, not bytes: a page re-encoded from windows-1251 to UTF-8,
or re-laid-out, is the same article; a sentence changed is an edit.
"""

from __future__ import annotations

import codecs
import difflib
import hashlib
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from strongroom.watch.statuses import (
    BLOCK_PAGE_PHRASES,
    DIFF_SNIPPETS,
    ERROR_TITLE_PHRASES,
    LEGAL_LABELS,
    MAX_BODY,
)


class _TextParser(HTMLParser):
    """Visible text and <title> of an HTML page (fallback when trafilatura gives up)."""

    SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self.SKIP:
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self.SKIP and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif not self._skip:
            self.parts.append(data)


def parse_html(html: str) -> tuple[str, str]:
    """(title, visible text) of an HTML document, whitespace collapsed."""
    p = _TextParser()
    try:
        p.feed(html)
        p.close()
    except Exception:
        # html.parser on hostile markup: keep what was parsed.
        pass
    return " ".join("".join(p.title_parts).split()), " ".join(" ".join(p.parts).split())


def main_text(html: str) -> str:
    """The article text without navigation, ads and timestamps (trafilatura, precise mode).

    Falls back to all visible text when trafilatura finds no article.
    """
    from strongroom.core.libxml import LOCK

    text = None
    try:
        with LOCK:  # one worker at a time in libxml2: see core/libxml.py
            import trafilatura

            text = trafilatura.extract(
                html, include_comments=False, include_tables=False, favor_precision=True
            )
    except Exception:
        # Extraction must never abort a watch run.
        text = None
    if not text:
        text = parse_html(html)[1]
    return " ".join(text.split())


def words(text: str) -> list[str]:
    return text.split()


def similarity(a: str, b: str) -> float:
    """Word-sequence similarity in [0, 1] (1.0: the same words in the same order)."""
    wa, wb = words(a), words(b)
    if wa == wb:
        return 1.0
    return difflib.SequenceMatcher(None, wa, wb, autojunk=False).ratio()


def diff_snippets(old: str, new: str, limit: int = DIFF_SNIPPETS) -> dict[str, list[str]]:
    """Short removed/added word runs, so the event itself shows what changed."""
    wa, wb = words(old), words(new)
    removed: list[str] = []
    added: list[str] = []
    sm = difflib.SequenceMatcher(None, wa, wb, autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op in ("delete", "replace") and len(removed) < limit:
            removed.append(" ".join(wa[i1:i2])[:300])
        if op in ("insert", "replace") and len(added) < limit:
            added.append(" ".join(wb[j1:j2])[:300])
    return {"removed": removed, "added": added}


def legal_labels(text: str) -> list[str]:
    """The legal labels found in a page's visible text (lower-cased, in list order)."""
    low = " ".join(text.lower().split())
    return [label for label in LEGAL_LABELS if label in low]


def block_page_phrase(page: Page) -> str | None:
    """A censor's block-page phrase in the title or the top of the page, if any."""
    low = " ".join(f"{page.title} {page.visible[:2000]}".lower().split())
    return next((p for p in BLOCK_PAGE_PHRASES if p in low), None)


def title_error_phrase(title: str) -> str | None:
    low = title.lower()
    return next((p for p in ERROR_TITLE_PHRASES if p in low), None)


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)


def _charset_from_content_type(content_type: str) -> str | None:
    m = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", content_type or "", re.IGNORECASE)
    return m.group(1) if m else None


def _usable(charset: str | None) -> str | None:
    if not charset:
        return None
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return None


def decode_body(body: bytes, content_type: str = "") -> str:
    """Decode an HTML body: HTTP charset, then <meta charset>, then UTF-8, then a guess.

    A windows-1251 page and its UTF-8 re-encoding decode to the same text, so
    they compare as equal.
    """
    charset = _usable(_charset_from_content_type(content_type))
    if charset is None:
        m = _META_CHARSET.search(body[:4096])
        charset = _usable(m.group(1).decode("ascii", "replace")) if m else None
    if charset:
        return body.decode(charset, "replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(body[:MAX_BODY]).best()
    return str(best) if best is not None else body.decode("utf-8", "replace")


@dataclass
class Page:
    """One page's text, as recorded or as served now."""

    url: str
    http_status: int | None
    title: str
    text: str  # main (article) text
    visible: str  # all visible text, where legal banners usually live

    @classmethod
    def from_html(cls, url: str, http_status: int | None, html: str) -> Page:
        title, visible = parse_html(html)
        return cls(url, http_status, title, main_text(html), visible)

    @property
    def text_sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()
