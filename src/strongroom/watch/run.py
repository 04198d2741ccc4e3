"""Watch the live sources: re-check every seed and classify what happened to it.

For each seed the archive holds, the baseline is the page as recorded in the
seed's latest bag (read from its WARC files). The live page is fetched again,
politely, from one or more vantage points, and the seed gets exactly one status:

``ok``, ``edited``, ``redirect-home``, ``soft-404``, ``not-found``, ``gone``,
``blocked-451``, ``unreachable``, ``geo-blocked``.

Every result becomes a PREMIS-style ``watch`` event in the ledger
(``watch_results`` and ``events``) and in the custody log of the seed's latest
bag. The bag itself is only ever read.
"""

from __future__ import annotations

import codecs
import dataclasses
import difflib
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from strongroom import SOFTWARE, __version__
from strongroom.bag import custody
from strongroom.bag.baginfo import first, read_bag_info, values
from strongroom.core.archive import Archive
from strongroom.core.collection import (
    DEFAULT_COLLECTION_ID,
    DEFAULT_USER_AGENT,
    CaptureSettings,
    Collection,
    Seed,
    validate_url,
)
from strongroom.core.ledger import Ledger, open_ledger, utcnow
from strongroom.errors import ProblemFound, UsageError

OK = "ok"
EDITED = "edited"
REDIRECT_HOME = "redirect-home"
SOFT_404 = "soft-404"
NOT_FOUND = "not-found"
GONE = "gone"
BLOCKED_451 = "blocked-451"
UNREACHABLE = "unreachable"
GEO_BLOCKED = "geo-blocked"
STATUSES = (
    OK,
    EDITED,
    REDIRECT_HOME,
    SOFT_404,
    NOT_FOUND,
    GONE,
    BLOCKED_451,
    UNREACHABLE,
    GEO_BLOCKED,
)
# The live page is no longer there for readers: this archive may hold the only copy.
TAKEDOWN = frozenset({REDIRECT_HOME, SOFT_404, NOT_FOUND, GONE, BLOCKED_451})
# Statuses under which a vantage point still sees the article.
SEES_PAGE = frozenset({OK, EDITED})

MAX_BODY = 20 * 1024 * 1024  # a news article is far smaller; more is a hostile server
READ_STEP = 16 * 1024  # small steps bound what one gzip chunk can expand to in memory
MAX_REDIRECTS = 10
SOFT404_SIMILARITY = 0.9  # live page vs. a page that cannot exist
HOME_SIMILARITY = 0.9  # redirect target vs. the site's home page
DIFF_SNIPPETS = 5

# Error phrases in a <title> that mark an error page served with 200.
ERROR_TITLE_PHRASES = (
    "not found",
    "404",
    "page unavailable",
    "page not available",
    "no longer available",
    "page does not exist",
    "page doesn't exist",
    "страница не найдена",
    "страница недоступна",
    "ошибка 404",
    "seite nicht gefunden",
    "page introuvable",
    "página no encontrada",
)
# Phrases of the pages ISPs and national filters show instead of a blocked site.
BLOCK_PAGE_PHRASES = (
    "access restricted",
    "access to this resource is restricted",
    "access to this site is blocked",
    "blocked by order",
    "not available in your country",
    "unavailable in your region",
    "доступ ограничен",
    "доступ к информационному ресурсу ограничен",
    "роскомнадзор",
    "единый реестр",
)
# Legal labels a state forces publishers to show. One appearing later is an edit.
LEGAL_LABELS = (
    "foreign agent",
    "foreign-agent",
    "иностранный агент",
    "иностранного агента",
    "иностранным агентом",
    "undesirable organization",
    "undesirable organisation",
    "нежелательной организации",
    "нежелательная организация",
    "нежелательной",
    "extremist organization",
    "экстремистской организации",
)


# --- text ------------------------------------------------------------------


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
    import trafilatura

    text = None
    try:
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


# --- baseline from the bag -------------------------------------------------


@dataclass
class BagRef:
    bag_id: str
    group: str
    date: str
    is_version_of: str
    seeds: list[str]


@dataclass
class Target:
    """A seed to watch and the bag that holds its latest capture."""

    url: str
    collection_id: str
    bag_id: str | None
    bags: list[str] = field(default_factory=list)  # every bag with this seed, oldest first
    seed: Seed | None = None


def bag_refs(archive: Archive) -> list[BagRef]:
    """The labels watch needs from every bag in the archive."""
    refs = []
    for bag_id in archive.bag_ids():
        info = read_bag_info(archive.bag_dir(bag_id))
        refs.append(
            BagRef(
                bag_id=bag_id,
                group=first(info, "Bag-Group-Identifier"),
                date=first(info, "Bagging-Date"),
                is_version_of=first(info, "Is-Version-Of"),
                seeds=values(info, "Seed-URL"),
            )
        )
    return refs


