"""The JS news fixture site (tests/sites/jsnews) on 127.0.0.1, with a request log.

A news article built the way CMS themes build them: lazy images in three
patterns (IntersectionObserver + data-src, data-srcset, data-bg), the body
continued by fetch(), comments by XHR, a script-inserted iframe, an HLS
playlist with segments, ES modules (one imported by a root-relative path), a
URL that exists only in inline JSON, a "Load more" button and a <details>.

Images and video segments are generated (small valid PNGs, fixed bytes), so
the fixture stays a few kilobytes of text. Every request is logged, so a test
can say what reached the origin and when.
"""

from __future__ import annotations

import hashlib
import mimetypes
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

SITE = Path(__file__).resolve().parent.parent / "sites" / "jsnews"
ARTICLE = "article.html"
TYPES = {
    ".js": "text/javascript",
    ".json": "application/json",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".css": "text/css",
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
    ".txt": "text/plain",
}
# The text that the page's scripts add, which a replay must show.
JS_TEXTS = (
    "Human rights researchers who interviewed refugees",  # fetch() body
    "families in the city still say",  # fetch() body
    "My uncle crossed the river",  # XHR comments
    "Relatives lay flowers at the edge of the square",  # URL from inline JSON
    "Refugees recall the road to the Kyrgyz border",  # related, page 1
    "How the news of the shooting reached the outside world",  # "Load more", page 2
    "2025-05-13 09:00 UTC",  # formatted by an imported module
)
EMBED_TEXT = "Embedded post: a photograph of the square with candles"


def png(name: str, width: int = 24, height: int = 16) -> bytes:
    """A small solid-colour PNG whose colour depends on ``name``."""
    r, g, b = hashlib.sha256(name.encode()).digest()[:3]
    row = b"\x00" + bytes([r, g, b]) * width
    raw = zlib.compress(row * height)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def ts_segment(name: str, packets: int = 32) -> bytes:
    """MPEG-TS null packets (PID 0x1FFF), which players skip: a harmless stand-in
    for video that keeps the fixture small (random bytes can crash a demuxer)."""
    tag = hashlib.sha256(name.encode()).digest()  # each segment has its own digest
    packet = b"\x47\x1f\xff\x10" + (tag * 6)[:184]
    return packet * packets


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self.server.site.note(self.path)
        status, ctype, body = self.server.site.respond(self.path)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    site: JsNewsSite


class JsNewsSite:
    """``JsNewsSite().start()``; ``.url``, ``.article``, ``.log``; ``.fail.add('/x')``."""

    def __init__(self) -> None:
        self.fail: set[str] = set()
        self.log: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._httpd: _Server | None = None

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def article(self) -> str:
        return self.url + ARTICLE

    def start(self) -> JsNewsSite:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.site = self
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> JsNewsSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def note(self, path: str) -> None:
        with self._lock:
            self.log.append((time.monotonic(), path))

    def requests_since(self, t: float) -> list[str]:
        with self._lock:
            return [p for at, p in self.log if at >= t]

    def respond(self, raw_path: str) -> tuple[int, str, bytes]:
        parts = urlsplit(raw_path)
        path = parts.path
        if path in self.fail:
            return 500, "text/plain", b"deliberate failure"
        if path == "/api/related.json":
            page = parse_qs(parts.query).get("page", ["1"])[0]
            path = f"/api/related-{page}.json" if page in ("1", "2") else "/missing"
        suffix = Path(path).suffix
        ctype = TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"
        if path.startswith("/img/") and suffix == ".png":
            return 200, ctype, png(path)
        if path.startswith("/media/") and suffix == ".ts":
            return 200, ctype, ts_segment(path)
        if path.startswith("/embed/") and suffix == ".png":
            return 200, ctype, png(path, 32, 32)
        file = (SITE / path.lstrip("/")).resolve()
        if SITE not in file.parents or not file.is_file():
            return 404, "text/plain", b"not found"
        body = file.read_bytes()
        if suffix == ".html":
            body = body.replace(b"{{ORIGIN}}", self.url.rstrip("/").encode())
        return 200, ctype, body


def ground_truth(url: str, chromium: str = "/usr/bin/chromium") -> list[str]:
    """Every http(s) URL that Chromium itself requests for ``url``, straight from the site.

    The page gets what a reader does to it (the same behaviours a browser
    capture runs: scroll, lazy loading, "load more", <details>, media, frames),
    but no recorder sits in between: this is what the archive must hold.
    """
    import tempfile

    from playwright.sync_api import sync_playwright

    from strongroom.capture.behaviours import run_behaviours
    from strongroom.capture.screenshot import CHROMIUM_FLAGS

    requested: list[str] = []
    last = [time.monotonic()]

    def on_request(req: object) -> None:
        u = getattr(req, "url", "")
        last[0] = time.monotonic()
        if u.startswith(("http://", "https://")) and u not in requested:
            requested.append(u)

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            profile,
            executable_path=chromium,
            headless=True,
            args=list(CHROMIUM_FLAGS),
            service_workers="block",
        )
        try:
            page = ctx.new_page()
            page.on("request", on_request)
            page.goto(url, wait_until="load", timeout=30_000)

            def idle(quiet: float, limit: float) -> bool:
                end = time.monotonic() + limit
                while time.monotonic() < end:
                    if time.monotonic() - last[0] >= quiet:
                        return True
                    page.wait_for_timeout(100)
                return False

            run_behaviours(page, budget=45, should_stop=lambda: False, idle=idle)
        finally:
            ctx.close()
    return requested
