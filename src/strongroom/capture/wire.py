"""A lean HTTP/1.1 client that keeps the exact bytes, for direct (un-proxied) capture.

Why our own client instead of urllib3/http.client: profiling a capture at 0 ms
of latency put about half of the crawl's CPU time in urllib3 and http.client
(URL re-parsing, pool bookkeeping, email-based header parsing, a recording
socket wrapper to get the wire bytes back), and importing them cost a tenth of
a second before the first request. Here the response is read straight into a
buffer, its head parsed once, its framing (Content-Length, chunked, or until
close) followed to find where the message ends; the stored block is then
exactly the bytes that came off the wire, with nothing before (interim
``100 Continue`` or ``103 Early Hints``) or after it (bytes beyond the message). Proxies (HTTP and
SOCKS, with credentials) still go through urllib3 in :mod:`.proxied`.

Everything the server sends is hostile: the head is bounded in size, lines and
count; chunk sizes are bounded; every read has a timeout and the whole
resource a time limit, so a slow drip cannot hold a worker forever.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from strongroom.capture.result import FetchResult, explain, new_spool

READ_SIZE = 256 * 1024
MAX_HEAD = 256 * 1024  # a response head larger than this is not HTTP we can trust
MAX_LINE = 64 * 1024  # one header line (http.client's limit)
MAX_HEADERS = 100  # header lines (http.client's limit)
MAX_CHUNK_LINE = 4096  # a chunk-size line (with extensions) is never this long
MAX_TRAILER = 64 * 1024
MAX_INTERIM = 20  # 1xx responses before the final one
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_STATUS = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?:[ \t]([^\r\n]*))?\r?\n?\Z")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}\Z")  # more digits would overflow any real size
_TARGET_SAFE = "!#$%&'()*+,/:;=?@[]~"  # keep reserved characters and existing %XX escapes


class Malformed(Exception):
    """The response cannot be parsed as HTTP/1.x; the message is the reason."""


class _Conn:
    """One open connection: its socket, the peer's IP, and bytes read ahead."""

    def __init__(self, sock: Any, peer: str | None) -> None:
        self.sock = sock
        self.peer = peer
        self.buf = bytearray()
        self.used = False
        self.timeout: float | None = None  # the socket's timeout as last set

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def _dropped(sock: Any) -> bool:
    """True when an idle keep-alive socket was closed by the server (or sent junk)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class WireClient:
    """Keep-alive connections per (scheme, host, port); one client per worker thread."""

    def __init__(self, user_agent: str) -> None:
        ua = "".join(ch for ch in user_agent if ch >= " " and ch != "\x7f")  # no header injection
        self._headers = (
            f"User-Agent: {ua}\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\n"
            "Connection: keep-alive\r\n\r\n"
        ).encode("latin-1", "replace")
        self._idle: dict[tuple[str, str, int], _Conn] = {}
        self._tls: Any = None
        # One read buffer per client (one client per thread): recv(256 KiB) would
        # map and unmap a fresh 256 KiB block for every read, even of 300 bytes.
        self._rbuf = bytearray(READ_SIZE)
        self.rview = memoryview(self._rbuf)

    def close(self) -> None:
        for conn in self._idle.values():
            conn.close()
        self._idle.clear()

    # --- connections ------------------------------------------------------
    def _tls_context(self) -> Any:
        if self._tls is None:
            import ssl  # only https pays for it

            ctx = ssl.create_default_context()
            ctx.set_alpn_protocols(["http/1.1"])
            self._tls = ctx
        return self._tls

    def _connect(self, scheme: str, host: str, port: int, timeout: float) -> _Conn:
        # bytes: a str host makes getaddrinfo import the idna codec (the host is ASCII
        # already, see _request), a cost paid at the first request of every capture
        addr: Any = (host.encode("ascii"), port)  # typeshed says str; bytes is accepted
        sock = socket.create_connection(addr, timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer = str(sock.getpeername()[0])
            if scheme == "https":
                sock = self._tls_context().wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        return _Conn(sock, peer)

    def _take(self, key: tuple[str, str, int], timeout: float) -> _Conn:
        conn = self._idle.pop(key, None)
        if conn is not None and not _dropped(conn.sock):
            return conn
        if conn is not None:
            conn.close()
        return self._connect(*key, timeout)

    # --- one request ------------------------------------------------------
    def fetch(
        self,
        url: str,
        *,
        timeout: float,
        max_bytes: int,
        time_limit: float,
        should_stop: Callable[[], bool],
    ) -> FetchResult:
        """GET ``url`` once (see :func:`strongroom.capture.http.fetch`)."""
        started = time.monotonic()
        result = FetchResult(url=url)
        try:
            key, request = self._request(url)
        except (ValueError, UnicodeError) as exc:
            result.error = f"malformed response or URL: {str(exc)[:200]}"
            return result
        ex = _Exchange(self, key, request, result, started, timeout, time_limit)
        ex.max_bytes, ex.should_stop = max_bytes, should_stop
        ex.run()
        result.elapsed = time.monotonic() - started
        return result

    def _request(self, url: str) -> tuple[tuple[str, str, int], bytes]:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url[:200]!r}")
        host = parts.hostname
        if not host.isascii():  # the idna codec costs an import; most hosts are ASCII
            host = host.encode("idna").decode("ascii")
        port = parts.port or (443 if scheme == "https" else 80)
        netloc = parts.netloc.rpartition("@")[2]
        hostport = netloc.encode("idna").decode("ascii") if not netloc.isascii() else netloc
        target = quote(parts.path or "/", safe=_TARGET_SAFE)
        if parts.query:
            target += "?" + quote(parts.query, safe=_TARGET_SAFE)
        line = f"GET {target} HTTP/1.1\r\nHost: {hostport}\r\n".encode("ascii")
        return (scheme, host, port), line + self._headers


class _Exchange:
    """The state of one request/response on one connection."""

    max_bytes: int
    should_stop: Callable[[], bool]

    def __init__(
        self,
        client: WireClient,
        key: tuple[str, str, int],
        request: bytes,
        result: FetchResult,
        started: float,
        timeout: float,
        time_limit: float,
    ) -> None:
        self.client, self.key, self.request, self.result = client, key, request, result
        self.timeout, self.time_limit = timeout, time_limit
        self.deadline = started + time_limit
        self.conn: _Conn | None = None
        self.got = 0  # bytes of this response read from the socket so far

    def run(self) -> None:
        res = self.result
        for attempt in (0, 1):
            try:
                self.conn = self.client._take(self.key, self.timeout)
            except (OSError, ValueError) as exc:
                res.error = self._connect_error(exc)
                return
            reused, self.conn.used = self.conn.used, True
            res.request, res.peer = self.request, self.conn.peer
            try:
                self.conn.sock.sendall(self.request)
                head, status, framing = self._read_head()
            except _Retry:
                # A kept-alive connection the server had closed before our request
                # reached it: GET is safe to send once more on a new connection.
                self.conn.close()
                if reused and attempt == 0:
                    continue
                res.error = "the server closed the connection without a response"
                return
            except Malformed as exc:
                self.conn.close()
                res.error = str(exc)
                return
            except (OSError, ValueError, _TimeUp) as exc:
                self.conn.close()
                res.error = self._read_error(exc, body=False)
                return
            break
        self._body(head, status, framing)

    # --- errors -----------------------------------------------------------
    def _connect_error(self, exc: BaseException) -> str:
        if _is_tls_error(exc):
            return explain_tls(exc)
        if isinstance(exc, socket.timeout | TimeoutError):
            return f"timed out connecting after {self.timeout:g}s"
        return explain(exc, self.result.url, self.timeout)

    def _read_error(self, exc: BaseException, body: bool) -> str:
        if isinstance(exc, _TimeUp):
            cut = f"body cut after {self.result.received} bytes" if body else "no response yet"
            return f"resource took longer than {self.time_limit:g}s; {cut}"
        if _is_tls_error(exc):
            why = explain_tls(exc)
        elif isinstance(exc, socket.timeout | TimeoutError):
            why = f"timed out after {self.timeout:g}s waiting for the server"
        else:
            why = explain(exc, self.result.url, self.timeout)
        return f"{why} (body incomplete after {self.result.received} bytes)" if body else why

    # --- reading ----------------------------------------------------------
    def _recv(self) -> memoryview:
        """One read from the socket, bounded by the timeout and the time limit.

        The bytes are a view of the client's read buffer, valid until the next read."""
        conn = self.conn
        assert conn is not None
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _TimeUp
        wait = min(self.timeout, left)
        if wait != conn.timeout:  # each settimeout is a system call
            conn.sock.settimeout(wait)
            conn.timeout = wait
        view = self.client.rview
        try:
            data = view[: conn.sock.recv_into(view)]
        except TimeoutError:
            if time.monotonic() >= self.deadline:
                raise _TimeUp from None
            raise
        except OSError as exc:
            if _is_tls_eof(exc):
                return memoryview(b"")  # a TLS close without close_notify: an ordinary end
            raise
        self.got += len(data)
        return data

    def _read_head(self) -> tuple[bytes, int, tuple[str, int]]:
        """Read up to the end of the final head; return (head, status, framing)."""
        assert self.conn is not None
        buf = self.conn.buf
        interim = 0
        while True:
            m = _HEAD_END.search(buf, 0)
            while m is None:
                if len(buf) > MAX_HEAD:
                    raise Malformed("malformed HTTP response: header too long or too many headers")
                if len(buf) >= 5 and not buf.startswith(b"HTTP/"):
                    raise Malformed(_not_http(buf))
                data = self._recv()
                if not data:
                    if not buf:
                        raise _Retry
                    raise Malformed(_not_http(buf) if not buf.startswith(b"HTTP/") else _EOF_HEAD)
                start = max(0, len(buf) - 3)
                buf += data
                m = _HEAD_END.search(buf, start)
            end = m.end()
            head = bytes(buf[:end])
            status, reason, headers = parse_head(head)
            if 100 <= status < 200 and status != 101:
                # Interim responses (100 Continue, a CDN's 103 Early Hints) are not the
                # message: skipped, as browsers do, and kept out of the record.
                interim += 1
                if interim > MAX_INTERIM:
                    raise Malformed("malformed HTTP response: endless interim (1xx) responses")
                del buf[:end]
                continue
            del buf[:end]
            res = self.result
            res.status, res.reason, res.headers = status, reason, headers
            ra = headers.get("retry-after", "").strip()
            if ra.isdigit():
                res.retry_after = float(ra)
            return head, status, framing_of(status, headers, head)

    def _body(self, head: bytes, status: int, framing: tuple[str, int]) -> None:
        """Read the body by its framing into the spool; keep the connection if clean."""
        assert self.conn is not None
        res = self.result
        spool = new_spool()
        spool.write(head)
        res.spool = spool
        kind, length = framing
        complete = False
        try:
            if kind == "length":
                complete = self._read_length(spool, length)
            elif kind == "chunked":
                complete = self._read_chunked(spool)
            else:
                complete = self._read_to_close(spool)
        except Malformed as exc:
            res.truncated, res.error = "disconnect", str(exc)
        except (OSError, ValueError, _TimeUp) as exc:
            res.truncated = "time"
            res.error = self._read_error(exc, body=True)
        reusable = (
            complete
            and kind != "close"
            and not self.conn.buf
            and _persistent(head, res.headers)
            and not ("transfer-encoding" in res.headers and "content-length" in res.headers)
        )
        if reusable:
            self.client._idle[self.key] = self.conn
        else:
            self.conn.close()
        self.conn.buf = bytearray()
        res.size = spool.tell()
        spool.seek(0)

    def _limits(self) -> bool:
        """Apply --max-bytes and the stop request after each read; True to stop reading."""
        res = self.result
        if res.received > self.max_bytes:
            res.truncated = "length"
            return True
        if self.should_stop():
            res.truncated, res.error = "time", "capture interrupted"
            return True
        return False

    def _read_length(self, spool: Any, length: int) -> bool:
        assert self.conn is not None
        res, buf = self.result, self.conn.buf
        left = length
        while True:
            if buf:
                take = min(left, len(buf))
                spool.write(memoryview(buf)[:take])
                del buf[:take]  # anything beyond the message stays out of the record
                left -= take
                res.received += take
            if left == 0:
                return True
            if self._limits():
                return False
            data = self._recv()
            if not data:
                res.truncated = "disconnect"
                res.error = (
                    f"connection broken mid-body: got {res.received} of {length} bytes "
                    "(Content-Length mismatch)"
                )
                return False
            buf += data

    def _read_to_close(self, spool: Any) -> bool:
        assert self.conn is not None
        res, buf = self.result, self.conn.buf
        while True:
            if buf:
                spool.write(buf)
                res.received += len(buf)
                buf.clear()
            if self._limits():
                return False
            data = self._recv()
            if not data:
                return True
            buf += data

    def _read_chunked(self, spool: Any) -> bool:
        """Follow chunked framing to the end of the message, storing the framing as sent."""
        assert self.conn is not None
        res, buf = self.result, self.conn.buf
        framer = ChunkFramer()
        while True:
            if buf:
                try:
                    used, payload = framer.feed(buf)
                except Malformed:
                    spool.write(buf)
                    buf.clear()
                    res.received = framer.payload
                    raise Malformed(
                        f"malformed chunked encoding after {res.received} bytes (body incomplete)"
                    ) from None
                spool.write(memoryview(buf)[:used])
                del buf[:used]
                res.received += payload
                if framer.done:
                    return True
            if self._limits():
                return False
            data = self._recv()
            if not data:
                res.truncated = "disconnect"
                res.error = (
                    f"connection broken mid-body: got {res.received} bytes "
                    "(chunked body ended early)"
                )
                return False
            buf += data


