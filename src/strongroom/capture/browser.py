"""Browser-driven capture: Chromium runs the page, strongroom's recorder fetches every byte.

Why CDP ``Fetch`` interception (Playwright's ``route``, which is
``Fetch.requestPaused`` + ``fulfillRequest``) and not a recording proxy:

* Chromium never opens a connection of its own. Every request it makes stops
  in :meth:`BrowserCapture._route`, which fetches it with the crawl's own
  recording client (:mod:`strongroom.capture.http`) and hands the response
  back. So each record keeps our wire-exact bytes, digests and the socket's
  ``WARC-IP-Address`` (the crawl's :class:`~strongroom.capture.workers.Recorder`
  writes it, with its dedup), and robots.txt, politeness, ``--proxy``,
  ``--max-bytes`` and time limits apply as in a static capture;
* a proxy would see HTTPS only by minting certificates from a throwaway CA
  that Chromium must trust, and it would not know which frame asked, or
  whether a request is a navigation away from the page (which we block);
* the cost: a response is buffered before Chromium sees it (no streaming).
  Pages do not notice; media is bounded by ``--max-bytes`` anyway.

``data:`` and ``blob:`` URLs never reach the handler: they are not records.
Service workers are blocked (they would fetch behind our back and cache).

Playwright's sync API binds its objects to the thread that made them, so one
browser thread owns Chromium for the whole crawl; a crawl worker that fetched
a page hands it over (:meth:`BrowserCapture.browse`) and waits, and the page's
:class:`~strongroom.capture.frontier.Done` carries what the browser recorded
back to the frontier, which then neither fetches those URLs again nor skips
the static finds. Ctrl-C or SIGTERM: the crawl sets its stop flag, this module aborts
every pending request, kills the Chromium processes of its own profile (found
by their ``--user-data-dir``), and the thread ends within seconds.
"""

from __future__ import annotations

import contextlib
import queue
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strongroom.capture.choose import INSTALL_HINT, choose_browser
from strongroom.capture.chromium import end_all
from strongroom.capture.extract import decode_content, extract, is_css, is_html
from strongroom.capture.frontier import Done, Failure, HostClock, Task, hostkey
from strongroom.capture.http import FetchResult, fetch, make_session
from strongroom.capture.render import NAV_TIMEOUT, render_job
from strongroom.capture.robots import Robots
from strongroom.capture.screenshot import find_chromium
from strongroom.capture.workers import Recorder, Worker, parse_robots
from strongroom.core.collection import CaptureSettings
from strongroom.warc.write import WarcSink

# choose_browser lives in capture/choose.py (a static capture must not import this module)
__all__ = [
    "INSTALL_HINT",
    "Answer",
    "BrowserCapture",
    "CrawlSide",
    "PageResult",
    "choose_browser",
    "chromium_version",
    "page_answer",
]

BODY_KEEP = 64 * 1024 * 1024  # largest body handed to Chromium (records are never cut by this)
_DROP = {"content-encoding", "transfer-encoding", "content-length", "connection", "keep-alive"}


def chromium_version(exe: str) -> str:
    """``Chromium 156.0...`` from ``chromium --version`` (empty when it will not say)."""
    try:
        out = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return " ".join(out.split()[:2])


@dataclass
class Answer:
    """What Chromium is given for one request, and what became of it."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    failure: str = ""  # why there is no usable record
    content_type: str = ""


@dataclass
class PageResult:
    """What rendering one page added to the capture."""

    url: str
    requested: list[str] = field(default_factory=list)  # every http(s) URL Chromium asked for
    fetched: list[str] = field(default_factory=list)  # URLs recorded for this page
    requisites: list[str] = field(default_factory=list)  # recorded + static finds inside them
    failures: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    behaviours: list[dict[str, Any]] = field(default_factory=list)
    blocked_navigations: list[str] = field(default_factory=list)
    dom_record_id: str = ""
    derivatives: list[str] = field(default_factory=list)
    error: str = ""

    def summary(self) -> dict[str, Any]:
        """The page's ``browser`` entry in capture.json."""
        return {
            "behaviours": self.behaviours,
            "requested": len(self.requested),
            "recorded": len(self.fetched),
            "blocked_navigations": self.blocked_navigations,
            "dom_record_id": self.dom_record_id,
            "derivatives": self.derivatives,
            "error": self.error,
        }


