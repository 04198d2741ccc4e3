"""Replay through pywb: the folder pywb serves, built from bags (bags are only read).

We do not write a replay engine: pywb is the field's standard one. This module
builds what pywb needs inside ``<archive>/replay/``; :mod:`~strongroom.replay.serve`
starts it, :mod:`~strongroom.replay.access` decides who sees what (ACL, staff
guard, Content-Security-Policy), :mod:`~strongroom.replay.wacz` exports WACZ:

* one pywb collection per (strongroom collection, access group): ``<id>`` holds
  the public bags, ``<id>-restricted`` the restricted ones. Grouping by access
  keeps pywb's URL-keyed rules exact: a restricted capture of a stylesheet can
  never block (or unlock) the same stylesheet in a public bag;
* ``collections/<name>/indexes/index.cdxj`` made by cdxj-indexer from the bags'
  WARCs, which are referenced in place (``archive_paths``); bags stay read-only;
* ``collections/<name>/acl/access.aclj``: pywb access-control rules. Restricted
  (and embargoed) collections answer 451 ``block`` unless the request carries
  ``X-Pywb-ACL-User: staff``, a header set by the archivist's reverse proxy.
  Dark bags are never indexed, and their URLs get ``exclude`` rules (404, not
  listed) in the public collection as a second line of defence;
* ``config.yaml`` naming exactly those collections, ``config-open.yaml`` naming
  only the open ones (what a visitor who is not staff is served from: pywb's
  cdx, timemap, ``id_`` and listing endpoints ignore its ACL), and
  ``access.json`` listing the blocked ones.

The replay folder is a derived cache: every build replaces it whole, so a bag
that turned dark since the last build disappears from replay at once.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from strongroom.bag.baginfo import first, read_bag_info, values
from strongroom.bag.record import bag_capture_record
from strongroom.core.archive import Archive
from strongroom.core.collection import Collection
from strongroom.core.fsutil import atomic_write_text, fsync_tree, tmp_name, translated
from strongroom.errors import ProblemFound, UsageError
from strongroom.replay.access import (
    ACCESS_FILE,
    CSP,
    DEFAULT_PORT,
    NGINX_SNIPPET,
    STAFF_HEADER,
    STAFF_USER,
    access_json,
    surt_key,
)
from strongroom.replay.access import acl_lines as _acl_lines
from strongroom.replay.serve import ReplayServer, free_port, is_loopback, start

__all__ = [  # the serving and access names too, so callers keep one import
    "CSP", "DEFAULT_PORT", "NGINX_SNIPPET", "STAFF_HEADER", "STAFF_USER", "ReplayBag",
    "ReplayBuild", "ReplayCollection", "ReplaySeed", "ReplayServer", "acl_lines", "build",
    "free_port", "is_loopback", "read_bag", "replay_url", "select_bags", "start", "surt_key",
]  # fmt: skip
_CAPTURE_ID_RE = re.compile(r"-(\d{8}T\d{6}Z-[0-9a-f]{6})$")


@dataclass
class ReplayBag:
    """What replay needs to know about one bag."""

    bag_id: str
    collection_id: str
    access: str
    warcs: list[Path]
    seeds: list[str]
    pages: list[str]
    title: str = ""
    embargo_until: dt.date | None = None
    problem: str = ""  # why its capture record was not used (see bag.record)


@dataclass
class ReplayCollection:
    """One pywb collection: its name, access group and bags."""

    name: str
    collection_id: str
    group: str  # public | restricted
    bags: list[ReplayBag] = field(default_factory=list)
    embargo_until: dt.date | None = None
    excluded_urls: list[str] = field(default_factory=list)
    sources: list[ReplayBag] = field(default_factory=list)  # bags holding revisit originals

    @property
    def blocked(self) -> bool:
        return self.group == "restricted" or self.embargo_until is not None


@dataclass
class ReplaySeed:
    """A seed with where to see it."""

    url: str
    collection: str
    timestamp: str
    bag_id: str
    access: str
    embargo_until: dt.date | None = None

    def path(self) -> str:
        return f"/{self.collection}/{self.timestamp}/{self.url}"


@dataclass
class ReplayBuild:
    """The result of ``build``: the pywb folder, its collections, and the seeds."""

    root: Path
    collections: list[ReplayCollection]
    seeds: list[ReplaySeed]
    dark: list[str]
    problems: list[str] = field(default_factory=list)  # bags whose capture record is unused

    def as_dict(self, base: str = "") -> dict[str, Any]:
        return {
            "replay_root": str(self.root),
            "collections": [
                {
                    "name": c.name,
                    "collection_id": c.collection_id,
                    "access": c.group,
                    "embargo_until": c.embargo_until.isoformat() if c.embargo_until else None,
                    "bags": [b.bag_id for b in c.bags],
                }
                for c in self.collections
            ],
            "seeds": [
                {
                    "url": s.url,
                    "bag_id": s.bag_id,
                    "access": s.access,
                    "replay_url": base + s.path() if base else s.path(),
                }
                for s in self.seeds
            ],
            "dark_bags": self.dark,
            "problems": self.problems,
        }


# --- reading bags -------------------------------------------------------------
def _date(value: object) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def read_bag(archive: Archive, bag_id: str) -> ReplayBag:
    """Collect a bag's WARCs, seeds, pages and current access level."""
    from strongroom.bag.access import current_access

    bag_dir = archive.bag_dir(bag_id)
    if not (bag_dir / "bagit.txt").is_file():
        raise UsageError(f"no bag {bag_id!r} in {archive.bags}")
    warc_dir = bag_dir / "data" / "warc"
    warcs = (
        sorted(
            p
            for p in warc_dir.iterdir()
            # A symlink in a bag could point anywhere on this machine: not served.
            if p.is_file() and not p.is_symlink() and p.name.endswith((".warc.gz", ".warc"))
        )
        if warc_dir.is_dir()
        else []
    )
    info = read_bag_info(bag_dir)
    record, problem = bag_capture_record(bag_dir)  # None: bag-info alone
    coll = record.collection if record else None
    m = _CAPTURE_ID_RE.search(bag_id)
    collection_id = (coll.id if coll else "") or (bag_id[: m.start()] if m else bag_id)
    seeds = values(info, "Seed-URL") or (record.seed_urls if record else [])
    pages = [p.final_url or p.url for p in record.pages] if record else []
    return ReplayBag(
        bag_id=bag_id,
        collection_id=re.sub(r"[^a-z0-9._-]", "-", collection_id.lower()) or "bags",
        access=current_access(archive, bag_id),
        warcs=warcs,
        seeds=seeds,
        pages=pages,
        title=(coll.title if coll else "") or first(info, "External-Description"),
        embargo_until=_date(first(info, "Embargo-Until") or (coll.embargo_until if coll else "")),
        problem=problem,
    )


