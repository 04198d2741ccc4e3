"""Crawl workers: one HTTP request per task, its records written whole, its links read.

A worker never sleeps for politeness or retries: it makes one request, writes
the exchange, and hands back a result, a redirect hop or a retry time to the
frontier, which schedules them in their host's turn.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from strongroom.capture.extract import clean_url, extract, is_css, is_html
from strongroom.capture.frontier import Done, Failure, HostClock, Task, hostkey
from strongroom.capture.http import FetchResult, fetch, make_session
from strongroom.capture.robots import Robots
from strongroom.core.collection import CaptureSettings
from strongroom.warc.write import BlockInfo, WarcSink, Written, digest_response

MAX_REDIRECTS = 10
EXTRACT_KEEP = 32 * 1024 * 1024  # payload bytes kept in memory for link extraction
RETRY_AFTER_CAP = 30.0
RETRY_STATUS = (429, 500, 502, 503, 504)

Prior = Callable[[str], "tuple[str, str, str] | None"]


class Results(Protocol):
    """Where a worker puts what it made of each task (a queue, or a fetch process's pipe)."""

    def put(self, done: Done, /) -> None: ...


class Recorder:
    """Writes exchanges to the sink, deduplicating identical payloads (thread-safe)."""

    def __init__(self, sink: WarcSink, capture_id: str, prior: Prior) -> None:
        self.sink, self.capture_id, self.prior = sink, capture_id, prior
        self.lock = threading.Lock()
        self.stats = {"deduplicated": 0, "truncated": 0, "bytes": 0}
        self.known: dict[str, tuple[str, str, str]] = {}  # digest -> (record id, uri, date)
        self.unindexed: dict[str, list[tuple[Any, ...]]] = {}  # warc name -> ledger rows
        # Record id -> where it went, for records kept for extraction (pages and
        # stylesheets): a live screenshot names its page's WARC file and date.
        self.written: dict[str, Written] = {}
        # In a fetch process (capture/procs.py): payloads written here since the main
        # process was last told, so that the other fetch processes can refer to them.
        self.fresh: list[tuple[str, tuple[str, str, str]]] | None = None
        # What an interrupt must not cut: nothing for worker threads (signals go to
        # the main thread); the inline -c 1 crawl defers Ctrl-C around each write.
        self.critical: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext

    def record(
        self, url: str, res: FetchResult, seed: str, keep: int, counted: bool = True
    ) -> tuple[BlockInfo, str]:
        """Write one exchange (response or revisit + request); return (BlockInfo, record id).

        ``counted`` is False for robots.txt, which is recorded but is not one of
        the resources the user asked for, so it stays out of the stats table.
        """
        assert res.spool is not None
        info = digest_response(res.spool, keep=keep)  # hashing outside the lock
        eligible = (
            not res.truncated
            and 200 <= res.status < 300
            and info.payload_size > 0
            and not res.error
        )
        with self.critical(), self.lock:
            prior = self._prior(info.payload_digest) if eligible else None
            w = self.sink.write_exchange(
                url,
                res.request,
                res.spool,
                info,
                peer=res.peer,
                truncated=res.truncated,
                seed=seed if url == seed else None,
                revisit_of=prior,
            )
            self.stats["bytes"] += info.size
            if keep:
                self.written[w.record_id] = w
            if prior is not None and counted:
                self.stats["deduplicated"] += 1
            elif eligible and prior is None:
                where = self.known[info.payload_digest] = (w.record_id, url, w.date)
                if self.fresh is not None:
                    self.fresh.append((info.payload_digest, where))
                self.unindexed.setdefault(w.warc_file, []).append(
                    (info.payload_digest, url, w.date, w.record_id, self.capture_id, w.warc_file)
                )
            if res.truncated == "length":
                self.stats["truncated"] += 1
        return info, w.record_id

    def _prior(self, digest: str) -> tuple[str, str, str] | None:
        return self.known.get(digest) or self.prior(digest)


class Worker:
    """The per-thread part of the crawl: a keep-alive session and the task loop."""

    def __init__(
        self,
        settings: CaptureSettings,
        recorder: Recorder,
        user_agent: str,
        proxy: str | None,
        stop: threading.Event,
        browser: Any = None,
        clock: HostClock | None = None,
    ) -> None:
        self.settings, self.recorder = settings, recorder
        self.user_agent, self.proxy, self.stop = user_agent, proxy, stop
        self.browser = browser  # capture.browser.BrowserCapture, or None: static capture
        # The crawl's politeness clock: the frontier booked this host's turn when it
        # handed the task over; the request starts a little later, and the next turn
        # (a browser request's, say) counts from then.
        self.clock = clock

    def session(self) -> Any:
        """A keep-alive client for one thread (close it when done)."""
        return make_session(self.user_agent, self.proxy)

    def loop(self, tasks: queue.SimpleQueue[Task | None], results: Results) -> None:
        session = self.session()
        try:
            while True:
                task = tasks.get()
                if task is None:
                    return
                if self.stop.is_set():
                    continue  # interrupted: do not start anything new
                results.put(self.run_task(session, task))
        finally:
            # Library callers (watch, workflow) run many captures in one process:
            # do not leave keep-alive sockets open behind us.
            session.close()

    def run_task(self, session: Any, task: Task) -> Done:
        """:meth:`process`, with a bug in it reported as the task's failure."""
        try:
            return self.process(session, task)
        except Exception as exc:  # a bug must not kill the crawl silently
            reason = f"internal error: {exc}"
            return Done(task, failures=[Failure(task.origin, reason, task.page)])

    def retry_in(self, task: Task, res: FetchResult) -> float | None:
        """Seconds to wait before trying again, or None when this answer is final."""
        retries = 0 if task.kind == "robots" else self.settings.retries
        retryable = res.status in RETRY_STATUS or (res.error != "" and res.truncated != "length")
        if not retryable or task.attempt >= retries or self.stop.is_set():
            return None
        wait = res.retry_after if res.retry_after is not None else 0.5 * 2**task.attempt
        return min(wait, RETRY_AFTER_CAP, self.settings.resource_time_limit)

    def process(self, session: Any, task: Task) -> Done:
        s = self.settings
        if self.clock is not None:
            self.clock.touch(hostkey(task.url), time.monotonic())
        res = fetch(
            session,
            task.url,
            timeout=s.timeout,
            max_bytes=s.max_bytes,
            time_limit=s.resource_time_limit,
            should_stop=self.stop.is_set,
        )
        try:
            wait = self.retry_in(task, res)
            if wait is not None:
                return Done(task, retry_in=wait)
            if res.spool is None:
                return Done(task, failures=[Failure(task.url, res.error, task.page)])
            ctype = res.headers.get("content-type", "")
            want = task.kind == "robots" or is_html(ctype) or is_css(ctype, task.url)
            keep = EXTRACT_KEEP if want else 0
            info, rid = self.recorder.record(task.url, res, task.seed, keep, task.kind != "robots")
        finally:
            res.close()
        done = Done(task, final_url=task.url, status=res.status, record_id=rid)
        if res.truncated and res.truncated != "length":
            why = res.error or f"truncated ({res.truncated})"
            done.failures.append(Failure(task.url, why, task.page))
            return done
        location = res.headers.get("location", "")
        if 300 <= res.status < 400 and location and res.status != 304:
            return _redirect(done, location)
        done = _finish(done, res, info, ctype, want)
        if self.browser is not None and task.kind == "page" and is_html(ctype) and res.status < 300:
            self.browser.browse(done, res.headers, info.payload_sample)  # runs the page
        return done


def _redirect(done: Done, location: str) -> Done:
    """A hop to follow next, or the reason the redirect chain stops here."""
    task = done.task
    nxt = clean_url(location, task.url)
    chain = (*task.chain, task.url)
    if nxt is None:
        why = f"redirect to an unsupported location {location[:200]!r}"
    elif nxt in chain:
        why = f"redirect loop after {len(chain)} hops (back to {nxt})"
    elif len(chain) > MAX_REDIRECTS:
        why = f"more than {MAX_REDIRECTS} redirects"
    else:
        done.hop = nxt
        return done
    done.failures.append(Failure(task.url, why, task.page))
    return done


def _finish(done: Done, res: FetchResult, info: BlockInfo, ctype: str, want: bool) -> Done:
    """Robots rules, an HTTP error, or the links of a page or stylesheet."""
    task = done.task
    if task.kind == "robots":
        done.robots = parse_robots(res.status, info.payload_sample, res.headers)
        return done
    if res.status >= 400:
        done.failures.append(
            Failure(task.url, f"HTTP {res.status} {res.reason}".strip(), task.page)
        )
        return done
    if want and 200 <= res.status < 300:
        enc = res.headers.get("content-encoding", "")
        done.links = extract(info.payload_sample, ctype, enc, task.url)
        done.title = done.links.title
    return done


def parse_robots(status: int, body: bytes, headers: dict[str, str]) -> Robots:
    """robots.txt rules: 401/403 forbid all, other errors allow all (as crawlers do)."""
    if status in (401, 403):
        return Robots(disallow_all=True)
    if not 200 <= status < 300:
        return Robots(allow_all=True)
    from strongroom.capture.extract import decode_content

    text, _ = decode_content(body, headers.get("content-encoding", ""), 512 * 1024)
    return Robots.parse(text.decode("utf-8", "replace"))
