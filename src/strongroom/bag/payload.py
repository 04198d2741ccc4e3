"""The payload of a bag: which capture files go in, and the one pass over each.

Every payload file is read exactly once, in 1 MiB blocks. Each block is fed
to every hash algorithm, written to the bag when a copy is needed, and, for
WARCs, gunzipped strictly (every member's CRC and length) and framed record
by record by warc.read's strict framer, so a truncated or invalid WARC is
refused before anything is published. Where capture and bag share a file
system the payload is a hard link (no copy at all). WARCs and large files
are processed two at a time on threads; the last file left spreads its
algorithms over both cores. Small files (under 1 MiB) go in batches to forked
worker processes, one per core, since per-file Python work holds the GIL.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strongroom.core.fsutil import TMP_PREFIX
from strongroom.errors import UsageError
from strongroom.warc.read import (
    FramingError,
    NotWarcData,
    TruncatedData,
    WarcSource,
    frame_records,
)

BLOCK = 1024 * 1024  # long GIL-free hash/zlib calls, yet still in cache for the 2nd algorithm

# Called with (bytes done, bytes in total) as payload is hashed, from worker threads.
ProgressFn = Callable[[int, int], None]


@dataclass
class WarcStats:
    """What the strict WARC pass learned about one file (for warcs.csv, PREMIS)."""

    records: int = 0
    responses: int = 0
    first_date: str = ""
    last_date: str = ""
    target_uris: set[str] = field(default_factory=set)


@dataclass(slots=True)
class PayloadFile:
    """One payload file: where it came from, its bag path and its digests.

    ``source`` is a plain string, not a Path: 10,000 Path objects cost more
    time to build and join than the files take to hash (measured).
    """

    source: str
    rel: str  # relative to data/, e.g. "warc/x.warc.gz"
    is_warc: bool
    size: int = 0
    digests: dict[str, str] = field(default_factory=dict)
    warc: WarcStats | None = None
    linked: bool = False


def plan_payload(capture_dir: Path) -> list[PayloadFile]:
    """The files to bag: top-level ``*.warc.gz`` and everything under ``derivatives/``."""
    files: list[PayloadFile] = []
    for p in sorted(capture_dir.iterdir()):
        if p.name.startswith(TMP_PREFIX) or not p.name.endswith((".warc.gz", ".warc")):
            continue
        if p.is_symlink() or not p.is_file():
            raise UsageError(f"{p}: not a regular file (symlinks are refused)")
        files.append(PayloadFile(str(p), f"warc/{p.name}", True, p.stat().st_size))
    if not files:
        raise UsageError(f"capture {capture_dir.name} is empty: it has no WARC files")
    deriv = capture_dir / "derivatives"
    if deriv.is_symlink():
        raise UsageError(f"{deriv}: is a symlink; refusing to follow it")
    if deriv.is_dir():
        _walk_derivatives(str(deriv), "derivatives/", files)
    return files


def _walk_derivatives(folder: str, prefix: str, out: list[PayloadFile]) -> None:
    """Regular files below ``folder``, sorted; symlinks and special files refused.

    os.scandir's entries carry the file type, so 10,000 files cost no extra stat.
    """
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        if e.name.startswith(TMP_PREFIX):
            continue
        if e.is_symlink():
            raise UsageError(f"{e.path}: symlinks are refused")
        if e.is_dir(follow_symlinks=False):
            _walk_derivatives(e.path, f"{prefix}{e.name}/", out)
        elif e.is_file(follow_symlinks=False):
            size = e.stat(follow_symlinks=False).st_size  # the planned size; hashing counts
            out.append(PayloadFile(e.path, prefix + e.name, False, size))
        else:
            raise UsageError(f"{e.path}: not a regular file (symlinks are refused)")


# --- the one pass over each payload file ----------------------------------------
class _OnePass:
    """Reads one file once: hashes every block, copies it if asked, and checks WARCs.

    Each block goes to every hash algorithm on the helper threads (the
    order of blocks per hash object is kept by waiting for the previous block's
    updates, which ran while this block was read) and is written to the bag when
    a copy is needed. A WARC's blocks are pulled by warc.read's strict framer
    (the one import uses): it gunzips them (CRC and length of every member
    checked by zlib, output bounded) and frames every record, passing over the
    content without copying it.
    """

    def __init__(
        self,
        src: str,
        dest: str | None,
        algorithms: Sequence[str],
        helpers: ThreadPoolExecutor,
        progress: Callable[[int], None] | None,
        warc: WarcStats | None,
        work: _Work,
    ) -> None:
        self.src = src
        self.fh = open(src, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        self.out = open(dest, "xb") if dest is not None else None  # noqa: SIM115
        self.hashers = [hashlib.new(a) for a in algorithms]
        self.helpers = helpers
        self.progress = progress
        self.work = work
        self.bufs = _thread_buffers()
        self.turn = 0
        self.pending: list[Future[None]] = []
        self.size = 0
        self.name = os.path.basename(src)
        self.warc = warc

    def _wait(self) -> None:
        for f in self.pending:
            f.result()
        self.pending = []

    def run(self) -> dict[str, str]:
        """Read the whole file; return {algorithm: hex digest}."""
        if self.warc is not None:
            self._frame(self.warc)
        while self._block():  # the rest (all of it when not a WARC)
            pass
        if self.out is not None:
            self.out.flush()  # made durable with the whole bag (fsutil.durable_tree)
        return {h.name: h.hexdigest() for h in self.hashers}

    def _block(self) -> memoryview:
        """Read, hash and copy the next block; an empty view at the end of the file.

        The view is of a reused buffer: it is valid until the call after next.
        """
        if self.work.abort.is_set():
            raise _Aborted()
        buf = self.bufs[self.turn]
        self.turn ^= 1
        n = self.fh.readinto(buf)
        # The previous block's hashing ran while we read; it must finish
        # before the same hash objects take the next block.
        self._wait()
        view = memoryview(buf)[:n]
        if not n:
            return view
        if len(self.hashers) > 1 and self.work.remaining <= 1:
            # The last file in flight: spread its algorithms over the
            # cores (hashlib releases the GIL) so the second core is not idle.
            self.pending = [self.helpers.submit(h.update, view) for h in self.hashers[1:]]
            self.hashers[0].update(view)
        else:
            # Other files keep the other core busy; hashing here, block by
            # block while it is in this core's cache, costs least CPU.
            for h in self.hashers:
                h.update(view)
        if self.out is not None:
            self.out.write(view)
        self.size += n
        if self.progress:
            self.progress(n)  # an increment; hash_payload turns it into a total
        return view

    def _frame(self, stats: WarcStats) -> None:
        """Frame every record of the WARC as its blocks are read (see warc.read)."""
        source = WarcSource(None, None, self.src.endswith(".gz"), blocks=self._block)
        try:
            for rec in frame_records(source):
                f = rec.fields
                stats.records += 1
                if f["warc-type"] == "response":
                    stats.responses += 1
                date = f["warc-date"]
                if date:
                    stats.first_date = min(stats.first_date or date, date)
                    stats.last_date = max(stats.last_date, date)
                uri = f.get("warc-target-uri")
                if uri:
                    stats.target_uris.add(uri)
        except NotWarcData as exc:
            what = "empty WARC file" if self.size == 0 else f"invalid WARC ({exc})"
            raise UsageError(f"{self.name}: {what}") from None
        except FramingError as exc:
            kind = "truncated" if isinstance(exc, TruncatedData) else "invalid"
            where = source.offset(source.pos)
            raise UsageError(f"{self.name}: {kind} WARC (at offset {where}: {exc})") from None

    def close(self) -> None:
        # Already failing or done: the first error is the one reported.
        with contextlib.suppress(Exception):
            self._wait()
        self.fh.close()
        if self.out is not None:
            self.out.close()


_local = threading.local()


def _thread_buffers() -> list[bytearray]:
    """Two read buffers per worker thread, reused for every file.

    Allocating (and zero-filling) fresh buffers for each of a thousand
    small files cost more than hashing them, and happens under the GIL.
    """
    bufs = getattr(_local, "bufs", None)
    if bufs is None or len(bufs[0]) != BLOCK:
        bufs = _local.bufs = [bytearray(BLOCK), bytearray(BLOCK)]
    return bufs


class _Aborted(Exception):
    """Another worker failed; stop early."""


class _Work:
    """State shared by the file workers of one bag."""

    def __init__(self, files: int) -> None:
        self.abort = threading.Event()
        self.remaining = files  # files not finished yet (queued or in flight)
        self.lock = threading.Lock()

    def done(self) -> None:
        with self.lock:
            self.remaining -= 1


def _link_or_none(src: str, dest: str) -> bool:
    """Hard-link ``src`` at ``dest``; False when the file systems (or policy) forbid it."""
    try:
        os.link(src, dest, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EACCES, errno.ENOTSUP):
            return False
        raise
    return True


def _process_file(
    pf: PayloadFile,
    data_dir: Path,
    algorithms: Sequence[str],
    helpers: ThreadPoolExecutor,
    progress: Callable[[int], None] | None,
    work: _Work,
    allow_link: bool,
) -> PayloadFile:
    """Link or copy one payload file into the bag, hashing (and checking) it once."""
    dest = os.path.join(data_dir, pf.rel)
    pf.linked = allow_link and _link_or_none(pf.source, dest)
    pf.warc = WarcStats() if pf.is_warc else None
    reader = _OnePass(
        pf.source, None if pf.linked else dest, algorithms, helpers, progress, pf.warc, work
    )
    try:
        pf.digests = reader.run()
        pf.size = reader.size
    finally:
        reader.close()
        work.done()
    return pf


def hash_payload(
    files: list[PayloadFile],
    data_dir: Path,
    algorithms: Sequence[str],
    *,
    progress: ProgressFn | None = None,
    allow_link: bool = True,
    workers: int = 2,
) -> list[PayloadFile]:
    """Bring every payload file into ``data_dir``, hashing each byte once.

    WARCs and files of 1 MiB or more go to two file threads, largest first, so
    the big WARCs of a capture are hashed in parallel; when only one file is
    left, its algorithms run on separate threads. Small files go in batches to
    worker processes (see :func:`_small_files`).
    """
    total = sum(f.size for f in files)  # as planned (hashing measures what it reads)
    done = 0
    lock = threading.Lock()

    def advance(n: int) -> None:
        nonlocal done
        with lock:
            done += n
            if progress is not None:
                progress(done, total)

    small = [f for f in files if not f.is_warc and f.size < SMALL_FILE]
    big = sorted((f for f in files if f.is_warc or f.size >= SMALL_FILE), key=lambda f: -f.size)
    for parent in sorted({os.path.dirname(f.rel) for f in files}):
        os.makedirs(os.path.join(data_dir, parent), exist_ok=True)
    if small:
        _small_files(small, data_dir, algorithms, advance, allow_link, workers)
    if big:
        _big_files(big, data_dir, algorithms, advance, allow_link, workers)
    return files


def _big_files(
    files: list[PayloadFile],
    data_dir: Path,
    algorithms: Sequence[str],
    advance: Callable[[int], None],
    allow_link: bool,
    workers: int,
) -> None:
    """Large files and WARCs on ``workers`` threads, in the given order."""
    work = _Work(len(files))
    helpers = max(1, len(algorithms) - 1)
    with (
        ThreadPoolExecutor(max_workers=helpers, thread_name_prefix="hash") as hp,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="file") as fp,
    ):
        futures = [
            fp.submit(_process_file, f, data_dir, algorithms, hp, advance, work, allow_link)
            for f in files
        ]
        try:
            for fut in futures:
                fut.result()
        except BaseException:
            work.abort.set()
            for fut in futures:
                fut.cancel()
            # Report the first real error, not the _Aborted of the others.
            for fut in futures:
                if fut.done() and not fut.cancelled():
                    exc = fut.exception()
                    if exc is not None and not isinstance(exc, _Aborted):
                        raise exc from None
            raise


# --- small files: batches in worker processes ------------------------------------
SMALL_FILE = 1024 * 1024  # below this (and not a WARC) a file is read in one call
PROCESS_MIN_FILES = 1000  # from this many small files, forked workers pay for their start
BATCH_FILES = 256
_NOFOLLOW = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)

# One small file's job: (source path, destination path); its result:
# (size, {algorithm: hex digest}, linked) or the OSError that stopped it.
_SmallJob = tuple[str, str]
_SmallResult = tuple[int, dict[str, str], bool] | OSError


def _small_files(
    files: list[PayloadFile],
    data_dir: Path,
    algorithms: Sequence[str],
    advance: Callable[[int], None],
    allow_link: bool,
    workers: int,
) -> None:
    """Link (or copy) and hash small files in batches, on forked worker processes.

    Per small file, linking, opening and reading cost more Python than the
    hashing, and that part holds the GIL: on threads it ran on one core, with a
    thread handoff per file (measured: 1.8x bagit.py's time on 10,000 x 4 KiB).
    Forked workers run it on every core; each batch comes back as plain tuples
    (no per-file objects cross the pipe). Few files run inline.
    """
    algos = list(algorithms)
    base = str(data_dir)
    jobs = [(f.source, os.path.join(base, f.rel)) for f in files]
    per = max(16, min(BATCH_FILES, len(jobs) // (workers * 8) or 1))
    batches = [jobs[i : i + per] for i in range(0, len(jobs), per)]
    if workers < 2 or len(jobs) < PROCESS_MIN_FILES or not hasattr(os, "fork"):
        results: Any = ((i, _link_and_hash(b, algos, allow_link)) for i, b in enumerate(batches))
    else:
        results = _forked(batches, algos, allow_link, workers)
    with contextlib.closing(results):  # stops the children on an error
        for i, got in results:
            part = files[i * per : (i + 1) * per]
            _take_batch(part, got)
            advance(sum(f.size for f in part))


def _forked(
    batches: list[list[_SmallJob]], algorithms: list[str], allow_link: bool, workers: int
) -> Any:
    """Yield (batch index, results) from ``workers`` forked children, as they come.

    Plain fork and pipes rather than a ProcessPoolExecutor: its workers wait on
    a queue whose write end they inherit, so if this process were SIGKILLed
    they would wait forever, holding the archive's publishing lock (an
    inherited descriptor). Our children have a fixed share of the batches and
    exit when it is done, or when we are gone (a write to the pipe fails).
    """
    import pickle
    import selectors
    import struct

    children: dict[int, int] = {}  # read end of the pipe -> pid
    sel = selectors.DefaultSelector()
    try:
        for k in range(workers):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: never returns
                os.close(r)
                _child(w, batches[k::workers], range(k, len(batches), workers), algorithms,
                       allow_link)  # fmt: skip
            os.close(w)
            children[r] = pid
            sel.register(r, selectors.EVENT_READ, bytearray())
        while sel.get_map():
            for key, _events in sel.select():
                buf: bytearray = key.data
                chunk = os.read(key.fd, 1 << 20)
                if not chunk:
                    sel.unregister(key.fd)
                    os.close(key.fd)
                    _reap(children.pop(key.fd), bool(buf))
                    continue
                buf += chunk
                while len(buf) >= 4 and len(buf) >= 4 + (n := struct.unpack("!I", buf[:4])[0]):
                    frame = bytes(buf[4 : 4 + n])
                    del buf[: 4 + n]
                    yield pickle.loads(frame)  # our own child's bytes
    finally:
        for fd, pid in children.items():  # stopped early (an error, Ctrl-C): stop them
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)
            os.close(fd)
        sel.close()


def _child(
    w: int,
    batches: list[list[_SmallJob]],
    numbers: range,
    algorithms: list[str],
    allow_link: bool,
) -> None:
    """A forked worker: each batch's results, length-prefixed pickles, then exit."""
    import pickle
    import struct

    code = 1
    try:
        for i, batch in zip(numbers, batches, strict=True):
            frame = pickle.dumps((i, _link_and_hash(batch, algorithms, allow_link)))
            view = memoryview(struct.pack("!I", len(frame)) + frame)
            while view:
                view = view[os.write(w, view) :]
        code = 0
    finally:
        os._exit(code)  # never back into the parent's code (no atexit, no flushes)


