"""Legal designations and access levels: the rules, apart from any bag.

A designation says that an organisation is, for example, an "undesirable
organization" in Russia since 2024-02-20. Designations come from the
collection file and from an archive-wide ``designations.toml``, and are matched
to seeds and bags by host. They drive a bag's default access level and the
sharing policy: a bag never goes to a partner in a jurisdiction where one of its
publishers is designated.

Access levels, from open to closed: ``public``, ``restricted`` (staff only),
``dark`` (kept, never shown or shared). What a given bag's level and
designations are now is read from the bag and its custody log by
:mod:`strongroom.bag.access`; the one exit policy that every way out of the
archive asks (share, export, WACZ, replay) is :mod:`strongroom.share.policy`.
This module imports no room: the floor depends on nothing above it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from urllib.parse import urlsplit

from strongroom.core.archive import Archive
from strongroom.core.collection import ACCESS_LEVELS, Collection, Designation

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
