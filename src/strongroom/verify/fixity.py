"""Fixity runs over time: which bags to check, the checks outside the bag, the record.

``run_verify`` validates bags (``validate.validate_bag``), and for bags of the
archive also checks what a self-consistent replacement bag could not fake: the
detached signature of the tag manifest, the custody log's hash chain, and the
tag-manifest hashes recorded in the collection inventory at bagging. Each run
of an archive bag becomes a ``fixity_runs`` row in the ledger and a PREMIS
``fixity check`` event in the bag's custody log.

``due_bags`` picks the bags whose last good check is older than an interval,
oldest first, so that a nightly cron job with a ``--budget`` covers the whole
archive in rotation at a constant nightly cost.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strongroom.core.archive import Archive
from strongroom.core.fsutil import exclusive_lock
from strongroom.core.ledger import Ledger, open_ledger, utcnow
from strongroom.core.round import Round
from strongroom.errors import UsageError
from strongroom.verify import quick
from strongroom.verify.budget import Budget, BudgetPlanner, measure_hash_ceiling, parse_duration
from strongroom.verify.context import RunContext
from strongroom.verify.findings import BagReport, Problem, Progress, show
from strongroom.verify.record import pack_run, prepare_line, record_run, unpack_run, unrecorded
from strongroom.verify.runs import BagRun, Target, all_targets, resolve_targets
from strongroom.verify.validate import validate_bag

LOCK_NAME = "verify.lock"
SIGNATURE = "tagmanifest-sha512.txt.sig"
TAGMANIFEST = "tagmanifest-sha512.txt"
# Re-exported: the command and the tests take the budget, the targets and the runs from here.
__all__ = [
    "BagRun",
    "Budget",
    "BudgetPlanner",
    "Target",
    "all_targets",
    "measure_hash_ceiling",
    "parse_duration",
    "record_run",
    "resolve_targets",
]


# --- checks outside the bag ---------------------------------------------------------
def outside_checks(
    archive: Archive,
    target: Target,
    report: BagReport,
    inventory: Path | None,
    ctx: RunContext | None = None,
    run: BagRun | None = None,
) -> list[Problem]:
    """Signature, custody chain and inventory of an archive bag; problems name the file.

    ``ctx``: the run's context (keys, ledger rows and connection read once).
    ``run``: the bag's run, which keeps the custody check for ``record_run`` to
    remember (checking writes nothing, so that worker processes can check).
    """
    if ctx is None and target.bag_id is not None:
        own = RunContext(archive)
        try:
            return outside_checks(archive, target, report, inventory, own, run)
        finally:
            own.close()
    problems: list[Problem] = []
    bag = target.path
    keyring = None
    if ctx is not None and target.bag_id is not None:
        keyring = ctx.keyring()
        if ctx.keyring_error:
            problems.append(Problem("keyring", f"cannot load trusted keys: {ctx.keyring_error}"))
    from strongroom.verify.anchors import check_signature, has_signature

    if keyring is not None and has_signature(bag, report):
        check = check_signature(keyring, bag, report)
        if not check.ok:
            problems.append(
                Problem(
                    "signature",
                    f"{SIGNATURE}: signature of {TAGMANIFEST} is not valid ({check.reason})",
                    file=SIGNATURE,
                    manifest=TAGMANIFEST,
                    algorithm="ed25519",
                )
            )
    if target.bag_id is not None and ctx is not None:
        problems += _archive_checks(archive, target.bag_id, report, inventory, keyring, ctx, run)
    elif inventory is not None:
        try:
            from strongroom.bag.inventory import check_bag
        except ImportError:
            problems.append(Problem("inventory", "inventory checks are not available"))
        else:
            for msg in check_bag(inventory, bag):
                problems.append(
                    Problem("inventory", f"{inventory.name}: {msg}", file=str(inventory))
                )
    return problems


def _archive_checks(
    archive: Archive,
    bag_id: str,
    report: BagReport,
    inventory: Path | None,
    keyring: Any,
    ctx: RunContext,
    run: BagRun | None,
) -> list[Problem]:
    """The custody chain against its anchored head, then the other anchors."""
    from strongroom.bag.custody import check_log
    from strongroom.verify.anchors import anchored_checks

    problems: list[Problem] = []
    log = archive.custody_path(bag_id)
    if ctx.has_ledger() or log.exists():
        head = ctx.head(bag_id)
        chain = check_log(archive, bag_id, head, keyring, deep=report.mode == "deep", path=log)
        chain.forget_bytes()
        if run is not None and keyring is not None:
            run.custody = (head, chain)  # remembered as verified when the run is recorded
        for msg in chain.problems:
            problems.append(
                Problem("custody", f"custody log {msg}", file=log.name, algorithm="sha256")
            )
    custody_checked = any(p.code == "custody" for p in problems)
    bag = report.path if isinstance(report.path, Path) else archive.bag_dir(bag_id)
    return problems + anchored_checks(
        archive, bag_id, bag, report, inventory, custody_checked, ctx, log
    )


# --- one run ---------------------------------------------------------------------------
def verify_one(
    archive: Archive,
    target: Target,
    mode: str,
    *,
    inventory: Path | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    record: bool = True,
    profile: Path | None = None,
    ctx: RunContext | None = None,
) -> BagRun:
    """Validate one bag, run the outside checks, and record the run (archive bags).

    ``ctx``: the run's context when this is one bag of many (``run_verify``); the
    check is then recorded in the context's batch, durable at its ``flush``.
    """
    own = ctx is None
    ctx = ctx or RunContext(archive)
    try:
        return _verify_one(archive, target, mode, inventory, workers, progress, record,
                           profile, ctx)  # fmt: skip
    finally:
        if own:
            ctx.close()


def _verify_one(
    archive: Archive,
    target: Target,
    mode: str,
    inventory: Path | None,
    workers: int | None,
    progress: Progress | None,
    record: bool,
    profile: Path | None,
    ctx: RunContext,
) -> BagRun:
    run = check_bag(archive, target, mode, inventory, workers, progress, profile, ctx)
    if record and target.bag_id is not None:
        try:
            record_run(archive, run, ctx)
        except (OSError, sqlite3.Error) as exc:
            raise unrecorded(archive, run, exc) from None
    return run


def check_bag(
    archive: Archive,
    target: Target,
    mode: str,
    inventory: Path | None,
    workers: int | None,
    progress: Progress | None,
    profile: Path | None,
    ctx: RunContext,
) -> BagRun:
    """Every check of one bag, writing nothing (``record_run`` records the outcome).

    Reads the ledger only through ``ctx``, whose rows a forked worker inherits.
    A fast check of a plain archive bag takes the lean path (``verify/quick.py``);
    anything it does not expect, every finding included, is checked here again.
    """
    if quick.applies(mode, target, inventory, profile):
        found = quick.check(archive, target, ctx)
        if found is not None:
            return quick.as_run(found, target, ctx.head(target.bag_id or ""), mode)
    return careful_check(archive, target, mode, inventory, workers, progress, profile, ctx)


def careful_check(
    archive: Archive,
    target: Target,
    mode: str,
    inventory: Path | None,
    workers: int | None,
    progress: Progress | None,
    profile: Path | None,
    ctx: RunContext,
) -> BagRun:
    """``check_bag`` without the lean path: every check, every finding named."""
    run = BagRun(target, mode, started=utcnow())
    t0 = time.monotonic()
    try:
        run.report = validate_bag(target.path, mode, workers=workers, progress=progress)
        run.outside = outside_checks(archive, target, run.report, inventory, ctx, run)
        if mode == "deep":
            from strongroom.bag.closure import revisit_problems

            found = revisit_problems(archive, target.path, target.bag_id)
            run.outside += [p for p in found if p.severity == "error"]
            run.report.warnings += [p for p in found if p.severity != "error"]
        from strongroom.bag.timestamp import TOKEN, check_for_verify

        stamps = ctx.stamps() if target.bag_id is not None else None
        # the bag's listing says whether it holds a token at all (if it listed whole)
        tree = None if run.report.has("unreadable") else run.report.tree
        seen = tree.top_exists(TOKEN) if tree is not None else None
        stamp, stamp_problems = check_for_verify(
            archive, target.path, target.bag_id, stamps, present=seen
        )
        run.notes += [stamp] if stamp else []
        run.outside += [Problem("timestamp", m, file=TOKEN) for m in stamp_problems]
        if profile is not None:
            from strongroom.bag.profile import check_profile

            checked = check_profile(target.path, profile)
            run.outside += [Problem("profile", f"{profile.name}: {m}") for m in checked.problems]
            run.notes += [checked.note] if checked.note else []
    except UsageError as exc:
        run.error = exc.message
    except OSError as exc:
        run.error = f"{show(str(target.path))}: {exc.strerror or exc}"
    if run.report is not None:
        run.report.forget_files()
    run.seconds = time.monotonic() - t0
    run.ended = utcnow()
    prepare_line(archive, run, ctx)
    return run


# --- rotation ----------------------------------------------------------------------------
def _parse_time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def last_good_checks(ledger: Ledger) -> dict[str, str]:
    """bag id -> start of its latest valid full or deep check (fast checks hash nothing)."""
    return ledger.last_good_checks()


@dataclass(frozen=True)
class DueBag:
    target: Target
    last_good: str | None
    size: int


def due_bags(archive: Archive, interval: float, now: dt.datetime | None = None) -> list[DueBag]:
    """Bags whose last good check is older than ``interval`` seconds: never-checked first,
    then oldest first."""
    now = now or dt.datetime.now(dt.UTC)
    with open_ledger(archive.root) as ledger:
        last = last_good_checks(ledger)
    due: list[DueBag] = []
    for target in all_targets(archive):
        seen = last.get(target.bag_id or "")
        if seen is not None and (now - _parse_time(seen)).total_seconds() < interval:
            continue
        due.append(DueBag(target, seen, bag_size(target.path)))
    due.sort(key=lambda d: (d.last_good is not None, d.last_good or "", d.target.name))
    return due


def bag_size(path: Path) -> int:
    """Payload bytes from Payload-Oxum (cheap), else 0 when it is absent or unreadable."""
    try:
        with open(path / "bag-info.txt", "rb") as fh:
            head = fh.read(1024 * 1024).decode("utf-8", "replace")
    except OSError:
        return 0
    m = re.search(r"(?im)^Payload-Oxum:\s*(\d+)\.\d+\s*$", head)
    return int(m.group(1)) if m else 0


# --- a whole run ----------------------------------------------------------------------------
@dataclass
class VerifyRun:
    """All bags of one ``strongroom verify`` invocation."""

    runs: list[BagRun] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)  # due, but over the budget
    elsewhere: list[str] = field(default_factory=list)  # due, but another node had it
    deferred_bytes: int = 0
    notes: list[str] = field(default_factory=list)  # why a bag over the budget still ran
    locked: bool = False  # another verify held the lock; nothing was checked
    in_flight: set[str] = field(default_factory=set)  # being published: left to the next run
    warnings: list[str] = field(default_factory=list)  # shown even with --quiet

    @property
    def result(self) -> str:
        results = {r.result for r in self.runs}
        if "invalid" in results:
            return "invalid"
        if "error" in results:
            return "error"
        return "valid"

    def to_dict(self) -> dict[str, Any]:
        return {
            "result": "locked" if self.locked else self.result,
            "locked": self.locked,
            "bags": [r.to_dict() for r in self.runs],
            "deferred": self.deferred,
            "elsewhere": self.elsewhere,
            "deferred_bytes": self.deferred_bytes,
            "notes": self.notes,
            "in_flight": sorted(self.in_flight),
            "warnings": self.warnings,
        }


@dataclass
class VerifyOptions:
    mode: str = "full"
    inventory: Path | None = None
    workers: int | None = None
    interval: float = 30 * 86400
    budget: Budget = field(default_factory=Budget)
    profile: Path | None = None  # a BagIt profile every bag must meet
    jobs: int | None = None  # bags checked at once (None: one per core for fast runs)


def run_verify(
    archive: Archive,
    targets: list[Target] | None,
    options: VerifyOptions,
    *,
    due: bool = False,
    lock: bool = False,
    listing: bool = False,
    progress: Callable[[Target, int], Progress] | None = None,
    on_done: Callable[[BagRun], None] | None = None,
) -> VerifyRun:
    """Verify ``targets`` (or the due bags), under the archive lock when ``lock``.

    ``listing`` (``verify --all``) also reports each bag the ledger knows that is
    missing from the disk. With ``due``, the budget decides which bags start.
    One ledger connection, keyring and signing key serve the whole run; a fast
    run records its bags in batches (see ``verify/context.py``), each durable
    before ``on_done`` hears of its bags.
    """
    from strongroom.verify.pool import jobs_for

    result = VerifyRun()
    with contextlib.ExitStack() as stack:
        if lock and not _take_lock(stack, archive):
            result.locked = True
            return result
        # A --due round claims leases through other connections, which a batch's
        # write lock would block: it records bag by bag, as full checks do.
        ctx = RunContext(archive, batch=options.mode == "fast" and not due)
        stack.callback(ctx.close)
        on_disk = targets or []
        if due or any(t.bag_id for t in on_disk):  # bags outside the archive: no ledger
            targets = _settled(archive, ctx.open(), on_disk, result)
        if due:
            _check_due(archive, options, ctx, result, progress, on_done)
        elif (jobs := jobs_for(options.jobs, options.mode, len(targets or []))) > 1:
            _check_pooled(archive, targets or [], options, ctx, result, on_done, jobs)
        else:
            for target in targets or []:
                run = _check(archive, target, options, progress, 0, ctx)
                result.runs.append(run)
                ctx.recorded(functools.partial(on_done, run) if on_done else _nothing)
        _flush(archive, ctx, result)
        if listing:
            _missing_bags(archive, on_disk, options.mode, result, on_done, ctx)
    return result


def _settled(
    archive: Archive, ledger: Ledger, targets: list[Target], result: VerifyRun
) -> list[Target]:
    """``targets`` without the bags another run is publishing (see ``verify.inflight``),
    after finishing what dead runs left; those bags are named in a note."""
    from strongroom.verify.inflight import settle

    local = {t.bag_id for t in targets if t.bag_id} if targets else None
    settled = settle(archive, ledger, local)
    if not settled.in_flight:
        return targets
    result.in_flight = settled.in_flight
    names = sorted(settled.in_flight)
    listed = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    if settled.stuck:  # nobody will finish them: the operator must hear of it
        result.warnings.append(
            f"not checked: {listed} ({settled.note}); free space or make the archive"
            " writable, then run `strongroom verify --all` again"
        )
    else:
        result.notes.append(f"left for the next run, being published ({settled.note}): {listed}")
    return [t for t in targets if t.bag_id not in settled.in_flight]


def _check_due(
    archive: Archive,
    options: VerifyOptions,
    ctx: RunContext,
    result: VerifyRun,
    progress: Callable[[Target, int], Progress] | None,
    on_done: Callable[[BagRun], None] | None,
) -> None:
    """The due bags, oldest first, as far as the budget goes.

    Several nodes may run the same round on one shared ledger: each bag is
    claimed before it is checked (see core/round.py). The round starts before
    the due list is read, so a check another node finishes in between is
    either in the list's view or newer than the round.
    """
    shared = Round(archive, "verify")
    shared.record_holdings(archive.bag_ids())
    queue = due_bags(archive, options.interval)
    planner = BudgetPlanner(options.budget, options.workers)
    for due in queue:
        target, size = due.target, due.size
        if target.name in result.in_flight:
            continue
        verdict = planner.admit(target, size, first=not result.runs)
        if verdict is None:
            result.deferred.append(target.name)
            result.deferred_bytes += size
            continue
        with shared.item(target.name) as mine:
            if not mine or _checked_since(ctx, target.name, shared.started):
                continue  # another node holds it, or finished it during this round
            result.notes += [verdict] if verdict else []
            run = _check(archive, target, options, progress, size, ctx)
        planner.spent(run)
        result.runs.append(run)
        ctx.recorded(functools.partial(on_done, run) if on_done else _nothing)
    result.elsewhere = shared.elsewhere


def _check_pooled(
    archive: Archive,
    targets: list[Target],
    options: VerifyOptions,
    ctx: RunContext,
    result: VerifyRun,
    on_done: Callable[[BagRun], None] | None,
    jobs: int,
) -> None:
    """Check ``targets`` in ``jobs`` worker processes; record each here, in order."""
    from strongroom.core.signals import sigterm_as_interrupt
    from strongroom.verify.pool import checked_in_parallel

    check = functools.partial(_pooled_check, archive, options=options, ctx=ctx)
    travel = (_same, functools.partial(_unpacked, ctx))
    with (
        sigterm_as_interrupt(),
        contextlib.closing(checked_in_parallel(check, targets, ctx, jobs, travel)) as checked,
    ):
        for run in checked:
            try:
                record_run(archive, run, ctx)
            except (OSError, sqlite3.Error) as exc:
                raise unrecorded(archive, run, exc) from None
            result.runs.append(run)
            ctx.recorded(functools.partial(on_done, run) if on_done else _nothing)
        _flush(archive, ctx, result)


def _pooled_check(archive: Archive, target: Target, options: VerifyOptions, ctx: RunContext) -> Any:
    """In a worker: a plain bag's compact result (``quick.Found``), else its packed run."""
    mode, inventory, profile = options.mode, options.inventory, options.profile
    if quick.applies(mode, target, inventory, profile):
        found = quick.check(archive, target, ctx)
        if found is not None:
            return found
    run = careful_check(archive, target, mode, inventory, options.workers, None, profile, ctx)
    return pack_run(run)


