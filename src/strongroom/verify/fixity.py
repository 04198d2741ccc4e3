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

import datetime as dt
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strongroom.core.archive import Archive, parse_size
from strongroom.core.fsutil import exclusive_lock, is_within
from strongroom.core.ledger import Ledger, open_ledger, utcnow
from strongroom.errors import UsageError
from strongroom.verify.findings import BagReport, Problem, Progress, show
from strongroom.verify.validate import validate_bag

LOCK_NAME = "verify.lock"
SIGNATURE = "tagmanifest-sha512.txt.sig"
TAGMANIFEST = "tagmanifest-sha512.txt"
MAX_FAILURES_IN_EVENT = 20  # a custody line stays small even for a badly damaged bag

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|day|days|w|week|weeks)\s*$")
_UNIT_SECONDS = {
    "s": 1,
    "sec": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "hr": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}


# --- arguments -------------------------------------------------------------------
def parse_duration(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` -> seconds."""
    m = _DURATION.match(str(text).lower())
    if not m:
        raise UsageError(f"{text!r} is not a duration; use e.g. 30d, 12h, 90m or 45s")
    return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]


@dataclass(frozen=True)
class Budget:
    """How much one run may spend: wall-clock seconds or payload bytes (or no limit)."""

    seconds: float | None = None
    bytes: int | None = None

    @classmethod
    def parse(cls, text: str | None) -> Budget:
        """``1h`` / ``90m`` is time; ``500GB`` / ``2GiB`` is bytes (a bare ``m`` is minutes)."""
        if not text:
            return cls()
        if _DURATION.match(str(text).lower()):
            return cls(seconds=parse_duration(text))
        try:
            return cls(bytes=parse_size(text))
        except UsageError:
            raise UsageError(
                f"{text!r} is not a budget; use a time (1h, 90m) or a size (500GB, 2GiB)"
            ) from None

    def describe(self) -> str:
        if self.seconds is not None:
            return f"{self.seconds:g} s"
        if self.bytes is not None:
            return f"{self.bytes} bytes"
        return "unlimited"


# --- targets ------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A bag to check: ``bag_id`` is set when the bag belongs to the archive."""

    path: Path
    bag_id: str | None = None

    @property
    def name(self) -> str:
        return self.bag_id or show(str(self.path))


def resolve_targets(archive: Archive, items: Sequence[str]) -> list[Target]:
    """``BAG-ID`` resolves against ``<archive>/bags/``; anything else must be a folder."""
    targets: list[Target] = []
    for item in items:
        candidate = archive.bags / item
        if "/" not in item and item not in (".", "..") and candidate.is_dir():
            targets.append(Target(candidate, item))
            continue
        path = Path(item)
        if not path.is_dir():
            raise UsageError(f"{show(item)}: not a bag id in {archive.bags} and not a folder")
        path = path.absolute()
        # a path that points into the archive's bags folder is an archive bag
        if archive.bags.is_dir() and is_within(archive.bags, path):
            rel = path.resolve().relative_to(archive.bags.resolve())
            if len(rel.parts) == 1:
                targets.append(Target(archive.bags / rel.parts[0], rel.parts[0]))
                continue
        targets.append(Target(path))
    return targets


def all_targets(archive: Archive) -> list[Target]:
    return [Target(archive.bag_dir(b), b) for b in archive.bag_ids()]


# --- checks outside the bag ---------------------------------------------------------
def default_inventory(report: BagReport, bases: Sequence[Path] = ()) -> Path | None:
    """The first existing ``<base>/manifests/<collection>.json`` (bases: the working
    folder, then those given, e.g. the archive root where ``strongroom demo`` puts it).

    Used when bag-info's ``Bag-Group-Identifier`` names a collection; the inventory
    normally lives in git with the collection files, outside the archive, so that
    whoever can rewrite the archive cannot rewrite it too.
    """
    groups = report.info("Bag-Group-Identifier")
    if not groups:
        return None
    ident = groups[0].strip()
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", ident):
        return None
    for base in (Path.cwd(), *bases):
        path = base / "manifests" / f"{ident}.json"
        if path.is_file() or path.with_suffix("").is_dir():  # one file, or one per bag
            return path
    return None


def archive_inventory(archive: Archive, report: BagReport) -> Path | None:
    """The archive's configured inventory (config.toml, whatever the current folder),
    else one found as ``default_inventory`` finds it."""
    configured = archive.configured_inventory()
    groups = report.info("Bag-Group-Identifier")
    ident = groups[0].strip() if groups else ""
    if configured is not None and re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", ident):
        return configured / ident
    return default_inventory(report, [archive.root])


def outside_checks(
    archive: Archive, target: Target, report: BagReport, inventory: Path | None
) -> list[Problem]:
    """Signature, custody chain and inventory of an archive bag; problems name the file."""
    problems: list[Problem] = []
    bag = target.path
    keyring = None
    if target.bag_id is not None:
        from strongroom.share.send import trusted_keyring

        try:
            keyring = trusted_keyring(archive)
        except UsageError as exc:
            problems.append(Problem("keyring", f"cannot load trusted keys: {exc}"))
    sig = bag / SIGNATURE
    if sig.exists() and keyring is not None:
        check = keyring.verify_file_signature(bag / TAGMANIFEST, sig)
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
    if target.bag_id is not None:
        from strongroom.bag.custody import check_custody

        log = archive.custody_path(target.bag_id)
        if log.exists() or archive.ledger_path.exists():
            chain = check_custody(archive, target.bag_id, keyring, deep=report.mode == "deep")
            for msg in chain.problems:
                problems.append(
                    Problem("custody", f"custody log {msg}", file=log.name, algorithm="sha256")
                )
    if inventory is not None:
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


# --- one run ---------------------------------------------------------------------------
@dataclass
class BagRun:
    """The outcome of checking one bag."""

    target: Target
    mode: str
    started: str
    ended: str = ""
    seconds: float = 0.0
    report: BagReport | None = None
    outside: list[Problem] = field(default_factory=list)
    error: str | None = None  # something prevented a verdict
    notes: list[str] = field(default_factory=list)  # the RFC 3161 time, a profile note

    @property
    def problems(self) -> list[Problem]:
        return (self.report.problems if self.report else []) + self.outside

    @property
    def result(self) -> str:
        if self.error is not None:
            return "error"
        return "invalid" if self.problems else "valid"

    def to_dict(self) -> dict[str, Any]:
        rep = self.report.to_dict() if self.report else {}
        rep["problems"] = [p.to_dict() for p in self.problems]
        return {
            "bag": self.target.bag_id,
            "path": str(self.target.path),
            "mode": self.mode,
            "result": self.result,
            "error": self.error,
            "started": self.started,
            "ended": self.ended,
            "seconds": round(self.seconds, 3),
            "notes": self.notes,
            **{k: v for k, v in rep.items() if k not in ("path", "mode")},
        }


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
) -> BagRun:
    """Validate one bag, run the outside checks, and record the run (archive bags)."""
    run = BagRun(target, mode, started=utcnow())
    t0 = time.monotonic()
    try:
        run.report = validate_bag(target.path, mode, workers=workers, progress=progress)
        inv = inventory or (archive_inventory(archive, run.report) if target.bag_id else None)
        run.outside = outside_checks(archive, target, run.report, inv)
        if mode == "deep":
            from strongroom.bag.closure import revisit_problems

            found = revisit_problems(archive, target.path, target.bag_id)
            run.outside += [p for p in found if p.severity == "error"]
            run.report.warnings += [p for p in found if p.severity != "error"]
        from strongroom.bag.timestamp import TOKEN, check_for_verify

        stamp, stamp_problems = check_for_verify(archive, target.path, target.bag_id)
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
    run.seconds = time.monotonic() - t0
    run.ended = utcnow()
    if record and target.bag_id is not None:
        record_run(archive, run)
    return run


def record_run(archive: Archive, run: BagRun) -> None:
    """A ``fixity_runs`` row in the ledger, then a ``fixity check`` custody event."""
    assert run.target.bag_id is not None
    failures = [p.message for p in run.problems] or ([run.error] if run.error else [])
    files = run.report.files if run.report else 0
    nbytes = run.report.bytes if run.report else 0
    from strongroom.bag import custody

    with open_ledger(archive.root) as ledger:
        ledger.record_fixity_run(
            run.target.bag_id,
            started=run.started,
            ended=run.ended,
            mode=run.mode,
            result=run.result,
            files=files,
            nbytes=nbytes,
            failures=failures,
        )
        # PREMIS eventOutcome: success / failure; the detail keeps the log line small
        custody.append(
            archive,
            run.target.bag_id,
            "fixity check",
            outcome="success" if run.result == "valid" else "failure",
            inputs={"mode": run.mode},
            detail={
                "result": run.result,
                "files": files,
                "bytes": nbytes,
                "algorithms": run.report.algorithms if run.report else [],
                "started": run.started,
                "ended": run.ended,
                "failures": failures[:MAX_FAILURES_IN_EVENT],
                "failures_total": len(failures),
            },
            ledger=ledger,
        )


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
    locked: bool = False  # another verify held the lock; nothing was checked

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
        }


@dataclass
class VerifyOptions:
    mode: str = "full"
    inventory: Path | None = None
    workers: int | None = None
    interval: float = 30 * 86400
    budget: Budget = field(default_factory=Budget)
    profile: Path | None = None  # a BagIt profile every bag must meet


def run_verify(
    archive: Archive,
    targets: list[Target] | None,
    options: VerifyOptions,
    *,
    due: bool = False,
    lock: bool = False,
    progress: Callable[[Target, int], Progress] | None = None,
    on_done: Callable[[BagRun], None] | None = None,
) -> VerifyRun:
    """Verify ``targets`` (or the due bags), under the archive lock when ``lock``."""
    result = VerifyRun()
    with _maybe_lock(archive, lock) as got:
        if not got:
            result.locked = True
            return result
        if due:
            queue = due_bags(archive, options.interval)
            targets = [d.target for d in queue]
            sizes = {d.target: d.size for d in queue}
        else:
            sizes = {}
        t0 = time.monotonic()
        spent = 0
        for i, target in enumerate(targets or []):
            if due and result.runs and _over_budget(options.budget, t0, spent, sizes[target]):
                result.deferred = [t.name for t in (targets or [])[i:]]
                break
            prog = progress(target, sizes.get(target, 0)) if progress else None
            run = verify_one(
                archive,
                target,
                options.mode,
                inventory=options.inventory,
                workers=options.workers,
                progress=prog,
                profile=options.profile,
            )
            spent += run.report.bytes if run.report else 0
            result.runs.append(run)
            if on_done:
                on_done(run)
    return result


def _over_budget(budget: Budget, t0: float, spent: int, next_size: int) -> bool:
    if budget.seconds is not None and time.monotonic() - t0 >= budget.seconds:
        return True
    return budget.bytes is not None and spent + next_size > budget.bytes


class _NoLock:
    def __enter__(self) -> bool:
        return True

    def __exit__(self, *exc: object) -> None:
        return None


def _maybe_lock(archive: Archive, lock: bool) -> Any:
    if not lock:
        return _NoLock()
    return exclusive_lock(archive.locks / LOCK_NAME)


# --- history ---------------------------------------------------------------------------------
def history(archive: Archive, bag_id: str) -> list[dict[str, Any]]:
    """Every recorded run of ``bag_id``, oldest first."""
    if not archive.ledger_path.exists():
        return []
    with open_ledger(archive.root) as ledger:
        return ledger.fixity_history(bag_id)


def iter_problem_lines(run: BagRun) -> Iterator[str]:
    """Human lines for one run's problems (used by the command and by cron mail)."""
    if run.error:
        yield f"{run.target.name}: {run.error}"
    for p in run.problems:
        yield f"{run.target.name}: {p.message}"
