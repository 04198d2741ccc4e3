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
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from strongroom.verify.context import RunContext

MIN_BAGS = 64  # fewer bags than this: starting workers costs more than it saves
MAX_JOBS = 8
PR_SET_PDEATHSIG = 1  # linux/prctl.h
_job: tuple[Callable[[Any], Any], RunContext] | None = None  # set before the fork
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
    check: Callable[[Any], Any], targets: Sequence[Any], ctx: RunContext, jobs: int
) -> Iterator[Any]:
    """``check(target)`` of each target (``fixity.check_bag``'s ``BagRun``), in the
    targets' order, worked out by ``jobs`` workers.

    ``check`` reaches the workers by the fork, not pickled: it may be any callable.
    """
    global _job
    ctx.prepare()
    _job = (check, ctx)
    pool = multiprocessing.get_context("fork").Pool(jobs, _started, (os.getpid(),))
    try:
        # small chunks keep the order cheap and the last worker's tail short
        chunk = max(1, min(32, len(targets) // (jobs * 8)))
        yield from pool.imap(_check_one, targets, chunksize=chunk)
        pool.close()
    finally:
        pool.terminate()
        pool.join()
        _job = None


def _started(parent: int) -> None:
    """In a new worker: the parent decides what Ctrl-C means; SIGTERM just ends us,
    and so does the parent's death (a killed run leaves no worker behind)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with(parent)
    assert _job is not None
    ctx = _job[1]
    _inherited.append(ctx.ledger)  # never used nor closed here (a checkpoint could write)
    ctx.ledger = None


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


def _check_one(target: Any) -> Any:
    assert _job is not None
    return _job[0](target)


@contextlib.contextmanager
def term_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the run the way Ctrl-C does (workers ended, the batch dropped).

    Only the main thread can set a handler; elsewhere SIGTERM keeps its default.
    """

    def _raise(_sig: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, _raise)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