@dataclass
class CrawlSide:
    """What browser capture uses of the crawl (``capture/crawl.py`` makes one)."""

    settings: CaptureSettings
    recorder: Recorder
    sink: WarcSink
    folder: Path
    user_agent: str
    proxy: str | None
    stop: threading.Event
    # The frontier's robots rules by host key: read here, and a host the
    # frontier has not asked yet is asked (and recorded) by the browser thread.
    robots: dict[str, Any]
    screenshots: bool = True  # screenshot + text of the live render
    # The crawl's per-host politeness clock (the frontier's); None: one of its own.
    clock: HostClock | None = None


@dataclass
class _Job:
    url: str
    seed: str
    page: Answer
    record_id: str
    done: threading.Event = field(default_factory=threading.Event)
    result: PageResult | None = None
    answers: dict[str, Answer] = field(default_factory=dict)
    last_request: float = field(default_factory=time.monotonic)
    media_bytes: int = 0


def page_answer(headers: dict[str, str], payload: bytes, status: int = 200) -> Answer:
    """The already recorded page response, as Chromium is to receive it."""
    body, _ = decode_content(payload, headers.get("content-encoding", ""), BODY_KEEP)
    kept = {k: v for k, v in headers.items() if k not in _DROP}
    return Answer(status, kept, body, content_type=headers.get("content-type", ""))