def _unpacked(ctx: RunContext, sent: Any, target: Target) -> BagRun:
    """Here: the run a worker sent, whole again."""
    if isinstance(sent, tuple):
        return quick.as_run(sent, target, ctx.head(target.bag_id or ""))
    return unpack_run(sent, target)


def _same(result: Any) -> Any:
    return result


def _nothing() -> None:
    return None


def _check(
    archive: Archive,
    target: Target,
    options: VerifyOptions,
    progress: Callable[[Target, int], Progress] | None,
    size: int,
    ctx: RunContext,
) -> BagRun:
    return verify_one(
        archive,
        target,
        options.mode,
        inventory=options.inventory,
        workers=options.workers,
        progress=progress(target, size) if progress else None,
        profile=options.profile,
        ctx=ctx,
    )


def _flush(archive: Archive, ctx: RunContext, result: VerifyRun) -> None:
    """Make the run's last batch durable; a failure names the checks it could not keep."""
    try:
        ctx.flush()
    except (OSError, sqlite3.Error) as exc:
        if not result.runs:
            raise
        raise unrecorded(archive, result.runs[-1], exc) from None


def _checked_since(ctx: RunContext, bag_id: str, since: str) -> bool:
    """True when a check of ``bag_id`` ended after ``since`` (a node that died after
    checking but before finishing its lease did the work; it is not done twice)."""
    _result, ended = ctx.open().last_fixity(bag_id)
    # ``ended`` has whole seconds: only a later second is surely after ``since``.
    return ended is not None and ended > since[:19] + "Z"


