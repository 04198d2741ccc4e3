"""Watch the live sources: re-check every seed and classify what happened to it.

For each seed the archive holds, the baseline is the page as recorded in the
seed's latest bag (read from its WARC files). The live page is fetched again,
politely, from one or more vantage points, and the seed gets exactly one status:

``ok``, ``edited``, ``redirect-home``, ``soft-404``, ``not-found``, ``gone``,
``blocked-451``, ``unreachable``, ``geo-blocked``.

Every result becomes a PREMIS-style ``watch`` event in the ledger
(``watch_results`` and ``events``) and in the custody log of the seed's latest
bag. The bag itself is only ever read.

Seeds are checked by a pool of worker threads (``concurrency``), because a
watch run is nearly all waiting on the network. Workers only fetch and
classify; the ledger and the custody logs are written by the calling thread,
one seed at a time and in seed order, so a run's records read the same
whatever the timing. The :class:`Frontier` hands a worker the next seed whose
host may be asked now (at most ``per_host`` seeds of one host at once, and the
collection's ``delay`` between requests), so a worker never sleeps for one
host while another host's seeds wait.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from strongroom.core.archive import Archive
from strongroom.core.collection import Collection, validate_url
from strongroom.core.ledger import Ledger, ledger_location, open_ledger, utcnow
from strongroom.core.round import Round
from strongroom.errors import UsageError
from strongroom.watch.baseline import BaselineCache, Target, targets
from strongroom.watch.classify import VantageResult, check_vantage, combine
from strongroom.watch.live import Client, HostClock
from strongroom.watch.recapture import recapture, settings_for
from strongroom.watch.results import WatchResult, is_news, previous, record
from strongroom.watch.statuses import EDITED, UNREACHABLE

DEFAULT_CONCURRENCY = 8
DEFAULT_PER_HOST = 2
MAX_CONCURRENCY = 64
BATCH = 64  # watch results recorded per ledger transaction, at most
WORKER_GRACE = 5.0  # seconds a run's end waits for the seeds in flight, at most
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h", "socks4")


@dataclass
class WatchRun:
    results: list[WatchResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def changed(self) -> list[WatchResult]:
        return [r for r in self.results if r.changed]


@dataclass
class _Job:
    """One seed to check, with the clients of its vantage points."""

    index: int
    target: Target
    clients: list[Client]
    threshold: float

    @property
    def host(self) -> str:
        return urlsplit(self.target.url).netloc

    @property
    def delay(self) -> float:
        return self.clients[0].delay if self.clients else 0.0


@dataclass
class Inspection:
    """What the workers learned about one seed; no ledger involved yet."""

    status: str
    http_status: int | None
    final_url: str | None
    similarity: float | None
    vantage: str
    evidence: dict[str, object]
    problems: list[str] = field(default_factory=list)


class Frontier:
    """Seeds waiting to be checked, handed out host by host.

    ``take`` returns the next seed whose host has fewer than ``per_host``
    seeds in flight and may be asked now by the politeness clock, and takes
    that first request's slot on the clock; when no host may be asked, it
    waits for the soonest. So a worker waits here, holding no seed, rather
    than sleeping inside one while other hosts' seeds are ready. Hosts are
    served in turn, so one large site cannot starve the others.
    """

    def __init__(self, jobs: Sequence[_Job], clock: HostClock, per_host: int) -> None:
        self._hosts: dict[str, deque[_Job]] = {}
        for job in jobs:
            self._hosts.setdefault(job.host, deque()).append(job)
        self._clock = clock
        self._per_host = per_host
        self._busy: dict[str, int] = dict.fromkeys(self._hosts, 0)
        self._cond = threading.Condition()
        self._closed = False

    def take(self) -> _Job | None:
        """The next seed to check, or None when every seed has been handed out."""
        with self._cond:
            while not self._closed:
                pending = [h for h, q in self._hosts.items() if q]
                if not pending:
                    return None
                soonest = None
                for host in pending:
                    if self._busy[host] >= self._per_host:
                        continue
                    job = self._hosts[host][0]
                    if self._clock.try_reserve(host, job.delay):
                        self._busy[host] += 1
                        # Rotate: this host goes to the back of the turn order.
                        q = self._hosts.pop(host)
                        self._hosts[host] = q
                        return q.popleft()
                    wait = self._clock.wait_for(host)
                    soonest = wait if soonest is None else min(soonest, wait)
                self._cond.wait(timeout=soonest)
            return None

    def done(self, job: _Job) -> None:
        with self._cond:
            self._busy[job.host] -= 1
            self._cond.notify_all()

    def close(self) -> None:
        """Hand out nothing more (Ctrl-C, an error in the recording thread)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def inspect(
    target: Target,
    clients: Sequence[Client],
    baseline_of: BaselineCache,
    threshold: float,
    *,
    reserved: bool = False,
) -> Inspection:
    """Check one seed from every vantage point (network and classification only)."""
    try:
        validate_url(target.url, "Seed-URL")
    except UsageError as exc:
        reason = f"not a URL that can be checked: {exc}"
        return Inspection(UNREACHABLE, None, None, None, "direct", {"reason": reason})
    baseline, baseline_error = baseline_of.page(target.bag_id, target.url)
    # The frontier took the politeness slot of the first vantage's first request.
    per = [
        check_vantage(c, target.url, baseline, threshold, reserved=(n == 0 and reserved))
        for n, c in enumerate(clients)
    ]
    merged = combine(per)
    evidence = dict(merged.evidence)
    if baseline_error:
        evidence["baseline_error"] = baseline_error
    return Inspection(
        merged.status,
        merged.http_status,
        merged.final_url,
        merged.similarity,
        merged.vantage,
        evidence,
        problems=_vantage_problems(per, target.url),
    )


