"""HTTP fetching for WARC capture: one GET, its exchange recorded exactly.

Direct fetches go through our own lean client (:mod:`.wire`), fetches through a
proxy through urllib3 (:mod:`.proxied`, imported only then: it costs start-up);
both store the response exactly as it came off the wire and return a
:class:`FetchResult`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strongroom.capture.result import FetchResult, explain, without_credentials

__all__ = ["FetchResult", "explain", "fetch", "make_session", "without_credentials"]


def make_session(user_agent: str, proxy: str | None = None) -> Any:
    """A keep-alive client that records the wire, honouring ``proxy`` only.

    Environment proxies are ignored: they would silently change the vantage
    point; only ``proxy`` counts.
    """
    if proxy:
        from strongroom.capture.proxied import Client

        return Client(user_agent, proxy)
    from strongroom.capture.wire import WireClient

    return WireClient(user_agent)


def fetch(
    session: Any,
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    time_limit: float,
    should_stop: Callable[[], bool] = lambda: False,
) -> FetchResult:
    """GET ``url`` once (no redirects followed), recording the exchange exactly.

    ``max_bytes`` stops the body (``truncated='length'``, not a failure),
    ``time_limit`` bounds the whole resource (``truncated='time'``), and a
    connection that breaks before the announced length gives ``'disconnect'``.
    """
    result: FetchResult = session.fetch(
        url, timeout=timeout, max_bytes=max_bytes, time_limit=time_limit, should_stop=should_stop
    )
    return result
