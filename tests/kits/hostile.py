"""Hostile and awkward HTTP endpoints, registered on a real SiteServer.

Each handler writes its raw response bytes itself, so tests can compare the
WARC block with exactly what went over the wire.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import time
import zlib
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, quote, urlsplit

from strongroom.demosite import Override, SiteServer

# A header with odd case and spacing: http.client would normalise it.
CHUNKED_BODY = b'<html><title>chunky</title><img src="/hostile/from-chunked.png"></html>'
_PIECES = (CHUNKED_BODY[:27], CHUNKED_BODY[27:69], CHUNKED_BODY[69:])
# A header with odd case and spacing, and a chunk extension: http.client would hide both.
CHUNKED_RAW = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-TYPE: text/html;charset=utf-8\r\n"
    b"X-Odd-Header:    kept   as sent\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"\r\n"
    + b"".join(
        f"{len(p):x}".encode() + (b";ext=1" if i == 0 else b"") + b"\r\n" + p + b"\r\n"
        for i, p in enumerate(_PIECES)
    )
    + b"0\r\n\r\n"
)

CP1251_LINK = "/hostile/новости.html"
CP1251_TITLE = "Новости Андижана"
ROBOTS = b"User-agent: *\nDisallow: /hostile/private/\n"
LARGE_SIZE = 3 * 1024 * 1024
BOMB_INFLATED = 1100 * 1024 * 1024  # > 1 GiB once inflated


@functools.lru_cache(maxsize=1)
def gzip_bomb() -> bytes:
    """~1 MiB of gzip that inflates to more than 1 GiB of CSS (cached: ~3 s to build)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [c.compress(b"a{background:url(tiny.png)}\n")]
    zero = bytes(1 << 20)
    parts += [c.compress(zero) for _ in range(BOMB_INFLATED >> 20)]
    parts.append(c.flush())
    return b"".join(parts)


def _raw(data: bytes, close: bool = False):
    def handler(req: BaseHTTPRequestHandler) -> None:
        req.wfile.write(data)
        if close:
            req.close_connection = True

    return handler


def _simple(status: int, body: bytes, ctype: str = "text/html; charset=utf-8", extra: str = ""):
    head = (
        f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    )
    return _raw(head.encode("latin-1") + body)


def _redirect(location: str, status: int = 302):
    return _simple(status, b"", extra=f"Location: {location}\r\n")


def _reset(req: BaseHTTPRequestHandler) -> None:
    req.wfile.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Length: 100000\r\n\r\n" + b"x" * 1000
    )
    req.wfile.flush()
    req.close_connection = True


def _slow(req: BaseHTTPRequestHandler) -> None:
    time.sleep(3)  # longer than the --timeout tests use
    with_close = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    with contextlib.suppress(OSError):  # the client gave up long ago
        req.wfile.write(with_close)
    req.close_connection = True


def _drip(req: BaseHTTPRequestHandler) -> None:
    """Headers at once, then one byte every 0.1 s for a long time (for Ctrl-C tests)."""
    try:
        req.wfile.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n"
        )
        for _ in range(600):
            req.wfile.write(b"x")
            req.wfile.flush()
            time.sleep(0.1)
    except OSError:
        pass
    req.close_connection = True


def _calendar(req: BaseHTTPRequestHandler) -> None:
    q = parse_qs(urlsplit(req.path).query)
    month = int((q.get("month") or ["0"])[0] or 0)
    body = (
        f"<html><title>Calendar {month}</title>"
        f'<a href="/calendar/?month={month + 1}">next month</a></html>'
    ).encode()
    _simple(200, body)(req)


def install(site: SiteServer) -> SiteServer:
    """Register every hostile endpoint (and a restrictive robots.txt) on ``site``."""
    r = site.add_route
    r("/hostile/chunked.html", _raw(CHUNKED_RAW))
    r("/hostile/from-chunked.png", _simple(200, b"PNG-from-chunked", "image/png"))
    r(
        "/hostile/gzip.css",
        _simple(
            200,
            gzip.compress(b'body{background:url("gz-bg.png")} @import url(gz-more.css);', mtime=0),
            "text/css",
            "Content-Encoding: gzip\r\n",
        ),
    )
    r("/hostile/gz-bg.png", _simple(200, b"PNG-gz-bg", "image/png"))
    r("/hostile/gz-more.css", _simple(200, b"p{background:url(gz-p.png)}", "text/css"))
    r("/hostile/gz-p.png", _simple(200, b"PNG-gz-p", "image/png"))
    r("/hostile/redirect", _redirect("/hostile/redirect2", 302))
    r("/hostile/redirect2", _redirect("/hostile/final.html", 301))
    r("/hostile/final.html", _simple(200, b"<html><title>final</title></html>"))
    r("/hostile/loop-a", _redirect("/hostile/loop-b"))
    r("/hostile/loop-b", _redirect("/hostile/loop-a"))
    r("/hostile/reset.bin", _reset)
    r("/hostile/slow.html", _slow)
    r("/hostile/drip.txt", _drip)
    r("/hostile/large.bin", _simple(200, b"L" * LARGE_SIZE, "application/octet-stream"))
    r(
        "/hostile/bomb.html",
        _simple(200, b'<html><link rel="stylesheet" href="/hostile/bomb.css"></html>'),
    )
    r(
        "/hostile/bomb.css",
        lambda req: _simple(200, gzip_bomb(), "text/css", "Content-Encoding: gzip\r\n")(req),
    )
    r("/hostile/tiny.png", _simple(200, b"PNG-tiny", "image/png"))
    r(
        "/hostile/robots-page.html",
        _simple(
            200,
            b'<html><a href="/hostile/private/secret.html">s</a>'
            b'<img src="/hostile/private/secret.png"></html>',
        ),
    )
    r("/hostile/private/secret.html", _simple(200, b"<html>secret</html>"))
    r("/hostile/private/secret.png", _simple(200, b"PNG-secret", "image/png"))
    cp = (
        f'<html><head><meta charset="windows-1251"><title>{CP1251_TITLE}</title></head>'
        f'<body><a href="{CP1251_LINK}">Новости</a></body></html>'
    ).encode("cp1251")
    r("/hostile/cp1251.html", _simple(200, cp, "text/html; charset=windows-1251"))
    r(quote(CP1251_LINK), _simple(200, "<html><title>новости</title></html>".encode()))
    r("/calendar/", _calendar)
    r("/hostile/bad-status", _raw(b"HTTP/1.1 abc\r\n\r\nhello", close=True))
    flood = b"".join(b"X-%d: y\r\n" % i for i in range(300))
    r("/hostile/header-flood", _raw(b"HTTP/1.1 200 OK\r\n" + flood + b"\r\nhi", close=True))
    r("/hostile/not-http", _raw(b"\x00\xff\xfe garbage\r\n\r\n", close=True))
    r(
        "/hostile/bad-chunk",
        _raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", True),
    )
    site.set_override("/robots.txt", Override(200, {"Content-Type": "text/plain"}, ROBOTS))
    return site
