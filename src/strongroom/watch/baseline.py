"""The baseline of a seed: the page as recorded in the seed's latest bag.

Bags are only ever read. A revisit record is followed to its original payload, in
this bag or (for bags made with archive-wide deduplication) another.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from strongroom.bag.baginfo import first, read_bag_info, values
from strongroom.core.archive import Archive
from strongroom.core.collection import DEFAULT_COLLECTION_ID, Collection, Seed
from strongroom.errors import UsageError
from strongroom.watch.statuses import MAX_BODY

if TYPE_CHECKING:
    from strongroom.watch.text import Page


@dataclass
class BagRef:
    bag_id: str
    group: str
    date: str
    is_version_of: str
    seeds: list[str]


@dataclass
class Target:
    """A seed to watch and the bag that holds its latest capture."""

    url: str
    collection_id: str
    bag_id: str | None
    bags: list[str] = field(default_factory=list)  # every bag with this seed, oldest first
    seed: Seed | None = None


def bag_refs(archive: Archive) -> list[BagRef]:
    """The labels watch needs from every bag in the archive."""
    refs = []
    for bag_id in archive.bag_ids():
        info = read_bag_info(archive.bag_dir(bag_id))
        refs.append(
            BagRef(
                bag_id=bag_id,
                group=first(info, "Bag-Group-Identifier"),
                date=first(info, "Bagging-Date"),
                is_version_of=first(info, "Is-Version-Of"),
                seeds=values(info, "Seed-URL"),
            )
        )
    return refs


def latest_bag(refs: Sequence[BagRef]) -> BagRef | None:
    """The newest of several bags of one seed.

    A bag another one names in ``Is-Version-Of`` has been superseded, whatever
    the dates say (Bagging-Date is often only a day). Among the rest the latest
    Bagging-Date wins, then the bag id (which embeds the capture time).
    """
    if not refs:
        return None
    superseded = {r.is_version_of for r in refs if r.is_version_of}
    heads = [r for r in refs if r.bag_id not in superseded] or list(refs)
    return max(heads, key=lambda r: (r.date, r.bag_id))


def targets(archive: Archive, collection: Collection | None = None) -> list[Target]:
    """The seeds to watch: every seed of every bag, or one collection's seeds."""
    refs = bag_refs(archive)
    by_url: dict[str, list[BagRef]] = {}
    for r in refs:
        for url in r.seeds:
            by_url.setdefault(url, []).append(r)
    out: list[Target] = []
    if collection is None:
        for url in sorted(by_url):
            found = sorted(by_url[url], key=lambda r: (r.date, r.bag_id))
            head = latest_bag(found)
            assert head is not None
            out.append(
                Target(
                    url=url,
                    collection_id=head.group or DEFAULT_COLLECTION_ID,
                    bag_id=head.bag_id,
                    bags=[r.bag_id for r in found],
                )
            )
        return out
    for seed in collection.seeds:
        found = [r for r in by_url.get(seed.url, []) if r.group in ("", collection.id)]
        found.sort(key=lambda r: (r.date, r.bag_id))
        head = latest_bag(found)
        out.append(
            Target(
                url=seed.url,
                collection_id=collection.id,
                bag_id=head.bag_id if head else None,
                bags=[r.bag_id for r in found],
                seed=seed,
            )
        )
    return out


def _bag_warcs(bag_dir: Path) -> list[Path]:
    """The bag's WARC files; symlinks are refused (a hostile bag could point anywhere)."""
    warc_dir = bag_dir / "data" / "warc"
    if not warc_dir.is_dir() or warc_dir.is_symlink():
        return []
    return sorted(
        p
        for p in warc_dir.iterdir()
        if p.name.endswith((".warc.gz", ".warc")) and p.is_file() and not p.is_symlink()
    )


@dataclass
class _Rec:
    rec_type: str
    uri: str
    date: str
    record_id: str
    status: int | None
    location: str | None
    content_type: str
    body: bytes | None  # None for revisits
    refers_to_uri: str = ""
    refers_to_date: str = ""
    payload_digest: str = ""
    path: Path | None = None
    offset: int = -1


def _read_records(
    paths: Iterable[Path],
    wanted: Callable[[str, str, str], bool],
    bodies: bool = True,
) -> list[_Rec]:
    """Response and revisit records that ``wanted(uri, record_id, digest)`` selects.

    With ``bodies=False`` only headers are kept, so scanning a bag full of
    images and video costs no memory.
    """
    from strongroom.warc.read import WarcReadError, iter_many

    out: list[_Rec] = []
    try:
        for rec in iter_many(paths):
            if rec.rec_type not in ("response", "revisit"):
                continue
            uri, rid, digest = rec.target_uri, rec.record_id, rec.payload_digest
            if not wanted(uri, rid, digest):
                continue
            body = None
            if rec.rec_type == "response" and bodies:
                body = rec.body(MAX_BODY)[:MAX_BODY]  # de-chunked, decoded; the cap stops a bomb
            out.append(
                _Rec(
                    rec_type=rec.rec_type,
                    uri=uri,
                    date=rec.date,
                    record_id=rid,
                    status=rec.http_status,
                    location=rec.http_header("Location") or None,
                    content_type=rec.http_header("Content-Type"),
                    body=body,
                    refers_to_uri=rec.header("WARC-Refers-To-Target-URI"),
                    refers_to_date=rec.header("WARC-Refers-To-Date"),
                    payload_digest=digest,
                    path=rec.path,
                    offset=rec.offset,
                )
            )
    except WarcReadError as exc:
        raise UsageError(f"{exc.path}: cannot read WARC ({exc.reason})") from None
    return out