def _vantage_problems(per: Sequence[VantageResult], url: str) -> list[str]:
    return [
        f"vantage {r.vantage} failed for {url}: {r.evidence['reason']}"
        for r in per
        if r.evidence.get("vantage_failed")
    ]


def conclude(ledger: Ledger, target: Target, found: Inspection) -> WatchResult:
    """The watch result of one seed: its inspection compared with its last watch."""
    prev = previous(ledger, target.url)
    return WatchResult(
        url=target.url,
        status=found.status,
        previous_status=prev["status"] if prev else None,
        http_status=found.http_status,
        final_url=found.final_url,
        similarity=found.similarity,
        vantage=found.vantage,
        evidence=dict(found.evidence),
        checked_at=utcnow(),
        bag_id=target.bag_id,
        collection_id=target.collection_id,
        changed=is_news(found.status, found.evidence, target.bag_id, prev),
    )


class _Clients:
    """One client per vantage point and politeness setting, shared by all workers."""

    def __init__(self, proxies: Sequence[str], timeout: float | None) -> None:
        self.proxies = proxies
        self.timeout = timeout
        self.clock = HostClock()
        self._made: dict[tuple[str | None, str, float, float], Client] = {}

    def for_target(
        self,
        archive: Archive,
        target: Target,
        collection: Collection | None,
        problems: list[str] | None = None,
    ) -> list[Client]:
        settings = settings_for(archive, target, collection, problems)
        to = self.timeout if self.timeout is not None else settings.timeout
        out = []
        for proxy in (None, *self.proxies):
            key = (proxy, settings.user_agent, to, settings.delay)
            if key not in self._made:
                self._made[key] = Client(
                    proxy=proxy,
                    user_agent=settings.user_agent,
                    timeout=to,
                    delay=settings.delay,
                    clock=self.clock,
                )
            out.append(self._made[key])
        return out

    def close(self) -> None:
        for c in self._made.values():
            c.close()


def _check_args(proxies: Sequence[str], concurrency: int, per_host: int) -> None:
    for p in proxies:
        if urlsplit(p).scheme not in PROXY_SCHEMES:
            raise UsageError(f"--proxy {p!r}: expected http://, https:// or socks5h:// URL")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"--concurrency {concurrency}: expected 1 to {MAX_CONCURRENCY}")
    if not 1 <= per_host <= MAX_CONCURRENCY:
        raise UsageError(f"--per-host {per_host}: expected 1 to {MAX_CONCURRENCY}")


def watch(
    archive: Archive,
    collection: Collection | None = None,
    *,
    proxies: Sequence[str] = (),
    timeout: float | None = None,
    do_recapture: bool = False,
    manifests_dir: Path | None = None,
    on_result: Callable[[WatchResult], None] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    per_host: int = DEFAULT_PER_HOST,
) -> WatchRun:
    """Check every seed live and record the results; see the module docstring."""
    from strongroom.core.fsutil import exclusive_lock

    _check_args(proxies, concurrency, per_host)
    archive.require()
    found = targets(archive, collection)
    run = WatchRun()
    if not found:
        return run
    threshold = collection.edit_threshold if collection else 0.0
    with exclusive_lock(archive.locks / "watch.lock") as taken:
        if not taken:
            raise UsageError("another watch is running on this archive; try again later")
        clients = _Clients(proxies, timeout)
        jobs = [
            _Job(i, t, clients.for_target(archive, t, collection, run.problems), threshold)
            for i, t in enumerate(found)
        ]
        # On a ledger shared by several nodes (PostgreSQL), each seed is claimed
        # before it is checked; alone on SQLite there is nobody to share with.
        shared = (
            Round(archive, "watch") if ledger_location(archive.root).dialect != "sqlite" else None
        )
        inspected = _inspect_all(archive, jobs, concurrency, per_host, clients, shared)
        # closing: on an error while recording, the workers stop (and the clients
        # close) before the ledger does; see the end of _inspect_all.
        with open_ledger(archive.root) as ledger, contextlib.closing(inspected):
            for batch in inspected:
                _record_batch(
                    archive, ledger, collection, manifests_dir, batch, do_recapture, run, on_result
                )
                if shared:  # recorded: no node takes these seeds again this round
                    shared.finish([job.target.url for job, _ in batch])
    return run


