"""Checking many bags on every core: forked workers check, this process records.

``verify --all --fast`` spends its time in Python per bag (reading and parsing
tag files, the signature, the custody log, the inventory entry), one core's
worth. Here worker processes, forked from the run once it has read everything
the checks need from the ledger (``RunContext.prepare``), check the bags and
send each ``BagRun`` back; this process alone writes the ledger and appends the
custody lines, in the order of the bags, exactly as a sequential run records
them (``fixity.record_run``). A worker never touches the ledger: the
connection it inherited is set aside unused, since SQLite connections must not
cross a fork.

Ctrl-C and SIGTERM stop the workers at once; what was recorded and flushed
stays, the open batch is dropped (see ``verify/context.py``), and a re-run
checks again.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import gc
import os
import pickle
import signal
import struct
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any

from strongroom.errors import UsageError

if TYPE_CHECKING:
    from strongroom.verify.context import RunContext

MIN_BAGS = 64  # fewer bags than this: starting workers costs more than it saves
MAX_JOBS = 8
PIPE_SIZE = 1 << 20  # Linux's default /proc/sys/fs/pipe-max-size
PR_SET_PDEATHSIG = 1  # linux/prctl.h
_inherited: list[Any] = []  # the parent's ledger connection, kept (never closed) in a worker


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def jobs_for(requested: int | None, mode: str, bags: int) -> int:
    """How many bags to check at once: ``--jobs``, else one per core for a fast run of
    many bags (a full or deep check already hashes on every core, with threads)."""
    if requested is not None:
        return max(1, min(requested, bags))
    if mode != "fast" or bags < MIN_BAGS or not hasattr(os, "fork"):
        return 1
    return max(1, min(cores(), MAX_JOBS))


def checked_in_parallel(
    check: Callable[[Any], Any],
    targets: Sequence[Any],
    ctx: RunContext,
    jobs: int,
    travel: tuple[Callable[[Any], Any], Callable[[Any, Any], Any]] | None = None,
) -> Generator[Any, None, None]:
    """``check(target)`` of each target (``fixity.check_bag``'s ``BagRun``), in the
    targets' order, worked out by ``jobs`` forked workers.

    ``check`` reaches the workers by the fork, not pickled: it may be any callable.
    ``travel``: (``pack(result)`` in the worker, ``unpack(result, target)`` here),
    to send less than the whole result (what this process has already, such as
    the target, need not be pickled and rebuilt for every bag).
    The targets are cut into small chunks dealt round-robin (chunk ``k`` to worker
    ``k % jobs``), so reading the results in order needs no bookkeeping, and a
    worker ahead of the reader waits on its full pipe.

    We fork our own workers rather than use ``multiprocessing.Pool``: its
    ``terminate`` can hang on the queue lock of a worker killed while holding it,
    and its helper threads make every later fork in the process unsafe.
    """
    ctx.prepare()
    size = max(1, min(32, len(targets) // (jobs * 8)))
    chunks = [range(i, min(i + size, len(targets))) for i in range(0, len(targets), size)]
    workers: list[tuple[int, int]] = []  # (pid, read end)
    done = False
    try:
        pack, unpack = travel or (_same, _same)
        for w in range(min(jobs, len(chunks))):
            sent = functools.partial(_packed, check, pack)
            workers.append(_fork(sent, ctx, targets, chunks[w::jobs]))
        for k, chunk in enumerate(chunks):
            results = _receive(workers[k % len(workers)][1])
            yield from (unpack(r, targets[i]) for r, i in zip(results, chunk, strict=True))
        done = True
    finally:
        for pid, fd in workers:
            os.close(fd)
            if not done:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _same(result: Any, _target: Any = None) -> Any:
    return result


def _packed(check: Callable[[Any], Any], pack: Callable[[Any], Any], target: Any) -> Any:
    return pack(check(target))


def _fork(
    check: Callable[[Any], Any], ctx: RunContext, targets: Sequence[Any], mine: list[range]
) -> tuple[int, int]:
    """Start one worker over its chunks; (its pid, the end its results come from)."""
    parent = os.getpid()
    read, write = os.pipe()
    # A worker runs ahead while this process waits on a batch's syncfs and commit
    # (long on a busy disk): room for a thousand bags' results, not some fifty.
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    pid = os.fork()
    if pid:
        os.close(write)
        return pid, read
    code = 1
    try:  # the worker: it never returns into the parent's code
        os.close(read)
        _started(parent, ctx)
        with os.fdopen(write, "wb") as out:
            for chunk in mine:
                try:
                    result: tuple[str, Any] = ("ok", [check(targets[i]) for i in chunk])
                except Exception as exc:  # sent to the parent, which raises it
                    result = ("error", _sendable(exc))
                data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
                out.write(struct.pack("!Q", len(data)) + data)
                if result[0] == "error":
                    break
        code = 0
    finally:
        os._exit(code)


def _sendable(exc: Exception) -> Exception:
    try:
        pickle.dumps(exc)
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _receive(fd: int) -> list[Any]:
    """One chunk's results from a worker; its exception, raised here."""
    head = _read_exactly(fd, 8)
    kind, value = pickle.loads(_read_exactly(fd, struct.unpack("!Q", head)[0]))
    if kind == "error":
        raise value
    return list(value)


def _read_exactly(fd: int, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        part = os.read(fd, min(n - got, 1 << 20))
        if not part:
            raise UsageError(
                "a verify worker process ended before it had checked its bags; run verify"
                " again (--jobs 1 checks every bag in one process)"
            )
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _started(parent: int, ctx: RunContext) -> None:
    """In a new worker: the parent decides what Ctrl-C means; SIGTERM just ends us,
    and so does the parent's death (a killed run leaves no worker behind)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # What the run read before the fork (every bag's target, head and ledger row)
    # lives as long as we do: the collector need not walk it again and again, and
    # walking it would copy the pages we share with the parent.
    gc.freeze()
    _die_with(parent)
    _inherited.append(ctx.ledger)  # never used nor closed here (a checkpoint could write)
    ctx.ledger = None
    ctx.presign = True


def _die_with(parent: int) -> None:
    """Linux: the kernel kills this worker when the parent dies (PR_SET_PDEATHSIG);
    otherwise it ends when the parent's pipe closes."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the call took effect
        os._exit(0)
