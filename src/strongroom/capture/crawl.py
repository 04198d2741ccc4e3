"""The crawl: frontier, scope, robots, retries, dedup, and the capture folder.

One main thread owns the frontier (what to fetch, what was seen, limits);
worker threads fetch, write records and extract links. The main thread never
writes WARC records while the crawl runs, so Ctrl-C (delivered to the main
thread) can never cut a record in half: workers finish or drop whole records,
then the current WARC is closed under the writer lock and published.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from strongroom import SOFTWARE, __version__
from strongroom.capture.frontier import Done, Failure, Frontier, Task, in_scope
from strongroom.capture.interrupts import DeferredInterrupts, no_interrupts, sigterm_as_interrupt
from strongroom.capture.procs import FetchPool, cpus, may_fork, plan
from strongroom.capture.record import (
    CaptureRecord,
    CollectionRef,
    FailureRef,
    PageRef,
    SeedRef,
    WarcRef,
)
from strongroom.capture.workers import Recorder, Worker
from strongroom.core.archive import Archive
from strongroom.core.collection import (
    DEDUP_MODES,
    DEFAULT_USER_AGENT,
    SCOPES,
    CaptureSettings,
    Collection,
    Seed,
    check_capture_limits,
    redact_url,
    validate_url,
)
from strongroom.core.ledger import Ledger, open_ledger
from strongroom.errors import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, UsageError
from strongroom.warc.write import (
    DIGEST_CONVENTION,
    ROLL_SIZE,
    WarcSink,
    WarcStats,
    format_warc_fields,
)

__all__ = ["CaptureOptions", "CaptureResult", "Failure", "capture", "in_scope", "new_capture_id"]

PROXY_SCHEMES = ("http", "https", "socks5", "socks5h", "socks4", "socks4a")
PROGRESS_EVERY = 0.2  # seconds the main thread waits for a result before looking again


@dataclass
class CaptureOptions:
    """Overrides of the collection's capture settings (None keeps the collection's value)."""

    scope: str | None = None
    depth: int | None = None
    delay: float | None = None
    concurrency: int | None = None
    timeout: float | None = None
    resource_time_limit: float | None = None
    max_bytes: int | None = None
    retries: int | None = None
    obey_robots: bool | None = None
    user_agent: str | None = None
    max_pages_per_host: int | None = None
    max_url_length: int | None = None
    proxy: str | None = None
    dedup: str | None = None
    extra_seeds: tuple[str, ...] = ()
    warc_roll_size: int = ROLL_SIZE
    # Drive each page in Chromium (capture/browser.py); None keeps the collection's choice.
    browser: bool | None = None
    chromium: str | None = None
    browser_screenshots: bool = True  # screenshot + text of the live render
    # Runs after the WARCs are published and before capture.json is written, so a
    # later step (screenshots, text) can add files under <capture>/derivatives/.
    post_process: Callable[[Path], None] | None = None

    def apply(self, settings: CaptureSettings) -> CaptureSettings:
        """The collection's settings with every given override applied and checked."""
        changes = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(CaptureSettings)
            if hasattr(self, f.name) and getattr(self, f.name) is not None
        }
        merged = dataclasses.replace(settings, **changes)
        if merged.dedup not in DEDUP_MODES:
            raise UsageError(f"--dedup: expected one of {', '.join(DEDUP_MODES)}")
        if merged.scope not in SCOPES:
            raise UsageError(f"--scope: expected one of {', '.join(SCOPES)}; got {merged.scope!r}")
        problem = check_capture_limits(merged)
        if problem:  # the same ranges as a collection file's [capture] table
            raise UsageError(f"capture setting {problem}")
        return merged


