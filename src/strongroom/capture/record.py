"""The capture record: ``capture.json``, the typed, versioned handoff from capture to bag.

Capture writes one :class:`CaptureRecord` last, after its WARCs are published, so
a capture folder without ``capture.json`` is unfinished. Bag, watch, replay,
screenshots and import read it with :meth:`CaptureRecord.load`, which checks
every field (type, range, length) and names the field it refuses. The format
is a stable contract, described with its version in ``docs/capture-record.md``.

Nothing in the record may identify the capturing machine: no host name, no
local user name, no absolute local path. The operator pseudonym and the
collection's curator are the only people named.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from strongroom.core.collection import Curator
from strongroom.core.fsutil import atomic_write_text
from strongroom.errors import UsageError

if TYPE_CHECKING:
    from strongroom.core.collection import Collection

FILE_NAME = "capture.json"
VERSION = 1
VERSIONS = (1,)  # versions this code reads; a record without "version" is version 1
MAX_BYTES = 64 * 1024 * 1024  # a capture record of 100,000 pages is about 40 MB
MAX_ITEMS = 1_000_000  # entries in any one list
MAX_TEXT = 64 * 1024  # characters in any one string (URLs, titles, reasons)
MAX_COUNT = 2**53  # counters and sizes: what JSON numbers hold exactly
STATUSES = ("complete", "interrupted")
DEFAULT_COLLECTION_ID = "adhoc"
# A pattern, compiled when a record is first read (re keeps it), not when one is written.
_SAFE_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"

T = TypeVar("T")
_KNOWN = {
    "version", "capture_id", "collection", "seeds", "settings", "software", "operator",
    "started", "ended", "status", "warcs", "stats", "failures", "skipped", "pages",
    "origin", "depends_on_captures", "browser",
}  # fmt: skip
MAX_BROWSER_ENTRY = 1024 * 1024  # a page's browser summary, as JSON text


class CaptureRecordError(UsageError):
    """A capture record that cannot be trusted: names the file and the field."""


@dataclass(frozen=True)
class DesignationRef:
    """A designation as it applied when the capture ran (see core.collection.Designation)."""

    organization: str
    hosts: tuple[str, ...]
    jurisdiction: str = ""
    kind: str = "other"
    since: str | None = None  # ISO date
    source: str = ""


@dataclass(frozen=True)
class CollectionRef:
    """The collection the capture was made for, as it was at capture time."""

    id: str = DEFAULT_COLLECTION_ID
    title: str = ""
    description: str = ""
    curator: Curator = field(default_factory=Curator)
    access: str = ""
    embargo_until: str | None = None  # ISO date
    designations: tuple[DesignationRef, ...] = ()
    # The collection file relative to the folder that holds the archive (lets
    # `bag` find manifests/ beside collections/); None when it lies elsewhere,
    # because an absolute path would reveal the capturing machine.
    file: str | None = None

    @classmethod
    def of(cls, c: Collection, archive_root: Path) -> CollectionRef:
        """The record's view of collection ``c`` of the archive at ``archive_root``."""
        return cls(
            id=c.id,
            title=c.title,
            description=c.description,
            curator=Curator(c.curator.name, c.curator.email, c.curator.organization),
            access=c.access,
            embargo_until=c.embargo_until.isoformat() if c.embargo_until else None,
            designations=tuple(
                DesignationRef(
                    organization=d.organization,
                    hosts=d.hosts,
                    jurisdiction=d.jurisdiction,
                    kind=d.kind,
                    since=d.since.isoformat() if d.since else None,
                    source=d.source,
                )
                for d in c.designations
            ),
            # lets `bag` find manifests/ beside the collections/ folder
            file=collection_file_ref(c.path, archive_root),
        )


@dataclass(frozen=True)
class SeedRef:
    """A seed of the capture, with what the collection said of it."""

    url: str
    title: str = ""
    publisher: str = ""
    published: str | None = None  # ISO date
    language: str = ""


@dataclass(frozen=True)
class WarcRef:
    """One published WARC file of the capture."""

    name: str
    size: int = 0
    records: int = 0
    seeds: tuple[str, ...] = ()
    first_date: str = ""
    last_date: str = ""


@dataclass(frozen=True)
class FailureRef:
    """A resource that was not captured, why, and the page that needed it."""

    url: str
    reason: str
    page: str = ""


