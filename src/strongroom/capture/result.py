"""What one HTTP exchange produced, and a reason a person can act on when it failed.

Shared by both fetchers (:mod:`.wire`, direct; :mod:`.proxied`, through a proxy).
"""

from __future__ import annotations

import re
import socket
import sys
import tempfile
from typing import IO, Any

from strongroom.core.collection import redact_url

SPOOL_IN_MEMORY = 2 * 1024 * 1024  # larger responses spill to a temporary file


def new_spool() -> IO[bytes]:
    """Memory for small responses, an unlinked temporary file for large ones."""
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # closed by its owner


_CREDENTIAL_HEADERS = (b"proxy-authorization", b"authorization")


def without_credentials(request: bytes) -> bytes:
    """The request as sent, minus the headers that carry credentials.

    A plain-HTTP proxy with ``user:password`` gets ``Proxy-Authorization`` in
    every request on the wire; it must never reach a WARC record (and from it
    every bag, share and WACZ). The warcinfo record says that a proxy was used.
    """
    end = request.find(b"\r\n\r\n")
    head, rest = (request[:end], request[end:]) if end >= 0 else (request, b"")
    lines = head.split(b"\r\n")
    kept = [
        line
        for i, line in enumerate(lines)
        if i == 0 or line.partition(b":")[0].strip().lower() not in _CREDENTIAL_HEADERS
    ]
    return request if len(kept) == len(lines) else b"\r\n".join(kept) + rest


class FetchResult:
    """What one request produced: the wire bytes, or a reason it failed.

    A plain class (one per request): a dataclass costs about a millisecond of
    a capture's start-up to define."""

    __slots__ = (
        "elapsed", "error", "headers", "peer", "reason", "received", "request",
        "retry_after", "size", "spool", "status", "truncated", "url",
    )  # fmt: skip

    def __init__(self, url: str) -> None:
        self.url = url
        self.request = b""
        self.spool: IO[bytes] | None = None  # status line + headers + body as received
        self.size = 0
        self.peer: str | None = None
        self.status = 0
        self.reason = ""
        self.headers: dict[str, str] = {}  # lower-cased, for decisions only
        self.truncated = ""  # '', 'length', 'time', 'disconnect'
        self.error = ""  # set when no response (or no usable response) was received
        self.retry_after: float | None = None
        self.elapsed = 0.0
        self.received = 0  # body bytes read (after de-chunking)

    @property
    def ok(self) -> bool:
        return not self.error and self.truncated in ("", "length") and 0 < self.status < 400

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None


# Compiled on the first TLS error (re keeps it), not at every capture's start-up.
_SSL_REASON = r"(?i)\[SSL[^\]]*\][^)'\"]*|certificate verify failed[^)'\"]*"


def tls_reason(text: str) -> str:
    """``TLS error: <the library's reason>``, without the C source location."""
    m = re.search(_SSL_REASON, text)
    reason = m.group(0) if m else text[:200]
    return "TLS error: " + re.sub(r"\s*\(_ssl\.c:\d+\)?$", "", reason.strip())


def _types(module: str, *names: str) -> tuple[type, ...]:
    """Exception classes of a library only if it is already imported (never import it)."""
    mod = sys.modules.get(module)
    return tuple(getattr(mod, n) for n in names) if mod is not None else ()


def explain(exc: BaseException, url: str, timeout: float) -> str:
    """A one-line reason a person can act on, for a network exception."""
    text = redact_url(str(exc))  # a proxy URL in a message may carry user:password
    low = text.lower()
    # watch's live client uses requests; capture does not import it (it costs start-up)
    rq = sys.modules.get("requests")
    rx: Any = rq.exceptions if rq is not None else None
    if rx is not None and isinstance(exc, rx.RequestException):
        return _explain_requests(exc, rx, text, timeout) or _explain_text(exc, text, low)
    u3 = "urllib3.exceptions"
    if isinstance(exc, _types(u3, "SSLError") + _types("ssl", "SSLError")) or "certificate" in low:
        return tls_reason(text)
    if isinstance(exc, _types(u3, "ProxyError")):
        return f"proxy error: {text[:200]}"
    # urllib3 makes NewConnectionError (refused, DNS) a ConnectTimeoutError too
    if isinstance(exc, _types(u3, "ConnectTimeoutError")) and not isinstance(
        exc, _types(u3, "NewConnectionError")
    ):
        return f"timed out connecting after {timeout:g}s"
    if isinstance(exc, (*_types(u3, "ReadTimeoutError"), socket.timeout)):
        return f"timed out after {timeout:g}s waiting for the server"
    return _explain_text(exc, text, low)


def _explain_requests(exc: BaseException, rx: Any, text: str, timeout: float) -> str | None:
    if isinstance(exc, rx.SSLError) or "certificate" in text.lower():
        return tls_reason(text)
    if isinstance(exc, rx.ProxyError):
        return f"proxy error: {text[:200]}"
    if isinstance(exc, rx.ConnectTimeout):
        return f"timed out connecting after {timeout:g}s"
    if isinstance(exc, rx.ReadTimeout):
        return f"timed out after {timeout:g}s waiting for the server"
    return None


def _explain_text(exc: BaseException, text: str, low: str) -> str:
    """Reasons read from the message, for errors without a telling type."""
    if any(
        k in low
        for k in (
            "name or service not known",
            "nodename nor servname",
            "failed to resolve",
            "temporary failure in name resolution",
        )
    ):
        return "DNS lookup failed: host not found"
    if "connection refused" in low:
        return "connection refused"
    if "reset by peer" in low:
        return "connection reset by the server"
    if "badstatusline" in low:
        return "malformed HTTP response: invalid status line"
    if "linetoolong" in low or "more than 100 headers" in low:
        return "malformed HTTP response: header too long or too many headers"
    if "remotedisconnected" in low:
        return "the server closed the connection without a response"
    rq = sys.modules.get("requests")
    if isinstance(exc, _types("urllib3.exceptions", "NewConnectionError")) or (
        rq is not None and isinstance(exc, rq.exceptions.ConnectionError)
    ):
        return f"connection failed: {text[:200]}"
    return f"{type(exc).__name__}: {text[:200]}"
