"""A bag's access level and designations now, as the exit policy reads them.

A bag's level is set at bagging (bag-info ``Access``) and changed later only by
appending an ``access change`` event to its custody log, so the bag itself is
never rewritten. Its designations are those frozen in bag-info plus the
archive-wide ones that match its seeds today. The rules themselves (levels,
matching by host, the default level) are in :mod:`strongroom.core.policy`;
every way out of the archive (share, export, WACZ, replay) asks
:mod:`strongroom.share.policy`, which reads the bag through this module.
"""

from __future__ import annotations

from strongroom.bag import custody
from strongroom.bag.baginfo import first, read_bag_info, values
from strongroom.core.archive import Archive
from strongroom.core.collection import ACCESS_LEVELS, Designation
from strongroom.core.ledger import open_ledger
from strongroom.core.policy import (
    ACCESS_CHANGE,
    ACCESS_ORDER,
    designations_for_urls,
    parse_designation_label,
)
from strongroom.errors import UsageError


def bag_designations(archive: Archive, bag_id: str) -> list[Designation]:
    """Designations of a bag: those frozen in bag-info, plus archive-wide ones that
    match its seeds today (a publisher can be designated after the capture)."""
    info = read_bag_info(archive.bag_dir(bag_id))
    found = [d for d in (parse_designation_label(v) for v in values(info, "Designation")) if d]
    seeds = values(info, "Seed-URL")
    for d in designations_for_urls(seeds, archive.designations()):
        if not any(
            x.organization == d.organization and x.jurisdiction == d.jurisdiction for x in found
        ):
            found.append(d)
    return found


def current_access(archive: Archive, bag_id: str) -> str:
    """The bag's access level now: the last access change in its custody log, else bag-info."""
    level = ""
    for entry in custody.read_entries(archive.custody_path(bag_id)):
        if entry.get("action") == ACCESS_CHANGE and entry.get("outcome") == "success":
            to = (entry.get("inputs") or {}).get("to")
            if to in ACCESS_ORDER:
                level = to
    if level:
        return level
    level = first(read_bag_info(archive.bag_dir(bag_id)), "Access").lower()
    return level if level in ACCESS_ORDER else archive.config.default_access


def set_access(
    archive: Archive, bag_id: str, level: str, *, reason: str, actor: str | None = None
) -> dict[str, object]:
    """Change a bag's access level by appending to its custody log; return the event."""
    if level not in ACCESS_ORDER:
        raise UsageError(f"access level must be one of {', '.join(ACCESS_LEVELS)}, not {level!r}")
    if not reason or not reason.strip():
        raise UsageError("an access change needs --reason, so the custody log says why")
    if not (archive.bag_dir(bag_id) / "bagit.txt").exists():
        raise UsageError(f"no bag {bag_id!r} in {archive.bags}")
    before = current_access(archive, bag_id)
    inputs = {"from": before, "to": level, "reason": reason.strip()}
    with open_ledger(archive.root) as ledger:
        entry = custody.record_event(
            archive,
            bag_id,
            ACCESS_CHANGE,
            outcome="success",
            inputs=inputs,
            actor=actor,
            ledger=ledger,
        )
        ledger.set_access(bag_id, level)
    assert entry is not None
    return entry