class CaptureResult:
    """What a capture made; ``as_dict()`` is the ``--json`` document."""

    # A plain class, not a dataclass: one per capture, and defining a dataclass
    # costs every capture's start-up about half a millisecond.
    __slots__ = ("capture_id", "failures", "pages", "path", "skipped", "stats", "status", "warcs")

    def __init__(
        self,
        capture_id: str,
        path: Path,
        status: str,
        stats: dict[str, int],
        failures: list[Failure],
        skipped: list[Failure],
        pages: list[dict[str, Any]],
        warcs: list[dict[str, Any]],
    ) -> None:
        self.capture_id, self.path, self.status, self.stats = capture_id, path, status, stats
        self.failures, self.skipped, self.pages, self.warcs = failures, skipped, pages, warcs

    @property
    def exit_code(self) -> int:
        if self.status != "complete":
            return EXIT_USAGE
        return EXIT_PROBLEM if self.failures else EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "capture_id": self.capture_id,
            "path": str(self.path),
            "status": self.status,
            "stats": self.stats,
            "failures": [f.as_dict() for f in self.failures],
            "skipped": [f.as_dict() for f in self.skipped],
            "pages": self.pages,
            "warcs": self.warcs,
            "exit_code": self.exit_code,
        }


def new_capture_id() -> str:
    """``YYYYMMDDTHHMMSSZ-xxxxxx``."""
    # os.urandom is what secrets.token_hex reads; the secrets module imports hmac.
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + os.urandom(3).hex()


def proxy_kind(proxy: str | None) -> str:
    """What the records say about a proxy: its scheme only (``socks5h``), or ``""``.

    Neither its credentials nor its address are recorded: either could name
    the person or the machine that captured.
    """
    if not proxy:
        return ""
    scheme = urlsplit(proxy).scheme.lower()
    return scheme if scheme.isalnum() else "unknown"


