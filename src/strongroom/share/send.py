"""Sending a copy of a bag to a partner, and the ledger's record of copies.

Sending runs, in order: the exit policy (:mod:`strongroom.share.policy`), a
full local validation (a damaged bag is never sent), the transfer to a
temporary name and a rename, a confirmation of the copy where it landed, and
the record of the copy in the ledger ``copies`` table and in the bag's custody
log.

The transports themselves (directory copy, rsync over SSH, remote checks) live
in :mod:`strongroom.share.transfer`; partners in :mod:`strongroom.share.partners`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strongroom.bag import custody
from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger
from strongroom.errors import ProblemFound
from strongroom.share.partners import Partner, get_partner
from strongroom.share.policy import (
    Exit,
    ExitRefused,
    check_exit,
    exit_reasons,
    require_bag,
    validate_or_refuse,
)

REPLICATION = "replication"


@dataclass
class ShareResult:
    """What ``share_bag`` did."""

    bag_id: str
    partner: str
    transport: str
    location: str
    jurisdiction: str
    files: int
    bytes: int
    confirmed_by: str
    overridden: list[str] = field(default_factory=list)
    already_there: bool = False
    dependencies: list[str] = field(default_factory=list)  # sent (or confirmed) first

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def copy_rows(archive: Archive, bag_id: str) -> list[dict[str, Any]]:
    """The ledger's rows for copies of ``bag_id`` at partners."""
    with open_ledger(archive.root) as ledger:
        return ledger.copies(bag_id)


def record_copy(
    archive: Archive, bag_id: str, partner: Partner, status: str, location: str | None = None
) -> None:
    """Insert or update the ledger row for the copy of ``bag_id`` at ``partner``."""
    with open_ledger(archive.root) as ledger:
        ledger.record_copy(
            bag_id,
            partner=partner.name,
            location=location or partner.location(bag_id),
            jurisdiction=partner.jurisdiction,
            status=status,
        )


def _transfer(archive: Archive, bag_dir: Path, partner: Partner) -> tuple[list[str], str, bool]:
    """Send the bag and its custody log; return (problems with the copy, how it was
    checked, whether the copy was there already).

    A copy already at the partner is never overwritten: it is checked against our
    manifests instead, so sharing twice confirms the copy rather than failing.
    """
    from strongroom.share import transfer

    custody_log = archive.custody_path(bag_dir.name)
    known_hosts = archive.keys / "known_hosts"
    # the head of the log, signed: the partner can tell a log cut short in transit
    head = json.dumps(custody.signed_head(archive, bag_dir.name), sort_keys=True).encode()
    already = False
    try:
        if partner.transport == "dir":
            assert partner.path is not None  # partners.toml requires it for dir
            transfer.send_dir(bag_dir, custody_log, partner.path, head)
        else:
            transfer.send_rsync(bag_dir, custody_log, partner, known_hosts, head)
    except transfer.AlreadyThere:
        already = True
    if partner.transport == "dir":
        assert partner.path is not None
        problems = transfer.confirm_dir(bag_dir, partner.path / bag_dir.name)
        how = "re-hashed at the destination"
    else:
        problems, how = transfer.confirm_ssh(bag_dir, partner, known_hosts)
    return problems, (f"already there; {how}" if already else how), already


def share_bag(
    archive: Archive,
    bag_id: str,
    partner_name: str,
    *,
    override: bool = False,
    reason: str | None = None,
) -> ShareResult:
    """Send ``bag_id`` to a partner: policy, verify, transfer, confirm, record.

    A bag that declares ``Depends-On`` goes with its closure: every dependency is
    checked against the same exit policy first (the bag is refused when one may
    not go), and the dependencies are sent, oldest first, before the bag.
    """
    from strongroom.bag.closure import closure

    archive.require()
    require_bag(archive, bag_id)
    partner = get_partner(archive, partner_name)
    way = Exit.partner(partner, "share")
    deps = closure(archive, bag_id)  # ProblemFound when the closure is incomplete here
    _closure_may_go(archive, bag_id, deps, way, override)
    overridden = check_exit(archive, bag_id, way, override=override, reason=reason)
    for dep in deps:
        overridden += check_exit(archive, dep, way, override=override, reason=reason)
    for dep in deps:
        _send(archive, dep, partner)
    result = _send(archive, bag_id, partner)
    result.overridden = overridden
    result.dependencies = deps
    return result


def _closure_may_go(
    archive: Archive, bag_id: str, deps: list[str], way: Exit, override: bool
) -> None:
    """Refuse the bag, before anything is sent, when a dependency may not go."""
    for dep in deps:
        why = exit_reasons(archive, dep, way)
        if why and not override:
            raise ExitRefused(
                f"refusing to share {bag_id} to {way.to}: it depends on {dep} (its revisits"
                f" point there), which may not go: {'; '.join(why)}"
                ' (use --override --reason "..." to overrule, which is logged)',
                why,
            )


def _send(archive: Archive, bag_id: str, partner: Partner) -> ShareResult:
    """Verify, transfer, confirm and record one bag (the policy was checked already)."""
    bag_dir = require_bag(archive, bag_id)
    report = validate_or_refuse(bag_dir, "not sent")
    problems, confirmed_by, already = _transfer(archive, bag_dir, partner)
    where = partner.location(bag_id)
    if problems:
        record_copy(archive, bag_id, partner, "damaged", where)
        _log(archive, bag_id, REPLICATION, "failure", partner, where, {"problems": problems})
        left = "a copy that was already there and was left alone" if already else "the copy"
        raise ProblemFound(
            f"{left} of {bag_id} at {partner.name} ({where}) does not match: "
            + "; ".join(problems[:5])
        )
    record_copy(archive, bag_id, partner, "ok", where)
    detail = {"confirmed_by": confirmed_by, "files": report.files, "bytes": report.bytes}
    _log(archive, bag_id, REPLICATION, "success", partner, where, detail)
    return ShareResult(
        bag_id=bag_id,
        partner=partner.name,
        transport=partner.transport,
        location=where,
        jurisdiction=partner.jurisdiction,
        files=report.files,
        bytes=report.bytes,
        confirmed_by=confirmed_by,
        already_there=already,
    )


def _log(
    archive: Archive,
    bag_id: str,
    action: str,
    outcome: str,
    partner: Partner,
    location: str,
    detail: dict[str, Any],
) -> None:
    """The same event in the custody log and in the ledger."""
    inputs = {
        "partner": partner.name,
        "location": location,
        "jurisdiction": partner.jurisdiction,
        "transport": partner.transport,
    }
    custody.record_event(archive, bag_id, action, outcome=outcome, inputs=inputs, detail=detail)
