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
from strongroom.core.fsutil import fsync_dir
from strongroom.errors import ProblemFound, UsageError

REPAIR = "repair"
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
    from strongroom.share.send import trusted_keyring

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


def repair_bag(archive: Archive, bag_id: str, *, partner_name: str | None = None) -> RepairResult:
    """Restore damaged or missing payload files of ``bag_id`` from partners' copies."""
    from strongroom.share import send as share
    from strongroom.share import transfer
    from strongroom.verify.validate import validate_bag

    archive.require()
    bag_dir = share.require_bag(archive, bag_id)
    report = validate_bag(bag_dir, "full")
    result = RepairResult(bag_id=bag_id, ok=report.valid)
    if report.valid:
        return result
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
    _trust_manifests(archive, bag_dir, report)
    result.damaged = damaged
    result.problems += other
    partners = {p.name: p for p in share.load_partners(archive)}
    if partner_name and partner_name not in partners:
        share.get_partner(archive, partner_name)  # raises with the list of names
    rows = [
        r
        for r in share.copy_rows(archive, bag_id)
        if r["status"] == "ok" and (partner_name is None or r["partner"] == partner_name)
    ]
    if not rows:
        which = f" at {partner_name}" if partner_name else ""
        raise ProblemFound(
            f"{bag_id}: {len(damaged)} damaged file(s) but no good copy{which} is recorded"
            " to repair from (share it first; `strongroom status` lists copies)"
        )
    digests = transfer.manifest_digests(bag_dir)
    limit = _oxum_bytes(bag_dir)
    known_hosts = archive.keys / "known_hosts"
    bad_copies: set[str] = set()
    for rel in damaged:
        wanted = digests.get(rel)
        if not wanted:
            result.unrepaired.append(rel)
            continue
        target = bag_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        done = False
        for row in rows:
            partner = partners.get(row["partner"])
            label = f"{row['partner']} ({row['location']})"
            if partner is None:
                result.refused_sources.append(f"{label}: no longer in partners.toml")
                continue
            try:
                with _writable(target.parent):
                    tmp = transfer.fetch_file(
                        partner, row["location"], rel, target.parent, known_hosts, limit
                    )
                    try:
                        found = transfer.hash_file(tmp, sorted(wanted))
                        bad = [a for a, d in wanted.items() if found[a] != d]
                        if bad:
                            result.refused_sources.append(
                                f"{rel} at {label}: {', '.join(bad)} does not match the"
                                " manifest; not used"
                            )
                            bad_copies.add(row["partner"])
                            tmp.unlink()
                            continue
                        os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
                        os.replace(tmp, target)
                        fsync_dir(target.parent)
                    except BaseException:
                        with contextlib.suppress(FileNotFoundError):
                            tmp.unlink()
                        raise
            except (ProblemFound, UsageError, OSError) as exc:
                why = getattr(exc, "strerror", None) or str(exc)
                result.refused_sources.append(f"{rel} at {label}: {why}")
                continue
            result.repaired.append(
                {"file": rel, "source": row["partner"], "location": row["location"]}
            )
            done = True
            break
        if not done:
            result.unrepaired.append(rel)
    for name in sorted(bad_copies):
        share.record_copy(archive, bag_id, partners[name], "damaged", _location(rows, name))
    after = validate_bag(bag_dir, "full")
    result.ok = after.valid
    if not after.valid:
        result.problems += [p.message for p in after.problems if p.message not in result.problems]
    if result.repaired or result.unrepaired:
        detail = {
            "repaired": result.repaired,
            "unrepaired": result.unrepaired,
            "refused_sources": result.refused_sources,
            "valid_after": after.valid,
        }
        outcome = "success" if result.ok else "failure"
        custody.record_event(
            archive,
            bag_id,
            REPAIR,
            outcome=outcome,
            inputs={"files": damaged, "from": sorted({r["source"] for r in result.repaired})},
            detail=detail,
            ledger_detail=detail,
        )
    return result


def _location(rows: list[dict[str, Any]], partner: str) -> str:
    return next(r["location"] for r in rows if r["partner"] == partner)
