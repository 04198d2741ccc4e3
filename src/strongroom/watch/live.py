"""The live side: a polite HTTP client per vantage point, safe to share between workers."""

from __future__ import annotations

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
