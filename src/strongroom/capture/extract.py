"""Find page requisites and outlinks in HTML and CSS.

Tags are found by :mod:`strongroom.capture.htmlscan`, which follows a browser's
tokenizer and never gives up on broken markup (hostile pages are often broken
on purpose); it replaced ``html.parser``, five times slower per page. Content
decoding for extraction is bounded: a gzip bomb inflates to at most
``MAX_DECODED`` bytes and then decoding stops. Charset comes from the
Content-Type header, then ``<meta charset>``, then UTF-8, then windows-1252,
so windows-1251 pages that say so extract correctly.
"""

from __future__ import annotations

import functools
import re
import zlib
from urllib.parse import urljoin, urlsplit, urlunsplit

from strongroom.capture.htmlscan import start_tags

MAX_DECODED = 32 * 1024 * 1024
SKIP_SCHEMES = ("data:", "javascript:", "mailto:", "tel:", "about:", "blob:", "sms:", "ftp:")
_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_HDR_CHARSET_RE = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.I)
# url(...) in either quote style or none; @import "x" or @import url(x).
# Compiled on first use (re keeps them): a capture without a stylesheet never needs
# them, and compiling them at import cost every capture's start-up about 0.7 ms.
_CSS_URL = r"""(?i)url\(\s*(?:"([^"]*)"|'([^']*)'|([^)'"\s]*))\s*\)"""
_CSS_IMPORT = r"""(?i)@import\s+(?:"([^"]*)"|'([^']*)')"""
_CSS_COMMENT = r"(?s)/\*.*?\*/"


class Links:
    """What a document points at.

    A plain class, as the crawl's other per-request objects are: a dataclass
    costs about a millisecond of start-up to define, and a capture defines
    them before its first request."""

    __slots__ = ("_seen", "note", "outlinks", "requisites", "title")

    def __init__(self, note: str = "") -> None:
        self.requisites: list[str] = []
        self.outlinks: list[str] = []
        self.title = ""
        self.note = note  # e.g. 'decoding stopped at 32 MiB (possible gzip bomb)'
        self._seen: set[tuple[str, str]] = set()

    def add(self, kind: str, url: str | None) -> None:
        # a set beside the lists: a hostile page with 100,000 links stays linear
        if url and (kind, url) not in self._seen:
            self._seen.add((kind, url))
            (self.requisites if kind == "req" else self.outlinks).append(url)


def decode_content(body: bytes, encoding: str, limit: int = MAX_DECODED) -> tuple[bytes, str]:
    """Undo Content-Encoding for extraction, never producing more than ``limit`` bytes.

    Returns (decoded, note); note is non-empty when decoding was cut or failed.
    """
    enc = (encoding or "").strip().lower()
    if enc in ("", "identity"):
        return body[:limit], ""
    codings = [c.strip() for c in enc.split(",") if c.strip()]
    data = body
    for c in reversed(codings):  # applied in order listed, so undo from the last
        if c in ("gzip", "x-gzip", "deflate"):
            wbits = 47 if c != "deflate" else (15 if data[:1] == b"\x78" else -15)
            d = zlib.decompressobj(wbits)
            try:
                out = d.decompress(data, limit)
            except zlib.error as exc:
                return b"", f"could not decode {c}: {exc}"
            if d.unconsumed_tail:
                return out, f"decoding stopped at {limit} bytes (possible compression bomb)"
            data = out
        elif c == "br":
            try:
                import brotli
            except ImportError:
                return b"", "brotli content not decoded (brotli not installed)"
            try:
                dec = brotli.Decompressor()
                out = dec.process(data[: 4 * 1024 * 1024])  # bounded input; ratio is bounded too
            except Exception as exc:  # brotli raises its own error type
                return b"", f"could not decode br: {exc}"
            data = out[:limit]
        else:
            return b"", f"unknown content-encoding {c!r}"
    return data, ""


def charset_of(content_type: str, body: bytes) -> str:
    """Charset from the header, else from a <meta>, else '' (caller falls back)."""
    m = _HDR_CHARSET_RE.search(content_type or "")
    if m:
        return m.group(1)
    m2 = _CHARSET_RE.search(body[:4096])
    if m2:
        return m2.group(1).decode("ascii", "replace")
    return ""


def to_text(body: bytes, content_type: str) -> str:
    """Decode bytes to text with the declared charset and safe fallbacks."""
    for cs in (charset_of(content_type, body), "utf-8"):
        if not cs:
            continue
        try:
            return body.decode(cs)
        except (LookupError, UnicodeDecodeError):
            continue
    return body.decode("windows-1252", "replace")


@functools.lru_cache(maxsize=1024)
def _origin(base: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) base URL (no user:password), or None."""
    try:
        parts = urlsplit(base)
        _ = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _plain_absolute_path(raw: str) -> bool:
    """A reference like ``/static/site.css?v=2``: resolving it against any base only
    prefixes the base's origin (no dot segments, fragment, odd characters)."""
    return (
        raw[:1] == "/"
        and raw[1:2] != "/"
        and raw.isascii()
        and raw[-1] != "?"
        and "/." not in raw
        and not any(c in raw for c in "#;\\ ")
    )


