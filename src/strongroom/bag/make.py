"""Capture folder -> BagIt 1.0 bag (RFC 8493) with provenance, signature and inventory.

We write bags with our own writer rather than ``bagit.make_bag`` because
bagit-python bags *in place* (it moves the capture into ``data/``, so a crash
midway leaves neither a capture nor a bag), writes ``BagIt-Version: 0.97``, and
writes manifest paths without percent-encoding ``%`` (so a file really named
``a%0Ab`` cannot be told from one named ``a<LF>b``; bagit-python 1.9 also fails
to decode ``%25`` when validating). bagit-python stays our independent
validator in the tests.

One bag is made in three named steps, never losing data:

1. :func:`prepare` checks the capture (it exists, is finished, has WARCs),
   plans the payload (:mod:`strongroom.bag.payload`) and decides everything the
   bag will say: its id, access level, designations, signing key.
2. :func:`write` fills a ``.tmp-`` folder under ``bags/``: the payload, each
   byte read once (:func:`strongroom.bag.payload.hash_payload`), the manifests
   (:mod:`strongroom.bag.manifest`), bag-info (:mod:`strongroom.bag.baginfo`),
   the provenance tag files and the signature; the folder is fsynced and renamed.
3. :func:`record` writes the custody log, the ledger and the inventory.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from strongroom import SOFTWARE
from strongroom.bag import (
    closure,
    custody,
    inventory,
    premis,
    provenance,
    publish,
    signing,
    timestamp,
)
from strongroom.bag.baginfo import BagFacts, build_bag_info, format_bag_info
from strongroom.bag.manifest import (
    TAG_ALGORITHM,
    check_algorithms,
    manifest_text,
    write_tag,
    write_tag_manifests,
)
from strongroom.bag.payload import PayloadFile, ProgressFn, hash_payload, plan_payload
from strongroom.capture.record import CaptureRecord
from strongroom.core.archive import Archive
from strongroom.core.collection import ACCESS_LEVELS, DEFAULT_COLLECTION_ID, Designation
from strongroom.core.fsutil import TMP_PREFIX, durable_tree, publish_dir, tmp_name, translated
from strongroom.core.ledger import open_ledger, utcnow
from strongroom.core.policy import default_access, designations_for_urls
from strongroom.errors import UsageError

BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class BagResult:
    """What ``bag_capture`` made."""

    bag_id: str
    path: Path
    payload_oxum: str
    files: int
    bytes: int
    access: str
    algorithms: tuple[str, ...]
    signed: str | None
    inventory: Path
    linked: bool
    capture_deleted: bool = False
    timestamp: str = ""  # "timestamped <time> by <TSA>", "timestamp pending (...)" or ""
    resumed: bool = False  # an interrupted run had published it; this run recorded it

    def as_dict(self) -> dict[str, Any]:
        return {
            "bag_id": self.bag_id,
            "path": str(self.path),
            "payload_oxum": self.payload_oxum,
            "files": self.files,
            "bytes": self.bytes,
            "access": self.access,
            "algorithms": list(self.algorithms),
            "signed": self.signed,
            "inventory": str(self.inventory),
            "linked": self.linked,
            "capture_deleted": self.capture_deleted,
            "timestamp": self.timestamp,
            "resumed": self.resumed,
        }


def load_capture_meta(capture_dir: Path) -> dict[str, Any]:
    """Read and shape-check ``capture.json`` (a folder without it is unfinished)."""
    path = capture_dir / "capture.json"
    if not path.is_file() or path.is_symlink():
        raise UsageError(
            f"capture {capture_dir.name} is unfinished (no capture.json); "
            "it was interrupted or is still running"
        )
    # CaptureRecord checks every field and names the one it refuses.
    return CaptureRecord.load(path).to_dict()


def seed_urls(meta: dict[str, Any]) -> list[str]:
    return [s if isinstance(s, str) else s["url"] for s in meta.get("seeds") or []]


def _designations_from_meta(meta: dict[str, Any]) -> list[Designation]:
    out = []
    for d in (meta.get("collection") or {}).get("designations") or []:
        if not isinstance(d, dict) or not d.get("organization") or not d.get("hosts"):
            continue
        since = None
        if d.get("since"):
            try:
                since = dt.date.fromisoformat(str(d["since"]))
            except ValueError:
                since = None
        out.append(
            Designation(
                organization=str(d["organization"]),
                hosts=tuple(str(h).lower() for h in d["hosts"]),
                jurisdiction=str(d.get("jurisdiction", "")),
                kind=str(d.get("kind", "other")),
                since=since,
                source=str(d.get("source", "")),
            )
        )
    return out


def warcs_csv(files: list[PayloadFile], seeds: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["file", "records", "response_records", "seeds", "first_date", "last_date", "bytes"])
    seedset = set(seeds)
    for f in files:
        if not f.warc:
            continue
        captured = sorted(seedset & f.warc.target_uris)
        w.writerow(
            [
                "data/" + f.rel,
                f.warc.records,
                f.warc.responses,
                " ".join(captured),
                f.warc.first_date,
                f.warc.last_date,
                f.size,
            ]
        )
    return buf.getvalue()


def default_manifests_dir(meta: dict[str, Any], base: Path | None = None) -> Path | None:
    """``<repo>/manifests`` for a capture of ``<repo>/collections/x.toml``, else None
    (the archive then keeps its inventory in ``<archive>/manifests``).

    The capture record names the collection file relative to ``base``, the
    folder that holds the archive (never an absolute path).
    """
    coll = meta.get("collection") or {}
    for key in ("path", "file"):
        p = coll.get(key) or meta.get(f"collection_{key}")
        if isinstance(p, str) and p:
            cpath = (base or Path.cwd()) / p
            if cpath.parent.name == "collections":
                return cpath.parent.parent / "manifests"
    return None


def _operator(archive: Archive, meta: dict[str, Any]) -> str:
    """The capturer's pseudonym: the collection's capture.operator, else the archive's."""
    settings = meta.get("settings") or {}
    op = settings.get("operator") if isinstance(settings, dict) else None
    return str(op or meta.get("operator") or archive.config.operator)


