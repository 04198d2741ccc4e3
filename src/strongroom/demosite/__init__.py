"""The demo site: a small news site, shipped in the package, served on 127.0.0.1.

It is modelled on the two seed articles of the Andijan collection (a Global
Voices post and an RFE/RL article), retold in our own words, and exercises the
capture code: images with ``srcset``, ``<picture>``, a stylesheet with
``url()`` and ``@import`` (served gzip-encoded), a script, a video poster.

The same server backs the test suite. Tests can switch a page between states
(edited, 404, 410, 451, redirect, soft 404) with :meth:`SiteServer.set_override`
and add hostile endpoints with :meth:`SiteServer.add_route`.
"""

from __future__ import annotations

import contextlib
import gzip
import mimetypes
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import unquote, urlsplit

SITE_ROOT = Path(str(resources.files("strongroom.demosite") / "site"))

# Served gzip-encoded when the client accepts it: wget cannot see inside.
GZIP_TYPES = ("text/css", "application/javascript", "text/javascript")
# Served with Transfer-Encoding: chunked, so captures must de-chunk payloads.
CHUNKED_SUFFIXES = (".js",)


@dataclass
class Override:
    """A canned response that replaces whatever the path normally serves."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


Route = Callable[[BaseHTTPRequestHandler], None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate small writes; with Nagle on, each
    # response would wait ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return  # keep test and demo output clean

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        srv = self.server
        path = urlsplit(self.path).path
        with srv.lock:
            srv.hits[path] = srv.hits.get(path, 0) + 1
        if srv.latency:
            time.sleep(srv.latency)
        route = srv.routes.get(path)
        if route is not None:
            route(self)
            return
        ov = srv.overrides.get(path)
        if ov is not None:
            self._send(ov.status, ov.headers, ov.body, head)
            return
        self._static(path, head)

    def _send(
        self, status: int, headers: dict[str, str], body: bytes, head: bool, chunked: bool = False
    ) -> None:
        self.send_response(status)
        lower = {k.lower() for k in headers}
        for k, v in headers.items():
            self.send_header(k, v)
        if "content-type" not in lower:
            self.send_header("Content-Type", "text/html; charset=utf-8")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if head:
            return
        if chunked:
            step = max(1, len(body) // 3 or 1)
            for i in range(0, len(body), step):
                piece = body[i : i + step]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(body)

    def _static(self, path: str, head: bool) -> None:
        rel = unquote(path).lstrip("/")
        if rel == "" or rel.endswith("/"):
            rel += "index.html"
        root = self.server.root.resolve()
        target = (root / rel).resolve()
        if (root not in target.parents and target != root) or not target.is_file():
            body = self.server.not_found_body
            self._send(404, {}, body, head)
            return
        body = target.read_bytes()
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype == "application/javascript":
            ctype += "; charset=utf-8"
        headers = {
            "Content-Type": ctype,
            "Last-Modified": self.date_time_string(int(target.stat().st_mtime)),
        }
        accepts_gzip = "gzip" in (self.headers.get("Accept-Encoding") or "")
        if accepts_gzip and ctype.split(";")[0] in GZIP_TYPES:
            body = gzip.compress(body, mtime=0)
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
        self._send(200, headers, body, head, chunked=target.suffix in CHUNKED_SUFFIXES)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], root: Path, latency: float) -> None:
        super().__init__(addr, _Handler)
        self.root = root
        self.latency = latency
        self.routes: dict[str, Route] = {}
        self.overrides: dict[str, Override] = {}
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()
        self.not_found_body = b"<!doctype html><title>404 Not Found</title><h1>Not Found</h1>"


class SiteServer:
    """A running demo/fixture site on 127.0.0.1 (free port unless one is given)."""

    def __init__(self, root: Path | None = None, port: int = 0, latency: float = 0.0) -> None:
        self._srv = _Server(("127.0.0.1", port), Path(root or SITE_ROOT), latency)
        self.host = "127.0.0.1"
        self.port = int(self._srv.server_address[1])
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL with a trailing slash, e.g. ``http://127.0.0.1:8123/``."""
        return f"http://{self.host}:{self.port}/"

    def start(self) -> SiteServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._srv.shutdown()
        self._srv.server_close()
        self._thread.join(timeout=5)

    def add_route(self, path: str, handler: Route) -> None:
        """Serve ``path`` with a function that writes the raw response itself."""
        self._srv.routes[path] = handler

    def set_override(self, path: str, override: Override | None) -> None:
        """Replace what ``path`` serves (None restores the static file)."""
        if override is None:
            self._srv.overrides.pop(path, None)
        else:
            self._srv.overrides[path] = override

    def hits(self, path: str) -> int:
        """How many requests ``path`` received."""
        return self._srv.hits.get(path, 0)

    def __enter__(self) -> SiteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def serve(root: Path | None = None, latency: float = 0.0) -> Iterator[SiteServer]:
    """Serve the demo site (or ``root``) for the duration of a ``with`` block."""
    server = SiteServer(root, latency=latency).start()
    try:
        yield server
    finally:
        server.stop()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for closed-port tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
