"""``strongroom import``: bag WARC and WACZ files made by other tools.

Each WACZ becomes one bag; the loose WARC files given together become one bag
(a crawl is often split over many WARCs, and their revisits resolve among
them). For each bag:

1. A capture folder is built under a temporary name in ``captures/``: every
   WARC is copied byte for byte (never rewritten or recompressed) while each of
   its records is checked (:mod:`strongroom.ingest.check`); a WACZ is checked
   and its WARCs taken out first (:mod:`strongroom.ingest.wacz`).
2. Damage refuses the import (exit 1), naming file, offset and target URI,
   unless ``accept_damaged`` with a reason (recorded in capture.json, PREMIS
   and the custody log). A file that cannot be framed is always refused.
3. ``capture.json`` says where seeds and pages came from, the source tool
   and version (warcinfo ``software``), the files as received with their
   digests; then the folder is renamed into place and bagged as any capture
   (signature, inventory, custody log, designations and access from the
   collection). If bagging fails, the capture folder is removed again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strongroom.bag.closure import RecordIndex
from strongroom.core.archive import Archive
from strongroom.core.collection import Collection
from strongroom.core.fsutil import atomic_write_text, staging_dir
from strongroom.errors import ProblemFound, StrongroomError, UsageError
from strongroom.ingest.check import FileCheck, NotAWarc, check_file
from strongroom.ingest.wacz import WaczContents, WaczRefused, open_wacz

INGEST_FORMAT = 1
MAX_SEEDS = 1000
MAX_SHOWN = 20
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class ImportedBag:
    """One bag made by an import."""

    bag_id: str
    capture_id: str
    sources: list[str]
    records: int
    seeds: list[str]
    access: str
    damage: list[str] = field(default_factory=list)
    external_revisits: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class ImportResult:
    bags: list[ImportedBag] = field(default_factory=list)

    @property
    def bag_ids(self) -> list[str]:
        return [b.bag_id for b in self.bags]

    def as_dict(self) -> dict[str, Any]:
        return {"bags": self.bag_ids, "details": [b.as_dict() for b in self.bags]}


@dataclass(frozen=True)
class ImportOptions:
    collection: Collection | None = None
    manifests_dir: Path | None = None
    accept_damaged: bool = False
    reason: str = ""


def _capture_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def _file_digest(path: Path) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _safe_name(name: str) -> str:
    """A bag file name for a WARC (``a b.warc.gz`` -> ``a-b.warc.gz``)."""
    base = _SAFE_NAME.sub("-", name).lstrip(".-") or "imported"
    return base if base.endswith((".warc", ".warc.gz")) else base + ".warc"


def _group(paths: list[Path]) -> list[list[Path]]:
    """Each WACZ alone; all loose WARCs together."""
    for p in paths:
        if not p.is_file():
            raise UsageError(f"{p}: no such file")
        if not p.name.endswith((".warc", ".warc.gz", ".wacz")):
            raise UsageError(f"{p.name}: expected a .warc, .warc.gz or .wacz file")
    if not paths:
        raise UsageError("nothing to import: give .warc, .warc.gz or .wacz files")
    if len({p.resolve() for p in paths}) != len(paths):
        raise UsageError("the same file is given twice")
    warcs = [p for p in paths if not p.name.endswith(".wacz")]
    return [[p] for p in paths if p.name.endswith(".wacz")] + ([warcs] if warcs else [])


def import_files(archive: Archive, paths: list[Path], options: ImportOptions) -> ImportResult:
    """Import ``paths``; return the bags made. Refusals raise before anything is published."""
    if options.accept_damaged and not options.reason.strip():
        raise UsageError("--accept-damaged needs --reason, so the custody log says why")
    groups = _group([Path(p) for p in paths])
    archive.ensure()
    result = ImportResult()
    for group in groups:
        try:
            result.bags.append(_import_group(archive, group, options))
        except StrongroomError as exc:
            if result.bags:  # say what was already bagged, whole, before this refusal
                done = ", ".join(b.bag_id for b in result.bags)
                msg = f"{exc.message}\n(already imported: {done})"
                raise StrongroomError(msg, exit_code=exc.exit_code) from None
            raise
    return result


def _checked(tmp: Path, group: list[Path]) -> tuple[list[FileCheck], list[WaczContents]]:
    """Copy and check every WARC of the group into the staging folder ``tmp``."""
    checks: list[FileCheck] = []
    waczs: list[WaczContents] = []
    try:
        for src in group:
            if src.name.endswith(".wacz"):
                contents = open_wacz(src, tmp, src.name)
                waczs.append(contents)
                for inside, extracted in contents.warcs:
                    checks.append(check_file(extracted, extracted.name, None, inside))
                continue
            name = _safe_name(src.name)
            if (tmp / name).exists():
                raise UsageError(f"{src.name}: two WARC files would have the same name in the bag")
            fc = check_file(src, name, tmp / name, src.name)
            if fc.gzipped != name.endswith(".gz"):
                # The bag reads a WARC by its name's ending: name it for what it is.
                fixed = name + ".gz" if fc.gzipped else name.removesuffix(".gz")
                if (tmp / fixed).exists():
                    raise UsageError(f"{src.name}: two WARC files would have the same name")
                (tmp / name).rename(tmp / fixed)
                fc.name = fixed
            checks.append(fc)
    except (NotAWarc, WaczRefused) as exc:
        raise UsageError(str(exc)) from None
    return checks, waczs


def _refuse_damage(checks: list[FileCheck], options: ImportOptions) -> list[str]:
    damage = [d for c in checks for d in c.damage]
    fatal = [d for d in damage if d.fatal]
    shown = "\n  ".join(str(d) for d in damage[:MAX_SHOWN])
    more = f"\n  ... and {len(damage) - MAX_SHOWN} more" if len(damage) > MAX_SHOWN else ""
    if fatal:
        raise ProblemFound(
            f"cannot import: {len(fatal)} file(s) cannot be read to the end; nothing was "
            f"imported:\n  {shown}{more}"
        )
    if damage and not options.accept_damaged:
        raise ProblemFound(
            f"{len(damage)} damaged record(s); nothing was imported:\n  {shown}{more}\n"
            'To import the files as they are, add --accept-damaged --reason "why" (logged).'
        )
    return [str(d) for d in damage]


def _external(checks: list[FileCheck]) -> list[str]:
    """Revisits whose target is in none of the imported files."""
    index = RecordIndex()
    for c in checks:
        index.ids |= c.index.ids
        index.payloads |= c.index.payloads
    return [
        f"{r.file}: record at offset {r.offset} ({r.uri}): revisit of "
        f"{r.refers_to or r.target()} is not in the imported files"
        for c in checks
        for r in c.index.revisits
        if not index.resolves(r)
    ]


def _seeds_and_pages(
    checks: list[FileCheck], waczs: list[WaczContents]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str, str]:
    """(seeds, pages, where seeds came from, where pages came from)."""
    listed = [p for w in waczs for p in w.pages if str(p.get("url", "")).startswith("http")]
    if listed:
        pages = [
            {"url": p["url"], "title": str(p.get("title") or ""), "ts": str(p.get("ts") or "")}
            for p in listed
        ]
        flagged = [p["url"] for p in listed if p.get("seed") is True]
        seeds = flagged or [p["url"] for p in pages]
        return _seed_dicts(seeds), pages, "pages.jsonl", "pages.jsonl"
    html = [p for c in checks for p in c.pages]
    pages = [{"url": p.url, "title": p.title, "status": p.status} for p in html]
    named: list[str] = []
    for c in checks:
        for key in ("seed", "seeds", "seed-url", "seed-urls", "url"):
            named += [u for u in c.warcinfo.get(key, "").split() if u.startswith("http")]
    captured = {p["url"] for p in pages}
    named = [u for u in dict.fromkeys(named) if u in captured]
    if named:
        return _seed_dicts(named), pages, "warcinfo", "html-responses"
    return _seed_dicts([p["url"] for p in pages]), pages, "html-responses", "html-responses"


def _seed_dicts(urls: list[str]) -> list[dict[str, Any]]:
    return [{"url": u} for u in list(dict.fromkeys(urls))[:MAX_SEEDS]]


def _collection_doc(c: Collection | None) -> dict[str, Any]:
    if c is None:
        return {"id": "imported", "title": "Imported web archives", "access": None}
    return {
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "curator": dataclasses.asdict(c.curator),
        "access": c.access,
        "embargo_until": c.embargo_until.isoformat() if c.embargo_until else None,
        "designations": [d.as_dict() for d in c.designations],
    }


def _manifests_dir(options: ImportOptions) -> Path | None:
    """--manifests, else manifests/ beside a collections/ folder, else None: the
    archive's own (fixed in its config.toml), never the current folder."""
    if options.manifests_dir is not None:
        return options.manifests_dir
    path = options.collection.path if options.collection else None
    if path is not None and path.absolute().parent.name == "collections":
        return path.absolute().parent.parent / "manifests"
    return None


