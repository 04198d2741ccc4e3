"""A bag's closure: the bags its revisit records point into, and the check that they resolve.

By default every bag stands alone: its revisit records only refer to records in
the same bag (deduplication within one capture). A collection may choose
``[capture] dedup = "archive"``; a capture's revisits may then refer to records of
earlier bags, and the bag declares each such bag in ``bag-info.txt``::

    Depends-On: <bag-id> <sha512 hex of that bag's tagmanifest-sha512.txt>

The digest pins the exact dependency: a bag re-made or altered under the same id
no longer satisfies it. The closure of a bag is the bag and, transitively, every
bag it depends on. Every consumer (export, replay, screenshots, share, the copy
policy) must work within the closure; :func:`closure` is what they call.

A bag imported from another tool whose revisits point outside the imported files
cannot name a bag; it carries ``Depends-On-External`` instead (see
:mod:`strongroom.ingest`), and :func:`revisit_problems` reports its dangling
revisits as warnings, not errors, since the bag says so itself.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strongroom.bag.baginfo import read_bag_info, values
from strongroom.core.archive import Archive
from strongroom.errors import ProblemFound, UsageError

DEPENDS_ON = "Depends-On"
DEPENDS_ON_EXTERNAL = "Depends-On-External"
TAGMANIFEST = "tagmanifest-sha512.txt"
_BAG_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
_HEX512 = re.compile(r"^[0-9a-f]{128}$")
MAX_DEPTH = 1000  # a longer chain is hostile or broken


@dataclass(frozen=True)
class Dependency:
    """One ``Depends-On`` label: a bag id and the digest of its tag manifest."""

    bag_id: str
    digest: str

    def label(self) -> str:
        return f"{self.bag_id} {self.digest}"


def parse_depends_on(value: str) -> Dependency:
    """``<bag-id> <sha512 hex>`` -> Dependency; ValueError when malformed."""
    parts = value.split()
    if len(parts) != 2 or not _BAG_ID.match(parts[0]) or not _HEX512.match(parts[1].lower()):
        raise ValueError(f"malformed Depends-On value {value[:200]!r}")
    return Dependency(parts[0], parts[1].lower())


def declared(bag_dir: Path) -> list[Dependency]:
    """The ``Depends-On`` labels of a bag (malformed ones raise ProblemFound)."""
    out = []
    for v in values(read_bag_info(bag_dir), DEPENDS_ON):
        try:
            out.append(parse_depends_on(v))
        except ValueError as exc:
            raise ProblemFound(f"{Path(bag_dir).name}/bag-info.txt: {exc}") from None
    return out


def external(bag_dir: Path) -> list[str]:
    """``Depends-On-External`` values: the bag says some revisits resolve elsewhere."""
    return values(read_bag_info(bag_dir), DEPENDS_ON_EXTERNAL)


def tagmanifest_digest(bag_dir: Path) -> str:
    """sha512 hex of a bag's ``tagmanifest-sha512.txt`` (what Depends-On pins)."""
    path = Path(bag_dir) / TAGMANIFEST
    if not path.is_file() or path.is_symlink():
        raise ProblemFound(f"{Path(bag_dir).name}: no {TAGMANIFEST} to pin it by")
    return hashlib.sha512(path.read_bytes()).hexdigest()