def select_bags(
    archive: Archive, *, bag_ids: Iterable[str] = (), collection: Collection | None = None
) -> list[str]:
    """The bags to replay: those named, those of a collection, or every bag."""
    archive.require()
    known = archive.bag_ids()
    wanted = [b.rstrip("/").rsplit("/", 1)[-1] for b in bag_ids]
    for b in wanted:
        if b not in known:
            raise UsageError(f"no bag {b!r} in {archive.bags} (see `strongroom status`)")
    if collection is not None:
        chosen = [b for b in known if read_bag(archive, b).collection_id == collection.id]
        if not chosen:
            raise UsageError(f"no bags of collection {collection.id!r} in {archive.bags}")
        return sorted(set(chosen) | set(wanted))
    if wanted:
        return wanted
    if not known:
        raise UsageError(f"no bags in {archive.bags}; run `strongroom archive -c FILE` first")
    return known


# --- building the pywb folder ------------------------------------------------------
def acl_lines(coll: ReplayCollection) -> list[str]:
    """pywb access rules for one collection, in the reverse order pywb searches."""
    return _acl_lines(coll.blocked, coll.excluded_urls)


def _index(warcs: list[Path], out: Path) -> None:
    """Sorted CDXJ of ``warcs`` into ``out`` with cdxj-indexer (file names only)."""
    from cdxj_indexer.main import write_cdx_index

    try:
        # Without dir_root cdxj-indexer records each WARC's base name, which pywb
        # resolves against the bags' data/warc folders listed in archive_paths.
        with open(out, "w", encoding="utf-8") as fh:
            # Only responses and revisits are replayable; the capture's JSON metadata
            # records share the page's URL and would otherwise be served instead.
            opts = {"sort": True, "post_append": True, "records": "response,revisit"}
            write_cdx_index(fh, [str(w) for w in warcs], opts)
    except Exception as exc:  # cdxj-indexer raises many kinds on damaged WARCs
        if isinstance(exc, OSError) and isinstance(translated("", exc), UsageError):
            raise  # a full or read-only disk is no damage: build() says so (exit 2)
        raise ProblemFound(f"cannot index {warcs[0].parent}: {exc}") from None
    lines = sorted(set(out.read_text("utf-8").splitlines()))
    out.write_text("".join(line + "\n" for line in lines if line.strip()), "utf-8")


