"""Repair a bag's damaged or missing payload files from partners' copies.

The bag's own manifests decide what the right bytes are, so they must be
intact first: repair refuses when a tag file is damaged or the tag-manifest
signature does not check. Each damaged file is fetched from a partner copy into
a temporary file beside it, hashed with *every* manifest algorithm, and used
only if all match; a copy that does not match is named and skipped. The file is
then made read-only and renamed over the damaged one (the one sanctioned write
to a payload: it restores the original bytes), the whole bag is re-verified,
and a ``repair`` event naming the source copy goes to the custody log and the
ledger.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strongroom.bag import custody
from strongroom.core.archive import Archive
from strongroom.core.fsutil import TMP_PREFIX, exclusive_lock, fsync_dir
from strongroom.core.ledger import open_ledger
from strongroom.errors import ProblemFound, UsageError
from strongroom.share.partners import Partner, get_partner, load_partners, trusted_keyring
from strongroom.share.policy import require_bag
from strongroom.share.send import copy_rows, record_copy
from strongroom.share.transfer import remove_tree

REPAIR = "repair"
PENDING = "pending"
REPAIRABLE = ("checksum", "missing", "unreadable")


@dataclass
class RepairResult:
    """What ``repair_bag`` did; ``ok`` when the bag is whole again."""

    bag_id: str
    ok: bool
    damaged: list[str] = field(default_factory=list)
    repaired: list[dict[str, str]] = field(default_factory=list)
    refused_sources: list[str] = field(default_factory=list)
    unrepaired: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    resumed: bool = False  # a killed run's repair, finished and recorded by this one

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _oxum_bytes(bag_dir: Path) -> int | None:
    from strongroom.bag.baginfo import first, read_bag_info

    raw = first(read_bag_info(bag_dir), "Payload-Oxum")
    try:
        return int(raw.split(".")[0])
    except ValueError:
        return None


def _trust_manifests(archive: Archive, bag_dir: Path, report: Any) -> None:
    """Refuse to repair when the manifests themselves cannot be trusted."""
    # Payload-Oxum disagrees whenever a payload file is damaged or missing: that is
    # a symptom of the damage we repair, not damage to the tag files.
    tag_problems = [
        p.message
        for p in report.problems
        if not (p.file or "").startswith("data/") and p.code != "oxum"
    ]
    if tag_problems:
        raise ProblemFound(
            f"{bag_dir.name}: its tag files are damaged, so its manifests cannot choose a"
            f" good copy: {'; '.join(tag_problems[:3])}"
        )
    tm = bag_dir / custody.TAGMANIFEST
    sig = tm.with_name(tm.name + ".sig")
    if sig.is_file():
        check = trusted_keyring(archive).verify_file_signature(tm, sig)
        if not check.ok:
            raise ProblemFound(f"{bag_dir.name}: tag manifest signature fails ({check.reason})")


@contextlib.contextmanager
def _writable(folder: Path):  # type: ignore[no-untyped-def]
    """Let us rename into a read-only payload folder, and put its mode back after."""
    mode = stat.S_IMODE(folder.stat().st_mode)
    changed = not os.access(folder, os.W_OK)
    if changed:
        os.chmod(folder, mode | stat.S_IWUSR)
    try:
        yield
    finally:
        if changed:
            os.chmod(folder, mode)


def _damage(report: Any) -> tuple[list[str], list[str]]:
    """(payload files we can repair, messages about payload damage we cannot)."""
    damaged = sorted(
        {
            p.file
            for p in report.problems
            if p.file and p.file.startswith("data/") and p.code in REPAIRABLE
        }
    )
    other = [
        p.message
        for p in report.problems
        if (p.file or "").startswith("data/") and p.code not in REPAIRABLE
    ]
    return damaged, other


def _good_copies(
    archive: Archive, bag_id: str, partner_name: str | None, damaged: list[str]
) -> list[dict[str, Any]]:
    """The ledger rows of good copies to repair from (only ``partner_name``'s, if given)."""
    if partner_name:
        get_partner(archive, partner_name)  # a usage error listing the names when unknown
    rows = [
        r
        for r in copy_rows(archive, bag_id)
        if r["status"] == "ok" and (partner_name is None or r["partner"] == partner_name)
    ]
    if not rows:
        which = f" at {partner_name}" if partner_name else ""
        raise ProblemFound(
            f"{bag_id}: {len(damaged)} damaged file(s) but no good copy{which} is recorded"
            " to repair from (share it first; `strongroom status` lists copies)"
        )
    return rows


@dataclass
class _Repair:
    """What one repair run needs to fetch a file: the bag, its copies, the checks."""

    archive: Archive
    bag_dir: Path
    partners: dict[str, Partner]
    rows: list[dict[str, Any]]
    digests: dict[str, dict[str, str]]
    limit: int | None
    result: RepairResult
    staging: Path  # fetched files wait here, outside the payload, until they check
    bad_copies: set[str] = field(default_factory=set)

    def file(self, rel: str) -> None:
        """Restore one payload file from the first copy whose bytes match every manifest."""
        wanted = self.digests.get(rel)
        if wanted:
            target = self.bag_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            for row in self.rows:
                if self._from_copy(rel, target, wanted, row):
                    self.result.repaired.append(
                        {"file": rel, "source": row["partner"], "location": row["location"]}
                    )
                    return
        self.result.unrepaired.append(rel)

    def _from_copy(
        self, rel: str, target: Path, wanted: dict[str, str], row: dict[str, Any]
    ) -> bool:
        """Fetch ``rel`` from one copy; True when it matched and replaced the damaged file."""
        from strongroom.share import transfer

        partner = self.partners.get(row["partner"])
        label = f"{row['partner']} ({row['location']})"
        if partner is None:
            self.result.refused_sources.append(f"{label}: no longer in partners.toml")
            return False
        known_hosts = self.archive.keys / "known_hosts"
        try:
            tmp = transfer.fetch_file(
                partner, row["location"], rel, self.staging, known_hosts, self.limit
            )
            try:
                return self._use(rel, tmp, target, wanted, row, label)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
        except (ProblemFound, UsageError, OSError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            self.result.refused_sources.append(f"{rel} at {label}: {why}")
            return False

    def _use(
        self,
        rel: str,
        tmp: Path,
        target: Path,
        wanted: dict[str, str],
        row: dict[str, Any],
        label: str,
    ) -> bool:
        """Check the fetched bytes against every manifest; rename them into place if good."""
        from strongroom.share import transfer

        found = transfer.hash_file(tmp, sorted(wanted))
        bad = [a for a, d in wanted.items() if found[a] != d]
        if bad:
            self.result.refused_sources.append(
                f"{rel} at {label}: {', '.join(bad)} does not match the manifest; not used"
            )
            self.bad_copies.add(row["partner"])
            return False
        os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        with _writable(target.parent):
            os.replace(tmp, target)  # one atomic step: the damaged file or the good one
            fsync_dir(target.parent)
        return True


def repair_bag(archive: Archive, bag_id: str, *, partner_name: str | None = None) -> RepairResult:
    """Restore damaged or missing payload files of ``bag_id`` from partners' copies.

    Crash-safe: the repair is recorded as ``pending`` in the ledger before any
    file is replaced, each file is replaced by one rename, and the re-verification
    and the ``repair`` event close it. A run killed at any point leaves each file
    damaged or good, never half-written; the next run finishes the repair and its
    record (a bag found whole under a pending repair is recorded as repaired).
    """
    archive.require()
    bag_dir = require_bag(archive, bag_id)
    with exclusive_lock(archive.locks / f"repair-{bag_id}.lock") as locked:
        if not locked:
            raise UsageError(f"another repair of {bag_id} is running; try again when it ends")
        staging = archive.root / f"{TMP_PREFIX}repair-{bag_id}"
        if staging.exists():  # what a killed run had fetched, never inside the payload
            remove_tree(staging)
        staging.mkdir()
        try:
            return _repair(archive, bag_dir, partner_name, staging)
        finally:
            remove_tree(staging)


def _repair(
    archive: Archive, bag_dir: Path, partner_name: str | None, staging: Path
) -> RepairResult:
    from strongroom.share import transfer
    from strongroom.verify.validate import validate_bag

    bag_id = bag_dir.name
    report = validate_bag(bag_dir, "full")
    result = RepairResult(bag_id=bag_id, ok=report.valid)
    pending = _pending(archive, bag_id)
    if report.valid:
        if pending is not None:  # a killed run had finished the files, not the record
            result.damaged = list(pending.get("files") or [])
            result.resumed = True
            _reverify(archive, bag_dir, result)
        return result
    damaged, other = _damage(report)
    _trust_manifests(archive, bag_dir, report)
    result.damaged = damaged
    result.problems += other
    rows = _good_copies(archive, bag_id, partner_name, damaged)
    partners = {p.name: p for p in load_partners(archive)}
    digests = transfer.manifest_digests(bag_dir)
    job = _Repair(archive, bag_dir, partners, rows, digests, _oxum_bytes(bag_dir), result, staging)
    with open_ledger(archive.root) as ledger:
        ledger.record_event(
            REPAIR, PENDING, bag_id=bag_id, actor=archive.config.operator, detail={"files": damaged}
        )
    for rel in damaged:
        job.file(rel)
    for name in sorted(job.bad_copies):
        record_copy(archive, bag_id, partners[name], "damaged", _location(rows, name))
    _reverify(archive, bag_dir, result)
    return result


def _pending(archive: Archive, bag_id: str) -> dict[str, Any] | None:
    """The detail of a repair that a killed run left pending, if any."""
    with open_ledger(archive.root) as ledger:
        last = ledger.events(bag_id, types=(REPAIR,), limit=1)
    return last[0]["detail"] if last and last[0]["outcome"] == PENDING else None


def _reverify(archive: Archive, bag_dir: Path, result: RepairResult) -> None:
    """Verify the whole bag again, as ``verify`` would, and record the repair and the run.

    The re-verification is a fixity run like any other (a ``fixity_runs`` row and a
    ``fixity check`` custody event), so ``history``, ``status`` and the report show
    the repaired bag valid again instead of the last failed check.
    """
    from strongroom.verify import fixity

    run = fixity.verify_one(archive, fixity.Target(bag_dir, result.bag_id), "full", record=False)
    result.ok = run.result == "valid"
    if not result.ok:
        found = [p.message for p in run.problems] or [run.error or "verification failed"]
        result.problems += [m for m in found if m not in result.problems]
    fixity.record_run(archive, run)
    if result.repaired or result.unrepaired or result.resumed:
        _record_repair(archive, result)  # last: it closes the pending repair


def _record_repair(archive: Archive, result: RepairResult) -> None:
    detail = {
        "repaired": result.repaired,
        "unrepaired": result.unrepaired,
        "refused_sources": result.refused_sources,
        "valid_after": result.ok,
        "resumed": result.resumed,
    }
    outcome = "success" if result.ok else "failure"
    custody.record_event(
        archive,
        result.bag_id,
        REPAIR,
        outcome=outcome,
        inputs={
            "files": result.damaged,
            "from": sorted({r["source"] for r in result.repaired}),
        },
        detail=detail,
        ledger_detail=detail,
    )


def _location(rows: list[dict[str, Any]], partner: str) -> str:
    return next(r["location"] for r in rows if r["partner"] == partner)