class _Crawl:
    """One capture run: the frontier on the main thread, workers on their own threads."""

    def __init__(
        self,
        archive: Archive,
        collection: Collection,
        settings: CaptureSettings,
        options: CaptureOptions,
        folder: Path,
        capture_id: str,
        ledger: Ledger,
        progress: Callable[[int, int, str], None] | None,
    ) -> None:
        self.archive, self.collection, self.settings = archive, collection, settings
        self.options, self.folder, self.capture_id = options, folder, capture_id
        self.ledger, self.progress = ledger, progress
        self.user_agent = settings.user_agent or DEFAULT_USER_AGENT.format(version=__version__)
        self.operator = settings.operator or archive.config.operator
        self.stop = threading.Event()
        self.ledger_lock = threading.Lock()
        self.depends_on: set[str] = set()  # earlier captures our revisits point into
        # At the end of the crawl the last WARC's payload rows wait for the capture's
        # own ledger row, so both land in one commit (one fsync less per capture).
        self.defer_index = False
        self.deferred_rows: list[tuple[Any, ...]] = []
        self.indexed = False  # the ledger indexes a WARC of this capture (a rolled one)
        self.frontier = Frontier(settings)
        # SimpleQueue: a C queue, a fraction of queue.Queue's cost per hand-off
        self.tasks: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self.results: queue.SimpleQueue[Done] = queue.SimpleQueue()
        self.browser_version = _browser_version(options.chromium) if settings.browser else ""
        self.sink = WarcSink(folder, capture_id, self.warcinfo(), options.warc_roll_size)
        self.recorder = Recorder(self.sink, capture_id, self._prior)
        self.sink.on_publish(self._index_published)
        self.browser: Any = self._browser() if settings.browser else None
        self.pool: FetchPool | None = None  # fetch processes (capture/procs.py), if any

    def _browser(self) -> Any:
        """The crawl's Chromium (started when the first page is fetched)."""
        from strongroom.capture.browser import BrowserCapture, CrawlSide

        side = CrawlSide(
            settings=self.settings,
            recorder=self.recorder,
            sink=self.sink,
            folder=self.folder,
            user_agent=self.user_agent,
            proxy=self.options.proxy,
            stop=self.stop,
            robots=self.frontier.robots,
            screenshots=self.options.browser_screenshots,
            clock=self.frontier.turns.clock,
        )
        return BrowserCapture(side, self.options.chromium, version=self.browser_version)

    # The frontier's lists, under the names the capture record uses.
    @property
    def failures(self) -> list[Failure]:
        return self.frontier.failures

    @property
    def skipped(self) -> list[Failure]:
        return self.frontier.skipped

    @property
    def pages(self) -> dict[str, dict[str, Any]]:
        return self.frontier.pages

    @property
    def page_order(self) -> list[str]:
        return self.frontier.page_order

    @property
    def stats(self) -> dict[str, int]:
        f = self.frontier
        stats = {"fetched": f.fetched, "failed": f.failed} | dict(self.recorder.stats)
        if self.pool is not None:
            for k, v in self.pool.stats.items():
                stats[k] = stats.get(k, 0) + v
        return stats

    def published(self) -> list[WarcStats]:
        """The capture's published WARC files, this process's and its fetch processes'."""
        files = list(self.sink.published)
        if self.pool is not None:
            files += self.pool.published
        return sorted(files, key=lambda w: w.name)

    # --- warcinfo ---------------------------------------------------------
    def warcinfo(self) -> dict[str, Any]:
        c = self.collection
        return {
            "software": SOFTWARE,
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            "operator": self.operator,
            "capture-id": self.capture_id,
            "isPartOf": c.id,
            "collection-title": c.title,
            "description": c.description,
            "http-header-user-agent": self.user_agent,
            "robots": "obey" if self.settings.obey_robots else "ignore (--ignore-robots)",
            "proxy": (
                f"used ({proxy_kind(self.options.proxy)}; address and credentials not recorded)"
                if self.options.proxy
                else "none"
            ),
            "digest-convention": DIGEST_CONVENTION,
            "browser": (
                f"{self.browser_version} (headless, driven by Playwright; every request "
                "recorded by strongroom)"
                if self.browser_version
                else "none (static capture)"
            ),
            "capture-settings": json.dumps(self.settings.as_dict(), sort_keys=True),
        }

    # --- dedup index ------------------------------------------------------
    def _prior(self, digest: str) -> tuple[str, str, str] | None:
        """An earlier capture's record of this payload (the recorder knows this capture's)."""
        if self.settings.dedup != "archive":
            # The default: a revisit never points outside this capture, so its bag
            # stands alone (it can be shared, exported and replayed by itself).
            return None
        with self.ledger_lock:
            hit = self.ledger.prior_payload(digest)
            where = self.ledger.payload_locations(digest) if hit else []
        if hit and where:
            self.depends_on.add(where[0][0])  # declared in the bag as Depends-On
        return hit

    def _index_published(self, warc_name: str) -> None:
        # Only digests of records in a closed, renamed WARC enter the ledger, so an
        # interrupted capture never leaves the index pointing at a missing record.
        self._index_rows(self.recorder.unindexed.pop(warc_name, []))

    def _index_rows(self, rows: list[tuple[Any, ...]]) -> None:
        """Payload rows of a published WARC: into the ledger now, or with the capture's row."""
        if not rows:
            return
        if self.defer_index:
            self.deferred_rows += rows
            return
        with self.ledger_lock:
            self.ledger.index_payloads(rows)
            self.indexed = True

    # --- main loop --------------------------------------------------------
    def _worker(self, recorder: Recorder) -> Worker:
        return Worker(
            self.settings,
            recorder,
            self.user_agent,
            self.options.proxy,
            self.stop,
            self.browser,
            self.frontier.turns.clock,
        )

    def run(self, seeds: list[str]) -> str:
        worker = self._worker(self.recorder)
        if self.settings.concurrency == 1 and self.browser is None:
            return self._run_inline(worker, seeds)
        # A static crawl of more than one page without --dedup archive (whose ledger
        # lookups stay in this process) spreads its connections over fetch processes,
        # one per core. One page (a depth-0 seed: `archive`'s unit) is over in a few
        # milliseconds of CPU and stays one WARC file.
        static = self.browser is None and self.settings.dedup != "archive"
        pages = self.settings.depth > 0 or len(seeds) > 1
        may = static and pages and may_fork()
        slots = plan(self.settings.concurrency, cpus()) if may else []
        if slots:
            return self._run_pool(slots, seeds)
        threads = [
            threading.Thread(
                target=worker.loop,
                args=(self.tasks, self.results),
                name=f"capture-{i}",
                daemon=True,
            )
            for i in range(self.settings.concurrency)
        ]
        for t in threads:
            t.start()
        try:
            for s in seeds:
                self.frontier.admit(s, "page", 0, s, s)
            self._drive()
            return "complete"
        except KeyboardInterrupt:
            return "interrupted"
        finally:
            self.stop.set()
            for _ in threads:
                self.tasks.put(None)
            if self.browser is not None:
                self.browser.close()  # ends Chromium, at once when interrupted

    def _run_inline(self, worker: Worker, seeds: list[str]) -> str:
        """A ``--concurrency 1`` static crawl, fetched on this thread.

        With one connection nothing runs in parallel anyway, and handing each
        request to a worker thread and its result back cost more than the
        request itself at 0 ms of latency (two thread switches per request).
        The frontier, host turns and records are the same as a threaded
        crawl's; an interrupt waits while a record is written (DeferredInterrupts).
        """
        guard = DeferredInterrupts(self.stop)
        self.recorder.critical = guard.critical
        session = worker.session()
        f = self.frontier
        try:
            with guard.installed():
                for s in seeds:
                    f.admit(s, "page", 0, s, s)
                while f.pending > 0 and self.sink.failed is None:  # a full disk ends it
                    if self.stop.is_set():
                        raise KeyboardInterrupt
                    now = time.monotonic()
                    task = f.turns.take(now)
                    if task is None:  # its host's turn (--delay) or a retry's time to come
                        wait = f.turns.wait_time(now)
                        time.sleep(PROGRESS_EVERY if wait is None else max(wait, 0.001))
                        continue
                    d = worker.run_task(session, task)
                    if f.handle(d) and self.progress:
                        self.progress(f.done, f.done + f.pending, d.task.origin)
            return "complete"
        except KeyboardInterrupt:
            return "interrupted"
        finally:
            self.stop.set()
            session.close()

    def _run_pool(self, slots: list[int], seeds: list[str]) -> str:
        """The crawl with its connections in fetch processes (capture/procs.py)."""
        pool = self.pool = FetchPool(
            self._worker, self._child_sink, self.capture_id, slots, self._index_rows
        )
        guard = DeferredInterrupts(self.stop)
        try:
            with guard.installed():
                pool.start()
                for s in seeds:
                    self.frontier.admit(s, "page", 0, s, s)
                pool.drive(self.frontier, self.progress, guard.critical)
            if pool.problem() is None:
                return "complete"
            pool.stop()  # the capture cannot be whole: end the fetches in progress
            return "interrupted"
        except KeyboardInterrupt:
            pool.stop()
            return "interrupted"

    def _child_sink(self, index: int) -> WarcSink:
        """A fetch process's own WARC output: ``<capture id>-pN-NNNNN.warc.gz``."""
        return WarcSink(
            self.folder, f"{self.capture_id}-p{index}", self.warcinfo(), self.options.warc_roll_size
        )

    def _drive(self) -> None:
        """Hand tasks to workers in their host's turn, and book results, until all are done."""
        f, in_flight = self.frontier, 0
        limit = self.settings.concurrency
        while f.pending > 0 and self.sink.failed is None:  # a full disk ends the crawl
            now = time.monotonic()
            while in_flight < limit and (task := f.turns.take(now)) is not None:
                self.tasks.put(task)
                in_flight += 1
            wait = f.turns.wait_time(now) if in_flight < limit else None
            timeout = PROGRESS_EVERY if wait is None else min(max(wait, 0.001), PROGRESS_EVERY)
            try:
                d = self.results.get(timeout=timeout)
            except queue.Empty:
                continue
            in_flight -= 1
            if f.handle(d) and self.progress:
                self.progress(f.done, f.done + f.pending, d.task.origin)

    def finish(self, status: str) -> None:
        """Write per-page metadata records, then close and publish the WARC.

        The payload rows of the WARCs published here wait in ``deferred_rows``
        for :meth:`book`."""
        self.defer_index = True
        if self.pool is not None:
            self.pool.close()  # each fetch process publishes its WARC
            problem = self.pool.problem()
            if problem is not None:
                raise problem
        with self.sink.lock:
            # Workers that finish after this point find the sink closed and drop
            # their record whole; nothing half-written can follow.
            for url in self.page_order:
                data = format_warc_fields(self._page_fields(url))
                self.sink.write_metadata(url, data, self.pages[url].get("record_id") or None)
            self.sink.close()

    def book(self, started: str, ended: str, seeds: list[str], status: str) -> None:
        """The last payload rows and the capture's ledger row, in one commit."""
        with self.ledger_lock:
            self.ledger.begin_batch()
            if self.deferred_rows:
                self.ledger.index_payloads(self.deferred_rows)
            self.ledger.record_capture(
                self.capture_id,
                collection_id=self.collection.id,
                started=started,
                ended=ended,
                seeds=seeds,
                stats=self.stats,
                status=status,
            )
            self.ledger.commit_batch()

    def _page_fields(self, url: str) -> list[tuple[str, object]]:
        p = self.pages[url]
        related = {url, p.get("final_url", url), *p["requisites"]}
        fields: list[tuple[str, object]] = [
            ("page", url),
            ("final-url", p.get("final_url", url)),
            ("http-status", p.get("status") or 0),
        ]
        fields += [("outlink", u) for u in p["outlinks"]]
        fields += [("requisite", u) for u in p["requisites"]]
        fields += [
            ("failure", f"{f.url} {f.reason}")
            for f in self.failures
            if f.url in related or f.page == url
        ]
        fields += [("skipped", f"{f.url} {f.reason}") for f in self.skipped if f.page == url]
        return fields