@dataclass(frozen=True)
class PageRef:
    """A page the capture fetched: where it ended up, its status and title."""

    url: str
    final_url: str = ""
    status: int = 0
    title: str = ""
    # A browser capture's summary of the page: behaviours run (name, seconds,
    # outcome, detail), URLs requested and recorded, blocked navigations, the
    # final DOM's record id, live derivatives. Absent for a static capture.
    browser: dict[str, Any] | None = None


@dataclass(frozen=True)
class CaptureRecord:
    """What one capture made, and under which settings (``capture.json``, version 1)."""

    capture_id: str
    collection: CollectionRef = field(default_factory=CollectionRef)
    seeds: tuple[SeedRef, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    software: str = ""
    operator: str = ""
    started: str = ""
    ended: str = ""
    status: str = "complete"
    warcs: tuple[WarcRef, ...] = ()
    stats: dict[str, int] = field(default_factory=dict)
    failures: tuple[FailureRef, ...] = ()
    skipped: tuple[FailureRef, ...] = ()
    pages: tuple[PageRef, ...] = ()
    # Where seeds and pages came from: "crawl" (strongroom fetched them) or
    # "import" (read from foreign WARC/WACZ files).
    origin: str = "crawl"
    # Earlier captures that this capture's revisit records point into
    # ([capture] dedup = "archive" only); the bag declares them as Depends-On.
    depends_on_captures: tuple[str, ...] = ()
    # The Chromium that drove a browser capture ("Chromium 1xx..."); None: static.
    browser: str | None = None
    # Fields this version does not define (e.g. an importer's "ingest" object),
    # kept as read so that nothing is lost on the way to the bag.
    extra: dict[str, Any] = field(default_factory=dict)
    version: int = VERSION

    @property
    def seed_urls(self) -> list[str]:
        return [s.url for s in self.seeds]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (lists for tuples), as written to ``capture.json``."""
        doc = _plain(asdict(self))
        extra = doc.pop("extra")
        return {k: v for k, v in extra.items() if k not in doc} | doc

    def write(self, folder_or_file: Path) -> Path:
        """Write ``capture.json`` atomically (temp file, fsync, rename, fsync folder)."""
        path = Path(folder_or_file)
        if path.is_dir():
            path = path / FILE_NAME
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        atomic_write_text(path, text)
        return path

    @classmethod
    def load(cls, folder_or_file: Path) -> CaptureRecord:
        """Read and check a capture record; CaptureRecordError (exit 2) names what is wrong.

        Accepts a capture folder, a bag's ``tags/`` folder or the file itself.
        Symlinks, oversized files, bad JSON, wrong types, absurd numbers and
        unknown versions are refused. Unknown fields are ignored, so a reader
        of version 1 can read a version 1 record that gained an optional field.
        """
        path = Path(folder_or_file)
        if path.is_dir():
            path = path / FILE_NAME
        if path.is_symlink():
            raise CaptureRecordError(f"{path}: is a symlink; refusing to follow it")
        try:
            with open(path, "rb") as fh:
                if os.fstat(fh.fileno()).st_size > MAX_BYTES:
                    raise CaptureRecordError(f"{path}: too large to be a capture record")
                data = fh.read(MAX_BYTES + 1)
        except FileNotFoundError:
            raise CaptureRecordError(f"{path}: no capture record") from None
        except OSError as exc:
            raise CaptureRecordError(f"{path}: cannot read ({exc.strerror})") from None
        return cls.from_bytes(data, str(path))

    @classmethod
    def from_bytes(cls, data: bytes, where: str = FILE_NAME) -> CaptureRecord:
        try:
            doc = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise CaptureRecordError(f"{where}: not valid JSON ({exc})") from None
        return cls.from_dict(doc, where)

    @classmethod
    def from_dict(cls, doc: object, where: str = FILE_NAME) -> CaptureRecord:
        if not isinstance(doc, dict):
            raise CaptureRecordError(f"{where}: expected a JSON object")
        return _parse_record(_Fields(doc, where, ""))


def load_optional(folder_or_file: Path) -> CaptureRecord | None:
    """The capture record, or None when it is missing or cannot be trusted.

    For readers that only enrich what they show (replay titles, status dates):
    a damaged record must not stop them; ``verify`` reports the damage.
    """
    with contextlib.suppress(CaptureRecordError):
        return CaptureRecord.load(folder_or_file)
    return None


def collection_file_ref(collection_path: Path | None, archive_root: Path) -> str | None:
    """The collection file relative to the archive's parent folder, if it lies there."""
    if collection_path is None:
        return None
    base = archive_root.absolute().parent
    with contextlib.suppress(ValueError):
        rel = Path(os.path.abspath(collection_path)).relative_to(base)
        return rel.as_posix()
    return None


# --- parsing ---------------------------------------------------------------------
def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


class _Fields:
    """Typed access to one JSON object; every error names the dotted field."""

    def __init__(self, doc: dict[str, Any], where: str, prefix: str) -> None:
        self.doc, self.where, self.prefix = doc, where, prefix

    def name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def fail(self, key: str, expected: str) -> CaptureRecordError:
        got = self.doc.get(key)
        shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
        return CaptureRecordError(
            f"{self.where}: field {self.name(key)!r}: expected {expected}, got {shown[:80]}"
        )

    def text(self, key: str, default: str = "", *, required: bool = False) -> str:
        v = self.doc.get(key)
        if v is None:
            if required:
                raise CaptureRecordError(f"{self.where}: field {self.name(key)!r} is missing")
            return default
        if not isinstance(v, str):
            raise self.fail(key, "a string")
        if len(v) > MAX_TEXT or "\x00" in v:
            raise self.fail(key, f"a string of at most {MAX_TEXT} characters, without NUL")
        return v

    def optional_date(self, key: str) -> str | None:
        v = self.text(key) or None
        if v is not None:
            try:
                dt.date.fromisoformat(v[:10])
            except ValueError:
                raise self.fail(key, "an ISO date (YYYY-MM-DD)") from None
        return v

    def timestamp(self, key: str) -> str:
        v = self.text(key)
        if v and not (len(v) == 14 and v.isdigit()):  # 14 digits: a WARC/1.0 or ARC date
            try:
                dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError:
                raise self.fail(key, "an ISO timestamp (YYYY-MM-DDTHH:MM:SSZ)") from None
        return v

    def count(self, key: str, default: int = 0, maximum: int = MAX_COUNT) -> int:
        v = self.doc.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= maximum:
            raise self.fail(key, f"a whole number from 0 to {maximum}")
        return v

    def obj(self, key: str) -> _Fields:
        v = self.doc.get(key)
        if v is None:
            v = {}
        if not isinstance(v, dict):
            raise self.fail(key, "an object")
        return _Fields(v, self.where, f"{self.name(key)}.")

    def items(self, key: str, parse: Callable[[object, str], T]) -> tuple[T, ...]:
        v = self.doc.get(key)
        if v is None:
            return ()
        if not isinstance(v, list):
            raise self.fail(key, "a list")
        if len(v) > MAX_ITEMS:
            raise self.fail(key, f"a list of at most {MAX_ITEMS} entries")
        return tuple(parse(item, f"{self.name(key)}[{i}]") for i, item in enumerate(v))

    def entry(self, item: object, name: str) -> _Fields:
        if not isinstance(item, dict):
            raise CaptureRecordError(f"{self.where}: field {name!r}: expected an object")
        return _Fields(item, self.where, name + ".")


def _parse_record(f: _Fields) -> CaptureRecord:
    version = f.doc.get("version", 1)
    if isinstance(version, bool) or version not in VERSIONS:
        raise CaptureRecordError(
            f"{f.where}: field 'version': capture record version {version!r} is not one this "
            f"strongroom reads ({', '.join(map(str, VERSIONS))}); upgrade strongroom"
        )
    capture_id = f.text("capture_id")
    if capture_id and not re.match(_SAFE_ID, capture_id):
        raise f.fail("capture_id", "a capture id like 20240220T101500Z-ab12cd")
    status = f.text("status", "complete")
    if status not in STATUSES:
        raise f.fail("status", " or ".join(map(repr, STATUSES)))
    stats = f.obj("stats")
    settings = f.doc.get("settings") or {}
    if not isinstance(settings, dict) or not all(
        isinstance(v, str | int | float | bool) or v is None for v in settings.values()
    ):
        raise f.fail("settings", "an object of plain values")
    if any(isinstance(v, str) and len(v) > MAX_TEXT for v in settings.values()):
        raise f.fail("settings", f"values of at most {MAX_TEXT} characters")
    return CaptureRecord(
        capture_id=capture_id,
        collection=_parse_collection(f.obj("collection")),
        seeds=f.items("seeds", lambda item, name: _parse_seed(f, item, name)),
        settings=dict(settings),
        software=f.text("software"),
        operator=f.text("operator"),
        started=f.timestamp("started"),
        ended=f.timestamp("ended"),
        status=status,
        warcs=f.items("warcs", lambda item, name: _parse_warc(f.entry(item, name))),
        stats={str(k): stats.count(k) for k in stats.doc},
        failures=f.items("failures", lambda item, name: _parse_failure(f.entry(item, name))),
        skipped=f.items("skipped", lambda item, name: _parse_failure(f.entry(item, name))),
        pages=f.items("pages", lambda item, name: _parse_page(f.entry(item, name))),
        origin=f.text("origin", "crawl"),
        depends_on_captures=f.items("depends_on_captures", lambda c, n: _capture_id(f, c, n)),
        browser=f.text("browser") or None,
        extra={k: v for k, v in f.doc.items() if k not in _KNOWN},
        version=VERSION,
    )


def _capture_id(f: _Fields, item: object, name: str) -> str:
    if not isinstance(item, str) or not re.match(_SAFE_ID, item):
        raise CaptureRecordError(f"{f.where}: field {name!r}: expected a capture id")
    return item


def _parse_collection(c: _Fields) -> CollectionRef:
    cid = c.text("id") or DEFAULT_COLLECTION_ID
    if not re.match(_SAFE_ID, cid):
        raise c.fail("id", "a safe identifier (letters, digits, . _ -)")
    cur = c.obj("curator")
    # "path" is the pre-contract (absolute) spelling of "file": read, never written.
    file = c.text("file") or c.text("path") or None
    return CollectionRef(
        id=cid,
        title=c.text("title"),
        description=c.text("description"),
        curator=Curator(cur.text("name"), cur.text("email"), cur.text("organization")),
        access=c.text("access"),
        embargo_until=c.optional_date("embargo_until"),
        designations=c.items("designations", lambda item, name: _parse_designation(c, item, name)),
        file=file,
    )


def _parse_designation(c: _Fields, item: object, name: str) -> DesignationRef:
    d = c.entry(item, name)
    hosts = d.items("hosts", lambda h, n: _host(d, h, n))
    org = d.text("organization", required=True)
    if not org or not hosts:
        raise CaptureRecordError(f"{c.where}: field {name!r}: needs an organization and hosts")
    return DesignationRef(
        organization=org,
        hosts=hosts,
        jurisdiction=d.text("jurisdiction"),
        kind=d.text("kind", "other"),
        since=d.optional_date("since"),
        source=d.text("source"),
    )


def _host(d: _Fields, h: object, name: str) -> str:
    if not isinstance(h, str) or not h or len(h) > 255:
        raise CaptureRecordError(f"{d.where}: field {name!r}: expected a host name")
    return h.lower()


def _parse_seed(f: _Fields, item: object, name: str) -> SeedRef:
    if isinstance(item, str):  # early records listed seeds as bare URLs
        item = {"url": item}
    s = f.entry(item, name)
    return SeedRef(
        url=s.text("url", required=True),
        title=s.text("title"),
        publisher=s.text("publisher"),
        published=s.optional_date("published"),
        language=s.text("language"),
    )


def _parse_warc(w: _Fields) -> WarcRef:
    name = w.text("name", required=True)
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise w.fail("name", "a WARC file name inside the capture folder")
    return WarcRef(
        name=name,
        size=w.count("size"),
        records=w.count("records"),
        seeds=w.items("seeds", lambda s, n: _text_item(w, s, n)),
        first_date=w.text("first_date"),
        last_date=w.text("last_date"),
    )


def _text_item(w: _Fields, item: object, name: str) -> str:
    if not isinstance(item, str) or len(item) > MAX_TEXT:
        raise CaptureRecordError(f"{w.where}: field {name!r}: expected a string")
    return item


def _parse_failure(x: _Fields) -> FailureRef:
    return FailureRef(x.text("url", required=True), x.text("reason"), x.text("page"))


def _parse_page(p: _Fields) -> PageRef:
    return PageRef(
        url=p.text("url", required=True),
        final_url=p.text("final_url"),
        status=p.count("status", maximum=999),
        title=p.text("title"),
        browser=_browser_entry(p),
    )


def _browser_entry(p: _Fields) -> dict[str, Any] | None:
    """A page's browser summary: a JSON object of bounded size, kept as read."""
    v = p.doc.get("browser")
    if v is None:
        return None
    if not isinstance(v, dict) or len(json.dumps(v)) > MAX_BROWSER_ENTRY:
        raise p.fail("browser", f"an object of at most {MAX_BROWSER_ENTRY} bytes as JSON")
    return v
