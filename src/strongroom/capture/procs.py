"""Fetch processes: a static crawl's connections spread over processes, one per core.

Why processes: at 0 ms of latency a capture is CPU-bound (HTTP parsing,
hashing, gzip members), and threads share one interpreter lock. Four threads
used one core and made each request dearer (0.42 ms of CPU against 0.27 ms
for one thread), while four wget processes used both cores. So a static crawl
of more than one page with more than one connection forks fetch processes,
each fetching with its share of the connections and writing its own WARC files
(``<capture id>-pN-NNNNN.warc.gz``), as Browsertrix's workers each write their
own. The frontier (what to fetch, scope, robots, host turns, limits) stays in
the main process, which hands out tasks, books results and writes the per-page
metadata records; every exchange is written by the process that fetched it.

- Dedup within the capture is the same as with threads: each process tells
  the main one the payloads it wrote, and every task a process is handed
  carries what the others wrote since. Two identical payloads fetched at the
  same moment by two processes are both stored whole (never a wrong revisit).
- Interrupts: Ctrl-C reaches the whole process group; fetch processes ignore
  it, and the main process tells them to stop (SIGTERM, which they take as a
  stop request, so a record is never cut), then to close and publish their WARCs.
- A fetch process that dies (killed, out of memory) loses the records of the
  WARC it was writing, so the capture cannot be whole: it ends as a full disk
  does (exit 2, the capture folder removed unless the ledger already indexes
  one of its WARCs). If the main process dies, Linux tells each fetch process
  to stop, and it leaves publishing nothing, as a killed threaded capture does.

Processes are forked, not spawned: a spawned one would import strongroom
again (tens of milliseconds each, on every capture). They are forked before
the crawl starts any thread of its own, never use the parent's ledger
connection, and leave with ``os._exit`` so that nothing inherited is flushed
or closed twice.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import select
import signal
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from strongroom.capture.frontier import Done, Frontier, Task
from strongroom.capture.workers import Recorder, Worker
from strongroom.errors import UsageError
from strongroom.warc.write import WarcSink, WarcStats

PROGRESS_EVERY = 0.2  # seconds the main process waits for a result before looking again
_LEN = struct.Struct("!I")
PIPELINE = 4  # tasks in hand per connection when there is no --delay
BATCH = 4  # results a fetch process may hold back to send them in one message
MAX_MESSAGE = 1 << 30  # a frame longer than this is not one of ours: the peer is broken


def cpus() -> int:
    """Cores this process may run on (its affinity mask, which containers narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def may_fork() -> bool:
    """Whether fetch processes may be forked from here.

    Only from the main thread (which alone can take Ctrl-C), and only while no
    other thread runs but rich's progress-bar refresher: a forked process keeps
    every lock another thread held at that instant, and a library caller's
    threads (watch's inspections, say) may hold one a fetch needs (OpenSSL's,
    the resolver's). The refresher only ever holds the console's, which a fetch
    process never touches. Otherwise the crawl uses threads.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    return all(type(t).__name__ == "_RefreshThread" for t in others)


def plan(concurrency: int, cores: int) -> list[int]:
    """Connections per fetch process: one process per core, at most one per connection.

    An empty list means no fetch processes (one core, or one connection): the
    crawl's threads are then as fast and cost no forks.
    """
    n = min(concurrency, cores)
    if n < 2:
        return []
    return [concurrency // n + (1 if i < concurrency % n else 0) for i in range(n)]


class Channel:
    """Length-prefixed pickles over one end of a socket pair (either process's end).

    Why not multiprocessing.connection: importing it costs every capture a few
    milliseconds, and this is all the crawl needs. Both ends are processes of
    one capture run, so the pickles are trusted as much as the code itself.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()  # a fetch process's threads send on one channel

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, obj: Any) -> None:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        with self.lock:
            self.sock.sendall(_LEN.pack(len(data)) + data)

    def recv(self) -> Any:
        """The next message; EOFError when the other process has gone."""
        (size,) = _LEN.unpack(self._exactly(_LEN.size))
        if size > MAX_MESSAGE:
            raise EOFError(f"a message of {size} bytes")
        return pickle.loads(self._exactly(size))

    def _exactly(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf), socket.MSG_WAITALL)
            except ConnectionError:
                chunk = b""
            if not chunk:
                raise EOFError("the other process has gone")
            buf += chunk
        return bytes(buf)

    def close(self) -> None:
        self.sock.close()