def _capture_doc(
    archive: Archive,
    capture_id: str,
    group: list[Path],
    checks: list[FileCheck],
    waczs: list[WaczContents],
    options: ImportOptions,
    damage: list[str],
    external: list[str],
) -> dict[str, Any]:
    seeds, pages, seeds_from, pages_from = _seeds_and_pages(checks, waczs)
    if not seeds:
        raise UsageError(
            "no page to import: the files hold no HTML response with status 200 "
            "(and no pages.jsonl)"
        )
    tools = [c.software for c in checks if c.software] + [w.software for w in waczs if w.software]
    received = []
    for src in group:
        digest, size = _file_digest(src)
        received.append({"name": src.name, "sha256": digest, "size": size})
    coll = options.collection
    operator = (coll.capture.operator if coll else "") or archive.config.operator
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "capture_id": capture_id,
        "collection": _collection_doc(coll),
        "seeds": seeds,
        "pages": pages,
        "software": tools[0] if tools else "unknown (no warcinfo software field)",
        "operator": operator,
        "started": min((c.first_date for c in checks if c.first_date), default=now),
        "ended": max((c.last_date for c in checks if c.last_date), default=now),
        "status": "complete",
        "warcs": [
            {"name": c.name, "size": c.size, "records": c.records, "first_date": c.first_date}
            for c in checks
        ],
        "stats": {"records": sum(c.records for c in checks)},
        "failures": [],
        "depends_on_captures": [],
        "ingest": {
            "format": INGEST_FORMAT,
            "imported": now,
            "source_tool": tools[0] if tools else "",
            "seeds_from": seeds_from,
            "pages_from": pages_from,
            "received": received,
            "files": [
                {
                    "bag_path": f"data/warc/{c.name}",
                    "source": c.source,
                    "size": c.size,
                    "sha256": c.sha256,
                    "sha512": c.sha512,
                    "records": c.records,
                    "gzip": c.gzipped,
                    "warc_versions": sorted(c.versions),
                    "software": c.software,
                    "payload_digest_convention": c.convention,
                }
                for c in checks
            ],
            "wacz": [
                {"profile": w.profile, "software": w.software, "title": w.title} for w in waczs
            ],
            "damage": damage,
            "accepted_damage_reason": options.reason.strip() if damage else "",
            "external_revisits": len(external),
        },
    }


