"""Capture through a proxy (HTTP or SOCKS5/Tor), with wire-exact recording.

Direct captures use our own lean client (:mod:`.wire`); through a proxy we keep
the standard stack, imported only then. Why a recording socket layer instead
of reading a parsed response: ``http.client`` re-parses and normalises header
lines (folding, case, order of duplicates) and hides ``Transfer-Encoding:
chunked`` framing, so a response rebuilt from it is not what the server sent.
``warcio.capture_http`` records the wire, but it monkey-patches
``http.client`` globally, which is not thread-safe with our worker pool. So we
keep urllib3 (proxies incl. SOCKS5/Tor, TLS, keep-alive) and only swap the
connection classes of the pools: their socket is wrapped (after TLS, so we see
plaintext) in a delegate that copies every byte sent for the current request,
and whose ``makefile('rb')`` tees every byte received into a per-response spool.
The stored response block is then exactly the bytes that came off the wire.
"""

from __future__ import annotations

import io
import ipaddress
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import unquote

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from strongroom.capture.result import (
    FetchResult,
    explain,
    new_spool,
    without_credentials,
)

READ_STEP = 64 * 1024


@dataclass
class Exchange:
    """One request/response pair as it crossed the wire."""

    request: bytes
    peer: str | None
    spool: IO[bytes] = field(default_factory=lambda: new_spool())


class _Recorder:
    """Per-connection state: bytes sent for the current request, peer, current exchange."""

    def __init__(self) -> None:
        self.sent = bytearray()
        self.peer: str | None = None
        self.current: Exchange | None = None


class _TeeRaw(io.RawIOBase):
    """A raw reader that copies everything it reads from the socket into a spool."""

    def __init__(self, raw: Any, spool: IO[bytes]) -> None:
        self._raw = raw
        self._spool = spool

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int | None:
        n = self._raw.readinto(b)
        if n:
            self._spool.write(memoryview(b)[:n])
        return n

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