def _persistent(head: bytes, headers: dict[str, str]) -> bool:
    """Whether the server keeps the connection open after this response.

    HTTP/1.1 does unless it says ``Connection: close``; HTTP/1.0 only when it
    says ``Connection: keep-alive`` (old servers and some CDNs' origin shields).
    """
    tokens = {t.strip() for t in headers.get("connection", "").lower().split(",")}
    if head[:8] == b"HTTP/1.1":
        return "close" not in tokens
    return "keep-alive" in tokens and "close" not in tokens


class _Retry(Exception):
    """The connection closed before any byte of a response arrived."""


class _TimeUp(Exception):
    """The resource's time limit ran out."""


_EOF_HEAD = "the server closed the connection in the middle of the response headers"


def _not_http(_buf: bytes | bytearray) -> str:
    return "malformed HTTP response: invalid status line"


class ChunkFramer:
    """Strict incremental parser of chunked framing: where the message ends.

    ``feed(buf)`` consumes from the start of ``buf`` and returns (bytes
    consumed, payload bytes among them); ``done`` turns True after the last
    chunk and its trailer. Hostile framing (a size that is not hex, more than
    16 hex digits, an endless size line or trailer, data not followed by CRLF)
    raises :class:`Malformed`.
    """

    def __init__(self) -> None:
        self.state = "size"  # size | data | crlf | trailer
        self.left = 0
        self.trailer = 0
        self.payload = 0  # payload bytes so far, also when framing turns out bad
        self.done = False

    def feed(self, buf: bytes | bytearray) -> tuple[int, int]:
        pos = payload = 0
        n = len(buf)
        while pos < n and not self.done:
            if self.state == "data":
                take = min(self.left, n - pos)
                pos += take
                payload += take
                self.payload += take
                self.left -= take
                if self.left == 0:
                    self.state = "crlf"
                continue
            nl = buf.find(b"\n", pos)
            if nl < 0:
                limit = MAX_CHUNK_LINE if self.state != "trailer" else MAX_TRAILER - self.trailer
                if n - pos > limit:
                    raise Malformed("chunk line too long")
                break
            line = bytes(buf[pos:nl]).rstrip(b"\r")
            pos = nl + 1
            if self.state == "crlf":
                if line:
                    raise Malformed("chunk data not followed by CRLF")
                self.state = "size"
            elif self.state == "size":
                size = line.split(b";", 1)[0].strip(b" \t")
                if not _HEX.match(size):
                    raise Malformed(f"bad chunk size {line[:40]!r}")
                self.left = int(size, 16)
                self.state = "data" if self.left else "trailer"
            else:  # trailer fields, until an empty line
                self.trailer += len(line) + 1
                if self.trailer > MAX_TRAILER:
                    raise Malformed("chunked trailer too long")
                if not line:
                    self.done = True
        return pos, payload