def closure_problems(archive: Archive, bag_id: str) -> tuple[list[str], list[str]]:
    """(the closure, oldest dependency first and without ``bag_id``; problems found).

    A problem is a dependency that is missing, whose tag manifest does not match
    the pinned digest, or a malformed or cyclic declaration.
    """
    order: list[str] = []
    problems: list[str] = []
    state: dict[str, str] = {}  # bag id -> visiting | done

    def visit(current: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            problems.append(f"{current}: dependency chain longer than {MAX_DEPTH}")
            return
        state[current] = "visiting"
        try:
            deps = declared(archive.bag_dir(current))
        except ProblemFound as exc:
            problems.append(exc.message)
            deps = []
        for dep in deps:
            where = archive.bag_dir(dep.bag_id)
            if state.get(dep.bag_id) == "visiting":
                problems.append(f"{current} and {dep.bag_id} depend on each other (a cycle)")
                continue
            if state.get(dep.bag_id) == "done":
                continue
            if not (where / "bagit.txt").is_file() or where.is_symlink():
                problems.append(
                    f"{current} depends on {dep.bag_id}, which is not in {archive.bags}"
                )
                state[dep.bag_id] = "done"
                continue
            try:
                found = tagmanifest_digest(where)
            except ProblemFound as exc:
                problems.append(exc.message)
                found = ""
            if found and found != dep.digest:
                problems.append(
                    f"{current} depends on {dep.bag_id} with tag-manifest digest "
                    f"{dep.digest[:16]}…, but the bag here has {found[:16]}…"
                )
            visit(dep.bag_id, depth + 1)
            order.append(dep.bag_id)
        state[current] = "done"

    visit(bag_id, 0)
    return list(dict.fromkeys(order)), problems


def closure(archive: Archive, bag_id: str) -> list[str]:
    """Every bag ``bag_id`` depends on, transitively, dependencies first (not ``bag_id``).

    Raises ProblemFound (exit 1) when the closure is incomplete or altered, so a
    consumer can never work on part of it by mistake. A self-contained bag
    (the default) has an empty closure.
    """
    bags, problems = closure_problems(archive, bag_id)
    if problems:
        raise ProblemFound(f"the closure of {bag_id} is incomplete: " + "; ".join(problems))
    return bags


# --- declaring the closure at bagging time -------------------------------------------
def dependencies_for_capture(archive: Archive, meta: dict[str, Any]) -> list[Dependency]:
    """The bags a capture's revisits point into (``capture.json`` depends_on_captures).

    Each earlier capture must already be a bag, since a bag can only depend on a
    bag; otherwise UsageError names the command to run first.
    """
    captures = meta.get("depends_on_captures") or []
    if not isinstance(captures, list):
        raise UsageError("capture.json: field 'depends_on_captures': expected a list")
    out = []
    for cid in captures:
        if not isinstance(cid, str) or not _BAG_ID.match(cid):
            raise UsageError(f"capture.json: bad capture id in depends_on_captures: {cid!r}")
        found = sorted(
            p
            for p in archive.bags.glob(f"*-{cid}")
            if p.is_dir() and not p.is_symlink() and (p / "bagit.txt").is_file()
        )
        if not found:
            raise UsageError(
                f"this capture deduplicated against capture {cid}, which is not bagged yet; "
                f"run `strongroom bag {cid}` first"
            )
        out.append(Dependency(found[0].name, tagmanifest_digest(found[0])))
    return out


def bag_info_labels(archive: Archive, meta: dict[str, Any]) -> list[tuple[str, str]]:
    """The closure labels for a new bag's ``bag-info.txt`` (none for a bag that stands alone)."""
    pairs = [(DEPENDS_ON, d.label()) for d in dependencies_for_capture(archive, meta)]
    ingest = meta.get("ingest")
    if isinstance(ingest, dict):
        ext = ingest.get("external_revisits")
        if isinstance(ext, int) and ext > 0:
            pairs.append(
                (
                    DEPENDS_ON_EXTERNAL,
                    f"{ext} revisit record(s) refer to records outside the imported files",
                )
            )
    return pairs


# --- resolving revisit records --------------------------------------------------------
def strip_uri(value: str | None) -> str:
    """A WARC URI without the angle brackets WARC/1.0 writers (wget) put around it."""
    v = (value or "").strip()
    return v[1:-1] if v.startswith("<") and v.endswith(">") else v


@dataclass
class Revisit:
    """A revisit record, and what it points at."""

    file: str
    offset: int
    uri: str
    refers_to: str
    refers_to_uri: str
    digest: str

    def target(self) -> str:
        return self.refers_to_uri or self.uri


@dataclass
class RecordIndex:
    """Record ids and (URI, payload digest) pairs of the responses in some WARCs."""

    ids: set[str] = field(default_factory=set)
    payloads: set[tuple[str, str]] = field(default_factory=set)
    revisits: list[Revisit] = field(default_factory=list)

    def resolves(self, r: Revisit) -> bool:
        """Found the way replay finds it: by record id, or by URI and payload digest."""
        if r.refers_to and r.refers_to in self.ids:
            return True
        return bool(r.digest) and (r.target(), r.digest) in self.payloads


def bag_warcs(bag_dir: Path) -> list[Path]:
    """A bag's WARC files (symlinks are never followed)."""
    warc_dir = Path(bag_dir) / "data" / "warc"
    if not warc_dir.is_dir() or warc_dir.is_symlink():
        return []
    return sorted(
        p
        for p in warc_dir.iterdir()
        if p.name.endswith((".warc.gz", ".warc")) and p.is_file() and not p.is_symlink()
    )


def index_records(paths: Iterable[Path], into: RecordIndex | None = None) -> RecordIndex:
    """Headers only: every response/resource record and every revisit of ``paths``.

    An unreadable file raises ProblemFound naming it (it is damage, and the
    digest checks of ``verify --deep`` say where).
    """
    from warcio.archiveiterator import ArchiveIterator

    index = into or RecordIndex()
    for path in paths:
        try:
            with open(path, "rb") as fh:
                it = ArchiveIterator(fh, no_record_parse=True)
                for rec in it:
                    h = rec.rec_headers
                    rtype = (h.get_header("WARC-Type") or "").lower()
                    uri = strip_uri(h.get_header("WARC-Target-URI"))
                    digest = (h.get_header("WARC-Payload-Digest") or "").strip()
                    rid = strip_uri(h.get_header("WARC-Record-ID"))
                    if rtype in ("response", "resource"):
                        index.ids.add(rid)
                        if digest:
                            index.payloads.add((uri, digest))
                    elif rtype == "revisit":
                        index.revisits.append(
                            Revisit(
                                file=path.name,
                                offset=int(it.offset or 0),
                                uri=uri,
                                refers_to=strip_uri(h.get_header("WARC-Refers-To")),
                                refers_to_uri=strip_uri(h.get_header("WARC-Refers-To-Target-URI")),
                                digest=digest,
                            )
                        )
        except Exception as exc:  # warcio raises many kinds on damaged data
            raise ProblemFound(f"{path.name}: cannot read WARC headers ({exc})"[:300]) from None
    return index


def dangling(own: Sequence[Path], closure_warcs: Sequence[Path] = ()) -> list[Revisit]:
    """Revisits of ``own`` whose target is in neither ``own`` nor ``closure_warcs``."""
    mine = index_records(own)
    index = index_records(closure_warcs, RecordIndex(mine.ids, mine.payloads))
    return [r for r in mine.revisits if not index.resolves(r)]


def revisit_problems(archive: Archive, bag_dir: Path, bag_id: str | None) -> list[Any]:
    """``verify --deep``: revisits that resolve neither in the bag nor in its closure.

    Returns verify Problems: errors, or warnings for a bag that declares
    ``Depends-On-External`` (an imported bag that says so itself).
    """
    from strongroom.verify.findings import Problem

    problems: list[Problem] = []
    deps: list[str] = []
    if bag_id is not None:
        deps, issues = closure_problems(archive, bag_id)
        problems += [Problem("closure", msg, file="bag-info.txt") for msg in issues]
    elif declared(bag_dir):
        problems.append(
            Problem(
                "closure",
                "bag-info.txt declares Depends-On, but the bag is not in an archive to "
                "resolve it; verify it by bag id inside its archive",
                file="bag-info.txt",
                severity="warning",
            )
        )
    try:
        extra = [w for d in deps for w in bag_warcs(archive.bag_dir(d))]
        found = dangling(bag_warcs(bag_dir), extra)
    except ProblemFound as exc:
        return [*problems, Problem("closure", exc.message)]
    severity = "warning" if external(bag_dir) else "error"
    for r in found:
        target = r.refers_to or f"{r.target()} {r.digest}"
        problems.append(
            Problem(
                "revisit-dangling",
                f"data/warc/{r.file}: record at offset {r.offset} ({r.uri}): revisit refers "
                f"to {target}, which is neither in this bag nor in its declared closure",
                file=f"data/warc/{r.file}",
                severity=severity,
            )
        )
    return problems
