"""The live side: a polite HTTP client per vantage point, safe to share between workers."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from strongroom import __version__
from strongroom.core.collection import DEFAULT_USER_AGENT
from strongroom.watch.statuses import MAX_BODY, MAX_REDIRECTS, READ_STEP
from strongroom.watch.text import Page, decode_body


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


class HostClock:
    """When each host may next be asked, shared by every worker and vantage point.

    Politeness is about the publisher's server, so one clock serves all
    vantage points. ``reserve`` hands out start times under a lock, so two
    workers never take the same slot.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}

    def wait_for(self, host: str) -> float:
        """Seconds until ``host`` may be asked again (0 when it may be now)."""
        with self._lock:
            return max(0.0, self._next.get(host, 0.0) - time.monotonic())

    def try_reserve(self, host: str, delay: float) -> bool:
        """Take the slot for ``host`` only if it is free now; True when taken."""
        with self._lock:
            now = time.monotonic()
            if self._next.get(host, 0.0) > now:
                return False
            self._next[host] = now + delay
            return True

    def touch(self, host: str, delay: float) -> None:
        """A request to ``host`` starts now: its next slot is ``delay`` from now at the
        earliest. A seed's slot is taken when it is handed out, and a worker can be
        late to send (a busy machine, a first connection); without this the next
        seed's slot would still count from the hand-out, and come too soon."""
        if delay <= 0:
            return
        with self._lock:
            now = time.monotonic()
            self._next[host] = max(self._next.get(host, 0.0), now + delay)

    def reserve(self, host: str, delay: float) -> float:
        """Take the next slot for ``host``; return how long to sleep before using it."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next.get(host, 0.0))
            self._next[host] = start + delay
            return start - now


def _never_connected(exc: BaseException) -> bool:
    """True when no connection was ever made: refused, unknown name, connect timeout.

    Only these mark a host down for the rest of a run. A reset or a read that
    breaks off can be a filter acting on one URL, so it is asked again per seed.
    """
    import requests
    import urllib3

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(
        reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)
    )


class Client:
    """A polite HTTP client for one vantage point, safe to share between worker threads.

    Each thread gets its own ``requests.Session`` (sessions are not thread-safe);
    politeness (``delay`` between requests to one host) is kept by a shared
    :class:`HostClock`. A host, or the proxy of this vantage point, that could
    not be connected to is remembered, so a dead site costs its timeout once
    per run instead of once per seed.
    """

    def __init__(
        self,
        *,
        proxy: str | None = None,
        user_agent: str = "",
        timeout: float = 30.0,
        delay: float = 0.0,
        max_bytes: int = MAX_BODY,
        clock: HostClock | None = None,
    ) -> None:
        self.vantage = vantage_name(proxy)
        self.proxy = proxy
        self.user_agent = user_agent or DEFAULT_USER_AGENT.format(version=__version__)
        self.timeout = timeout
        self.delay = delay
        self.max_bytes = max_bytes
        self.clock = clock or HostClock()
        self._local = threading.local()
        self._sessions: list[Any] = []
        self._lock = threading.Lock()
        self._down: dict[str, str] = {}  # host (or "" for the proxy itself) -> reason

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = requests.Session()
            session.max_redirects = MAX_REDIRECTS
            session.headers["User-Agent"] = self.user_agent
            session.headers["Accept"] = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
            if self.proxy:
                # Only the given proxy: no environment proxies, no NO_PROXY bypass.
                session.trust_env = False
                session.proxies = {"http": self.proxy, "https": self.proxy}
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    def down_reason(self, url: str) -> str | None:
        """Why ``url``'s host (or this vantage's proxy) is known to be unreachable, if it is."""
        with self._lock:
            return self._down.get("") or self._down.get(urlsplit(url).netloc)

    def _mark_down(self, url: str, reason: str, exc: BaseException) -> None:
        import requests

        key = "" if isinstance(exc, requests.exceptions.ProxyError) else urlsplit(url).netloc
        with self._lock:
            self._down.setdefault(key, reason)

    def get(self, url: str, *, reserved: bool = False) -> Fetch:
        """GET ``url`` following redirects, keeping each hop; never raises for network trouble.

        ``reserved`` says the caller already took this request's politeness slot
        (the frontier does, for the first request of a seed).
        """
        import requests
        import urllib3

        result = Fetch(url=url, vantage=self.vantage)
        known = self.down_reason(url)
        if known:
            result.error = f"{known} (earlier in this run; not asked again)"
            return result
        host = urlsplit(url).netloc
        if reserved:
            self.clock.touch(host, self.delay)
        else:
            pause = self.clock.reserve(host, self.delay)
            if pause > 0:
                time.sleep(pause)
        try:
            self._read(url, result)
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
            if result.http_status is None:
                result.error = explain_error(exc, url, self.timeout)
                if _never_connected(exc):
                    self._mark_down(url, result.error, exc)
            else:
                result.truncated = True  # the body broke off; the status line is still evidence
        except (ValueError, UnicodeError, OSError) as exc:  # malformed headers or URL
            result.error = f"malformed response: {exc}"[:300]
        return result

    def _read(self, url: str, result: Fetch) -> None:
        """Fill ``result`` from one GET, within ``max_bytes`` and a total deadline."""
        # A slow-drip server must not hold a watch run forever: a total deadline
        # on top of the per-read timeout.
        deadline = time.monotonic() + self.timeout * 4
        with self._session().get(
            url, timeout=(self.timeout, self.timeout), stream=True, allow_redirects=True
        ) as resp:
            result.hops = [
                {"url": h.url, "status": h.status_code, "location": h.headers.get("Location")}
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