class _Child:
    """The main process's view of one fetch process."""

    def __init__(self, index: int, pid: int, chan: Channel, slots: int) -> None:
        self.index, self.pid, self.chan, self.slots = index, pid, chan, slots
        self.inflight: dict[int, Task] = {}  # sequence number -> task handed over
        self.outbox: list[tuple[str, tuple[str, str, str]]] = []  # others' new payloads
        self.closed: dict[str, Any] | None = None  # its final report
        self.alive = True


class FetchPool:
    """Fetch processes of one crawl: start, drive the frontier with them, close."""

    def __init__(
        self,
        make_worker: Callable[[Recorder], Worker],
        new_sink: Callable[[int], WarcSink],
        capture_id: str,
        slots: list[int],
        on_rows: Callable[[list[tuple[Any, ...]]], None],
    ) -> None:
        self.make_worker, self.new_sink, self.capture_id = make_worker, new_sink, capture_id
        self.slots, self.on_rows = slots, on_rows
        self.children: list[_Child] = []
        self.failed: UsageError | None = None  # a fetch process's full or read-only disk
        self.died: list[str] = []  # why fetch processes ended unexpectedly
        self.stats: dict[str, int] = {"deduplicated": 0, "truncated": 0, "bytes": 0}
        self.published: list[WarcStats] = []
        self._seq = 0
        self.depth = 1  # tasks handed to each connection at once (see drive)

    # --- start ------------------------------------------------------------
    def start(self) -> None:
        """Fork one fetch process per entry of ``slots``."""
        parent = os.getpid()
        for i, n in enumerate(self.slots, start=1):
            ours, theirs = socket.socketpair()
            pid = os.fork()
            if pid == 0:  # the fetch process
                code = 70
                try:
                    ours.close()
                    for c in self.children:  # other processes' pipes are not ours
                        c.chan.close()
                    code = self._child(i, n, Channel(theirs), parent)
                finally:
                    os._exit(code)
            theirs.close()
            self.children.append(_Child(i, pid, Channel(ours), n))

    def _child(self, index: int, slots: int, chan: Channel, parent: int) -> int:
        """A fetch process's life: tasks in, results out, until told to close."""
        stop = threading.Event()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process decides
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        _stop_with(parent)
        sink = self.new_sink(index)
        recorder = Recorder(sink, self.capture_id, lambda _digest: None)
        worker = self.make_worker(recorder)
        worker.stop = stop
        side = _FetchSide(chan, recorder, sink)
        try:
            if slots == 1:
                side.serve_inline(worker)
            else:
                side.serve_threads(worker, slots)
            return side.close()
        except (EOFError, OSError):
            return 0  # the main process has gone: publish nothing, as a killed capture

    # --- drive ------------------------------------------------------------
    def drive(
        self,
        f: Frontier,
        progress: Callable[[int, int, str], None] | None,
        critical: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
    ) -> None:
        """Hand tasks out in their host's turn and book results until all are done.

        ``critical`` guards each exchange on a pipe: an interrupt that cut a
        message in half would leave the pipe unreadable for the closing.
        """
        poller = select.poll()
        by_fd = {c.chan.fileno(): c for c in self.children}
        for fd in by_fd:
            poller.register(fd, select.POLLIN)
        # Without --delay each connection gets its next task before it has finished
        # the one in hand, so it never waits for this process to hand it one. With
        # a delay, a task handed over books its host's turn, so one at a time.
        self.depth = 1 if f.turns.delay > 0 else PIPELINE
        while f.pending > 0 and self.failed is None and not self.died:
            now = time.monotonic()
            with critical():
                self._hand_out(f, now)
            free = self._least_busy() is not None
            wait = f.turns.wait_time(now) if free else None
            timeout = PROGRESS_EVERY if wait is None else min(max(wait, 0.001), PROGRESS_EVERY)
            for fd, _ in poller.poll(timeout * 1000):
                with critical():
                    results = self._receive(by_fd[fd])
                    if results is None:
                        poller.unregister(fd)
                        continue
                    for d in results:
                        if f.handle(d) and progress:
                            progress(f.done, f.done + f.pending, d.task.origin)

    def _least_busy(self) -> _Child | None:
        best, most = None, 0
        for c in self.children:
            free = c.slots * self.depth - len(c.inflight)
            if c.alive and free > most:
                best, most = c, free
        return best

    def _hand_out(self, f: Frontier, now: float) -> None:
        """Every task whose turn has come, to the least busy fetch processes, in one
        message per process: a message costs both processes a wake-up."""
        batches: dict[int, list[tuple[int, Task]]] = {}
        while (c := self._least_busy()) is not None and (task := f.turns.take(now)):
            self._seq += 1
            c.inflight[self._seq] = task
            batches.setdefault(c.index, []).append((self._seq, task))
        for c in self.children:
            if c.index in batches:
                news, c.outbox = c.outbox, []
                try:
                    c.chan.send(("tasks", batches[c.index], news))
                except OSError:
                    self._lost(c)

    def _receive(self, c: _Child) -> list[Done] | None:
        """Book one message of ``c``; its results, or None when it has gone."""
        try:
            msg = c.chan.recv()
        except EOFError:
            self._lost(c)
            return None
        _, results, fresh, rows, failed = msg
        for seq, _ in results:
            c.inflight.pop(seq, None)
        if fresh:
            for other in self.children:
                if other is not c:
                    other.outbox += fresh
        if rows:
            self.on_rows(rows)
        if failed and self.failed is None:
            self.failed = UsageError(failed)
        return [d for _, d in results]

    def _lost(self, c: _Child) -> None:
        """A fetch process that ended on its own: what it had in hand failed."""
        if not c.alive:
            return
        c.alive = False
        status = _reap(c.pid)
        self.died.append(f"fetch process {c.index} ended unexpectedly ({status})")
        c.inflight.clear()

    def problem(self) -> UsageError | None:
        """Why the capture cannot be published whole: a full disk, or a fetch process
        that died with records it had not published (exit 2, as a full disk)."""
        if self.failed is not None:
            return self.failed
        if self.died:
            return UsageError(
                f"{'; '.join(self.died)}, losing the records it had not yet published; "
                "capture again"
            )
        return None

    # --- stop and close ---------------------------------------------------
    def stop(self) -> None:
        """Ask every fetch process to stop starting or reading anything (Ctrl-C)."""
        for c in self.children:
            if c.alive:
                with contextlib.suppress(OSError):
                    os.kill(c.pid, signal.SIGTERM)

    def close(self) -> None:
        """Have every fetch process publish its WARCs; gather their figures."""
        for c in self.children:
            if c.alive:
                with contextlib.suppress(OSError):
                    c.chan.send(("close",))
        for c in self.children:
            while c.alive and c.closed is None:
                try:
                    msg = c.chan.recv()
                except EOFError:
                    self._lost(c)
                    break
                if msg[0] == "closed":
                    c.closed = msg[1]
                else:
                    self._receive_late(c, msg)
            if c.closed is not None:
                self._gather(c.closed)
                c.alive = False
                _reap(c.pid)
            c.chan.close()

    def _receive_late(self, c: _Child, msg: tuple[Any, ...]) -> None:
        """A result that came after the crawl ended: its records stay; only rows count."""
        _, results, _fresh, rows, failed = msg
        for seq, _ in results:
            c.inflight.pop(seq, None)
        if rows:
            self.on_rows(rows)
        if failed and self.failed is None:
            self.failed = UsageError(failed)

    def _gather(self, report: dict[str, Any]) -> None:
        for k, v in report["stats"].items():
            self.stats[k] = self.stats.get(k, 0) + v
        self.published += report["published"]
        if report["rows"]:
            self.on_rows(report["rows"])
        if report["failed"] and self.failed is None:
            self.failed = UsageError(report["failed"])


