"""Recording a check: the ledger's ``fixity_runs`` row and the bag's custody line.

A pooled run (``verify/pool.py``) checks bags in worker processes and records
them here, in the one process that writes: each worker builds and signs the
bag's custody line ahead (``prepare_line``), which ``record_run`` writes if
the log still ends where the worker read it.
"""

from __future__ import annotations

from typing import Any

from strongroom.core.archive import Archive
from strongroom.errors import UsageError
from strongroom.verify.context import RunContext
from strongroom.verify.runs import BagRun, Target

MAX_FAILURES_IN_EVENT = 20  # a custody line stays small even for a badly damaged bag


def unrecorded(archive: Archive, run: BagRun, exc: BaseException) -> UsageError:
    why = getattr(exc, "strerror", None) or str(exc)
    return UsageError(
        f"checked {run.target.name} ({run.result}), but cannot record the check in"
        f" {archive.root}: {why}. Free space on that file system or fix its"
        " permissions, then run verify again"
    )


def record_run(archive: Archive, run: BagRun, ctx: RunContext | None = None) -> None:
    """A ``fixity_runs`` row in the ledger, then a ``fixity check`` custody event.

    With a batching ``ctx``, both wait for the context's ``flush``; the custody
    line a worker prepared (``run.prepared``) is written if the log still ends
    where the worker read it.
    """
    assert run.target.bag_id is not None
    bag_id = run.target.bag_id
    from strongroom.bag import custody
    from strongroom.bag.custody_ahead import append_prepared

    own = ctx is None
    ctx = ctx or RunContext(archive)
    try:
        ctx.begin()
        ledger = ctx.writer()
        if run.custody is not None:
            head, chain = run.custody
            custody.remember_check(ledger, bag_id, head, chain)
        failures = _failures(run)
        ledger.record_fixity_run(
            bag_id,
            started=run.started,
            ended=run.ended,
            mode=run.mode,
            result=run.result,
            files=run.report.files if run.report else 0,
            nbytes=run.report.bytes if run.report else 0,
            failures=failures,
        )
        # a batch writes a line signed ahead as it is; else (or when the log moved
        # on meanwhile) the line is built and signed here
        ahead = run.prepared if ctx.batch else None
        if ahead is None or not append_prepared(archive, bag_id, ahead, ledger):
            event = _fixity_event(run, failures)
            custody.append(
                archive,
                bag_id,
                "fixity check",
                **event,
                ledger=ledger,
                key=ctx.signing_key(),
                durable=not ctx.batch,
                prepared=run.prepared,
            )
        run.prepared = None  # written (or replaced): nothing to keep for the output
        if ctx.batch:
            ctx.logs_written()
    finally:
        if own:
            ctx.close()


def _failures(run: BagRun) -> list[str]:
    """Every problem's message (or what prevented a verdict), for the ledger's row."""
    return [p.message for p in run.problems] or ([run.error] if run.error else [])


def _fixity_event(run: BagRun, failures: list[str]) -> dict[str, Any]:
    """The ``fixity check`` custody event of a run (``outcome``, ``inputs``, ``detail``)."""
    report = run.report
    return fixity_event(
        result=run.result,
        mode=run.mode,
        files=report.files if report else 0,
        nbytes=report.bytes if report else 0,
        algorithms=report.algorithms if report else [],
        started=run.started,
        ended=run.ended,
        failures=failures,
    )


def fixity_event(
    *,
    result: str,
    mode: str,
    files: int,
    nbytes: int,
    algorithms: list[str],
    started: str,
    ended: str,
    failures: list[str],
) -> dict[str, Any]:
    """A ``fixity check`` custody event (``outcome``, ``inputs``, ``detail``): the one
    form, whether the line is signed here or ahead in a worker (``verify/quick.py``)."""
    return {
        # PREMIS eventOutcome: success / failure; the detail keeps the log line small
        "outcome": "success" if result == "valid" else "failure",
        "inputs": {"mode": mode},
        "detail": {
            "result": result,
            "files": files,
            "bytes": nbytes,
            "algorithms": algorithms,
            "started": started,
            "ended": ended,
            "failures": failures[:MAX_FAILURES_IN_EVENT],
            "failures_total": len(failures),
        },
    }


def prepare_line(archive: Archive, run: BagRun, ctx: RunContext) -> None:
    """In a worker: build and sign the run's custody line ahead (``custody_ahead``),
    so that the one process that records every bag spends no signature on it."""
    if not ctx.presign or run.custody is None or run.target.bag_id is None:
        return
    from strongroom.bag.custody_ahead import prepare_line as build

    event = _fixity_event(run, _failures(run))
    run.prepared = build(archive, run.custody[1], ctx.signing_key(), action="fixity check", **event)


def pack_run(run: BagRun) -> BagRun:
    """In a worker: the run without its target, which the recording process has (a
    path is rebuilt part by part from a pickle: three of them cost more than the rest)."""
    run.target = None  # type: ignore[assignment]
    if run.report is not None:
        run.report.path = None  # type: ignore[assignment]
    return run


def unpack_run(run: BagRun, target: Target) -> BagRun:
    run.target = target
    if run.report is not None:
        run.report.path = target.path
    return run