class BrowserCapture:
    """One Chromium for one crawl; ``browse`` is called from the crawl's workers."""

    def __init__(self, crawl: CrawlSide, chromium: str | None = None, version: str = "") -> None:
        self.exe = find_chromium(chromium)
        self.version = version or chromium_version(self.exe) or "Chromium"
        self.crawl = crawl
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self.thread: threading.Thread | None = None
        self.profile: list[str] = []
        self.job: _Job | None = None
        self.start_lock = threading.Lock()
        self.failed_start = ""
        self.session: Any = None  # the browser thread's keep-alive session
        # Politeness for the browser's own requests: they take their turns on the
        # crawl's per-host clock, the one the frontier paces the workers' tasks
        # by, so a worker and the browser never reach a host closer than --delay.
        self.clock = crawl.clock or HostClock(crawl.settings.delay)
        self.robots: dict[str, Any] = {}  # host key -> rules this thread fetched
        # The crawl's retry rule, from the worker that owns it.
        self.retrier = Worker(
            crawl.settings, crawl.recorder, crawl.user_agent, crawl.proxy, crawl.stop
        )

    # --- called from crawl workers ----------------------------------------
    def browse(self, done: Done, headers: dict[str, str], body: bytes) -> None:
        """Load the page a worker just recorded in Chromium; add what it found to ``done``."""
        task = done.task
        page = self.render(
            task.url, task.seed, page_answer(headers, body, done.status), done.record_id
        )
        known = set(done.links.requisites)
        done.links.requisites += [u for u in page.requisites if u not in known]
        done.failures += [Failure(u, reason, task.page) for u, reason in page.failures]
        if page.error:
            done.failures.append(Failure(task.url, page.error, task.page))
        done.skipped += [Failure(u, reason, task.page) for u, reason in page.skipped]
        done.fetched, done.browser = page.fetched, page.summary()

    def render(self, url: str, seed: str, page: Answer, record_id: str) -> PageResult:
        """Load ``url`` (already recorded as ``record_id``) in Chromium; wait for the result."""
        with self.start_lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._main, name="browser", daemon=True)
                self.thread.start()
        job = _Job(url, seed, page, record_id)
        self.jobs.put(job)
        while not job.done.wait(0.2):
            if self.crawl.stop.is_set() or self.thread is None or not self.thread.is_alive():
                break
        return job.result or PageResult(url, error=self.failed_start or "browser stopped")

    def close(self) -> None:
        """End the browser thread and Chromium (at once when the crawl was stopped)."""
        if self.thread is None:
            return
        self.jobs.put(None)
        if self.crawl.stop.is_set():
            end_all(self.profile)  # Chromium and the Playwright driver: no graceful wait
        self.thread.join(timeout=15)
        if self.thread.is_alive():
            end_all(self.profile)
            self.thread.join(timeout=5)

    # --- the browser thread -------------------------------------------------
    def _main(self) -> None:
        from strongroom.capture.screenshot import browser_context

        self.session = make_session(self.crawl.user_agent, self.crawl.proxy)
        try:
            with browser_context(self.exe, NAV_TIMEOUT, profile_out=self.profile) as ctx:
                ctx.route("**/*", self._route)
                while True:
                    job = self.jobs.get()
                    if job is None:
                        return
                    self._run_job(ctx, job)
        except Exception as exc:  # Chromium would not start, or died
            self.failed_start = f"browser failed: {str(exc).splitlines()[0][:200]}"
        finally:
            self.session.close()
            while True:  # nobody may wait forever on a job we will not run
                try:
                    left = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if left is not None:
                    left.done.set()

    def _run_job(self, ctx: Any, job: _Job) -> None:
        self.job = job
        job.result = PageResult(job.url)
        try:
            render_job(self, ctx, job, job.result)
        except Exception as exc:
            job.result.error = f"browser: {str(exc).splitlines()[0][:200] if str(exc) else exc}"
        finally:
            self.job = None
            job.done.set()

    def idle(self, quiet: float, limit: float, page: Any) -> bool:
        """Wait until no request started for ``quiet`` s (at most ``limit`` s)."""
        end = time.monotonic() + limit
        job = self.job
        while time.monotonic() < end and not self.crawl.stop.is_set():
            if job is None or time.monotonic() - job.last_request >= quiet:
                return True
            page.wait_for_timeout(100)
        return False

    def _route(self, route: Any) -> None:
        request = route.request
        url = request.url
        job = self.job
        if job is None or self.crawl.stop.is_set():
            route.abort("blockedbyclient")
            return
        job.last_request = time.monotonic()
        if not url.startswith(("http://", "https://")):
            route.continue_()
            return
        result = job.result
        assert result is not None
        if request.is_navigation_request() and request.frame.parent_frame is None:
            if url != job.url:
                # Navigation away from the page would replace what we are capturing.
                result.blocked_navigations.append(url)
                route.abort("blockedbyclient")
                return
            self._fulfil(route, job.page)
            return
        if url not in result.requested:
            result.requested.append(url)
        if request.method not in ("GET", "HEAD"):
            result.skipped.append((url, f"{request.method} request not recorded (GET only)"))
            route.abort("blockedbyclient")
            return
        answer = job.answers.get(url) or self.fetch(job, url)
        if answer.status == 0:
            route.abort("failed")
            return
        self._fulfil(route, answer)

    @staticmethod
    def _fulfil(route: Any, answer: Answer) -> None:
        try:
            route.fulfill(status=answer.status, headers=answer.headers, body=answer.body)
        except Exception:  # the frame went away meanwhile
            with contextlib.suppress(Exception):
                route.abort("failed")

    # --- recording ------------------------------------------------------------
    def fetch(self, job: _Job, url: str) -> Answer:
        """Fetch and record ``url`` with the crawl's recorder; the answer for Chromium."""
        result = job.result
        assert result is not None
        blocked = self._robots_block(url)
        answer = Answer(failure=blocked) if blocked else self._fetch_record(job, url)
        job.answers[url] = answer
        if answer.failure:
            if (url, answer.failure) not in result.failures:
                result.failures.append((url, answer.failure))
        elif url not in result.fetched:
            result.fetched.append(url)
        return answer

    def _wait_turn(self, url: str) -> None:
        delay = self.crawl.settings.delay
        if delay <= 0:
            return
        host = hostkey(url)
        # Booked when the request really starts (not when it was queued), so a
        # late wake-up on a loaded machine never brings two requests closer.
        while not self.clock.try_book(host, now := time.monotonic()):
            if self.crawl.stop.wait(max(self.clock.free_at(host) - now, 0.001)):
                return

    def _fetch_retrying(self, url: str, kind: str = "req") -> FetchResult:
        """One URL, retried as the crawl retries (robots.txt: one try), politely paced."""
        s = self.crawl.settings
        task = Task(url, kind, 0, url, url)
        while True:
            self._wait_turn(url)
            res = fetch(
                self.session,
                url,
                timeout=s.timeout,
                max_bytes=s.max_bytes,
                time_limit=s.resource_time_limit,
                should_stop=self.crawl.stop.is_set,
            )
            wait = self.retrier.retry_in(task, res)
            if wait is None:
                return res
            res.close()
            self.crawl.stop.wait(wait)
            task.attempt += 1

    def _fetch_record(self, job: _Job, url: str) -> Answer:
        result = job.result
        assert result is not None
        res = self._fetch_retrying(url)
        try:
            if res.spool is None:
                return Answer(failure=res.error or "no response")
            info, _rid = self.crawl.recorder.record(url, res, job.seed, BODY_KEEP)
        finally:
            res.close()
        ctype = res.headers.get("content-type", "")
        answer = page_answer(res.headers, info.payload_sample, res.status)
        if res.truncated and res.truncated != "length":
            answer.failure = res.error or f"truncated ({res.truncated})"
        elif res.status >= 400:
            answer.failure = f"HTTP {res.status} {res.reason}".strip()
        if 200 <= res.status < 300 and (is_html(ctype) or is_css(ctype, url)):
            # The static extractor still runs: the browser never finds less.
            links = extract(
                info.payload_sample, ctype, res.headers.get("content-encoding", ""), url
            )
            for req in links.requisites:
                if req not in result.requisites:
                    result.requisites.append(req)
        if url not in result.requisites:
            result.requisites.append(url)
        return answer

    def _robots_block(self, url: str) -> str:
        """The reason robots.txt forbids ``url``, or ''."""
        if not self.crawl.settings.obey_robots:
            return ""
        key = hostkey(url)
        rp = self.crawl.robots.get(key)
        if not isinstance(rp, Robots):  # not asked yet, or still pending there
            rp = self.robots.get(key) or self._robots_for(key)
        if rp.can_fetch("strongroom", url):
            return ""
        return "blocked by robots.txt (use --ignore-robots to capture it anyway)"

    def _robots_for(self, key: str) -> Any:
        """Fetch, record and parse a host's robots.txt the crawl has not read yet.

        The crawl's reading (``workers.parse_robots``): 401/403 forbid all,
        other errors and an unreachable host allow all. One try, as the crawl.
        """
        from strongroom.capture.frontier import allow_all

        url = key + "/robots.txt"
        res = self._fetch_retrying(url, "robots")
        try:
            if res.spool is None:
                rp = allow_all()
            else:
                info, _ = self.crawl.recorder.record(url, res, "", 512 * 1024, False)
                rp = parse_robots(res.status, info.payload_sample, res.headers)
        finally:
            res.close()
        self.robots[key] = rp
        # Shared with the frontier, which then does not ask this host again
        # (a dict's setdefault is atomic; an answer or a pending ask it has is kept).
        self.crawl.robots.setdefault(key, rp)
        return rp
