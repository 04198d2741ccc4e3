"""A tiny HTTP forward proxy on 127.0.0.1: a second vantage point for watch tests.

It forwards absolute-URI GET requests (``GET http://host:port/path``) to the
origin, except for hosts it is told to block: those get what a censoring ISP
would send (451 with a ``blocked-by`` link, or a reset connection). Only
127.0.0.1 origins are ever contacted.
"""

from __future__ import annotations

import base64
import http.client
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

BLOCK_PAGE = (
    b"<!doctype html><title>Access restricted</title>"
    b"<h1>Access to this resource is restricted by order of the regulator</h1>"
)
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        target = urlsplit(self.path)
        srv = self.server
        if srv.auth and self.headers.get("Proxy-Authorization") != srv.auth:
            self.send_response(407)
            self.send_header("Proxy-Authenticate", 'Basic realm="test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        srv.requests.append(self.path)
        mode = srv.blocked.get(target.netloc)
        if mode == "451":
            self.send_response(451)
            self.send_header("Link", '<https://isp.example/>; rel="blocked-by"')
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(BLOCK_PAGE)))
            self.end_headers()
            self.wfile.write(BLOCK_PAGE)
            return
        if mode == "page":  # a filter's block page, served with 200
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(BLOCK_PAGE)))
            self.end_headers()
            self.wfile.write(BLOCK_PAGE)
            return
        if mode == "reset":
            # SO_LINGER 0 makes close() send RST, as middleboxes do.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if target.hostname != "127.0.0.1":
            self.send_error(502, "this test proxy only reaches 127.0.0.1")
            return
        conn = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=5)
        try:
            path = target.path or "/"
            if target.query:
                path += "?" + target.query
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
        except OSError:
            self.send_error(502)
            return
        finally:
            conn.close()
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.blocked: dict[str, str] = {}
        self.requests: list[str] = []
        self.auth = ""  # the Proxy-Authorization value required, if any


class Proxy:
    """``with Proxy() as p: p.block("127.0.0.1:8123")``; ``p.url`` for ``--proxy``."""

    def __init__(self, user: str = "", password: str = "") -> None:
        self._srv = _ProxyServer()
        self.port = self._srv.server_address[1]
        self.user, self.password = user, password
        if user:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            self._srv.auth = f"Basic {token}"
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The proxy URL, with ``user:password@`` when it requires them."""
        creds = f"{self.user}:{self.password}@" if self.user else ""
        return f"http://{creds}127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[str]:
        return self._srv.requests

    def block(self, netloc: str, mode: str = "451") -> None:
        """Answer every request for ``netloc`` with ``451``, a block ``page`` or a ``reset``."""
        self._srv.blocked[netloc] = mode

    def __enter__(self) -> Proxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._srv.shutdown()
        self._srv.server_close()
        self._thread.join(timeout=5)
