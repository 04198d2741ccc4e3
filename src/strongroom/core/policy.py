"""Legal designations and access levels.

A designation says that an organisation is, for example, an "undesirable
organization" in Russia since 2024-02-20. Designations come from the
collection file and from an archive-wide ``designations.toml``, and are matched
to seeds and bags by host. They drive a bag's default access level and the
sharing policy: a bag never goes to a partner in a jurisdiction where one of its
publishers is designated.

Access levels, from open to closed: ``public``, ``restricted`` (staff only),
``dark`` (kept, never shown or shared). A bag's level is set at bagging and
changed later only by appending an ``access change`` event to its custody log,
so the bag itself is never rewritten.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from urllib.parse import urlsplit

from strongroom.bag import custody
from strongroom.bag.baginfo import first, read_bag_info, values
from strongroom.core.archive import Archive
from strongroom.core.collection import ACCESS_LEVELS, Collection, Designation
from strongroom.core.ledger import open_ledger
from strongroom.errors import UsageError

ACCESS_ORDER = {level: i for i, level in enumerate(ACCESS_LEVELS)}
ACCESS_CHANGE = "access change"


def stricter(a: str, b: str) -> str:
    """The more closed of two access levels."""
    return a if ACCESS_ORDER[a] >= ACCESS_ORDER[b] else b


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def all_designations(archive: Archive, collection: Collection | None = None) -> list[Designation]:
    """The collection's designations plus the archive-wide ones, without duplicates."""
    seen: dict[tuple[str, str, str, tuple[str, ...]], Designation] = {}
    for d in (*(collection.designations if collection else ()), *archive.designations()):
        seen.setdefault((d.organization, d.jurisdiction, d.kind, d.hosts), d)
    return list(seen.values())


def designations_for_urls(
    urls: Iterable[str], designations: Iterable[Designation]
) -> list[Designation]:
    """The designations whose hosts publish any of ``urls``."""
    hosts = {host_of(u) for u in urls}
    return [d for d in designations if any(d.matches_host(h) for h in hosts)]


def default_access(collection_access: str, designated: bool) -> str:
    """A designated publisher makes a bag at least ``restricted``."""
    return stricter(collection_access, "restricted") if designated else collection_access


def parse_designation_label(label: str) -> Designation | None:
    """Turn ``RFE/RL; RU; undesirable; since 2024-02-20`` back into a Designation."""
    parts = [p.strip() for p in label.split(";")]
    if len(parts) < 3:
        return None
    since = None
    if len(parts) > 3 and parts[3].startswith("since "):
        try:
            since = dt.date.fromisoformat(parts[3][6:].strip())
        except ValueError:
            since = None
    return Designation(
        organization=parts[0], hosts=(), jurisdiction=parts[1].upper(), kind=parts[2], since=since
    )


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