def latest_bag(refs: Sequence[BagRef]) -> BagRef | None:
    """The newest of several bags of one seed.

    A bag another one names in ``Is-Version-Of`` has been superseded, whatever
    the dates say (Bagging-Date is often only a day). Among the rest the latest
    Bagging-Date wins, then the bag id (which embeds the capture time).
    """
    if not refs:
        return None
    superseded = {r.is_version_of for r in refs if r.is_version_of}
    heads = [r for r in refs if r.bag_id not in superseded] or list(refs)
    return max(heads, key=lambda r: (r.date, r.bag_id))


def targets(archive: Archive, collection: Collection | None = None) -> list[Target]:
    """The seeds to watch: every seed of every bag, or one collection's seeds."""
    refs = bag_refs(archive)
    by_url: dict[str, list[BagRef]] = {}
    for r in refs:
        for url in r.seeds:
            by_url.setdefault(url, []).append(r)
    out: list[Target] = []
    if collection is None:
        for url in sorted(by_url):
            found = sorted(by_url[url], key=lambda r: (r.date, r.bag_id))
            head = latest_bag(found)
            assert head is not None
            out.append(
                Target(
                    url=url,
                    collection_id=head.group or DEFAULT_COLLECTION_ID,
                    bag_id=head.bag_id,
                    bags=[r.bag_id for r in found],
                )
            )
        return out
    for seed in collection.seeds:
        found = [r for r in by_url.get(seed.url, []) if r.group in ("", collection.id)]
        found.sort(key=lambda r: (r.date, r.bag_id))
        head = latest_bag(found)
        out.append(
            Target(
                url=seed.url,
                collection_id=collection.id,
                bag_id=head.bag_id if head else None,
                bags=[r.bag_id for r in found],
                seed=seed,
            )
        )
    return out


def _bag_warcs(bag_dir: Path) -> list[Path]:
    """The bag's WARC files; symlinks are refused (a hostile bag could point anywhere)."""
    warc_dir = bag_dir / "data" / "warc"
    if not warc_dir.is_dir() or warc_dir.is_symlink():
        return []
    return sorted(
        p
        for p in warc_dir.iterdir()
        if p.name.endswith((".warc.gz", ".warc")) and p.is_file() and not p.is_symlink()
    )


@dataclass
class _Rec:
    rec_type: str
    uri: str
    date: str
    record_id: str
    status: int | None
    location: str | None
    content_type: str
    body: bytes | None  # None for revisits
    refers_to_uri: str = ""
    refers_to_date: str = ""
    payload_digest: str = ""


def _looks_like_warc(fh: Any) -> bool:
    """True when a file starts with a WARC record, plain or gzipped.

    warcio would read arbitrary text as a lenient ARC file; a bag's WARC must be a WARC.
    """
    import zlib

    head = fh.read(4096)
    fh.seek(0)
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 16)
        except zlib.error:
            return False
    return head.startswith(b"WARC/")


def _read_records(
    paths: Iterable[Path],
    wanted: Callable[[str, str, str], bool],
    bodies: bool = True,
) -> list[_Rec]:
    """Response and revisit records that ``wanted(uri, record_id, digest)`` selects.

    With ``bodies=False`` only headers are kept, so scanning a bag full of
    images and video costs no memory.
    """
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    out: list[_Rec] = []
    for path in paths:
        try:
            with open(path, "rb") as fh:
                if not _looks_like_warc(fh):
                    raise UsageError(
                        f"{path}: cannot read WARC (it does not start with a WARC record)"
                    )
                for rec in ArchiveIterator(fh):
                    if rec.rec_type not in ("response", "revisit"):
                        continue
                    h = rec.rec_headers
                    uri = h.get_header("WARC-Target-URI") or ""
                    rid = h.get_header("WARC-Record-ID") or ""
                    digest = h.get_header("WARC-Payload-Digest") or ""
                    if not wanted(uri, rid, digest):
                        continue
                    status = location = None
                    ctype = ""
                    if rec.http_headers is not None:
                        try:
                            status = int(rec.http_headers.get_statuscode())
                        except (TypeError, ValueError):
                            status = None
                        location = rec.http_headers.get_header("Location")
                        ctype = rec.http_headers.get_header("Content-Type") or ""
                    body = None
                    if rec.rec_type == "response" and bodies:
                        # content_stream() removes chunking and gzip; the cap stops a bomb.
                        body = rec.content_stream().read(MAX_BODY + 1)[:MAX_BODY]
                    out.append(
                        _Rec(
                            rec_type=rec.rec_type,
                            uri=uri,
                            date=h.get_header("WARC-Date") or "",
                            record_id=rid,
                            status=status,
                            location=location,
                            content_type=ctype,
                            body=body,
                            refers_to_uri=h.get_header("WARC-Refers-To-Target-URI") or "",
                            refers_to_date=h.get_header("WARC-Refers-To-Date") or "",
                            payload_digest=digest,
                        )
                    )
        except (ArchiveLoadFailed, OSError, EOFError, ValueError) as exc:
            raise UsageError(f"{path}: cannot read WARC ({exc})") from None
    return out