class _RecordingSocket:
    """Delegates to a real (possibly TLS) socket; records what is sent and received."""

    def __init__(self, sock: Any, recorder: _Recorder) -> None:
        self._sock = sock
        self._rec = recorder

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def sendall(self, data: Any, *args: Any) -> None:
        self._sock.sendall(data, *args)
        self._rec.sent += bytes(data)

    def send(self, data: Any, *args: Any) -> int:
        n = self._sock.send(data, *args)
        self._rec.sent += bytes(memoryview(data)[:n])
        return n

    def makefile(self, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        ex = self._rec.current
        if "r" not in mode or "b" not in mode or ex is None:
            return self._sock.makefile(mode, *args, **kwargs)
        raw = self._sock.makefile("rb", buffering=0)
        return io.BufferedReader(_TeeRaw(raw, ex.spool), io.DEFAULT_BUFFER_SIZE)


def _peer_ip(sock: Any) -> str | None:
    """The IP address of the far end, or None when it is not an IP (SOCKS rdns)."""
    try:
        host = sock.getpeername()[0]
        ipaddress.ip_address(host)
        return str(host)
    except (OSError, ValueError, TypeError, IndexError):
        return None


class _RecordingMixin:
    """Mixed into urllib3 connection classes (plain, TLS, SOCKS)."""

    sock: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rec = _Recorder()

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        # Wrap after TLS (and after any CONNECT tunnel) so we record plaintext HTTP
        # to the origin, not the proxy handshake.
        self._rec.peer = _peer_ip(self.sock)
        self.sock = _RecordingSocket(self.sock, self._rec)

    def putrequest(self, *args: Any, **kwargs: Any) -> None:
        self._rec.sent = bytearray()  # a new request starts: forget the previous one
        super().putrequest(*args, **kwargs)  # type: ignore[misc]

    def getresponse(self) -> Any:
        ex = Exchange(request=without_credentials(bytes(self._rec.sent)), peer=self._rec.peer)
        self._rec.current = ex
        try:
            resp = super().getresponse()  # type: ignore[misc]
        except BaseException:
            ex.spool.close()
            raise
        finally:
            self._rec.current = None
        resp.strongroom_exchange = ex
        return resp


class RecordingHTTPConnection(_RecordingMixin, HTTPConnection):
    pass


class RecordingHTTPSConnection(_RecordingMixin, HTTPSConnection):
    pass


class _RecHTTPPool(HTTPConnectionPool):
    ConnectionCls = RecordingHTTPConnection


class _RecHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = RecordingHTTPSConnection


_POOLS: dict[str, type] = {"http": _RecHTTPPool, "https": _RecHTTPSPool}
_SOCKS_POOLS: dict[str, type] = {}
try:  # SOCKS support comes from requests[socks] (PySocks)
    from urllib3.contrib.socks import (
        SOCKSConnection,
        SOCKSHTTPConnectionPool,
        SOCKSHTTPSConnection,
        SOCKSHTTPSConnectionPool,
        SOCKSProxyManager,
    )

    class RecordingSOCKSConnection(_RecordingMixin, SOCKSConnection):
        pass

    class RecordingSOCKSHTTPSConnection(_RecordingMixin, SOCKSHTTPSConnection):
        pass

    class _RecSOCKSPool(SOCKSHTTPConnectionPool):
        ConnectionCls = RecordingSOCKSConnection

    class _RecSOCKSHTTPSPool(SOCKSHTTPSConnectionPool):
        ConnectionCls = RecordingSOCKSHTTPSConnection

    _SOCKS_POOLS = {"http": _RecSOCKSPool, "https": _RecSOCKSHTTPSPool}
except ImportError:  # pragma: no cover - socks extra missing
    SOCKSProxyManager = None  # type: ignore[assignment,misc]


class Client:
    """Keep-alive connection pools that record every exchange on the wire.

    urllib3 directly, not a requests Session: profiling a capture at 0 ms of
    latency put a third of each request's CPU time in requests' per-request
    machinery (preparing, merging settings, cookies, hooks), none of which a
    crawler that never follows redirects itself needs.
    """

    def __init__(self, user_agent: str, proxy: str | None = None) -> None:
        self.headers = {
            "User-Agent": user_agent,
            "Accept": "*/*",
            "Accept-Encoding": "gzip, deflate",
            "Connection": "keep-alive",
        }
        self.manager = _manager(proxy)

    def get(self, url: str, timeout: float) -> Any:
        """GET ``url`` once: no redirects, no retries, body left unread and encoded."""
        return self.manager.urlopen(
            "GET",
            url,
            headers=self.headers,
            redirect=False,
            retries=False,
            preload_content=False,
            decode_content=False,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
        )

    def fetch(
        self,
        url: str,
        *,
        timeout: float,
        max_bytes: int,
        time_limit: float,
        should_stop: Callable[[], bool],
    ) -> FetchResult:
        """GET ``url`` once through the proxy (see :func:`strongroom.capture.http.fetch`)."""
        return fetch_proxied(
            self,
            url,
            timeout=timeout,
            max_bytes=max_bytes,
            time_limit=time_limit,
            should_stop=should_stop,
        )

    def close(self) -> None:
        self.manager.clear()


def _manager(proxy: str | None) -> Any:
    """A pool manager whose pools record, direct or through an HTTP or SOCKS proxy."""
    kw: dict[str, Any] = {"num_pools": 8, "maxsize": 4}
    if not proxy:
        manager: Any = urllib3.PoolManager(**kw)
        manager.pool_classes_by_scheme = dict(_POOLS)
        return manager
    parts = urllib3.util.parse_url(proxy)
    if (parts.scheme or "").startswith("socks"):
        if SOCKSProxyManager is None:  # pragma: no cover - socks extra missing
            raise ValueError("SOCKS proxies need PySocks (pip install 'requests[socks]')")
        manager = SOCKSProxyManager(proxy, **kw)  # reads user:password from the URL
        manager.pool_classes_by_scheme = dict(_SOCKS_POOLS)
        return manager
    headers = {}
    if parts.auth:
        user, _, password = parts.auth.partition(":")
        creds = f"{unquote(user)}:{unquote(password)}"
        headers = urllib3.util.make_headers(proxy_basic_auth=creds)
    bare = parts._replace(auth=None).url
    manager = urllib3.ProxyManager(bare, proxy_headers=headers, **kw)
    manager.pool_classes_by_scheme = dict(_POOLS)
    return manager


_STATUS_1XX = re.compile(rb"^HTTP/1\.[01] 1(?!01)\d\d\b")


def _find_head_end(data: bytes) -> int:
    for sep in (b"\r\n\r\n", b"\n\n"):
        i = data.find(sep)
        if i >= 0:
            return i + len(sep)
    return -1


def _tidy_spool(spool: IO[bytes], headers: dict[str, str], complete: bool) -> IO[bytes]:
    """Make the spool hold exactly one HTTP response message.

    Two wire artefacts would otherwise corrupt the record: interim ``1xx``
    responses (e.g. CDN ``103 Early Hints``), which http.client skips silently
    and which would make the record parse as status 103; and bytes a broken
    server sent beyond its Content-Length, which our read-ahead buffer pulled
    in but which are not part of this message.
    """
    spool.seek(0)
    start = spool.read(256 * 1024)
    skip = 0
    while _STATUS_1XX.match(start[skip:]):
        end = _find_head_end(start[skip:])
        if end < 0:
            break
        skip += end
    if skip:
        fresh = new_spool()
        spool.seek(skip)
        while buf := spool.read(READ_STEP):
            fresh.write(buf)
        spool.close()
        spool = fresh
        spool.seek(0)
        start = spool.read(256 * 1024)
    cl = headers.get("content-length", "")
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    head_end = _find_head_end(start)
    if complete and cl.isdigit() and not chunked and head_end > 0:
        wanted = head_end + int(cl)
        if spool.seek(0, io.SEEK_END) > wanted:
            spool.truncate(wanted)
    spool.seek(0)
    return spool


def _read_body(
    raw: Any,
    result: FetchResult,
    started: float,
    time_limit: float,
    max_bytes: int,
    should_stop: Callable[[], bool],
    timeout: float,
) -> bool:
    """Pull the body through the recording socket; True when it arrived whole.

    The bytes themselves land in the spool as they cross the wire; here we only
    enforce the limits and say how a cut body ended.
    """
    complete = False
    try:
        for chunk in raw.stream(READ_STEP, decode_content=False):
            result.received += len(chunk)
            if result.received > max_bytes:
                result.truncated = "length"
                break
            if time.monotonic() - started > time_limit:
                result.truncated = "time"
                break
            if should_stop():
                result.truncated = "time"
                result.error = "capture interrupted"
                break
        else:
            complete = True
    except ProtocolError as exc:
        result.truncated = "disconnect"
        if "invalidchunklength" in str(exc).lower():
            n = result.received
            result.error = f"malformed chunked encoding after {n} bytes (body incomplete)"
        cl = result.headers.get("content-length")
        detail = (
            f"got {result.received} of {cl} bytes (Content-Length mismatch)"
            if cl
            else f"got {result.received} bytes"
        )
        result.error = result.error or f"connection broken mid-body: {detail}"
    except (ReadTimeoutError, urllib3.exceptions.HTTPError, OSError) as exc:
        result.truncated = "time"
        why = explain(exc, result.url, timeout)
        result.error = f"{why} (body incomplete after {result.received} bytes)"
    finally:
        if complete:
            raw.release_conn()
        else:
            # A cut body leaves the connection in an unknown state: never reuse it.
            raw.close()
    return complete


def fetch_proxied(
    session: Client,
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    time_limit: float,
    should_stop: Callable[[], bool] = lambda: False,
) -> FetchResult:
    """GET ``url`` once through urllib3 (the contract is :func:`strongroom.capture.http.fetch`)."""
    started = time.monotonic()
    result = FetchResult(url=url)
    try:
        resp = session.get(url, timeout)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        result.error = explain(exc, url, timeout)
        result.elapsed = time.monotonic() - started
        return result
    except ValueError as exc:  # e.g. malformed header values, bad URL pieces
        result.error = f"malformed response or URL: {str(exc)[:200]}"
        return result
    raw = resp
    ex: Exchange | None = getattr(raw, "strongroom_exchange", None)
    if ex is None:  # pragma: no cover - only if a foreign adapter slipped in
        resp.close()
        result.error = "internal: the response was not recorded"
        return result
    result.request, result.peer, result.spool = ex.request, ex.peer, ex.spool
    result.status, result.reason = resp.status, resp.reason or ""
    if 100 <= resp.status < 200:
        # http.client skips only "100 Continue"; any other interim response (e.g.
        # "103 Early Hints") is handed over as if final, leaving the real response
        # unread in the socket. Discard the connection and say so.
        raw.close()
        ex.spool.close()
        result.spool = None
        result.error = (
            f"server sent an interim {resp.status} response before the real one; "
            "this HTTP stack cannot skip it, so nothing was captured"
        )
        return result
    result.headers = {k.lower(): v for k, v in resp.headers.itermerged()}
    ra = result.headers.get("retry-after", "").strip()
    if ra.isdigit():
        result.retry_after = float(ra)
    complete = _read_body(raw, result, started, time_limit, max_bytes, should_stop, timeout)
    if result.truncated == "time" and not result.error:
        cut = f"body cut after {result.received} bytes"
        result.error = f"resource took longer than {time_limit:g}s; {cut}"
    result.spool = _tidy_spool(ex.spool, result.headers, complete)
    result.size = result.spool.seek(0, io.SEEK_END)
    result.spool.seek(0)
    result.elapsed = time.monotonic() - started
    return result
