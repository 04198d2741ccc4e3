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
import queue
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from strongroom import SOFTWARE, __version__
from strongroom.capture.extract import Links, clean_url, extract, is_css, is_html
from strongroom.capture.http import FetchResult, fetch, make_session
from strongroom.core.archive import Archive
from strongroom.core.collection import (
    DEDUP_MODES,
    DEFAULT_USER_AGENT,
    SCOPES,
    CaptureSettings,
    Collection,
    Seed,
    validate_url,
)
from strongroom.core.fsutil import atomic_write_text
from strongroom.core.ledger import Ledger, open_ledger
from strongroom.errors import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, UsageError
from strongroom.warc.write import (
    DIGEST_CONVENTION,
    ROLL_SIZE,
    WarcSink,
    digest_response,
    format_warc_fields,
)

MAX_REDIRECTS = 10
EXTRACT_KEEP = 32 * 1024 * 1024  # payload bytes kept in memory for link extraction
RETRY_AFTER_CAP = 30.0
_PENDING = object()  # robots.txt requested but not yet answered


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
        for name in ("timeout", "resource_time_limit"):
            if getattr(merged, name) <= 0:
                raise UsageError(f"--{name.replace('_', '-')}: expected a number of seconds > 0")
        if merged.concurrency < 1 or merged.max_bytes < 1 or merged.depth < 0:
            raise UsageError("--concurrency and --max-bytes must be >= 1, --depth >= 0")
        if merged.delay < 0 or merged.retries < 0:
            raise UsageError("--delay and --retries must be >= 0")
        return merged


@dataclass
class Failure:
    url: str
    reason: str
    page: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"url": self.url, "reason": self.reason, "page": self.page}


@dataclass
class CaptureResult:
    """What a capture made; ``as_dict()`` is the ``--json`` document."""

    capture_id: str
    path: Path
    status: str
    stats: dict[str, int]
    failures: list[Failure]
    skipped: list[Failure]
    pages: list[dict[str, Any]]
    warcs: list[dict[str, Any]]

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


@dataclass
class _Task:
    url: str
    kind: str  # page | req | robots
    depth: int
    page: str  # the page this resource belongs to
    seed: str


@dataclass
class _Done:
    task: _Task
    final_url: str = ""
    status: int = 0
    title: str = ""
    record_id: str = ""
    links: Links = field(default_factory=Links)
    failures: list[Failure] = field(default_factory=list)
    robots: RobotFileParser | None = None
    fetched: list[str] = field(default_factory=list)  # recorded by the browser already
    browser: dict[str, Any] | None = None