def _resolve_revisit(archive: Archive, rec: _Rec, skip: Path | None) -> _Rec | None:
    """The original response a revisit record points to, in this or another bag.

    The ledger's payload-digest index names the capture and WARC file; failing
    that, every bag is scanned for the referred-to URI and date.
    """
    paths = archive.payload_origins(rec.payload_digest)
    target_uri = rec.refers_to_uri or rec.uri

    def wanted(uri: str, _rid: str, digest: str) -> bool:
        return uri == target_uri and (not rec.payload_digest or digest == rec.payload_digest)

    def pick(found: list[_Rec]) -> _Rec | None:
        found = [r for r in found if r.rec_type == "response"]
        exact = [r for r in found if not rec.refers_to_date or r.date == rec.refers_to_date]
        return (exact or found or [None])[0]

    if paths:
        hit = pick(_read_records(paths, wanted))
        if hit:
            return hit
    for bag_id in archive.bag_ids():
        bag_paths = [p for p in _bag_warcs(archive.bag_dir(bag_id)) if p.parent != skip]
        hit = pick(_read_records(bag_paths, wanted))
        if hit:
            return hit
    return None


def load_baseline(archive: Archive, bag_id: str, url: str) -> Page | None:
    """The seed's page as recorded in a bag, following recorded redirects and revisits."""
    warcs = _bag_warcs(archive.bag_dir(bag_id))
    # Headers first, to find the chain of redirects; then the one body that matters.
    recs = _read_records(warcs, lambda uri, _r, _d: True, bodies=False)
    by_uri: dict[str, _Rec] = {}
    for r in recs:
        # Prefer a full response over a revisit of the same URI, and the last of equals.
        if r.uri not in by_uri or r.rec_type == "response" or by_uri[r.uri].rec_type == "revisit":
            by_uri[r.uri] = r
    current = url
    seen: set[str] = set()
    while current in by_uri and current not in seen:
        seen.add(current)
        rec = by_uri[current]
        if rec.status is not None and 300 <= rec.status < 400 and rec.location:
            current = urljoin(current, rec.location.strip())
            continue
        if rec.rec_type == "revisit":
            original = _resolve_revisit(archive, rec, skip=None)
            if original is None or original.body is None:
                return None
            rec = dataclasses.replace(original, status=rec.status or original.status)
        if rec.body is None:
            rid = rec.record_id
            full = _read_records(warcs, lambda _u, r, _d, rid=rid: r == rid)
            rec = full[0] if full else rec
        if rec.body is None:
            return None
        html = decode_body(rec.body, rec.content_type)
        return Page.from_html(current, rec.status, html)
    return None


# --- live fetch ------------------------------------------------------------