def _capture_record(
    archive: Archive,
    c: Collection,
    seeds: list[Seed],
    settings: CaptureSettings,
    options: CaptureOptions,
    crawl: _Crawl,
    status: str,
    started: str,
    ended: str,
    pages: list[dict[str, Any]],
    warcs: list[dict[str, Any]],
) -> CaptureRecord:
    """The capture record (capture.json) of a finished or interrupted crawl."""
    coll = CollectionRef.of(c, archive.root)
    return CaptureRecord(
        capture_id=crawl.capture_id,
        collection=coll,
        seeds=tuple(
            SeedRef(
                url=s.url,
                title=s.title,
                publisher=s.publisher,
                published=s.published.isoformat() if s.published else None,
                language=s.language,
            )
            for s in seeds
        ),
        settings=settings.as_dict() | {"proxy": proxy_kind(options.proxy)},
        software=SOFTWARE,
        operator=crawl.operator,
        started=started,
        ended=ended,
        status=status,
        warcs=tuple(
            WarcRef(
                name=w["name"],
                size=w["size"],
                records=w["records"],
                seeds=tuple(w["seeds"]),
                first_date=w["first_date"],
                last_date=w["last_date"],
            )
            for w in warcs
        ),
        stats=dict(crawl.stats),
        failures=tuple(FailureRef(f.url, f.reason, f.page) for f in crawl.failures),
        skipped=tuple(FailureRef(f.url, f.reason, f.page) for f in crawl.skipped),
        pages=tuple(
            PageRef(p["url"], p["final_url"], p["status"] or 0, p["title"] or "", p.get("browser"))
            for p in pages
        ),
        depends_on_captures=tuple(sorted(crawl.depends_on)),
        browser=crawl.browser_version or None,
    )


