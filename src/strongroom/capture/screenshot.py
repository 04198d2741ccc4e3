"""Screenshots and text of captured pages, rendered from the WARC in headless Chromium.

The Berkeley Protocol asks, for web evidence, for the URL, the HTML source and a
dated full-page screenshot. The WARC holds the first two; this module makes the
third without touching the live web: Chromium (Debian's, driven by Playwright
with ``executable_path``) loads the page while every request it makes is
answered from the capture's WARC records, and anything not in the WARC is
aborted. For each page it writes, under ``<capture>/derivatives/``:

* ``<slug>.png``  full-page screenshot with a banner stating URL and capture time,
  and the same facts in PNG ``tEXt``/``iTXt`` chunks;
* ``<slug>.txt``  the rendered page's text (``innerText``);
* ``<slug>.json`` a PREMIS rendering event linking both to their source record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import html
import json
import re
import shutil
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from strongroom import SOFTWARE
from strongroom.core.archive import Archive
from strongroom.core.fsutil import atomic_write_bytes, atomic_write_text
from strongroom.errors import ProblemFound, UsageError

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

DEFAULT_CHROMIUM = "/usr/bin/chromium"
# The flags the project mandates for every Chromium it starts (see issue 7).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
MAX_SCREENSHOT_HEIGHT = 16_000  # Chromium cannot paint taller surfaces reliably
MAX_TEXT = 4 * 1024 * 1024
MAX_RESOURCE = 256 * 1024 * 1024  # larger WARC bodies are not handed to the browser
# Response headers that describe the stored transfer, not the decoded body we hand over.
_DROP_HEADERS = {"content-encoding", "transfer-encoding", "content-length", "connection"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ChromiumMissing(UsageError):
    """Chromium is not installed where we look for it."""


@dataclass(frozen=True)
class RecordRef:
    """Where one response record lives: enough to cite it and to read it again."""

    uri: str
    warc_file: Path
    offset: int
    record_id: str
    warc_date: str
    status: int
    content_type: str


def find_chromium(chromium: str | None = None) -> str:
    """Path of the Chromium to use; ``ChromiumMissing`` with install advice otherwise."""
    candidates = [chromium] if chromium else [DEFAULT_CHROMIUM, "chromium", "chromium-browser"]
    for cand in candidates:
        path = shutil.which(cand) if cand else None
        if path:
            return path
    raise ChromiumMissing(
        f"Chromium not found ({chromium or DEFAULT_CHROMIUM}); screenshots and browser "
        "capture need Debian's Chromium: sudo apt-get install chromium"
    )


# --- the WARC as an in-memory URL index ---------------------------------------
class UnresolvedRevisit(ProblemFound):
    """A page's revisit record points at an earlier record that cannot be read."""


def index_warcs(
    warc_files: list[Path],
    origins: Callable[[str], list[Path]] | None = None,
    unresolved: dict[str, str] | None = None,
) -> dict[str, RecordRef]:
    """Map each target URI to its first response record (revisits resolved by digest).

    A revisit names a payload stored earlier: in these files, or (through
    ``origins``, e.g. :meth:`Archive.payload_origins`) in an earlier capture.
    The reference then points at the original's bytes but keeps the revisit's
    own record id and date, so a screenshot is dated when it was captured.
    A revisit that cannot be resolved is left out; ``unresolved`` (when given)
    receives its URI and why.
    """
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    index: dict[str, RecordRef] = {}
    by_digest: dict[str, RecordRef] = {}
    revisits: list[tuple[str, str, str, str]] = []
    for path in warc_files:
        try:
            with open(path, "rb") as fh:
                it = ArchiveIterator(fh, no_record_parse=False)
                for record in it:
                    rtype = record.rec_type
                    uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                    if rtype not in ("response", "revisit") or not uri:
                        continue
                    rid = record.rec_headers.get_header("WARC-Record-ID") or ""
                    date = record.rec_headers.get_header("WARC-Date") or ""
                    digest = record.rec_headers.get_header("WARC-Payload-Digest") or ""
                    if rtype == "revisit":
                        revisits.append((uri, digest, rid, date))
                        continue
                    ref = _record_ref(record, path, it.get_record_offset())
                    index.setdefault(uri, ref)
                    if digest:
                        by_digest.setdefault(digest, ref)
        except (ArchiveLoadFailed, OSError, ValueError, EOFError) as exc:
            raise ProblemFound(f"{path.name}: not a readable WARC file ({exc})") from None
    for uri, digest, rid, date in revisits:
        if uri in index:
            continue
        original = by_digest.get(digest)
        errors: list[str] = []
        if original is None and origins is not None:
            original = _find_payload(origins(digest), digest, errors)
        if original is not None:
            index[uri] = dataclasses.replace(original, uri=uri, record_id=rid, warc_date=date)
        elif unresolved is not None:
            unresolved[uri] = "; ".join(errors) or f"no WARC in the archive holds payload {digest}"
    return index