@dataclass
class Fetch:
    """What one vantage point got for one URL."""

    url: str
    vantage: str
    final_url: str | None = None
    http_status: int | None = None
    hops: list[dict[str, Any]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    truncated: bool = False
    error: str | None = None

    def page(self) -> Page:
        html = decode_body(self.body, self.headers.get("content-type", ""))
        return Page.from_html(self.final_url or self.url, self.http_status, html)


def vantage_name(proxy: str | None) -> str:
    """``direct`` or ``proxy:<host:port>`` (credentials in a proxy URL are never shown)."""
    if not proxy:
        return "direct"
    parts = urlsplit(proxy)
    host = parts.hostname or proxy
    return f"proxy:{host}:{parts.port}" if parts.port else f"proxy:{host}"


def explain_error(exc: BaseException, url: str = "", timeout: float = 0.0) -> str:
    """A one-line reason for a failed live check.

    Watching adds two distinctions to the capture engine's wording: a proxy
    that cannot be reached at all (a broken vantage point, not a block), and
    one that connects and then cuts us off (what a filtering middlebox does).
    """
    import requests

    from strongroom.capture.http import explain

    text = str(exc)
    low = text.lower()
    if isinstance(exc, requests.exceptions.ProxyError):
        if "newconnectionerror" in low or "failed to establish" in low or "resolve" in low:
            return f"proxy error: cannot connect to the proxy ({text[:200]})"
        if "reset" in low:
            return "connection reset by the server (through the proxy)"
        return "the server closed the connection without a response (through the proxy)"
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return f"redirect loop (more than {MAX_REDIRECTS} redirects)"
    return explain(exc, url, timeout)


class Client:
    """A polite HTTP client for one vantage point (requests Session)."""

    def __init__(
        self,
        *,
        proxy: str | None = None,
        user_agent: str = "",
        timeout: float = 30.0,
        delay: float = 0.0,
        max_bytes: int = MAX_BODY,
    ) -> None:
        import requests

        self.vantage = vantage_name(proxy)
        self.session = requests.Session()
        self.session.max_redirects = MAX_REDIRECTS
        self.session.headers["User-Agent"] = user_agent or DEFAULT_USER_AGENT.format(
            version=__version__
        )
        self.session.headers["Accept"] = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
        if proxy:
            # Only the given proxy: no environment proxies, no NO_PROXY bypass.
            self.session.trust_env = False
            self.session.proxies = {"http": proxy, "https": proxy}
        self.timeout = timeout
        self.delay = delay
        self.max_bytes = max_bytes
        self._last: dict[str, float] = {}

    def close(self) -> None:
        self.session.close()

    def _polite_wait(self, url: str) -> None:
        host = urlsplit(url).netloc
        last = self._last.get(host)
        if last is not None and self.delay > 0:
            wait = self.delay - (time.monotonic() - last)
            if wait > 0:
                time.sleep(wait)
        self._last[host] = time.monotonic()

    def get(self, url: str) -> Fetch:
        """GET ``url`` following redirects, keeping each hop; never raises for network trouble."""
        import requests
        import urllib3

        result = Fetch(url=url, vantage=self.vantage)
        self._polite_wait(url)
        # A slow-drip server must not hold a watch run forever: a total deadline
        # on top of the per-read timeout.
        deadline = time.monotonic() + self.timeout * 4
        try:
            with self.session.get(
                url, timeout=(self.timeout, self.timeout), stream=True, allow_redirects=True
            ) as resp:
                result.hops = [
                    {
                        "url": h.url,
                        "status": h.status_code,
                        "location": h.headers.get("Location"),
                    }
                    for h in resp.history
                ]
                result.http_status = resp.status_code
                result.final_url = resp.url
                result.headers = {k.lower(): v for k, v in resp.headers.items()}
                chunks: list[bytes] = []
                total = 0
                while True:
                    # read1 returns whatever one socket read gives (decoded), so a
                    # server dripping a byte at a time still meets the deadline check.
                    chunk = resp.raw.read1(READ_STEP, decode_content=True)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    total += len(chunk)
                    if total > self.max_bytes or time.monotonic() > deadline:
                        result.truncated = True
                        break
                result.body = b"".join(chunks)[: self.max_bytes]
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
            if result.http_status is None:
                result.error = explain_error(exc, url, self.timeout)
            else:
                result.truncated = True  # the body broke off; the status line is still evidence
        except (ValueError, UnicodeError, OSError) as exc:  # malformed headers or URL
            result.error = f"malformed response: {exc}"[:300]
        return result


# --- classification --------------------------------------------------------


def _site(host: str | None) -> str:
    host = (host or "").lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


_INDEX_FILE = re.compile(r"(?:^|/)(?:index|default)\.(?:html?|php|aspx?|jsp)$", re.IGNORECASE)


def home_redirect_reason(seed_url: str, final_url: str) -> str | None:
    """Why ``final_url`` is the site's home or a section page of ``seed_url``, or None.

    The rule: same site (``www.`` ignored) and the final path, without an index
    file name, is ``/`` (home) or a parent folder of the seed's path (a section,
    e.g. ``/rferl/`` for ``/rferl/a/123.html``). Pages with fewer path segments
    that are not parents are checked against the home page's text by the caller.
    """
    s, f = urlsplit(seed_url), urlsplit(final_url)
    if _site(s.hostname) != _site(f.hostname):
        return None
    fpath = _INDEX_FILE.sub("/", f.path or "/")
    if fpath in ("", "/"):
        return "redirects to the site's home page"
    folder = fpath if fpath.endswith("/") else fpath + "/"
    spath = s.path or "/"
    if spath.startswith(folder) and spath.rstrip("/") != fpath.rstrip("/"):
        return f"redirects to the section page {fpath}"
    return None


def _segments(url: str) -> int:
    return len([p for p in urlsplit(url).path.split("/") if p])


def parse_blocked_by(link_header: str) -> str | None:
    """The target of ``Link: <...>; rel="blocked-by"`` (RFC 7725), if any."""
    from requests.utils import parse_header_links

    try:
        links = parse_header_links(link_header or "")
    except Exception:
        # A hostile Link header is just not evidence.
        return None
    for link in links:
        rels = (link.get("rel") or "").lower().split()
        if "blocked-by" in rels:
            return (link.get("url") or "").strip()[:2048] or None
    return None


def probe_url(seed_url: str) -> str:
    """A URL beside the seed that cannot exist: ``/<seed dir>/strongroom-probe-<uuid4>``."""
    parts = urlsplit(seed_url)
    folder = parts.path.rsplit("/", 1)[0] if "/" in parts.path else ""
    path = f"{folder}/strongroom-probe-{uuid.uuid4()}"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


@dataclass
class VantageResult:
    vantage: str
    status: str
    http_status: int | None
    final_url: str | None
    similarity: float | None
    evidence: dict[str, Any]


def compare(baseline: Page | None, live: Page, threshold: float) -> tuple[str, dict[str, Any]]:
    """ok or edited: the article's words and any legal label that was not there before."""
    ev: dict[str, Any] = {"title": live.title[:300], "text_sha256": live.text_sha256}
    new_labels: list[str] = []
    if baseline is None:
        ev["baseline"] = "no recorded response for this seed in its bag"
        return OK, ev
    before_labels = set(legal_labels(baseline.visible + " " + baseline.text))
    new_labels = [
        lb for lb in legal_labels(live.visible + " " + live.text) if lb not in before_labels
    ]
    sim = similarity(baseline.text, live.text)
    ev["similarity"] = round(sim, 4)
    ev["baseline_words"] = len(words(baseline.text))
    ev["live_words"] = len(words(live.text))
    changed = words(baseline.text) != words(live.text) and (1.0 - sim) > threshold
    if changed:
        ev["diff"] = diff_snippets(baseline.text, live.text)
    if new_labels:
        ev["legal_label"] = new_labels
    if changed or new_labels:
        reasons = []
        if changed:
            reasons.append(f"main text changed (similarity {sim:.3f})")
        if new_labels:
            reasons.append("legal label appeared: " + ", ".join(new_labels))
        ev["reason"] = "; ".join(reasons)
        return EDITED, ev
    return OK, ev


def check_vantage(
    client: Client, url: str, baseline: Page | None, threshold: float
) -> VantageResult:
    """Fetch ``url`` from one vantage point and classify it (probing when needed)."""
    f = client.get(url)
    ev: dict[str, Any] = {"hops": f.hops}
    if f.truncated:
        ev["truncated"] = True

    def done(status: str, sim: float | None = None, **more: Any) -> VantageResult:
        ev.update(more)
        if f.http_status is not None:
            ev["http_status"] = f.http_status
        return VantageResult(client.vantage, status, f.http_status, f.final_url, sim, ev)

    if f.error:
        if f.error.startswith("proxy error") and client.vantage != "direct":
            # The vantage point itself is broken: that says nothing about the page.
            return done(UNREACHABLE, reason=f.error, vantage_failed=True)
        return done(UNREACHABLE, reason=f.error)
    code = f.http_status or 0
    if code == 451:
        blocked_by = parse_blocked_by(f.headers.get("link", ""))
        return done(
            BLOCKED_451,
            blocked_by=blocked_by,
            reason="HTTP 451 Unavailable For Legal Reasons"
            + (
                f"; blocked by {blocked_by} (may be an ISP, not the publisher)"
                if blocked_by
                else ""
            ),
        )
    if code == 410:
        return done(GONE, reason="HTTP 410 Gone")
    if code == 404:
        return done(NOT_FOUND, reason="HTTP 404 Not Found")
    if not 200 <= code < 300:
        # 403, 429, 5xx...: the page cannot be seen now, but nothing says it was removed.
        return done(UNREACHABLE, reason=f"HTTP {code} from the server")
    live = f.page()
    final = f.final_url or url
    if f.hops:
        why = home_redirect_reason(url, final)
        if why is None and _segments(final) < _segments(url):
            home_url = urlunsplit((*urlsplit(final)[:2], "/", "", ""))
            home = client.get(home_url)
            if home.http_status == 200 and not home.error:
                sim_home = similarity(home.page().text, live.text)
                if sim_home >= HOME_SIMILARITY:
                    why = f"redirect target's text matches the home page ({sim_home:.2f})"
        if why:
            return done(REDIRECT_HOME, reason=why, title=live.title[:300])
    block = block_page_phrase(live)
    if block and not (baseline and block_page_phrase(baseline)):
        # A filter's page served in place of the article: the article is not reachable
        # from here (with a second vantage that sees it, this becomes geo-blocked).
        return done(UNREACHABLE, reason=f"a block page ({block!r})", title=live.title[:300])
    phrase = title_error_phrase(live.title)
    if phrase and not (baseline and title_error_phrase(baseline.title)):
        return done(SOFT_404, reason=f"error page: title says {phrase!r}", title=live.title[:300])
    status, cmp_ev = compare(baseline, live, threshold)
    ev.update(cmp_ev)
    sim = cmp_ev.get("similarity")
    if status == OK:
        return done(OK, sim)
    # The text differs: is this an error page the site serves for any URL?
    probe = client.get(probe_url(url))
    ev["probe"] = {"url": probe.url, "http_status": probe.http_status}
    if probe.http_status and 200 <= probe.http_status < 300 and not probe.error:
        sim_probe = similarity(probe.page().text, live.text)
        ev["probe"]["similarity"] = round(sim_probe, 4)
        if sim_probe >= SOFT404_SIMILARITY:
            return done(
                SOFT_404,
                sim,
                reason=f"page matches a URL that cannot exist (similarity {sim_probe:.2f})",
            )
    return done(EDITED, sim)


def combine(results: Sequence[VantageResult]) -> VantageResult:
    """One status from several vantage points.

    When one sees the article and another gets 451, a failure or a block
    page, the seed is ``geo-blocked``, kept apart from removals. Otherwise the
    first (direct) vantage's answer stands; all answers stay in the evidence.
    """
    primary = results[0]
    if len(results) == 1:
        return primary
    per = {
        r.vantage: {"status": r.status, "http_status": r.http_status, "final_url": r.final_url}
        | ({"reason": r.evidence["reason"]} if "reason" in r.evidence else {})
        | ({"blocked_by": r.evidence["blocked_by"]} if r.evidence.get("blocked_by") else {})
        for r in results
    }
    usable = [r for r in results if not r.evidence.get("vantage_failed")]
    seeing = [r for r in usable if r.status in SEES_PAGE]
    blocked = [r for r in usable if r.status not in SEES_PAGE]
    evidence = dict(primary.evidence) | {"vantages": per}
    failed = [r.vantage for r in results if r.evidence.get("vantage_failed")]
    if failed:
        evidence["failed_vantages"] = failed
    if seeing and blocked:
        evidence["reason"] = (
            "seen from "
            + ", ".join(r.vantage for r in seeing)
            + "; not from "
            + ", ".join(f"{r.vantage} ({r.status})" for r in blocked)
        )
        evidence["seen_status"] = seeing[0].status
        return VantageResult(
            ",".join(r.vantage for r in results),
            GEO_BLOCKED,
            seeing[0].http_status,
            seeing[0].final_url,
            seeing[0].similarity,
            evidence,
        )
    return dataclasses.replace(
        primary, vantage=",".join(r.vantage for r in results), evidence=evidence
    )


# --- results ---------------------------------------------------------------


@dataclass
class WatchResult:
    url: str
    status: str
    previous_status: str | None
    http_status: int | None
    final_url: str | None
    similarity: float | None
    vantage: str
    evidence: dict[str, Any]
    checked_at: str
    bag_id: str | None
    collection_id: str
    changed: bool = False
    recaptured_as: str | None = None

    @property
    def takedown(self) -> bool:
        return self.status in TAKEDOWN

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "status": self.status,
            "previous_status": self.previous_status,
            "http_status": self.http_status,
            "final_url": self.final_url,
            "similarity": self.similarity,
            "vantage": self.vantage,
            "evidence": self.evidence,
            "checked_at": self.checked_at,
            "bag_id": self.bag_id,
            "collection_id": self.collection_id,
            "changed": self.changed,
            "recaptured_as": self.recaptured_as,
        }