def _browser_version(chromium: str | None) -> str:
    """``Chromium 1xx.y...`` of the Chromium a browser capture will drive."""
    from strongroom.capture.browser import chromium_version
    from strongroom.capture.screenshot import find_chromium

    return chromium_version(find_chromium(chromium)) or "Chromium"


def _checked_seeds(collection: Collection, options: CaptureOptions) -> list[Seed]:
    """The collection's seeds plus the extra ones, each checked; the proxy URL too."""
    seeds = list(collection.seeds)
    for u in options.extra_seeds:
        validate_url(u, "url")
        if all(s.url != u for s in seeds):
            seeds.append(Seed(url=u))
    for s in seeds:
        validate_url(s.url, "seed")
    if not seeds:
        raise UsageError("nothing to capture: give a URL or a collection with seeds")
    if options.proxy:
        p = urlsplit(options.proxy)
        if p.scheme not in PROXY_SCHEMES or not p.hostname:
            raise UsageError(
                f"--proxy: {redact_url(options.proxy)!r} is not a proxy URL; use "
                "http://host:port or socks5h://host:port"
            )
    return seeds


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _page_list(crawl: _Crawl) -> list[dict[str, Any]]:
    return [
        {
            "url": crawl.pages[u]["url"],
            "final_url": crawl.pages[u].get("final_url", u),
            "status": crawl.pages[u].get("status", 0),
            "title": crawl.pages[u].get("title", ""),
            **({"browser": b} if (b := crawl.pages[u].get("browser")) else {}),
        }
        for u in crawl.page_order
    ]