def _record_ref(record: Any, path: Path, offset: int) -> RecordRef:
    """A RecordRef for a response record read by warcio."""
    http = record.http_headers
    try:
        status = int(http.get_statuscode()) if http else 0
    except (TypeError, ValueError):
        status = 0
    ctype = (http.get_header("Content-Type") or "") if http else ""
    return RecordRef(
        record.rec_headers.get_header("WARC-Target-URI") or "",
        path,
        offset,
        record.rec_headers.get_header("WARC-Record-ID") or "",
        record.rec_headers.get_header("WARC-Date") or "",
        status,
        ctype.lower(),
    )


def _find_payload(paths: list[Path], digest: str, errors: list[str]) -> RecordRef | None:
    """The response record with payload ``digest`` in an earlier capture's WARCs."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    for path in paths:
        try:
            with open(path, "rb") as fh:
                it = ArchiveIterator(fh)
                for record in it:
                    if (
                        record.rec_type != "response"
                        or record.rec_headers.get_header("WARC-Payload-Digest") != digest
                    ):
                        continue
                    return _record_ref(record, path, it.get_record_offset())
        except (ArchiveLoadFailed, OSError, ValueError, EOFError, zlib.error) as exc:
            # An unreadable older WARC costs this resource; the caller names it.
            why = str(exc).split(":")[0][:80] or type(exc).__name__  # warcio quotes raw bytes
            errors.append(f"{_where(path)} is damaged ({why})")
    if paths and not errors:
        errors.append(f"it is not in {', '.join(_where(p) for p in paths)} (damaged or altered?)")
    return None


def _where(path: Path) -> str:
    """``<bag id>/<warc>`` for a bag's WARC, ``<capture id>/<warc>`` for a capture's."""
    up = path.parent.parent.parent if path.parent.name == "warc" else path.parent
    return f"{up.name}/{path.name}"


def read_response(ref: RecordRef) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and decoded body (de-chunked, de-gzipped) of one record."""
    from warcio.archiveiterator import ArchiveIterator

    with open(ref.warc_file, "rb") as fh:
        fh.seek(ref.offset)
        record = next(iter(ArchiveIterator(fh)))
        headers = [(k, v) for k, v in (record.http_headers.headers if record.http_headers else [])]
        body = record.content_stream().read(MAX_RESOURCE + 1)
    if len(body) > MAX_RESOURCE:
        body = b""
    headers = [(k, v) for k, v in headers if k.lower() not in _DROP_HEADERS]
    return ref.status, headers, body


# --- which pages -----------------------------------------------------------
def load_capture_json(capture_dir: Path) -> dict[str, Any]:
    """capture.json of a capture folder (an empty dict when absent)."""
    path = capture_dir / "capture.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a JSON object")
    return data