def previous(ledger: Ledger, url: str) -> dict[str, Any] | None:
    """The last watch result of a URL, if it was ever watched."""
    rows = ledger.query(
        "SELECT * FROM watch_results WHERE url = ? ORDER BY id DESC LIMIT 1", (url,)
    )
    if not rows:
        return None
    row = dict(rows[0])
    try:
        row["evidence"] = json.loads(row["evidence"])
    except (TypeError, ValueError):
        row["evidence"] = {}
    return row


def is_news(status: str, evidence: dict[str, Any], bag_id: str | None, prev: dict | None) -> bool:
    """Did the seed change state since the last watch?

    First watch: news unless ok. Later: a different status, or an edit whose
    text differs from the last edit seen. Going from ``edited`` to ``ok`` only
    because a recapture made a new baseline bag is not news.
    """
    if prev is None:
        return status != OK
    before = prev.get("status")
    if status == before:
        if status == EDITED:
            old_sha = (prev.get("evidence") or {}).get("text_sha256")
            return old_sha != evidence.get("text_sha256") and prev.get("bag_id") == bag_id
        return False
    return not (status == OK and before == EDITED and prev.get("bag_id") != bag_id)


def record(archive: Archive, ledger: Ledger, result: WatchResult) -> None:
    """Write the result to ``watch_results``, ``events`` and the bag's custody log."""
    detail = {
        "status": result.status,
        "previous_status": result.previous_status,
        "http_status": result.http_status,
        "final_url": result.final_url,
        "similarity": result.similarity,
        "vantage": result.vantage,
        "evidence": result.evidence,
        "url": result.url,
        "checked_at": result.checked_at,
    }
    if result.recaptured_as:
        detail["recaptured_as"] = result.recaptured_as
    with ledger.transaction() as c:
        c.execute(
            "INSERT INTO watch_results (url, collection_id, bag_id, status, previous_status,"
            " http_status, final_url, similarity, vantage, evidence, checked_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                result.url,
                result.collection_id,
                result.bag_id,
                result.status,
                result.previous_status,
                result.http_status,
                result.final_url,
                result.similarity,
                result.vantage,
                json.dumps(result.evidence, sort_keys=True, default=str),
                result.checked_at,
            ),
        )
    actor = archive.config.operator or SOFTWARE
    ledger.record_event(
        "watch",
        result.status,
        bag_id=result.bag_id,
        actor=actor,
        detail=detail,
        time=result.checked_at,
    )
    if result.bag_id:
        custody.append(
            archive,
            result.bag_id,
            "watch",
            outcome=result.status,
            inputs={"url": result.url, "vantage": result.vantage},
            detail=detail,
            actor=actor,
        )