def _first_capture(cdxj: Path) -> dict[tuple[str, str], str]:
    """(URL, WARC file name) -> earliest 14-digit timestamp, from an index.

    Keyed by file too, so that each bag's replay URL names its own capture, not
    the earliest capture of that URL in the whole collection.
    """
    found: dict[tuple[str, str], str] = {}
    for line in cdxj.read_text("utf-8").splitlines():
        parts = line.split(" ", 2)
        if len(parts) < 3:
            continue
        try:
            obj = json.loads(parts[2])
        except ValueError:
            continue
        url, name = obj.get("url"), Path(str(obj.get("filename", ""))).name
        if url and ((url, name) not in found or parts[1] < found[(url, name)]):
            found[(url, name)] = parts[1]
    return found


def _revisit_sources(
    archive: Archive, index: Path, coll: ReplayCollection, known: list[ReplayBag]
) -> list[ReplayBag]:
    """The bags of this collection's closure (``Depends-On``) that are not in it.

    A bag made with ``[capture] dedup = "archive"`` declares the earlier bags its
    revisit records point into; replay resolves within that closure and nowhere
    else. Only bags at most as closed as the collection qualify: a dark or
    restricted original never becomes replayable through a more open collection.
    """
    from strongroom.bag.closure import closure

    del index  # the closure is declared in bag-info; the index is not searched
    allowed = ("public",) if coll.group == "public" else ("public", "restricted")
    mine = {b.bag_id for b in coll.bags}
    by_id = {b.bag_id: b for b in known}
    out: dict[str, ReplayBag] = {}
    for member in coll.bags:
        for bag_id in closure(archive, member.bag_id):
            if bag_id in mine or bag_id in out:
                continue
            bag = by_id.get(bag_id) or read_bag(archive, bag_id)
            if bag.access in allowed and bag.warcs:
                out[bag_id] = bag
    return list(out.values())


def _yaml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid YAML scalar