def parse_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    """(status, reason, lower-cased headers merged with ', ') from a response head."""
    lines = head.split(b"\n")
    m = _STATUS.match(lines[0] + b"\n") if lines else None
    if m is None:
        raise Malformed("malformed HTTP response: invalid status line")
    status = int(m.group(2))
    if status < 100:
        raise Malformed("malformed HTTP response: invalid status line")
    reason = (m.group(3) or b"").strip().decode("latin-1")
    headers: dict[str, str] = {}
    count = 0
    last = ""
    for raw in lines[1:]:
        line = raw.rstrip(b"\r")
        if not line:
            continue
        if len(line) > MAX_LINE or count >= MAX_HEADERS:
            raise Malformed("malformed HTTP response: header too long or too many headers")
        count += 1
        if line[:1] in (b" ", b"\t") and last:  # obsolete line folding
            headers[last] += " " + line.strip().decode("latin-1")
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            continue  # not a header line; kept in the record, ignored for decisions
        key = name.strip().decode("latin-1").lower()
        text = value.strip().decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
        last = key
    return status, reason, headers


def framing_of(status: int, headers: dict[str, str], head: bytes) -> tuple[str, int]:
    """How the body is delimited: ('length', n), ('chunked', 0) or ('close', 0)."""
    if status in (204, 304) or 100 <= status < 200:
        return ("length", 0)
    te = headers.get("transfer-encoding")
    if te is not None:
        codings = [c.strip().lower() for c in te.split(",") if c.strip()]
        return ("chunked", 0) if codings and codings[-1] == "chunked" else ("close", 0)
    cl = headers.get("content-length")
    if cl is None:
        return ("close", 0)
    values = {v.strip() for v in cl.split(",")}
    if len(values) != 1 or not next(iter(values)).isdigit() or len(next(iter(values))) > 18:
        raise Malformed(f"malformed HTTP response: invalid Content-Length {cl[:40]!r}")
    return ("length", int(next(iter(values))))


def _is_tls_error(exc: BaseException) -> bool:
    ssl = _ssl_module()
    return ssl is not None and isinstance(exc, ssl.SSLError) and not _is_tls_eof(exc)


def _is_tls_eof(exc: BaseException) -> bool:
    ssl = _ssl_module()
    return ssl is not None and isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError)


def _ssl_module() -> Any:
    import sys

    return sys.modules.get("ssl")  # never imported just to ask


def explain_tls(exc: BaseException) -> str:
    """``TLS error: <the library's reason>``, without the C source location."""
    from strongroom.capture.result import tls_reason

    return tls_reason(str(exc))