def _stop_with(parent: int) -> None:
    """Have Linux send this fetch process a stop request (SIGTERM) when the main one
    dies, so that a fetch in progress (a slow download) ends now, not at its limit."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the closed pipe ends it after its fetch
        return
    if os.getppid() != parent:  # it died before we asked
        os.kill(os.getpid(), signal.SIGTERM)


def _reap(pid: int, grace: float = 2.0) -> str:
    """Wait for a fetch process that has ended or is ending (killed after ``grace``
    seconds: one whose pipe broke but that lives on is no use); how it ended."""
    deadline = time.monotonic() + grace
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                break
            time.sleep(0.01)
    except ChildProcessError:
        return "already reaped"
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit status {os.WEXITSTATUS(status)}"


class _FetchSide:
    """Inside a fetch process: run tasks, report results, publish at the end."""

    def __init__(self, chan: Channel, recorder: Recorder, sink: WarcSink) -> None:
        self.chan, self.recorder, self.sink = chan, recorder, sink
        self.rows: list[tuple[Any, ...]] = []  # payload rows of WARCs published since last sent
        recorder.fresh = []
        sink.on_publish(lambda name: self.rows.extend(recorder.unindexed.pop(name, [])))

    def _report(self, results: list[tuple[int, Done]]) -> None:
        with self.recorder.lock:  # the recorder's threads add to fresh and rows under it
            fresh, self.recorder.fresh = self.recorder.fresh, []
            rows, self.rows = self.rows, []
        self.chan.send(("done", results, fresh, rows, _failed(self.sink)))

    def _learn(self, news: list[tuple[str, tuple[str, str, str]]]) -> None:
        if news:
            with self.recorder.lock:
                for digest, where in news:
                    self.recorder.known.setdefault(digest, where)

    def serve_inline(self, worker: Worker) -> None:
        """One connection: each task fetched on this thread, as a -c 1 crawl is."""
        session = worker.session()
        todo: deque[tuple[int, Task]] = deque()
        out: list[tuple[int, Done]] = []
        try:
            while True:
                if not todo:
                    msg = self.chan.recv()
                    if msg[0] == "close":
                        return
                    todo.extend(msg[1])
                    self._learn(msg[2])
                    continue
                seq, task = todo.popleft()
                # interrupted: start nothing new
                d = Done(task) if worker.stop.is_set() else worker.run_task(session, task)
                out.append((seq, d))
                # Results wait for company, unless the frontier needs them to go on
                # (a page's links, robots rules, a redirect, a retry) or nothing is left.
                if not todo or task.kind != "req" or d.hop or len(out) >= BATCH:
                    self._report(out)
                    out = []
        finally:
            session.close()

    def serve_threads(self, worker: Worker, slots: int) -> None:
        """Several connections: worker threads fed from this process's pipe."""
        tasks: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        results = _PipeResults(self)
        threads = [
            threading.Thread(target=worker.loop, args=(tasks, results), daemon=True)
            for _ in range(slots)
        ]
        for t in threads:
            t.start()
        try:
            while True:
                msg = self.chan.recv()
                if msg[0] == "close":
                    break
                self._learn(msg[2])
                for seq, task in msg[1]:
                    results.seqs[id(task)] = seq
                    tasks.put(task)
        finally:
            for _ in threads:
                tasks.put(None)
        # Told to close (an EOFError skips this: the main process is gone, and a
        # thread still in a fetch must not keep this process alive for it).
        for t in threads:
            t.join()

    def close(self) -> int:
        """Publish this process's last WARC and send the main process its figures."""
        with contextlib.suppress(UsageError):  # a full disk: sink.failed says so
            self.sink.close()
        with self.recorder.lock:
            rows, self.rows = self.rows, []
        self.chan.send(
            (
                "closed",
                {
                    "stats": dict(self.recorder.stats),
                    "published": self.sink.published,
                    "rows": rows,
                    "failed": _failed(self.sink),
                },
            )
        )
        return 0


class _PipeResults:
    """A fetch process's worker threads put their results here: each goes up the pipe."""

    def __init__(self, side: _FetchSide) -> None:
        self.side = side
        self.seqs: dict[int, int] = {}  # id(task) -> its sequence number

    def put(self, done: Done, /) -> None:
        self.side._report([(self.seqs.pop(id(done.task)), done)])


def _failed(sink: WarcSink) -> str:
    """Why the sink refuses writes (a full or read-only disk), or ``""``."""
    return sink.failed.message if sink.failed is not None else ""