def build(
    archive: Archive,
    bag_ids: list[str],
    *,
    embargo_until: dt.date | None = None,
    today: dt.date | None = None,
    root: Path | None = None,
) -> ReplayBuild:
    """Build ``<archive>/replay`` for ``bag_ids``; return collections and seed URLs.

    ``embargo_until`` (from the collection file) and each bag's own embargo
    block public replay until that date; staff still see the pages. ``root``
    defaults to ``<archive>/replay``.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    bags = [read_bag(archive, b) for b in bag_ids]
    colls, dark = _group(archive, bags, embargo_until, today)
    root = Path(root) if root else archive.replay
    final = root / "collections"
    staging = tmp_name(final)
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
    except OSError as exc:
        raise translated(f"cannot write {final}", exc) from None
    seeds: list[ReplaySeed] = []
    try:
        for coll in colls.values():
            seeds += _write_collection(archive, staging / coll.name, coll, bags)
        fsync_tree(staging)
        old = tmp_name(final)
        if final.exists():
            os.rename(final, old)
        os.rename(staging, final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):
            raise translated(f"cannot write {final}", exc) from None
        raise
    every = list(colls.values())
    opened = [c for c in every if not c.blocked]
    atomic_write_text(root / "config.yaml", _config_yaml(every))
    atomic_write_text(root / "config-open.yaml", _config_yaml(opened))
    blocked = [c.name for c in every if c.blocked]
    atomic_write_text(root / ACCESS_FILE, access_json(blocked, [c.name for c in opened]))
    problems = [b.problem for b in bags if b.problem]
    return ReplayBuild(root, every, seeds, [b.bag_id for b in dark], problems)


def _group(
    archive: Archive, bags: list[ReplayBag], embargo_until: dt.date | None, today: dt.date
) -> tuple[dict[str, ReplayCollection], list[ReplayBag]]:
    """Bags into pywb collections by audience (the one exit policy decides); dark apart."""
    from strongroom.share.policy import replay_audience

    colls: dict[str, ReplayCollection] = {}
    dark: list[ReplayBag] = []
    for bag in bags:
        group = replay_audience(archive, bag.bag_id)
        if group is None:
            dark.append(bag)
            continue
        name = bag.collection_id if group == "public" else f"{bag.collection_id}-restricted"
        coll = colls.setdefault(name, ReplayCollection(name, bag.collection_id, group))
        coll.bags.append(bag)
        until = max((d for d in (embargo_until, bag.embargo_until) if d), default=None)
        if until and until > today:
            coll.embargo_until = max(coll.embargo_until or until, until)
    for coll in colls.values():
        # A dark capture's URLs are excluded outright, even when another bag of
        # the collection would otherwise answer for them.
        shown = {u for b in coll.bags for u in (*b.seeds, *b.pages)}
        coll.excluded_urls = sorted(
            {
                u
                for b in dark
                if b.collection_id == coll.collection_id
                for u in (*b.seeds, *b.pages)
                if u not in shown
            }
        )
    return colls, dark


def _write_collection(
    archive: Archive, cdir: Path, coll: ReplayCollection, bags: list[ReplayBag]
) -> list[ReplaySeed]:
    """One pywb collection folder: its index, its access rules; return its seed URLs."""
    (cdir / "indexes").mkdir(parents=True)
    (cdir / "acl").mkdir()
    warcs = [w for b in coll.bags for w in b.warcs]
    index = cdir / "indexes" / "index.cdxj"
    if warcs:
        _index(warcs, index)
        extra = _revisit_sources(archive, index, coll, bags)
        if extra:
            # Dedup makes a later capture's revisit point at an earlier bag's
            # record; pywb resolves it through the index, so the earlier
            # (never stricter) bags are indexed here too.
            coll.sources = extra
            _index(warcs + [w for b in extra for w in b.warcs], index)
    else:
        index.write_text("", "utf-8")
    (cdir / "acl" / "access.aclj").write_text(
        "".join(line + "\n" for line in acl_lines(coll)), "utf-8"
    )
    ts = _first_capture(index)
    seeds: list[ReplaySeed] = []
    for bag in coll.bags:
        names = {w.name for w in bag.warcs}
        for url in bag.seeds:
            stamps = [t for (u, n), t in ts.items() if u == url and n in names]
            if stamps:
                seeds.append(ReplaySeed(url, coll.name, min(stamps), bag.bag_id, bag.access))
                seeds[-1].embargo_until = coll.embargo_until
    return seeds


def _config_yaml(colls: list[ReplayCollection]) -> str:
    lines = [
        "# Written by `strongroom replay`; rebuilt on every run, do not edit.",
        "# Collections are listed explicitly; bags are referenced in place.",
        "debug: false",
        "framed_replay: true",
        "enable_memento: true",
        f"csp-header: {_yaml_str(CSP)}",
        "# Only the collections below exist: no auto-discovery of folders.",
        'collections_root: "no-auto-collections"',
        "collections:",
    ]
    if not colls:
        lines[-1] = "collections: {}"
    for c in colls:
        dirs = sorted({str(w.parent) + "/" for b in (*c.bags, *c.sources) for w in b.warcs})
        lines.append(f"  {c.name}:")
        lines.append(f"    index_paths: {_yaml_str(f'collections/{c.name}/indexes/')}")
        lines.append(f"    acl_paths: [{_yaml_str(f'collections/{c.name}/acl/')}]")
        lines.append(f"    default_access: {'block' if c.blocked else 'allow'}")
        lines.append("    archive_paths:")
        for d in dirs or ["./"]:
            lines.append(f"      - {_yaml_str(d)}")
    return "\n".join(lines) + "\n"


def replay_url(base: str, seed: ReplaySeed) -> str:
    """The full replay URL of a seed (the seed URL is kept readable)."""
    return (
        base + f"/{seed.collection}/{seed.timestamp}/" + quote(seed.url, safe=":/?&=%#;,+@!$'()*~")
    )
