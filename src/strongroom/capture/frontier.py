"""The crawl frontier: what to fetch, what was seen, limits, robots, and per-host turns.

Owned by the main thread only. Workers never wait for politeness: a task is
handed to them only when its host's turn has come (``delay`` since that host's
last request), so while one host must wait, the workers serve the others.
Retries and redirect hops come back here and wait for their host's turn too.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from strongroom.capture.extract import Links
from strongroom.capture.robots import Robots
from strongroom.core.collection import CaptureSettings

_PENDING = object()  # robots.txt requested but not yet answered


# Plain classes with slots, not dataclasses: a task and its result are made for
# every request, and a dataclass costs about a millisecond of start-up to define.
class Failure:
    """A resource that could not be captured, and why."""

    __slots__ = ("page", "reason", "url")

    def __init__(self, url: str, reason: str, page: str = "") -> None:
        self.url, self.reason, self.page = url, reason, page

    def as_dict(self) -> dict[str, str]:
        return {"url": self.url, "reason": self.reason, "page": self.page}


class Task:
    """One resource to fetch; ``url`` moves along redirects, ``origin`` stays."""

    __slots__ = (
        "attempt", "chain", "depth", "kind", "not_before", "origin", "page", "seed", "url"
    )  # fmt: skip

    def __init__(
        self,
        url: str,
        kind: str,  # page | req | robots
        depth: int,
        page: str,  # the page this resource belongs to
        seed: str,
        origin: str = "",
        chain: tuple[str, ...] = (),  # redirect hops so far
        attempt: int = 0,
        not_before: float = 0.0,
    ) -> None:
        self.url, self.kind, self.depth, self.page, self.seed = url, kind, depth, page, seed
        self.origin = origin or url
        self.chain, self.attempt, self.not_before = chain, attempt, not_before


class Done:
    """What a worker made of a task: a result, a redirect hop or a retry to schedule."""

    __slots__ = (
        "browser", "failures", "fetched", "final_url", "hop", "links", "record_id",
        "retry_in", "robots", "skipped", "status", "task", "title",
    )  # fmt: skip

    def __init__(
        self,
        task: Task,
        final_url: str = "",
        status: int = 0,
        record_id: str = "",
        failures: list[Failure] | None = None,
        robots: Robots | None = None,
        retry_in: float | None = None,
    ) -> None:
        self.task, self.final_url, self.status, self.record_id = task, final_url, status, record_id
        self.title = ""
        self.links = Links()
        self.failures: list[Failure] = failures if failures is not None else []
        self.robots = robots
        self.hop = ""  # follow this redirect target next (same task)
        self.retry_in = retry_in  # fetch the same URL again after this many seconds
        # Browser capture (capture/browser.py): URLs Chromium's requests recorded
        # already, requests not recorded on purpose, and the page's browser summary.
        self.fetched: list[str] = []
        self.skipped: list[Failure] = []
        self.browser: dict[str, Any] | None = None


@functools.lru_cache(maxsize=4096)
def hostkey(url: str) -> str:
    """``scheme://host[:port]`` of a URL: its politeness key. Cached, because the
    frontier, the host queues and the worker each ask it of every URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}"


def _registered_domain(host: str) -> str:
    """A rough registrable domain (last two labels); IPs stay whole. Good enough for scope."""
    if host.replace(".", "").isdigit() or ":" in host:
        return host
    labels = host.split(".")
    return ".".join(labels[-2:]) if len(labels) >= 2 else host


def in_scope(url: str, seed: str, scope: str) -> bool:
    """Whether an outlink of a page captured from ``seed`` should be followed."""
    u, s = urlsplit(url), urlsplit(seed)
    uh, sh = (u.hostname or "").lower(), (s.hostname or "").lower()
    if scope == "page":
        return url == seed
    if scope == "prefix":
        prefix = seed[: seed.rfind("/") + 1] if s.path else seed
        return url.startswith(prefix)
    if scope == "domain":
        d = _registered_domain(sh)
        return uh == d or uh.endswith("." + d)
    return uh == sh  # host