# --- recapture -------------------------------------------------------------


def _bag_capture_json(archive: Archive, bag_id: str) -> dict[str, Any]:
    path = archive.bag_dir(bag_id) / "tags" / "capture.json"
    if not path.is_file() or path.is_symlink() or path.stat().st_size > 4 * 1024 * 1024:
        return {}
    try:
        data = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def settings_for(
    archive: Archive, target: Target, collection: Collection | None
) -> CaptureSettings:
    """The capture settings that govern politeness: the collection's, else the bag's."""
    if collection is not None:
        return collection.capture
    if target.bag_id:
        recorded = _bag_capture_json(archive, target.bag_id).get("settings")
        if isinstance(recorded, dict):
            known = {
                k: v
                for k, v in recorded.items()
                if k in CaptureSettings.__dataclass_fields__
                and isinstance(v, type(getattr(CaptureSettings(), k)))
            }
            try:
                return CaptureSettings(**known)
            except TypeError:
                pass
    return CaptureSettings()


def one_seed_collection(
    archive: Archive, target: Target, collection: Collection | None
) -> Collection:
    """The collection a recapture runs with: the original one narrowed to this seed."""
    seed = target.seed or Seed(url=target.url)
    if collection is not None:
        return dataclasses.replace(collection, seeds=(seed,))
    info = read_bag_info(archive.bag_dir(target.bag_id)) if target.bag_id else []
    cid = first(info, "Bag-Group-Identifier") or DEFAULT_COLLECTION_ID
    return Collection(
        id=cid if re.match(r"^[a-z0-9][a-z0-9._-]{0,63}$", cid) else DEFAULT_COLLECTION_ID,
        title=first(info, "External-Description") or f"Recapture of {target.url}",
        seeds=(seed,),
        capture=dataclasses.replace(settings_for(archive, target, None), depth=0),
    )