def page_urls(meta: dict[str, Any], index: dict[str, RecordRef]) -> list[str]:
    """The pages to render: capture.json ``pages``, else seeds, else every HTML 200."""
    urls: list[str] = []
    for page in meta.get("pages") or []:
        if isinstance(page, dict):
            urls.append(str(page.get("final_url") or page.get("url") or ""))
    if not urls:
        for seed in meta.get("seeds") or []:
            urls.append(str(seed.get("url", "") if isinstance(seed, dict) else seed))
    urls = [u for u in dict.fromkeys(urls) if u in index]
    if not urls:
        urls = [
            u
            for u, r in index.items()
            if r.status == 200 and r.content_type.startswith(("text/html", "application/xhtml"))
        ]
    return urls


def _named_pages(meta: dict[str, Any]) -> list[str]:
    """The pages and seeds capture.json names (before any is looked up)."""
    urls = [
        str(p.get("final_url") or p.get("url") or "")
        for p in meta.get("pages") or []
        if isinstance(p, dict)
    ]
    urls += [str(s.get("url", "") if isinstance(s, dict) else s) for s in meta.get("seeds") or []]
    return [u for u in dict.fromkeys(urls) if u]


def slug_for(url: str) -> str:
    """A short, safe, unique file stem for a URL: readable part plus a hash."""
    parts = urlsplit(url)
    readable = f"{parts.hostname or 'page'}{parts.path}"
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", readable)
    readable = re.sub(r"\.{2,}", ".", readable).strip("-.")[:60] or "page"
    return f"{readable}-{hashlib.sha256(url.encode('utf-8')).hexdigest()[:8]}"