@contextlib.contextmanager
def _whole_or_nothing(crawl: _Crawl) -> Iterator[None]:
    """A full or read-only disk (a UsageError) while the WARCs or capture.json are
    written: the folder goes, so nothing half-made stays and a re-run starts afresh.
    The sink has dropped the WARC in progress already; a folder with a rolled WARC
    the ledger indexes stays (a later revisit may point into it)."""
    try:
        yield
    except UsageError:
        if not crawl.indexed:
            shutil.rmtree(crawl.folder, ignore_errors=True)
        raise


def capture(
    archive: Archive,
    collection: Collection,
    *,
    options: CaptureOptions | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> CaptureResult:
    """Capture a collection's seeds (and ``options.extra_seeds``) into a new capture folder.

    Returns a CaptureResult whose ``exit_code`` is 0 when everything was
    fetched, 1 when something failed, 2 when the capture was interrupted.
    """
    options = options or CaptureOptions()
    settings = options.apply(collection.capture)
    seeds = _checked_seeds(collection, options)  # all checks before anything is created
    if settings.browser:
        from strongroom.capture.screenshot import find_chromium

        find_chromium(options.chromium)  # exit 2 with install advice, before anything is made
    archive.ensure()
    # The ledger first: when it cannot be reached, nothing is captured (no folder).
    ledger = open_ledger(archive.root)
    capture_id = new_capture_id()
    folder = archive.capture_dir(capture_id)
    folder.mkdir(parents=True)
    started = _utc_now()
    crawl = _Crawl(archive, collection, settings, options, folder, capture_id, ledger, progress)
    try:
        with sigterm_as_interrupt():
            status = crawl.run([s.url for s in seeds])
        with no_interrupts():
            with _whole_or_nothing(crawl):
                crawl.finish(status)
            if options.post_process is not None and status == "complete":
                options.post_process(folder)
            ended = _utc_now()
            pages = _page_list(crawl)
            warcs = [w.as_dict() for w in crawl.published()]
            record = _capture_record(
                archive, collection, seeds, settings, options, crawl, status, started, ended,
                pages, warcs,
            )  # fmt: skip
            with _whole_or_nothing(crawl):
                record.write(folder)
            # a capture whose ledger row cannot be written stays: it is whole, and evidence
            crawl.book(started, ended, [s.url for s in seeds], status)
    finally:
        ledger.close()
    return CaptureResult(
        capture_id=capture_id,
        path=folder,
        status=status,
        stats=dict(crawl.stats),
        failures=crawl.failures,
        skipped=crawl.skipped,
        pages=pages,
        warcs=warcs,
    )