def new_capture_id() -> str:
    """``YYYYMMDDTHHMMSSZ-xxxxxx``."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


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


def _redact(proxy: str | None) -> str:
    if not proxy:
        return ""
    p = urlsplit(proxy)
    host = p.hostname or ""
    return f"{p.scheme}://{host}{':' + str(p.port) if p.port else ''}"


class _Crawl:
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
        self.lock = threading.Lock()  # stats, dedup map, host timing
        self.ledger_lock = threading.Lock()
        self.stats = {"fetched": 0, "failed": 0, "deduplicated": 0, "truncated": 0, "bytes": 0}
        self.known: dict[str, tuple[str, str, str]] = {}  # digest -> (record id, uri, date)
        self.depends_on: set[str] = set()  # earlier captures our revisits point into
        self.unindexed: dict[str, list[tuple[Any, ...]]] = {}  # warc name -> ledger rows
        self.next_ok: dict[str, float] = {}
        self.local = threading.local()
        self.tasks: queue.Queue[_Task | None] = queue.Queue()
        self.results: queue.Queue[_Done] = queue.Queue()
        # frontier state, owned by the main thread
        self.seen: set[str] = set()
        self.pages_per_host: dict[str, int] = {}
        self.robots: dict[str, Any] = {}
        self.waiting: dict[str, list[tuple[str, str, int, str, str]]] = {}
        self.failures: list[Failure] = []
        self.skipped: list[Failure] = []
        self.trap_warned: set[str] = set()
        self.pages: dict[str, dict[str, Any]] = {}
        self.page_order: list[str] = []
        self.pending = 0
        self.done = 0
        self.records: dict[str, Any] = {}  # url -> Written, of this capture's records
        self.browser: Any = None
        if options.browser if options.browser is not None else settings.browser:
            from strongroom.capture.browser import BrowserCapture

            self.browser = BrowserCapture(self, options.chromium)
        self.sink = WarcSink(folder, capture_id, self.warcinfo(), options.warc_roll_size)
        self.sink.on_publish(self._index_published)

    # --- warcinfo ---------------------------------------------------------
    def warcinfo(self) -> dict[str, Any]:
        c = self.collection
        return {
            "software": SOFTWARE,
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            "operator": self.operator,
            "hostname": socket.gethostname(),
            "capture-id": self.capture_id,
            "isPartOf": c.id,
            "collection-title": c.title,
            "description": c.description,
            "http-header-user-agent": self.user_agent,
            "robots": "obey" if self.settings.obey_robots else "ignore (--ignore-robots)",
            "proxy": _redact(self.options.proxy) or "none",
            "digest-convention": DIGEST_CONVENTION,
            "browser": f"{self.browser.version} (headless, driven by Playwright)"
            if self.browser
            else "none (static capture)",
            "capture-settings": json.dumps(self.settings.as_dict(), sort_keys=True),
        }

    # --- dedup index ------------------------------------------------------
    def _prior(self, digest: str) -> tuple[str, str, str] | None:
        hit = self.known.get(digest)
        if hit:
            return hit
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
        rows = self.unindexed.pop(warc_name, [])
        if not rows:
            return
        with self.ledger_lock:
            self.ledger.index_payloads(rows)

    # --- workers ----------------------------------------------------------
    def _session(self) -> Any:
        s = getattr(self.local, "session", None)
        if s is None:
            s = self.local.session = make_session(self.user_agent, self.options.proxy)
        return s

    def _wait_turn(self, url: str) -> None:
        if self.settings.delay <= 0:
            return
        host = urlsplit(url).netloc
        with self.lock:
            now = time.monotonic()
            at = max(now, self.next_ok.get(host, 0.0))
            self.next_ok[host] = at + self.settings.delay
        self._sleep(at - now)

    def _sleep(self, seconds: float) -> None:
        self.stop.wait(max(0.0, seconds))

    def _fetch_retrying(self, url: str, retries: int) -> FetchResult:
        s = self.settings
        attempt = 0
        while True:
            self._wait_turn(url)
            res = fetch(
                self._session(),
                url,
                timeout=s.timeout,
                max_bytes=s.max_bytes,
                time_limit=s.resource_time_limit,
                should_stop=self.stop.is_set,
            )
            retryable = res.status in (429, 500, 502, 503, 504) or (
                res.error != "" and res.truncated != "length"
            )
            if not retryable or attempt >= retries or self.stop.is_set():
                return res
            wait = 0.5 * 2**attempt
            if res.retry_after is not None:
                wait = res.retry_after
            res.close()
            self._sleep(min(wait, RETRY_AFTER_CAP, s.resource_time_limit))
            attempt += 1

    def worker(self) -> None:
        while True:
            task = self.tasks.get()
            if task is None:
                # Library callers (watch, workflow) run many captures in one process:
                # do not leave keep-alive sockets open behind us.
                session = getattr(self.local, "session", None)
                if session is not None:
                    session.close()
                return
            if self.stop.is_set():
                continue  # interrupted: do not start anything new
            try:
                done = self._process(task)
            except Exception as exc:  # a bug must not kill the crawl silently
                done = _Done(
                    task, failures=[Failure(task.url, f"internal error: {exc}", task.page)]
                )
            self.results.put(done)

    def _record(
        self, url: str, res: FetchResult, seed: str, keep: int, counted: bool = True
    ) -> tuple[Any, str]:
        """Write one exchange (response or revisit + request); return (BlockInfo, record id).

        ``counted`` is False for robots.txt, which is recorded but is not one of
        the resources the user asked for, so it stays out of the stats table.
        """
        assert res.spool is not None
        info = digest_response(res.spool, keep=keep)
        eligible = (
            not res.truncated
            and 200 <= res.status < 300
            and info.payload_size > 0
            and not res.error
        )
        with self.lock:
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
            self.records[url] = w
            if prior is not None and counted:
                self.stats["deduplicated"] += 1
            elif eligible:
                self.known[info.payload_digest] = (w.record_id, url, w.date)
                self.unindexed.setdefault(w.warc_file, []).append(
                    (info.payload_digest, url, w.date, w.record_id, self.capture_id, w.warc_file)
                )
            if res.truncated == "length":
                self.stats["truncated"] += 1
        return info, w.record_id

    def _process(self, task: _Task) -> _Done:
        done = _Done(task)
        url = task.url
        chain: list[str] = []
        while True:
            # robots.txt gets one try: a dead host is then reported once, by its pages.
            res = self._fetch_retrying(url, 0 if task.kind == "robots" else self.settings.retries)
            try:
                if res.spool is None:
                    done.failures.append(Failure(url, res.error, task.page))
                    return done
                ctype = res.headers.get("content-type", "")
                want = task.kind == "robots" or is_html(ctype) or is_css(ctype, url)
                info, rid = self._record(
                    url, res, task.seed, EXTRACT_KEEP if want else 0, task.kind != "robots"
                )
            finally:
                res.close()
            done.final_url, done.status, done.record_id = url, res.status, rid
            if res.truncated and res.truncated != "length":
                done.failures.append(
                    Failure(url, res.error or f"truncated ({res.truncated})", task.page)
                )
                return done
            location = res.headers.get("location", "")
            if 300 <= res.status < 400 and location and res.status != 304:
                nxt = clean_url(location, url)
                chain.append(url)
                if nxt is None:
                    done.failures.append(
                        Failure(
                            url,
                            f"redirect to an unsupported location {location[:200]!r}",
                            task.page,
                        )
                    )
                    return done
                if nxt in chain:
                    done.failures.append(
                        Failure(
                            url, f"redirect loop after {len(chain)} hops (back to {nxt})", task.page
                        )
                    )
                    return done
                if len(chain) > MAX_REDIRECTS:
                    done.failures.append(
                        Failure(url, f"more than {MAX_REDIRECTS} redirects", task.page)
                    )
                    return done
                url = nxt
                continue
            break
        if task.kind == "robots":
            done.robots = _parse_robots(res.status, info.payload_sample, res.headers)
            return done
        if res.status >= 400:
            done.failures.append(Failure(url, f"HTTP {res.status} {res.reason}".strip(), task.page))
            return done
        if want and 200 <= res.status < 300:
            done.links = extract(
                info.payload_sample,
                ctype,
                res.headers.get("content-encoding", ""),
                url,
            )
            done.title = done.links.title
            if self.browser is not None and task.kind == "page" and is_html(ctype):
                self._browse(done, url, res.headers, info.payload_sample, rid)
        return done

    def _browse(
        self, done: _Done, url: str, headers: dict[str, str], body: bytes, rid: str
    ) -> None:
        """Load the recorded page in Chromium; its requests are recorded by our recorder."""
        from strongroom.capture.browser import page_answer

        page = self.browser.render(url, done.task.seed, page_answer(headers, body), rid)
        done.links.requisites += [u for u in page.requisites if u not in done.links.requisites]
        done.failures += [Failure(u, reason, done.task.page) for u, reason in page.failures]
        if page.error:
            done.failures.append(Failure(url, page.error, done.task.page))
        with self.lock:
            self.skipped += [Failure(u, reason, done.task.page) for u, reason in page.skipped]
        done.fetched, done.browser = page.fetched, page.summary()

    # --- frontier (main thread) ------------------------------------------
    def admit(self, url: str, kind: str, depth: int, page: str, seed: str) -> None:
        if url in self.seen:
            return
        if len(url) > self.settings.max_url_length:
            self.seen.add(url)
            self.skipped.append(
                Failure(
                    url[:200] + "...",
                    f"URL longer than {self.settings.max_url_length} characters",
                    page,
                )
            )
            return
        parts = urlsplit(url)
        hostkey = f"{parts.scheme}://{parts.netloc}"
        if self.settings.obey_robots:
            rp = self.robots.get(hostkey)
            if rp is None:
                self.robots[hostkey] = _PENDING
                self.waiting[hostkey] = [(url, kind, depth, page, seed)]
                self._enqueue(_Task(hostkey + "/robots.txt", "robots", 0, page, seed))
                return
            if rp is _PENDING:
                self.waiting[hostkey].append((url, kind, depth, page, seed))
                return
            if not rp.can_fetch("strongroom", url):
                self.seen.add(url)
                self.failures.append(
                    Failure(
                        url,
                        "blocked by robots.txt (use --ignore-robots to capture it anyway)",
                        page,
                    )
                )
                return
        if kind == "page":
            host = parts.netloc.lower()
            n = self.pages_per_host.get(host, 0)
            if n >= self.settings.max_pages_per_host:
                self.seen.add(url)
                self.skipped.append(
                    Failure(
                        url,
                        f"max_pages_per_host ({self.settings.max_pages_per_host}) reached"
                        f" for {host}; possible crawler trap",
                        page,
                    )
                )
                self.trap_warned.add(host)
                return
            self.pages_per_host[host] = n + 1
        self.seen.add(url)
        self._enqueue(_Task(url, kind, depth, page, seed))

    def _enqueue(self, task: _Task) -> None:
        self.pending += 1
        self.tasks.put(task)

    def handle(self, d: _Done) -> None:
        t = d.task
        self.done += 1
        if t.kind == "robots":
            # An unreachable robots.txt is not itself a failure: the pages of that
            # host will fail (or succeed) on their own and say why.
            d.failures = []
        with self.lock:
            self.stats["failed"] += len(d.failures)
            ok = not d.failures and t.kind != "robots"
            if ok:
                self.stats["fetched"] += 1
        self.failures.extend(d.failures)
        self.seen.update(d.fetched)
        if d.final_url and d.final_url != t.url:
            self.seen.add(d.final_url)
        if t.kind == "robots":
            parts = urlsplit(t.url)
            hostkey = f"{parts.scheme}://{parts.netloc}"
            rp = d.robots or _allow_all()
            self.robots[hostkey] = rp
            for args in self.waiting.pop(hostkey, []):
                self.admit(*args)
            return
        if t.kind == "page":
            entry = self.pages.get(t.url)
            if entry is None:
                entry = self.pages[t.url] = {
                    "url": t.url,
                    "requisites": [],
                    "outlinks": [],
                    "depth": t.depth,
                }
                self.page_order.append(t.url)
            entry.update(
                final_url=d.final_url or t.url,
                status=d.status,
                title=d.title,
                record_id=d.record_id,
                outlinks=d.links.outlinks,
                browser=d.browser,
            )
        page = self.pages.get(t.page)
        if self.settings.page_requisites:
            for req in d.links.requisites:
                if page is not None and req not in page["requisites"]:
                    page["requisites"].append(req)
                self.admit(req, "req", t.depth, t.page, t.seed)
        if t.kind == "page" and t.depth < self.settings.depth:
            for out in d.links.outlinks:
                if in_scope(out, t.seed, self.settings.scope):
                    self.admit(out, "page", t.depth + 1, out, t.seed)

    # --- main loop --------------------------------------------------------
    def run(self, seeds: list[str]) -> str:
        workers = [
            threading.Thread(target=self.worker, name=f"capture-{i}", daemon=True)
            for i in range(self.settings.concurrency)
        ]
        for w in workers:
            w.start()
        try:
            for s in seeds:
                self.admit(s, "page", 0, s, s)
            while self.pending > 0:
                try:
                    d = self.results.get(timeout=0.2)
                except queue.Empty:
                    continue
                self.pending -= 1
                self.handle(d)
                if self.progress:
                    self.progress(self.done, self.done + self.pending, d.task.url)
            return "complete"
        except KeyboardInterrupt:
            return "interrupted"
        finally:
            self.stop.set()
            for _ in workers:
                self.tasks.put(None)
            if self.browser is not None:
                self.browser.close()

    def finish(self, status: str) -> None:
        """Write per-page metadata records, then close and publish the WARC."""
        with self.sink.lock:
            # Workers that finish after this point find the sink closed and drop
            # their record whole; nothing half-written can follow.
            for url in self.page_order:
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
                fields += [
                    ("skipped", f"{f.url} {f.reason}") for f in self.skipped if f.page == url
                ]
                data = format_warc_fields(fields)
                self.sink.write_metadata(url, data, p.get("record_id") or None)
            self.sink.close()


def _allow_all() -> RobotFileParser:
    rp = RobotFileParser()
    rp.allow_all = True
    return rp


def _parse_robots(status: int, body: bytes, headers: dict[str, str]) -> RobotFileParser:
    """robots.txt rules: 401/403 forbid all, other errors allow all (as crawlers do)."""
    rp = RobotFileParser()
    if status in (401, 403):
        rp.disallow_all = True
    elif 200 <= status < 300:
        from strongroom.capture.extract import decode_content

        text, _ = decode_content(body, headers.get("content-encoding", ""), 512 * 1024)
        rp.parse(text.decode("utf-8", "replace").splitlines())
    else:
        rp.allow_all = True
    return rp


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Any:
    """SIGTERM behaves like Ctrl-C (only possible from the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(_sig: int, _frm: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@contextlib.contextmanager
def _no_interrupts() -> Any:
    """Ignore Ctrl-C/SIGTERM while the last records and capture.json are written."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def _seed_dict(s: Seed) -> dict[str, Any]:
    return {
        "url": s.url,
        "title": s.title,
        "publisher": s.publisher,
        "published": s.published.isoformat() if s.published else None,
        "language": s.language,
    }


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
        if (
            p.scheme not in ("http", "https", "socks5", "socks5h", "socks4", "socks4a")
            or not p.hostname
        ):
            raise UsageError(
                f"--proxy: {_redact(options.proxy) or options.proxy!r} is not a proxy URL; use "
                "http://host:port or socks5h://host:port"
            )
    if options.browser if options.browser is not None else settings.browser:
        from strongroom.capture.screenshot import find_chromium

        find_chromium(options.chromium)  # exit 2 with install advice, before anything is made
    archive.ensure()
    # The ledger first: when it cannot be reached, nothing is captured (no folder).
    ledger = open_ledger(archive.root)
    capture_id = new_capture_id()
    folder = archive.capture_dir(capture_id)
    folder.mkdir(parents=True)
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    crawl = _Crawl(archive, collection, settings, options, folder, capture_id, ledger, progress)
    try:
        with _sigterm_as_interrupt():
            status = crawl.run([s.url for s in seeds])
        with _no_interrupts():
            crawl.finish(status)
            if options.post_process is not None and status == "complete":
                options.post_process(folder)
            ended = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            pages = [
                {
                    "url": crawl.pages[u]["url"],
                    "final_url": crawl.pages[u].get("final_url", u),
                    "status": crawl.pages[u].get("status", 0),
                    "title": crawl.pages[u].get("title", ""),
                    **(
                        {"browser": crawl.pages[u]["browser"]}
                        if crawl.pages[u].get("browser")
                        else {}
                    ),
                }
                for u in crawl.page_order
            ]
            warcs = [w.as_dict() for w in crawl.sink.published]
            c = collection
            doc = {
                "capture_id": capture_id,
                "collection": {
                    "id": c.id,
                    "title": c.title,
                    "description": c.description,
                    "curator": dataclasses.asdict(c.curator),
                    "access": c.access,
                    "embargo_until": c.embargo_until.isoformat() if c.embargo_until else None,
                    "designations": [d.as_dict() for d in c.designations],
                    # lets `bag` find manifests/ beside the collections/ folder
                    "path": str(c.path.absolute()) if c.path else None,
                },
                "seeds": [_seed_dict(s) for s in seeds],
                "settings": settings.as_dict() | {"proxy": _redact(options.proxy)},
                "software": SOFTWARE,
                "operator": crawl.operator,
                "started": started,
                "ended": ended,
                "status": status,
                "warcs": warcs,
                "stats": crawl.stats,
                "failures": [f.as_dict() for f in crawl.failures],
                "skipped": [f.as_dict() for f in crawl.skipped],
                "pages": pages,
                "depends_on_captures": sorted(crawl.depends_on),
                "browser": crawl.browser.version if crawl.browser else None,
            }
            atomic_write_text(
                folder / "capture.json", json.dumps(doc, indent=2, sort_keys=True) + "\n"
            )
            ledger.record_capture(
                capture_id,
                collection_id=c.id,
                started=started,
                ended=ended,
                seeds=[s.url for s in seeds],
                stats=crawl.stats,
                status=status,
            )
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