def allow_all() -> Robots:
    return Robots(allow_all=True)


class HostClock:
    """When each host may next be asked: the one politeness clock of a crawl.

    The frontier books a host's turn when it hands a task to a worker; the
    browser thread books one for every request Chromium makes. Both book on
    this clock (thread-safe), so no two requests reach a host closer than
    ``delay``, whoever makes them.
    """

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def free_at(self, host: str) -> float:
        """When ``host`` may next be asked (0 when it may be asked now)."""
        return self._next.get(host, 0.0)

    def try_book(self, host: str, now: float) -> bool:
        """Take ``host``'s turn now, if it has come (the frontier: never waits)."""
        if self.delay <= 0:
            return True
        with self._lock:
            if self._next.get(host, 0.0) > now:
                return False
            self._next[host] = now + self.delay
            return True

    def touch(self, host: str, now: float) -> None:
        """A request to ``host`` starts now: its next turn is ``delay`` from now at the
        earliest (a worker calls this as it sends what the frontier handed it)."""
        if self.delay <= 0:
            return
        with self._lock:
            self._next[host] = max(self._next.get(host, 0.0), now + self.delay)


class HostTurns:
    """Per-host queues on the politeness clock: which task may start now, and when next."""

    def __init__(self, delay: float, clock: HostClock | None = None) -> None:
        self.delay = delay
        self.clock = clock or HostClock(delay)
        self.queues: dict[str, deque[Task]] = {}
        self.order: deque[str] = deque()  # hosts with queued work, round robin

    def __len__(self) -> int:
        return sum(len(q) for q in self.queues.values())

    def add(self, task: Task) -> None:
        host = hostkey(task.url)
        q = self.queues.get(host)
        if q is None:
            q = self.queues[host] = deque()
            self.order.append(host)
        q.append(task)

    def take(self, now: float) -> Task | None:
        """The next task whose host's turn has come, round robin over hosts."""
        for _ in range(len(self.order)):
            host = self.order[0]
            self.order.rotate(-1)
            q = self.queues[host]
            if q[0].not_before > now or not self.clock.try_book(host, now):
                continue
            task = q.popleft()
            if not q:
                del self.queues[host]
                self.order.remove(host)
            return task
        return None

    def wait_time(self, now: float) -> float | None:
        """Seconds until some queued task may start (0 when one may now); None if none queued."""
        if not self.queues:
            return None
        return max(
            0.0,
            min(max(self.clock.free_at(h), q[0].not_before) - now for h, q in self.queues.items()),
        )