def _import_group(archive: Archive, group: list[Path], options: ImportOptions) -> ImportedBag:
    from strongroom.bag import custody
    from strongroom.bag.make import bag_capture

    capture_id = _capture_id()
    folder = archive.capture_dir(capture_id)
    with staging_dir(folder) as tmp:
        checks, waczs = _checked(tmp, group)
        damage = _refuse_damage(checks, options)
        external = _external(checks)
        doc = _capture_doc(archive, capture_id, group, checks, waczs, options, damage, external)
        if any(w.tags for w in waczs):
            (tmp / "source-tags").mkdir()
            for w in waczs:
                for name, data in w.tags.items():
                    (tmp / "source-tags" / name).write_bytes(data)
        atomic_write_text(tmp / "capture.json", json.dumps(doc, indent=2, sort_keys=True) + "\n")
    try:
        bag = bag_capture(archive, capture_id, manifests_dir=_manifests_dir(options))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # nothing half-made
        raise
    detail = {
        "files": doc["ingest"]["received"],
        "source_tool": doc["ingest"]["source_tool"],
        "damaged_records": len(damage),
        "external_revisits": len(external),
    }
    inputs = {"reason": options.reason.strip()} if damage else {}
    custody.record_event(
        archive, bag.bag_id, "ingestion", outcome="success", inputs=inputs, detail=detail
    )
    return ImportedBag(
        bag_id=bag.bag_id,
        capture_id=capture_id,
        sources=[p.name for p in group],
        records=sum(c.records for c in checks),
        seeds=[s["url"] for s in doc["seeds"]],
        access=bag.access,
        damage=damage,
        external_revisits=external,
    )