def _record_batch(
    archive: Archive,
    ledger: Ledger,
    collection: Collection | None,
    manifests_dir: Path | None,
    batch: list[tuple[_Job, Inspection]],
    do_recapture: bool,
    run: WatchRun,
    on_result: Callable[[WatchResult], None] | None,
) -> None:
    """Conclude, recapture where due, and record one batch of inspections."""
    results = []
    for job, inspection in batch:
        result = conclude(ledger, job.target, inspection)
        run.problems.extend(inspection.problems)
        if do_recapture:
            result = _maybe_recapture(archive, job.target, collection, manifests_dir, result, run)
        results.append(result)
    record(archive, ledger, results)
    run.results.extend(results)
    if on_result:
        for result in results:
            on_result(result)


def _maybe_recapture(
    archive: Archive,
    target: Target,
    collection: Collection | None,
    manifests_dir: Path | None,
    result: WatchResult,
    run: WatchRun,
) -> WatchResult:
    """Recapture an edited seed; the result, with the bag it made. A failed recapture
    never loses the watch result.

    Every edited seed is recaptured (not only new edits): its latest bag differs
    from the live page, so a new version is due. Takedowns are not recaptured:
    an error page must never become the baseline of a seed.
    """
    if not (result.bag_id and result.status == EDITED):
        return result
    try:
        made = recapture(archive, target, collection, manifests_dir)
    except Exception as exc:
        msg = getattr(exc, "message", None) or str(exc)
        result.evidence["recapture_error"] = msg
        run.problems.append(f"{target.url}: recapture failed: {msg}")
        return result
    return replace(result, recaptured_as=made)


def _inspect_all(
    archive: Archive,
    jobs: list[_Job],
    concurrency: int,
    per_host: int,
    clients: _Clients,
    shared: Round | None = None,
) -> Generator[list[tuple[_Job, Inspection]], None, None]:
    """Inspect every job on worker threads; yield them in job order, in batches.

    A batch is the next job in order plus every following one already done
    (at most ``BATCH``), so the recording thread commits once per batch while
    the workers go on fetching.
    """
    frontier = Frontier(jobs, clients.clock, per_host)
    baselines = BaselineCache(archive)
    done: queue.Queue[tuple[int, Inspection | BaseException | None]] = queue.Queue()

    def work() -> None:
        while (job := frontier.take()) is not None:
            outcome: Inspection | BaseException | None = None
            try:
                # Nodes sharing a ledger share the round: a seed another node
                # holds is left to it (None: nothing to record here).
                if shared is None or shared.claim(job.target.url):
                    outcome = inspect(
                        job.target, job.clients, baselines, job.threshold, reserved=True
                    )
            except BaseException as exc:  # handed to the recording thread, which re-raises
                outcome = exc
            finally:
                frontier.done(job)
            done.put((job.index, outcome))

    # Daemon threads: a worker stuck past the grace below cannot keep the
    # process alive (nothing a worker holds is written).
    workers = [
        threading.Thread(target=work, name=f"watch-{n}", daemon=True)
        for n in range(min(concurrency, len(jobs)))
    ]
    for w in workers:
        w.start()
    waiting: dict[int, Inspection | BaseException | None] = {}
    try:
        nxt = 0
        while nxt < len(jobs):
            while nxt not in waiting:
                index, outcome = done.get()
                waiting[index] = outcome
            while True:  # take whatever else is already done, without waiting
                try:
                    index, outcome = done.get_nowait()
                except queue.Empty:
                    break
                waiting[index] = outcome
            batch: list[tuple[_Job, Inspection]] = []
            while nxt in waiting and len(batch) < BATCH:
                outcome = waiting.pop(nxt)
                if isinstance(outcome, BaseException):
                    raise outcome
                if outcome is not None:
                    batch.append((jobs[nxt], outcome))
                nxt += 1
            yield batch
    finally:
        # However the run ends (done, an error while recording, Ctrl-C), no
        # worker goes on once watch returns: each finishes the seed in hand and
        # takes no other. Only then are the clients closed, so no session is
        # closed under a worker still using it, and no worker is left inside
        # C code (libxml2, zlib, a socket) while the interpreter shuts down.
        frontier.close()
        deadline = time.monotonic() + WORKER_GRACE
        for w in workers:
            w.join(timeout=max(0.0, deadline - time.monotonic()))
        if not any(w.is_alive() for w in workers):
            clients.close()