# --- PNG metadata ------------------------------------------------------------
def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR; ValueError when it is not a PNG."""
    if len(data) < 24 or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def add_png_text(data: bytes, fields: dict[str, str]) -> bytes:
    """Insert text chunks after IHDR (tEXt for Latin-1 values, iTXt for the rest).

    Written by hand because no imaging library is a dependency and the chunk
    format is tiny (PNG spec 11.3.4).
    """
    png_size(data)
    ihdr_end = 8 + 4 + 4 + 13 + 4
    chunks = b""
    for key, value in fields.items():
        k = key.encode("latin-1")[:79]
        try:
            chunks += _chunk(b"tEXt", k + b"\x00" + value.encode("latin-1"))
        except UnicodeEncodeError:
            chunks += _chunk(b"iTXt", k + b"\x00\x00\x00\x00\x00" + value.encode("utf-8"))
    return data[:ihdr_end] + chunks + data[ihdr_end:]


def png_text(data: bytes) -> dict[str, str]:
    """The tEXt/iTXt chunks of a PNG as a dict (for tests and for checking evidence)."""
    png_size(data)
    out: dict[str, str] = {}
    pos = 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"tEXt":
            k, _, v = body.partition(b"\x00")
            out[k.decode("latin-1")] = v.decode("latin-1")
        elif kind == b"iTXt":
            k, _, rest = body.partition(b"\x00")
            # compression flag, method, language tag NUL, translated keyword NUL, text
            rest = rest[2:]
            _lang, _, rest = rest.partition(b"\x00")
            _tk, _, text = rest.partition(b"\x00")
            out[k.decode("latin-1")] = text.decode("utf-8", "replace")
        elif kind == b"IEND":
            break
        pos += 12 + length
    return out


# --- rendering ---------------------------------------------------------------
@contextlib.contextmanager
def browser_context(
    chromium: str | None = None, timeout: float = 60, *, profile_out: list[str] | None = None
) -> Iterator[Any]:
    """A Playwright persistent context on Debian's Chromium with an empty profile.

    ``profile_out`` receives the profile folder, by which the Chromium
    processes can be found and ended (``chromium.kill_profile_processes``).
    """
    exe = find_chromium(chromium)
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    with (
        tempfile.TemporaryDirectory(prefix="strongroom-chromium-") as profile,
        sync_playwright() as pw,
    ):
        if profile_out is not None:
            profile_out.append(profile)
        try:
            ctx = pw.chromium.launch_persistent_context(
                profile,
                executable_path=exe,
                headless=True,
                args=list(CHROMIUM_FLAGS),
                viewport=VIEWPORT,
                device_scale_factor=1,
                service_workers="block",
                timeout=timeout * 1000,
            )
        except PlaywrightError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unknown"
            raise ChromiumMissing(f"Chromium at {exe} did not start: {first}") from None
        ctx.set_default_timeout(timeout * 1000)
        try:
            yield ctx
        finally:
            ctx.close()


def _route_from_warc(index: dict[str, RecordRef], seen: list[str]) -> Any:
    def handle(route: Any) -> None:
        url = route.request.url
        seen.append(url)
        ref = index.get(url) or index.get(url.split("#", 1)[0])
        if ref is None:
            route.abort("blockedbyclient")  # not in the WARC: never ask the live web
            return
        try:
            status, headers, body = read_response(ref)
        except Exception:  # a damaged record must not stall the render
            route.abort("failed")
            return
        route.fulfill(status=status or 200, headers=dict(headers), body=body)

    return handle


_BANNER = """<!doctype html><html><head><meta charset="utf-8"><style>
html,body{{margin:0;padding:0;background:#fff}}
.b{{font:15px/1.4 DejaVu Sans,Liberation Sans,Arial,sans-serif;background:#1d2b3a;color:#fff;
padding:10px 16px;border-bottom:4px solid #c8102e;word-break:break-all}}
.b strong{{color:#ffd166}} img{{display:block}}
</style></head><body><div class="b">Archived capture &middot; captured
<strong>{date}</strong> (WARC-Date) &middot; {url}<br>
<small>{how} {rid} by {software}.</small></div>
<img src="https://strongroom.invalid/shot.png" width="{w}" height="{h}"></body></html>"""


def _stamp(ctx: Any, shot: bytes, ref: RecordRef, live: bool = False) -> bytes:
    """Put the capture banner above the page image, composed in a second tab.

    Composing outside the page (rather than injecting an element into it) leaves
    the captured page's own layout untouched in the evidence image.
    """
    w, h = png_size(shot)
    page = ctx.new_page()
    try:
        page.set_viewport_size({"width": w, "height": 200})
        page.route(
            "https://strongroom.invalid/shot.png",
            lambda r: r.fulfill(status=200, body=shot, headers={"Content-Type": "image/png"}),
        )
        page.set_content(
            _BANNER.format(
                date=html.escape(ref.warc_date),
                url=html.escape(ref.uri),
                rid=html.escape(ref.record_id),
                how=(
                    "Live render during capture; every request recorded, page record"
                    if live
                    else "Rendered from WARC record; not the live web. Record"
                ),
                software=html.escape(SOFTWARE),
                w=w,
                h=h,
            ),
            wait_until="load",
        )
        return page.screenshot(full_page=True, type="png")
    finally:
        page.close()


def render_page(ctx: Any, url: str, index: dict[str, RecordRef]) -> tuple[bytes, str, list[str]]:
    """Render one page from the WARC index; return PNG bytes, text, and requested URLs."""
    from playwright.sync_api import Error as PlaywrightError

    seen: list[str] = []
    page = ctx.new_page()
    try:
        page.route("**/*", _route_from_warc(index, seen))
        try:
            page.goto(url, wait_until="load")
        except PlaywrightError as exc:
            # A page whose load event never fires can still be photographed.
            if "Timeout" not in str(exc):
                raise ProblemFound(f"{url}: Chromium could not render it ({exc})") from None
        with contextlib.suppress(PlaywrightError):
            # Let lazy images and web fonts in before the picture is taken.
            page.evaluate(
                """async () => {
                  await document.fonts.ready;
                  const h = Math.min(document.documentElement.scrollHeight, 16000);
                  for (let y = 0; y < h; y += 800) { window.scrollTo(0, y);
                    await new Promise(r => setTimeout(r, 20)); }
                  window.scrollTo(0, 0);
                }"""
            )
        height = page.evaluate("document.documentElement.scrollHeight") or VIEWPORT["height"]
        if height > MAX_SCREENSHOT_HEIGHT:
            shot = page.screenshot(
                type="png",
                clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": MAX_SCREENSHOT_HEIGHT},
                full_page=True,
            )
        else:
            shot = page.screenshot(full_page=True, type="png")
        text = page.evaluate("document.body ? document.body.innerText : ''") or ""
        return shot, text[:MAX_TEXT], seen
    finally:
        page.close()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_derivatives(
    capture_dir: Path, *, chromium: str | None = None, timeout: float = 60
) -> list[Path]:
    """Render each captured page of ``capture_dir`` from its WARCs; return its derivatives.

    Writes ``derivatives/<slug>.png``, ``.txt`` and ``.json`` per page, each
    atomically. Pages that already have derivatives from the live render of a
    browser capture keep them (they are in the returned list too). Raises
    ``ChromiumMissing`` (before touching anything) when Chromium is not
    installed, ``ProblemFound`` when the WARCs are unreadable, and
    ``KeyboardInterrupt`` after Ctrl-C/SIGTERM, with the files of this call
    removed again and Chromium ended (nothing half-made stays; issue 11 #8).
    """
    from strongroom.capture.chromium import interruptible

    capture_dir = Path(capture_dir)
    exe = find_chromium(chromium)
    index, urls = _pages_to_render(capture_dir)
    out_dir = capture_dir / "derivatives"
    todo = [u for u in urls if not (out_dir / f"{slug_for(u)}.json").exists()]
    written: list[Path] = []
    profile: list[str] = []
    with interruptible(profile) as interrupted:
        try:
            if todo:
                with browser_context(exe, timeout, profile_out=profile) as ctx:
                    version = ctx.browser.version if getattr(ctx, "browser", None) else "unknown"
                    for url in todo:
                        if interrupted.is_set():
                            break
                        written += _render_one(ctx, url, index, out_dir, version)
        except Exception:
            if not interrupted.is_set():
                raise
        if interrupted.is_set():
            for path in written:
                with contextlib.suppress(OSError):
                    path.unlink()
            raise KeyboardInterrupt
    kept = [out_dir / f"{slug_for(u)}{ext}" for u in urls if u not in todo for ext in _EXTS]
    return [p for p in kept if p.exists()] + written


def _pages_to_render(capture_dir: Path) -> tuple[dict[str, Any], list[str]]:
    """(the WARCs' page index, the pages to render), or why there are none."""
    meta = load_capture_json(capture_dir)
    warcs = sorted(
        p
        for p in capture_dir.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.endswith((".warc.gz", ".warc"))
    )
    if not warcs:
        raise ProblemFound(f"{capture_dir}: no WARC files to render")
    # captures/<id>/ sits in an archive: earlier payloads are found through its ledger
    archive = Archive(capture_dir.parent.parent)
    unresolved: dict[str, str] = {}
    index = index_warcs(warcs, archive.payload_origins, unresolved)
    urls = page_urls(meta, index)
    # No page found while revisits are unresolved: they are the cause (capture.json,
    # naming the pages, is not written yet when screenshots run inside a capture).
    blamed = [u for u in _named_pages(meta) if u in unresolved] or ([] if urls else unresolved)
    for url in blamed:
        raise UnresolvedRevisit(
            f"{url}: the page is a revisit of an earlier capture's record that cannot be "
            f"read: {unresolved[url]}; run `strongroom verify --all --deep`"
        )
    if not urls:
        raise ProblemFound(f"{capture_dir}: no captured HTML page to render")
    return index, urls


def _render_one(
    ctx: Any, url: str, index: dict[str, Any], out_dir: Path, version: str
) -> list[Path]:
    """One page's dated screenshot, its text, and the PREMIS event that says how."""
    ref = index[url]
    shot, text, _seen = render_page(ctx, url, index)
    stamped = _stamp(ctx, shot, ref)
    return write_derivatives(out_dir, ref, stamped, text, version, live=False)


_EXTS = (".png", ".txt", ".json")
_LIVE_DETAIL = (
    "Page rendered live in headless Chromium during its capture: what the reader saw. "
    "Every request the browser made was fetched and recorded by strongroom's recorder; "
    "the screenshot was taken after the capture behaviours ran, with the capture time in "
    "a banner above the page."
)
_WARC_DETAIL = (
    "Page rendered from its WARC response record in headless Chromium; "
    "every request answered from the WARC, none sent to the live web. "
    "Screenshot shows the capture time in a banner above the page."
)


def write_derivatives(
    out_dir: Path, ref: RecordRef, stamped: bytes, text: str, version: str, *, live: bool
) -> list[Path]:
    """Write ``<slug>.png``, ``.txt`` and the PREMIS ``.json`` for one page, atomically.

    ``live``: rendered during a browser capture (the reader's view), not from the WARC.
    """
    url = ref.uri
    made = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    browser = version if version.startswith("Chromium") else f"Chromium {version}"
    png = add_png_text(
        stamped,
        {
            "Title": f"Capture of {url}",
            "URL": url,
            "WARC-Date": ref.warc_date,
            "WARC-Record-ID": ref.record_id,
            "WARC-Filename": ref.warc_file.name,
            "Creation Time": made,
            "Software": f"{SOFTWARE}; {browser}",
            "Rendering": "live capture" if live else "from WARC",
        },
    )
    stem = slug_for(url)
    png_path = out_dir / f"{stem}.png"
    txt_path = out_dir / f"{stem}.txt"
    txt = text.encode("utf-8")
    atomic_write_bytes(png_path, png)
    atomic_write_bytes(txt_path, txt)
    source = {
        "warc_file": ref.warc_file.name,
        "record_id": ref.record_id,
        "target_uri": url,
        "warc_date": ref.warc_date,
    }
    event = _rendering_event(made, browser, source, png_path.name, png, txt_path.name, txt)
    event["premis:eventDetail"] = _LIVE_DETAIL if live else _WARC_DETAIL
    event["rendering"] = "live-capture" if live else "from-warc"
    json_path = out_dir / f"{stem}.json"
    atomic_write_text(json_path, json.dumps(event, indent=2, sort_keys=True) + "\n")
    return [png_path, txt_path, json_path]


def _rendering_event(
    made: str, version: str, source: dict[str, str], png_name: str, png: bytes,
    txt_name: str, txt: bytes,
) -> dict[str, Any]:  # fmt: skip
    """The PREMIS ``rendering`` event of one page's screenshot and text."""
    w, h = png_size(png)
    derived = {
        "premis:relationshipType": "derivation",
        "premis:relationshipSubType": "has source",
        "relatedObject": source,
    }
    return {
        "premis:eventType": "rendering",
        "premis:eventDateTime": made,
        "premis:eventDetail": _WARC_DETAIL,
        "premis:eventOutcome": "success",
        "premis:linkingAgent": [
            {"name": SOFTWARE, "role": "executing program"},
            {"name": version, "role": "rendering program"},
        ],
        "source": source,
        "derivatives": [
            {
                "file": png_name,
                "role": "screenshot",
                "format": "image/png",
                "width": w,
                "height": h,
                "size": len(png),
                "sha256": _sha256(png),
                "relationship": derived,
            },
            {
                "file": txt_name,
                "role": "extracted text",
                "format": "text/plain; charset=utf-8",
                "size": len(txt),
                "sha256": _sha256(txt),
                "relationship": derived,
            },
        ],
    }