def clean_url(raw: str, base: str) -> str | None:
    """Resolve ``raw`` against ``base``; drop fragments; None for non-http(s) or junk."""
    raw = (raw or "").strip().replace("\n", "").replace("\r", "").replace("\t", "")
    if not raw or raw.startswith("#") or raw.lower().startswith(SKIP_SCHEMES):
        return None
    if _plain_absolute_path(raw):
        # The common case, without urljoin/urlsplit/urlunsplit: they were most of
        # the time link extraction took in the capture profile.
        origin = _origin(base)
        return None if origin is None else origin + raw
    try:
        absolute = urljoin(base, raw)
        parts = urlsplit(absolute)
        _ = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    # A link's user:password would be sent (requests turns it into Authorization)
    # and written into the WARC: fetch the same resource without it.
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def parse_srcset(value: str) -> list[str]:
    """URLs of a srcset, tokenised as the HTML spec does.

    A URL runs to the next whitespace (so CDN URLs with commas survive); trailing
    commas end a candidate; descriptors run to the next comma outside parentheses.
    """
    out: list[str] = []
    s, i, n = value or "", 0, len(value or "")
    while i < n:
        while i < n and (s[i].isspace() or s[i] == ","):
            i += 1
        start = i
        while i < n and not s[i].isspace():
            i += 1
        url = s[start:i]
        if not url:
            break
        if url.endswith(","):
            out.append(url.rstrip(","))
            continue
        out.append(url)
        depth = 0
        while i < n:  # skip descriptors ("2x", "100w", "(junk, here)")
            c = s[i]
            if c == "(":
                depth += 1
            elif c == ")":
                depth = max(0, depth - 1)
            elif c == "," and depth == 0:
                i += 1
                break
            i += 1
    return [u for u in out if u]


def css_urls(text: str) -> list[str]:
    """Raw URLs referenced by CSS text via url() and @import, in order."""
    text = re.sub(_CSS_COMMENT, "", text)
    found: list[str] = []
    for m in re.finditer(_CSS_IMPORT, text):
        found.append(m.group(1) or m.group(2) or "")
    for m in re.finditer(_CSS_URL, text):
        found.append(m.group(1) or m.group(2) or m.group(3) or "")
    return [u for u in found if u]


_LINK_RELS = {"stylesheet", "icon", "preload", "apple-touch-icon", "shortcut"}


def _requisites(tag: str, a: dict[str, str]) -> list[str]:
    """The resources a tag needs to render (src, srcset, posters, stylesheets)."""
    if tag in ("img", "source"):
        return [a.get("src", ""), *parse_srcset(a.get("srcset", ""))]
    if tag == "link":
        if set(a.get("rel", "").lower().split()) & _LINK_RELS:
            return [a.get("href", ""), *parse_srcset(a.get("imagesrcset", ""))]
        return []
    if tag in ("video", "audio"):
        return [a.get("poster", ""), a.get("src", "")]
    if tag in ("script", "iframe", "embed", "track") or (
        tag == "input" and a.get("type", "").lower() == "image"
    ):
        return [a.get("src", "")]
    return []


# The tags whose attributes or text extraction reads (any other tag is read only
# for a style attribute).
_WANTED = frozenset(
    {"a", "area", "base", "img", "source", "link", "video", "audio", "script", "iframe",
     "embed", "track", "input", "style", "title"}
)  # fmt: skip


def extract_html(text: str, url: str) -> Links:
    """Requisites, outlinks and title of an HTML page at ``url``."""
    base, base_seen, title = url, False, ""
    raw: list[tuple[str, str]] = []  # (kind, raw url), resolved against the base at the end
    for tag, a, content in start_tags(text, _WANTED):
        if tag == "base":
            if a.get("href") and not base_seen:
                base_seen = True
                base = urljoin(base, a["href"])
        elif tag in ("a", "area"):
            if a.get("href"):
                raw.append(("out", a["href"]))
        elif tag == "style":
            raw.extend(("req", u) for u in css_urls(content))
        elif tag == "title":
            title = title or content[:500]  # the document's title is its first
        else:
            raw.extend(("req", u) for u in _requisites(tag, a))
        if a.get("style"):
            raw.extend(("req", u) for u in css_urls(a["style"]))
    links = Links()
    for kind, ref in raw:
        links.add(kind, clean_url(ref, base))
    links.title = " ".join(title.split())[:300]
    return links


def extract_css(text: str, url: str) -> Links:
    """Requisites of a stylesheet at ``url`` (imports, fonts, images)."""
    links = Links()
    for raw in css_urls(text):
        links.add("req", clean_url(raw, url))
    return links


def is_html(content_type: str) -> bool:
    ct = (content_type or "").split(";")[0].strip().lower()
    return ct in ("text/html", "application/xhtml+xml")


def is_css(content_type: str, url: str = "") -> bool:
    ct = (content_type or "").split(";")[0].strip().lower()
    return ct == "text/css" or (not ct and urlsplit(url).path.endswith(".css"))


def extract(
    body: bytes, content_type: str, content_encoding: str, url: str, limit: int = MAX_DECODED
) -> Links:
    """Decode (bounded) and extract links from an HTML or CSS response body."""
    if not (is_html(content_type) or is_css(content_type, url)):
        return Links()
    data, note = decode_content(body, content_encoding, limit)
    text = to_text(data, content_type)
    links = extract_html(text, url) if is_html(content_type) else extract_css(text, url)
    links.note = links.note or note
    return links