def _missing_bags(
    archive: Archive,
    targets: list[Target],
    mode: str,
    result: VerifyRun,
    on_done: Callable[[BagRun], None] | None,
    ctx: RunContext | None = None,
) -> None:
    """A run, with its problem, for each bag the ledger knows that the disk lacks."""
    from strongroom.verify.anchors import missing_from_disk

    on_disk = [t.bag_id for t in targets if t.bag_id]
    for bag_id, problem in missing_from_disk(archive, on_disk, ctx).items():
        now = utcnow()
        run = BagRun(Target(archive.bags / bag_id, bag_id), mode, now, now, outside=[problem])
        result.runs.append(run)
        if on_done:
            on_done(run)


def _take_lock(stack: contextlib.ExitStack, archive: Archive) -> bool:
    """Take the verify lock; an archive we cannot write is a clear usage error (exit 2)."""
    path = archive.locks / LOCK_NAME
    try:
        return bool(stack.enter_context(exclusive_lock(path)))
    except OSError as exc:
        raise UsageError(
            f"cannot take the verify lock {path}: {exc.strerror or exc}. verify --all and"
            " --due record every check in the archive, so they need it writable and a little"
            " free space; free space or fix the permissions, then run again"
        ) from None


# --- history ---------------------------------------------------------------------------------
def history(archive: Archive, bag_id: str) -> list[dict[str, Any]]:
    """Every recorded run of ``bag_id``, oldest first."""
    if not archive.has_ledger():
        return []
    with open_ledger(archive.root) as ledger:
        return ledger.fixity_history(bag_id)


def iter_problem_lines(run: BagRun) -> Iterator[str]:
    """Human lines for one run's problems (used by the command and by cron mail)."""
    if run.error:
        yield f"{run.target.name}: {run.error}"
    for p in run.problems:
        yield f"{run.target.name}: {p.message}"