def recapture(
    archive: Archive,
    target: Target,
    collection: Collection | None,
    manifests_dir: Path | None = None,
) -> str:
    """Capture the seed again and bag it as a new version of its latest bag."""
    from strongroom.core.policy import current_access
    from strongroom.workflow import JobOptions, archive_seed

    coll = one_seed_collection(archive, target, collection)
    access = current_access(archive, target.bag_id) if target.bag_id else None
    # The same job as `strongroom archive`: screenshot, bag, first fixity check.
    run = archive_seed(
        archive,
        coll,
        JobOptions(manifests_dir=manifests_dir),
        access=access,
        is_version_of=target.bag_id,
    )
    seed_failures = [f for f in run.failures if f.startswith(target.url + ": ")]
    if run.error or seed_failures or not run.bag_id:
        reasons = "; ".join([run.error, *seed_failures]).strip("; ")
        raise ProblemFound(
            f"recapture {run.capture_id} of {target.url} did not complete"
            + (f": {reasons}" if reasons else "")
        )
    return run.bag_id


# --- the run ---------------------------------------------------------------


@dataclass
class WatchRun:
    results: list[WatchResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def changed(self) -> list[WatchResult]:
        return [r for r in self.results if r.changed]


def watch(
    archive: Archive,
    collection: Collection | None = None,
    *,
    proxies: Sequence[str] = (),
    timeout: float | None = None,
    do_recapture: bool = False,
    manifests_dir: Path | None = None,
    on_result: Callable[[WatchResult], None] | None = None,
) -> WatchRun:
    """Check every seed live and record the results; see the module docstring."""
    from strongroom.core.fsutil import exclusive_lock

    for p in proxies:
        if urlsplit(p).scheme not in ("http", "https", "socks5", "socks5h", "socks4"):
            raise UsageError(f"--proxy {p!r}: expected http://, https:// or socks5h:// URL")
    archive.require()
    found = targets(archive, collection)
    run = WatchRun()
    if not found:
        return run
    threshold = collection.edit_threshold if collection else 0.0
    with exclusive_lock(archive.locks / "watch.lock") as taken:
        if not taken:
            raise UsageError("another watch is running on this archive; try again later")
        clients: dict[tuple[str | None, str, float, float], Client] = {}
        with open_ledger(archive.root) as ledger:
            for target in found:
                settings = settings_for(archive, target, collection)
                to = timeout if timeout is not None else settings.timeout
                vantages: list[Client] = []
                for proxy in (None, *proxies):
                    key = (proxy, settings.user_agent, to, settings.delay)
                    if key not in clients:
                        clients[key] = Client(
                            proxy=proxy,
                            user_agent=settings.user_agent,
                            timeout=to,
                            delay=settings.delay,
                        )
                    vantages.append(clients[key])
                result = check_target(archive, ledger, target, vantages, threshold, run.problems)
                # Every edited seed is recaptured (not only new edits): its latest bag differs
                # from the live page, so a new version is due. Takedowns are not recaptured:
                # an error page must never become the baseline of a seed.
                if do_recapture and result.bag_id and result.status == EDITED:
                    try:
                        result.recaptured_as = recapture(archive, target, collection, manifests_dir)
                    except Exception as exc:
                        # A failed recapture must not lose the watch result.
                        msg = getattr(exc, "message", None) or str(exc)
                        result.evidence["recapture_error"] = msg
                        run.problems.append(f"{target.url}: recapture failed: {msg}")
                record(archive, ledger, result)
                run.results.append(result)
                if on_result:
                    on_result(result)
        for c in clients.values():
            c.close()
    return run


def check_target(
    archive: Archive,
    ledger: Ledger,
    target: Target,
    clients: Sequence[Client],
    threshold: float,
    problems: list[str] | None = None,
) -> WatchResult:
    """Check one seed from every vantage point; compare with its last watch."""
    if problems is None:
        problems = []
    try:
        validate_url(target.url, "Seed-URL")
    except UsageError as exc:
        return WatchResult(
            target.url,
            UNREACHABLE,
            None,
            None,
            None,
            None,
            "direct",
            {"reason": f"not a URL that can be checked: {exc}"},
            utcnow(),
            target.bag_id,
            target.collection_id,
            changed=False,
        )
    baseline_error = None
    baseline = None
    if target.bag_id:
        try:
            baseline = load_baseline(archive, target.bag_id, target.url)
        except UsageError as exc:
            baseline_error = exc.message
    per = [check_vantage(c, target.url, baseline, threshold) for c in clients]
    merged = combine(per)
    for r in per:
        if r.evidence.get("vantage_failed"):
            problems.append(f"vantage {r.vantage} failed for {target.url}: {r.evidence['reason']}")
    evidence = dict(merged.evidence)
    if baseline_error:
        evidence["baseline_error"] = baseline_error
    prev = previous(ledger, target.url)
    prev_status = prev["status"] if prev else None
    return WatchResult(
        url=target.url,
        status=merged.status,
        previous_status=prev_status,
        http_status=merged.http_status,
        final_url=merged.final_url,
        similarity=merged.similarity,
        vantage=merged.vantage,
        evidence=evidence,
        checked_at=utcnow(),
        bag_id=target.bag_id,
        collection_id=target.collection_id,
        changed=is_news(merged.status, evidence, target.bag_id, prev),
    )