def _reap(pid: int, partial: bool) -> None:
    """Wait for a finished child; a child that failed is an error (never ignored)."""
    _pid, status = os.waitpid(pid, 0)
    if partial or os.waitstatus_to_exitcode(status) != 0:
        raise UsageError(
            f"a hashing worker process failed (exit {os.waitstatus_to_exitcode(status)}); "
            "nothing was published; run the bag command again"
        )


def _take_batch(files: list[PayloadFile], results: list[_SmallResult]) -> None:
    """Store a batch's results on its files; raise the first error (nothing is kept)."""
    for pf, result in zip(files, results):  # noqa: B905 - a batch stops at its error
        if isinstance(result, OSError):
            raise result
        pf.size, pf.digests, pf.linked = result
        pf.warc = None
    if len(results) != len(files):
        raise UsageError(f"a hashing worker answered {len(results)} of {len(files)} files")


def _link_and_hash(
    jobs: list[_SmallJob], algorithms: list[str], allow_link: bool
) -> list[_SmallResult]:
    """One batch (in a worker process): each file hard-linked or copied, and hashed.

    Linked files are hashed through the new link (the same inode); copies are
    hashed from what was read, in the same pass that writes them.
    """
    out: list[_SmallResult] = []
    for src, dest in jobs:
        try:
            out.append(_one_small(src, dest, algorithms, allow_link))
        except OSError as exc:
            out.append(exc)
            break  # the bag fails on the first error: do no more
    return out


def _one_small(
    src: str, dest: str, algorithms: list[str], allow_link: bool
) -> tuple[int, dict[str, str], bool]:
    linked = allow_link and _link_or_none(src, dest)
    fd = os.open(src, _NOFOLLOW)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # a FIFO or device swapped in
            raise OSError(errno.EINVAL, "not a regular file", src)
        hashes = [hashlib.new(a) for a in algorithms]
        size = 0
        out = None if linked else os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        # Ask for the size we know (+1 to see the end): a read of 1 MiB would
        # allocate (mmap) and free 1 MiB per file, which cost 3x the reading.
        want = st.st_size + 1
        try:
            while data := os.read(fd, want):
                want = SMALL_FILE
                for h in hashes:
                    h.update(data)
                if out is not None:
                    view = memoryview(data)
                    while view:  # a short write (full disk) raises on the next call
                        view = view[os.write(out, view) :]
                size += len(data)
        finally:
            if out is not None:
                os.close(out)  # made durable with the whole bag (fsutil.durable_tree)
    finally:
        os.close(fd)
    return size, {h.name: h.hexdigest() for h in hashes}, linked