def _embargo(meta: dict[str, Any]) -> str:
    embargo = (meta.get("collection") or {}).get("embargo_until")
    return embargo if isinstance(embargo, str) else ""


def _merge(*groups: Sequence[Designation]) -> list[Designation]:
    """Designations without duplicates (same organisation, jurisdiction, kind, hosts)."""
    seen: dict[tuple[str, str, str, tuple[str, ...]], Designation] = {}
    for group in groups:
        for d in group:
            seen.setdefault((d.organization, d.jurisdiction, d.kind, d.hosts), d)
    return list(seen.values())


# --- the three steps --------------------------------------------------------------
@dataclass
class BagPlan:
    """Everything decided before the first byte is written (the ``prepare`` step)."""

    archive: Archive
    capture_id: str
    capture_dir: Path
    meta: dict[str, Any]
    files: list[PayloadFile]
    collection_id: str
    bag_id: str
    final: Path
    manifests: Path
    inventory_path: Path
    seeds: list[str]
    designations: list[Designation]
    access: str
    algorithms: tuple[str, ...]
    key: Any  # an Ed25519 private key, or None when the archive has no key
    fingerprint: str | None
    operator: str
    is_version_of: str | None
    stamping: timestamp.TimestampSettings | None = None
    # set by write(): the token's facts, or why no TSA gave one (then pending)
    stamp: timestamp.TokenInfo | None = None
    stamp_pending: str = ""

    @property
    def tag_algorithms(self) -> tuple[str, ...]:
        a = self.algorithms
        return a if TAG_ALGORITHM in a else (*a, TAG_ALGORITHM)

    @property
    def total(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def oxum(self) -> str:
        return f"{self.total}.{len(self.files)}"

    def stamp_detail(self) -> dict[str, Any] | None:
        """The timestamp event's detail, or None when the archive has no [timestamp]."""
        if self.stamping is None:
            return None
        return stamp_detail(self.stamp, self.stamp_pending)


def prepare(
    archive: Archive,
    capture_id: str,
    *,
    algorithms: Sequence[str] = ("sha512",),
    manifests_dir: Path | None = None,
    access: str | None = None,
    is_version_of: str | None = None,
) -> BagPlan:
    """Check the capture and the archive, and decide what the bag will be."""
    algos = check_algorithms(algorithms)
    if access is not None and access not in ACCESS_LEVELS:
        raise UsageError(f"--access must be one of {', '.join(ACCESS_LEVELS)}, not {access!r}")
    if not _SAFE_ID.match(capture_id or ""):
        raise UsageError(f"{capture_id!r} is not a capture id (like 20240220T101500Z-ab12cd)")
    archive.require()
    capture_dir = archive.capture_dir(capture_id)
    if not capture_dir.is_dir() or capture_dir.is_symlink():
        raise UsageError(f"no capture {capture_id!r} in {archive.captures}")
    meta = load_capture_meta(capture_dir)
    files = plan_payload(capture_dir)
    coll = meta.get("collection") or {}
    collection_id = coll.get("id") or DEFAULT_COLLECTION_ID
    bag_id = f"{collection_id}-{capture_id}"
    final = archive.bag_dir(bag_id)
    if final.exists() or archive.custody_path(bag_id).exists():
        raise UsageError(f"bag {bag_id} already exists in {archive.bags}; refusing to replace it")
    archive.ensure()
    manifests = archive.inventory_dir(
        manifests_dir, suggested=default_manifests_dir(meta, archive.root.parent)
    )
    inv_path = inventory.inventory_path(manifests, collection_id)
    inventory.load_inventory(inv_path, collection_id)  # refuse a damaged inventory early
    inventory.check_writable(manifests)
    seeds = seed_urls(meta)
    designations = designations_for_urls(
        seeds, _merge(_designations_from_meta(meta), archive.designations())
    )
    coll_access = coll.get("access") if coll.get("access") in ACCESS_LEVELS else None
    level = access or default_access(
        coll_access or archive.config.default_access, bool(designations)
    )
    key = signing.load_private_key(archive.keys)
    return BagPlan(
        archive=archive,
        capture_id=capture_id,
        capture_dir=capture_dir,
        meta=meta,
        files=files,
        collection_id=collection_id,
        bag_id=bag_id,
        final=final,
        manifests=manifests,
        inventory_path=inv_path,
        seeds=seeds,
        designations=designations,
        access=level,
        algorithms=algos,
        key=key,
        fingerprint=signing.fingerprint(key.public_key()) if key else None,
        operator=_operator(archive, meta),
        is_version_of=is_version_of,
        stamping=timestamp.load_settings(archive),
    )


def write(plan: BagPlan, tmp: Path, progress: ProgressFn | None = None) -> None:
    """Fill the staging folder ``tmp`` with the whole bag (payload, tags, signature)."""
    data_dir = tmp / "data"
    data_dir.mkdir()
    digest_started = utcnow()
    hash_payload(plan.files, data_dir, plan.algorithms, progress=progress)
    digest_ended = utcnow()
    write_tag(tmp, "bagit.txt", BAGIT_TXT)
    for a in plan.algorithms:
        write_tag(tmp, f"manifest-{a}.txt", manifest_text(plan.files, a))
    facts = BagFacts(
        bag_id=plan.bag_id,
        collection_id=plan.collection_id,
        seeds=plan.seeds,
        designations=plan.designations,
        access=plan.access,
        files=len(plan.files),
        warcs=sum(1 for f in plan.files if f.is_warc),
        total=plan.total,
        is_version_of=plan.is_version_of,
        fingerprint=plan.fingerprint,
        operator=plan.operator,
        capture_id=plan.capture_id,
    )
    info = build_bag_info(plan.archive, plan.meta, facts)
    info += closure.bag_info_labels(plan.archive, plan.meta)  # Depends-On (dedup = "archive")
    write_tag(tmp, "bag-info.txt", format_bag_info(info))
    ctx = provenance.Context(
        bag_id=plan.bag_id,
        capture=plan.meta,
        files=[
            provenance.FileFacts(
                path="data/" + f.rel,
                size=f.size,
                digests=dict(f.digests),
                is_warc=f.is_warc,
                records=f.warc.records if f.warc else 0,
            )
            for f in plan.files
        ],
        seeds=plan.seeds,
        operator=plan.operator,
        organization=dict(info).get("Source-Organization", ""),
        software=SOFTWARE,
        digest_started=digest_started,
        digest_ended=digest_ended,
        packed=utcnow(),
        algorithms=plan.algorithms,
        renderings=provenance.read_renderings(plan.capture_dir / "derivatives"),
        access=plan.access,
        designations=[
            provenance.Designation(d.label(), d.jurisdiction, d.kind) for d in plan.designations
        ],
        embargo_until=_embargo(plan.meta),
    )
    (tmp / "tags").mkdir(exist_ok=True)
    premis.write_premis(ctx, str(tmp / "tags" / "premis.xml"))  # streamed: flat memory
    write_tag(tmp, "tags/prov.jsonld", provenance.prov_jsonld(ctx))
    write_tag(tmp, "tags/warcs.csv", warcs_csv(plan.files, plan.seeds))
    shutil.copyfile(plan.capture_dir / "capture.json", tmp / "tags" / "capture.json")
    _copy_source_tags(plan.capture_dir, tmp)
    write_tag_manifests(tmp, plan.tag_algorithms)
    if plan.key is not None:
        signing.write_signature(tmp / custody.TAGMANIFEST, plan.key)
    if plan.stamping is not None:
        try:
            plan.stamp = timestamp.stamp_dir(tmp, plan.stamping)
        except timestamp.TimestampUnavailable as exc:
            plan.stamp_pending = str(exc)  # offline: bag anyway, stamp later
    # Read-only payload: with hard links this also protects the capture's
    # copy, since both names share one inode.
    base = str(data_dir)
    for f in plan.files:
        os.chmod(os.path.join(base, f.rel), stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def _copy_source_tags(capture_dir: Path, bag: Path) -> None:
    """``<capture>/source-tags/*`` (kept from an imported WACZ) -> ``tags/source/``."""
    src = capture_dir / "source-tags"
    if not src.is_dir() or src.is_symlink():
        return
    for p in sorted(src.iterdir()):
        if p.is_file() and not p.is_symlink() and not p.name.startswith(TMP_PREFIX):
            (bag / "tags" / "source").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, bag / "tags" / "source" / p.name)


def stamp_detail(info: timestamp.TokenInfo | None, pending: str = "") -> dict[str, Any]:
    """The ledger/custody detail of a timestamp event."""
    if info is None:
        return {"pending": pending}
    return {"time": info.time.isoformat(), "tsa": info.tsa, "serial": info.serial}


def _stamp_summary(plan: BagPlan) -> str:
    if plan.stamp is not None:
        return plan.stamp.describe()
    if plan.stamp_pending:
        return f"timestamp pending (no TSA answered: {plan.stamp_pending})"
    return ""


def _build_and_publish(plan: BagPlan, progress: ProgressFn | None) -> None:
    """Write the bag in staging, make it durable, record the intent, rename it."""
    archive = plan.archive
    tmp = tmp_name(plan.final)
    intent = False
    try:
        tmp.mkdir()
        write(plan, tmp, progress)
        durable_tree(tmp)  # nothing is published before its bytes are durable (one syncfs)
        with open_ledger(archive.root) as ledger:
            ledger.open_publication(plan.bag_id, publish.intent_of(plan))
        intent = True
        publish.crash_point("before-rename")
        publish_dir(tmp, plan.final)
        publish.crash_point("after-rename")
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if intent and not plan.final.exists():
            with open_ledger(archive.root) as ledger:
                ledger.close_publication(plan.bag_id, "abandoned")
        if isinstance(exc, OSError):
            what = f"cannot write bag {plan.bag_id} under {archive.bags} (nothing was published)"
            problem = translated(what, exc)  # a full disk, a read-only mount, a permission
            if problem is not exc:
                raise problem from None
        raise


def _resumed(archive: Archive, intent: dict[str, Any]) -> BagResult:
    """The result of a bag that an interrupted run published and reconcile recorded."""
    bag_id = intent["bag_id"]
    size, _, count = str(intent["oxum"]).partition(".")
    return BagResult(
        bag_id=bag_id,
        path=archive.bag_dir(bag_id),
        payload_oxum=intent["oxum"],
        files=int(count or 0),
        bytes=int(size or 0),
        access=intent["access"],
        algorithms=tuple(intent["algorithms"]),
        signed=intent["fingerprint"],
        inventory=inventory.inventory_path(Path(intent["manifests"]), intent["collection_id"]),
        linked=False,
        resumed=True,
    )


# --- the library entry point ------------------------------------------------------
def bag_capture(
    archive: Archive,
    capture_id: str,
    *,
    algorithms: Sequence[str] = ("sha512",),
    manifests_dir: Path | None = None,
    access: str | None = None,
    is_version_of: str | None = None,
    delete_capture: bool = False,
    progress: ProgressFn | None = None,
) -> BagResult:
    """Turn ``captures/<capture_id>`` into ``bags/<collection>-<capture_id>``.

    Raises UsageError (exit 2) for a missing, unfinished, empty or invalid
    capture, an existing bag or an unwritable archive; nothing is left under
    ``bags/`` but ``.tmp-`` leftovers of a killed run in that case.
    """
    archive.require()
    with publish.publishing(archive) as reconciled:
        for bag_id, intent in reconciled.completed.items():
            if bag_id.endswith(f"-{capture_id}"):  # a killed run published it
                return _resumed(archive, intent)
        plan = prepare(
            archive,
            capture_id,
            algorithms=algorithms,
            manifests_dir=manifests_dir,
            access=access,
            is_version_of=is_version_of,
        )
        _build_and_publish(plan, progress)
        publish.record_intent(archive, publish.intent_of(plan))
        with open_ledger(archive.root) as ledger:
            ledger.close_publication(plan.bag_id, "complete")
    if delete_capture:
        shutil.rmtree(plan.capture_dir)
    return BagResult(
        bag_id=plan.bag_id,
        path=plan.final,
        payload_oxum=plan.oxum,
        files=len(plan.files),
        bytes=plan.total,
        access=plan.access,
        algorithms=plan.algorithms,
        signed=plan.fingerprint,
        inventory=plan.inventory_path,
        linked=all(f.linked for f in plan.files),
        capture_deleted=delete_capture,
        timestamp=_stamp_summary(plan),
    )