def _resolve_revisit(archive: Archive, rec: _Rec, skip: Path | None) -> _Rec | None:
    """The original response a revisit record points to, in this or another bag.

    The ledger's payload-digest index names the capture and WARC file; failing
    that, every bag is scanned for the referred-to URI and date.
    """
    paths = archive.payload_origins(rec.payload_digest)
    target_uri = rec.refers_to_uri or rec.uri

    def wanted(uri: str, _rid: str, digest: str) -> bool:
        return uri == target_uri and (not rec.payload_digest or digest == rec.payload_digest)

    def pick(found: list[_Rec]) -> _Rec | None:
        found = [r for r in found if r.rec_type == "response"]
        exact = [r for r in found if not rec.refers_to_date or r.date == rec.refers_to_date]
        best = exact or found
        return best[0] if best else None

    if paths:
        hit = pick(_read_records(paths, wanted))
        if hit:
            return hit
    for bag_id in archive.bag_ids():
        bag_paths = [p for p in _bag_warcs(archive.bag_dir(bag_id)) if p.parent != skip]
        hit = pick(_read_records(bag_paths, wanted))
        if hit:
            return hit
    return None


def _read_body_at(rec: _Rec) -> _Rec:
    """``rec`` with its body, read from its recorded place (one record, not the whole file)."""
    from strongroom.warc.read import WarcReadError, record_at

    if rec.path is None or rec.offset < 0:
        return rec
    try:
        with record_at(rec.path, rec.offset) as found:
            return dataclasses.replace(rec, body=found.body(MAX_BODY)[:MAX_BODY])
    except WarcReadError as exc:
        raise UsageError(f"{rec.path}: cannot read WARC ({exc.reason})") from None


def _by_record_id(record_id: str) -> Callable[[str, str, str], bool]:
    """A selector for ``_read_records`` that keeps one record."""
    return lambda _uri, rid, _digest: rid == record_id


def _index(recs: Iterable[_Rec]) -> dict[str, _Rec]:
    """The record that stands for each URI: a full response over a revisit, else the last."""
    by_uri: dict[str, _Rec] = {}
    for r in recs:
        if r.uri not in by_uri or r.rec_type == "response" or by_uri[r.uri].rec_type == "revisit":
            by_uri[r.uri] = r
    return by_uri


def _baseline_from(archive: Archive, by_uri: dict[str, _Rec], url: str) -> Page | None:
    """Follow recorded redirects and revisits from ``url`` to the page a reader got."""
    # imported here: status and the report use this module's targets, never its pages
    from strongroom.watch.text import Page, decode_body

    current = url
    seen: set[str] = set()
    while current in by_uri and current not in seen:
        seen.add(current)
        rec = by_uri[current]
        if rec.status is not None and 300 <= rec.status < 400 and rec.location:
            current = urljoin(current, rec.location.strip())
            continue
        if rec.rec_type == "revisit":
            original = _resolve_revisit(archive, rec, skip=None)
            if original is None or original.body is None:
                return None
            rec = dataclasses.replace(original, status=rec.status or original.status)
        if rec.body is None:
            rec = _read_body_at(rec)
        if rec.body is None:
            return None
        return Page.from_html(current, rec.status, decode_body(rec.body, rec.content_type))
    return None


def load_baseline(archive: Archive, bag_id: str, url: str) -> Page | None:
    """The seed's page as recorded in a bag, following recorded redirects and revisits."""
    # Headers first, to find the chain of redirects; then the one body that matters.
    warcs = _bag_warcs(archive.bag_dir(bag_id))
    return _baseline_from(archive, _index(_read_records(warcs, _any, bodies=False)), url)


def _any(_uri: str, _rid: str, _digest: str) -> bool:
    return True


class BaselineCache:
    """Baselines for one watch run, safe to share between worker threads.

    A collection bag often holds many seeds: its WARC headers are indexed once
    per run, not once per seed, and each seed then reads only its own record.
    """

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self._lock = threading.Lock()
        self._bags: dict[str, dict[str, _Rec] | UsageError] = {}
        self._bag_locks: dict[str, threading.Lock] = {}

    def _records(self, bag_id: str) -> dict[str, _Rec]:
        with self._lock:
            lock = self._bag_locks.setdefault(bag_id, threading.Lock())
        with lock:  # one thread indexes a bag; the others wait for its index
            if bag_id not in self._bags:
                warcs = _bag_warcs(self.archive.bag_dir(bag_id))
                try:
                    self._bags[bag_id] = _index(_read_records(warcs, _any, bodies=False))
                except UsageError as exc:
                    self._bags[bag_id] = exc
            found = self._bags[bag_id]
        if isinstance(found, UsageError):
            raise found
        return found

    def page(self, bag_id: str | None, url: str) -> tuple[Page | None, str | None]:
        """(baseline page or None, why it could not be read or None)."""
        if not bag_id:
            return None, None
        try:
            return _baseline_from(self.archive, self._records(bag_id), url), None
        except UsageError as exc:
            return None, exc.message