class Frontier:
    """Admission (seen, limits, robots, scope), host turns, and the per-page bookkeeping."""

    def __init__(self, settings: CaptureSettings) -> None:
        self.settings = settings
        self.turns = HostTurns(settings.delay)
        self.seen: set[str] = set()
        self.pages_per_host: dict[str, int] = {}
        self.robots: dict[str, Any] = {}
        self.waiting: dict[str, list[Task]] = {}
        self.failures: list[Failure] = []
        self.skipped: list[Failure] = []
        self.trap_warned: set[str] = set()
        self.pages: dict[str, dict[str, Any]] = {}
        self.page_order: list[str] = []
        self.pending = 0  # admitted resources not yet finished
        self.done = 0
        self.fetched = 0
        self.failed = 0

    # --- admission -------------------------------------------------------------
    def admit(self, url: str, kind: str, depth: int, page: str, seed: str) -> None:
        if url in self.seen:
            return
        if len(url) > self.settings.max_url_length:
            self.seen.add(url)
            limit = self.settings.max_url_length
            self.skipped.append(
                Failure(url[:200] + "...", f"URL longer than {limit} characters", page)
            )
            return
        task = Task(url, kind, depth, page, seed)
        if self.settings.obey_robots and not self._robots_allow(task):
            return
        if kind == "page" and not self._page_budget(url, page):
            return
        self.seen.add(url)
        self._enqueue(task)

    def _robots_allow(self, task: Task) -> bool:
        """False when the task must wait for robots.txt, or robots.txt forbids it."""
        key = hostkey(task.url)
        rp = self.robots.get(key)
        if rp is None:
            self.robots[key] = _PENDING
            self.waiting[key] = [task]
            self._enqueue(Task(key + "/robots.txt", "robots", 0, task.page, task.seed))
            return False
        if rp is _PENDING:
            self.waiting[key].append(task)
            return False
        if not rp.can_fetch("strongroom", task.url):
            self.seen.add(task.url)
            why = "blocked by robots.txt (use --ignore-robots to capture it anyway)"
            self.failures.append(Failure(task.url, why, task.page))
            return False
        return True

    def _page_budget(self, url: str, page: str) -> bool:
        host = urlsplit(url).netloc.lower()
        n = self.pages_per_host.get(host, 0)
        limit = self.settings.max_pages_per_host
        if n >= limit:
            self.seen.add(url)
            why = f"max_pages_per_host ({limit}) reached for {host}; possible crawler trap"
            self.skipped.append(Failure(url, why, page))
            self.trap_warned.add(host)
            return False
        self.pages_per_host[host] = n + 1
        return True

    def _enqueue(self, task: Task) -> None:
        self.pending += 1
        self.turns.add(task)

    # --- results ---------------------------------------------------------------
    def handle(self, d: Done, now: float | None = None) -> bool:
        """Book a worker's result; True when the task is finished (not a hop or retry)."""
        t = d.task
        now = time.monotonic() if now is None else now
        if d.hop:
            self.turns.add(
                Task(d.hop, t.kind, t.depth, t.page, t.seed, t.origin, (*t.chain, t.url))
            )
            return False
        if d.retry_in is not None:
            t.attempt += 1
            t.not_before = now + d.retry_in
            self.turns.add(t)
            return False
        self.pending -= 1
        self.done += 1
        if t.kind == "robots":
            self._robots_answered(t, d)
            return True
        self.failed += len(d.failures)
        # A browsed page's failures are mostly its requests'; the page counts as
        # fetched unless it failed itself.
        own = [f for f in d.failures if f.url in (t.url, t.origin)] if d.browser else d.failures
        self.fetched += (0 if own else 1) + len(d.fetched)
        self.failures.extend(d.failures)
        self.skipped.extend(d.skipped)
        self.seen.update(d.fetched)  # recorded by the browser: never fetched again
        if d.final_url and d.final_url != t.origin:
            self.seen.add(d.final_url)
        if t.kind == "page":
            self._book_page(t, d)
        self._follow_links(t, d)
        return True

    def _robots_answered(self, t: Task, d: Done) -> None:
        # An unreachable robots.txt is not itself a failure: the pages of that
        # host will fail (or succeed) on their own and say why.
        key = hostkey(t.origin)
        self.robots[key] = d.robots or allow_all()
        for task in self.waiting.pop(key, []):
            self.admit(task.url, task.kind, task.depth, task.page, task.seed)

    def _book_page(self, t: Task, d: Done) -> None:
        entry = self.pages.get(t.origin)
        if entry is None:
            entry = self.pages[t.origin] = {
                "url": t.origin,
                "requisites": [],
                "outlinks": [],
                "depth": t.depth,
            }
            self.page_order.append(t.origin)
        entry.update(
            final_url=d.final_url or t.origin,
            status=d.status,
            title=d.title,
            record_id=d.record_id,
            outlinks=d.links.outlinks,
            browser=d.browser,
        )

    def _follow_links(self, t: Task, d: Done) -> None:
        page = self.pages.get(t.page)
        if self.settings.page_requisites:
            known = set(page["requisites"]) if page is not None else set()
            for req in d.links.requisites:
                if page is not None and req not in known:
                    page["requisites"].append(req)
                    known.add(req)
                self.admit(req, "req", t.depth, t.page, t.seed)
        if t.kind == "page" and t.depth < self.settings.depth:
            for out in d.links.outlinks:
                if in_scope(out, t.seed, self.settings.scope):
                    self.admit(out, "page", t.depth + 1, out, t.seed)
