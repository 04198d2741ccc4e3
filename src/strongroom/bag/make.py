"""Capture folder -> BagIt 1.0 bag (RFC 8493) with provenance, signature and inventory.

We write bags with our own writer rather than ``bagit.make_bag`` because
bagit-python bags *in place* (it moves the capture into ``data/``, so a crash
midway leaves neither a capture nor a bag), writes ``BagIt-Version: 0.97``, and
writes manifest paths without percent-encoding ``%`` (so a file really named
``a%0Ab`` cannot be told from one named ``a<LF>b``; bagit-python 1.9 also fails
to decode ``%25`` when validating). bagit-python stays our independent
validator in the tests.

How one bag is made, never losing data:

1. The capture is checked: it exists, is finished (``capture.json``), has WARCs.
2. Every payload file is read exactly once, in 1 MiB blocks. Each block is fed
   to every hash algorithm, written to the bag when a copy is needed, and, for
   WARCs, gunzipped strictly (every member's CRC and length) and framed record
   by record (headers parsed with warcio), so a truncated or invalid WARC is
   refused before anything is published. Where capture and bag share a file
   system the payload is a hard link (no copy at all), made read-only once the
   bag is complete. Two files are processed at once; the last file left
   spreads its algorithms over both cores.
3. Everything is built in a ``.tmp-`` folder under ``bags/`` (fsutil.staging_dir),
   fsynced and renamed into place; then the custody log, ledger and inventory
   are updated.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import errno
import hashlib
import io
import json
import os
import re
import shutil
import stat
import threading
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strongroom import SOFTWARE
from strongroom.bag import custody, inventory, provenance, signing
from strongroom.bag.baginfo import format_bag_info
from strongroom.core.archive import Archive
from strongroom.core.collection import ACCESS_LEVELS, DEFAULT_COLLECTION_ID, Designation
from strongroom.core.fsutil import TMP_PREFIX, staging_dir
from strongroom.core.ledger import open_ledger, utcnow
from strongroom.core.policy import default_access, designations_for_urls
from strongroom.errors import UsageError

ALGORITHMS = ("sha512", "sha256", "sha384", "sha1", "md5")
WEAK_ALGORITHMS = ("sha1", "md5")
TAG_ALGORITHM = "sha512"  # the signature covers tagmanifest-sha512.txt, so always made
BLOCK = 1024 * 1024  # long GIL-free hash/zlib calls, yet still in cache for the 2nd algorithm
INFLATE_OUT = 1024 * 1024  # bound on one decompress() output: memory stays flat
MAX_CAPTURE_JSON = 64 * 1024 * 1024
BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

# Called with (bytes done, bytes in total) as payload is hashed, from worker threads.
ProgressFn = Callable[[int, int], None]


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
        }


@dataclass
class WarcStats:
    """What the strict WARC pass learned about one file (for warcs.csv, PREMIS)."""

    records: int = 0
    responses: int = 0
    first_date: str = ""
    last_date: str = ""
    target_uris: set[str] = field(default_factory=set)


@dataclass
class PayloadFile:
    """One payload file: where it came from, its bag path and its digests."""

    source: Path
    rel: str  # relative to data/, e.g. "warc/x.warc.gz"
    is_warc: bool
    size: int = 0
    digests: dict[str, str] = field(default_factory=dict)
    warc: WarcStats | None = None
    linked: bool = False


# --- manifest path encoding -------------------------------------------------
def encode_manifest_path(path: str) -> str:
    """RFC 8493 2.1.3: percent-encode ``%`` first, then CR and LF."""
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def decode_manifest_path(path: str) -> str:
    """Inverse of :func:`encode_manifest_path` (case-insensitive hex)."""
    return re.sub(
        r"%(25|0[dD]|0[aA])",
        lambda m: {"25": "%", "0D": "\r", "0A": "\n"}[m.group(1).upper()],
        path,
    )


def parse_manifest(text: str) -> dict[str, str]:
    """Manifest text -> {decoded path: hex digest}."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        digest, sep, path = line.partition(" ")
        if not sep:
            raise UsageError(f"malformed manifest line {line[:80]!r}")
        out[decode_manifest_path(path.lstrip(" \t"))] = digest.lower()
    return out


# --- reading the capture ----------------------------------------------------
def check_algorithms(algorithms: Sequence[str]) -> tuple[str, ...]:
    """Normalise and validate ``--algorithm`` values (sha512 always first)."""
    chosen: list[str] = []
    for a in algorithms or ("sha512",):
        a = a.lower().replace("-", "")
        if a not in ALGORITHMS:
            raise UsageError(f"unknown algorithm {a!r}; choose from {', '.join(ALGORITHMS)}")
        if a not in chosen:
            chosen.append(a)
    return tuple(chosen)


def load_capture_meta(capture_dir: Path) -> dict[str, Any]:
    """Read and shape-check ``capture.json`` (a folder without it is unfinished)."""
    path = capture_dir / "capture.json"
    if not path.is_file() or path.is_symlink():
        raise UsageError(
            f"capture {capture_dir.name} is unfinished (no capture.json); "
            "it was interrupted or is still running"
        )
    if path.stat().st_size > MAX_CAPTURE_JSON:
        raise UsageError(f"{path}: too large to be a capture description")
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise UsageError(f"{path}: expected a JSON object")
    coll = meta.get("collection") or {}
    if not isinstance(coll, dict):
        raise UsageError(f"{path}: field 'collection': expected an object")
    cid = coll.get("id") or DEFAULT_COLLECTION_ID
    if not isinstance(cid, str) or not _SAFE_ID.match(cid):
        raise UsageError(f"{path}: field 'collection.id': expected a safe identifier, got {cid!r}")
    seeds = meta.get("seeds") or []
    if not isinstance(seeds, list) or not all(
        isinstance(s, str) or (isinstance(s, dict) and isinstance(s.get("url"), str)) for s in seeds
    ):
        raise UsageError(f"{path}: field 'seeds': expected a list of seeds with a url")
    for key in ("started", "ended", "software", "operator", "status"):
        if key in meta and meta[key] is not None and not isinstance(meta[key], str):
            raise UsageError(f"{path}: field {key!r}: expected a string")
    return meta


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


def _plan_payload(capture_dir: Path) -> list[PayloadFile]:
    """The files to bag: top-level ``*.warc.gz`` and everything under ``derivatives/``."""
    files: list[PayloadFile] = []
    for p in sorted(capture_dir.iterdir()):
        if p.name.startswith(TMP_PREFIX) or not p.name.endswith(".warc.gz"):
            continue
        if p.is_symlink() or not p.is_file():
            raise UsageError(f"{p}: not a regular file (symlinks are refused)")
        files.append(PayloadFile(p, f"warc/{p.name}", True))
    if not files:
        raise UsageError(f"capture {capture_dir.name} is empty: it has no WARC files")
    deriv = capture_dir / "derivatives"
    if deriv.is_symlink():
        raise UsageError(f"{deriv}: is a symlink; refusing to follow it")
    if deriv.is_dir():
        for dirpath, dirnames, filenames in os.walk(deriv):
            for d in list(dirnames):
                if os.path.islink(os.path.join(dirpath, d)):
                    raise UsageError(f"{os.path.join(dirpath, d)}: symlinks are refused")
            dirnames.sort()
            for name in sorted(filenames):
                p = Path(dirpath) / name
                if name.startswith(TMP_PREFIX):
                    continue
                if p.is_symlink() or not p.is_file():
                    raise UsageError(f"{p}: not a regular file (symlinks are refused)")
                files.append(
                    PayloadFile(p, "derivatives/" + p.relative_to(deriv).as_posix(), False)
                )
    return files


# --- the one pass over each payload file ----------------------------------------
class _WarcFramer:
    """Strict WARC record framing over the decompressed stream, fed chunk by chunk.

    Each record's header block is parsed with warcio's StatusAndHeadersParser;
    the content is skipped by counting, never copied. We frame records
    ourselves rather than iterate with warcio's ArchiveIterator because the
    latter copies every content byte several times (a third of the bag time on
    large WARCs) and tolerates what a preservation tool must refuse: on a
    corrupt gzip member it prints to stderr and carries on, and a record cut
    short just reads as shorter.
    """

    MAX_HEADER = 1024 * 1024  # a WARC header block is a few hundred bytes
    HEADER_PIECE = 64 * 1024

    def __init__(self, name: str, stats: WarcStats) -> None:
        from warcio.statusandheaders import StatusAndHeadersParser

        self.name = name
        self.stats = stats
        self.parser = StatusAndHeadersParser(["WARC/1.0", "WARC/1.1"], verify=True)
        self.state = "header"
        self.header = bytearray()
        self.remaining = 0
        self.expected = 0
        self.trailer = bytearray()

    def _fail(self, what: str) -> UsageError:
        return UsageError(f"{self.name}: invalid WARC (record {self.stats.records + 1}: {what})")

    def feed(self, data: bytes) -> None:
        """Advance over one decompressed chunk; content bytes are only counted."""
        pos, size = 0, len(data)
        while pos < size:
            if self.state == "header":
                # Copy at most a small piece: headers are short, and the rest of
                # the chunk is usually record content we only need to skip.
                piece = data[pos : pos + self.HEADER_PIECE]
                start = max(0, len(self.header) - 3)
                before = len(self.header)
                self.header += piece
                if self.header[:7] != b"WARC/1."[: len(self.header)]:
                    raise self._fail("does not start with a WARC/1.x version line")
                end = self.header.find(b"\r\n\r\n", start)
                if end < 0:
                    if len(self.header) > self.MAX_HEADER:
                        raise self._fail("header block too large or missing")
                    pos += len(piece)
                    continue
                pos += end + 4 - before
                self._record_header(bytes(self.header[: end + 4]))
                self.header.clear()
            elif self.state == "content":
                take = min(self.remaining, size - pos)
                self.remaining -= take
                pos += take
                if not self.remaining:
                    self.state = "trailer"
            else:
                piece = data[pos : pos + 4 - len(self.trailer)]
                self.trailer += piece
                pos += len(piece)
                if len(self.trailer) == 4:
                    if self.trailer != b"\r\n\r\n":
                        raise self._fail("content is longer than its Content-Length")
                    self.trailer.clear()
                    self.stats.records += 1
                    self.state = "header"

    def _record_header(self, block: bytes) -> None:
        if not block.startswith(b"WARC/1."):
            raise self._fail("does not start with a WARC/1.x version line")
        try:
            headers = self.parser.parse(io.BytesIO(block))
        except Exception as exc:  # warcio raises several types on junk
            raise self._fail(f"unreadable header ({exc})") from None
        declared = headers.get_header("Content-Length")
        try:
            length = int(declared or "")
            if length < 0:
                raise ValueError
        except ValueError:
            raise self._fail(f"bad Content-Length {declared!r}") from None
        if not headers.get_header("WARC-Type"):
            raise self._fail("no WARC-Type")
        s = self.stats
        if headers.get_header("WARC-Type") == "response":
            s.responses += 1
        date = headers.get_header("WARC-Date") or ""
        if date:
            s.first_date = min(s.first_date or date, date)
            s.last_date = max(s.last_date, date)
        uri = headers.get_header("WARC-Target-URI")
        if uri:
            s.target_uris.add(uri)
        self.expected = self.remaining = length
        self.state = "content" if length else "trailer"

    def finish(self) -> None:
        if self.state == "content":
            got = self.expected - self.remaining
            raise UsageError(
                f"{self.name}: truncated WARC (record {self.stats.records + 1} has {got} of "
                f"{self.expected} bytes)"
            )
        if self.state == "trailer" or self.header:
            raise UsageError(
                f"{self.name}: truncated WARC (record {self.stats.records + 1} is cut off)"
            )
        if self.stats.records == 0:
            raise UsageError(f"{self.name}: empty WARC (no records)")


class _OnePass:
    """Reads one file once: hashes every block, copies it if asked, and checks WARCs.

    Each block goes to every hash algorithm on the helper threads (the
    order of blocks per hash object is kept by waiting for the previous block's
    updates, which ran while this block was read), is written to the bag when
    a copy is needed, and for a WARC is gunzipped strictly (CRC and length of
    every member are checked by zlib) and fed to the record framer.
    """

    def __init__(
        self,
        src: Path,
        dest: Path | None,
        algorithms: Sequence[str],
        helpers: ThreadPoolExecutor,
        progress: Callable[[int], None] | None,
        warc: WarcStats | None,
        work: _Work,
    ) -> None:
        self.src = src
        self.fh = open(src, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        self.out = open(dest, "xb") if dest is not None else None  # noqa: SIM115
        self.hashers = [hashlib.new(a) for a in algorithms]
        self.helpers = helpers
        self.progress = progress
        self.work = work
        self.bufs = _thread_buffers()
        self.turn = 0
        self.pending: list[Future[None]] = []
        self.size = 0
        self.framer = _WarcFramer(src.name, warc) if warc is not None else None
        self.decomp: Any = zlib.decompressobj(31)
        self.member_open = False
        self.stash = b""  # a gzip magic split across two blocks

    def _wait(self) -> None:
        for f in self.pending:
            f.result()
        self.pending = []

    def run(self) -> dict[str, str]:
        """Read the whole file; return {algorithm: hex digest}."""
        while True:
            if self.work.abort.is_set():
                raise _Aborted()
            buf = self.bufs[self.turn]
            self.turn ^= 1
            n = self.fh.readinto(buf)
            # The previous block's hashing ran while we read; it must finish
            # before the same hash objects take the next block.
            self._wait()
            if not n:
                break
            view = memoryview(buf)[:n]
            if len(self.hashers) > 1 and self.work.remaining <= 1:
                # The last file in flight: spread its algorithms over the
                # cores (hashlib releases the GIL) so the second core is not idle.
                self.pending = [self.helpers.submit(h.update, view) for h in self.hashers[1:]]
                self.hashers[0].update(view)
            else:
                # Other files keep the other core busy; hashing here, block by
                # block while it is in this core's cache, costs least CPU.
                for h in self.hashers:
                    h.update(view)
            if self.out is not None:
                self.out.write(view)
            if self.framer is not None:
                self._gunzip(view)
            self.size += n
            if self.progress:
                self.progress(n)  # an increment; hash_payload turns it into a total
        if self.framer is not None:
            if self.member_open or self.stash or self.size == 0:
                what = "empty WARC file" if self.size == 0 else "truncated WARC"
                raise UsageError(f"{self.src.name}: {what} (the last gzip member is cut off)")
            self.framer.finish()
        if self.out is not None:
            self.out.flush()
            os.fsync(self.out.fileno())
        return {h.name: h.hexdigest() for h in self.hashers}

    def _gunzip(self, data: bytes | memoryview) -> None:
        """Decompress member after member; output is bounded to one block per call,
        so a gzip bomb costs time, never memory."""
        if self.stash:
            data, self.stash = self.stash + bytes(data), b""
        while data:
            if self.decomp.eof:
                if len(data) < 2:
                    self.stash = bytes(data)
                    return
                if bytes(data[:2]) != b"\x1f\x8b":
                    raise UsageError(
                        f"{self.src.name}: invalid WARC (bytes after a gzip member "
                        "are not another gzip member)"
                    )
                self.decomp = zlib.decompressobj(31)
            try:
                chunk = self.decomp.decompress(data, INFLATE_OUT)
            except zlib.error as exc:
                raise UsageError(f"{self.src.name}: invalid WARC (gzip error: {exc})") from None
            self.member_open = not self.decomp.eof
            assert self.framer is not None
            self.framer.feed(chunk)
            if self.decomp.unconsumed_tail:
                data = self.decomp.unconsumed_tail
            elif self.decomp.eof:
                data = self.decomp.unused_data
            else:
                data = b""

    def close(self) -> None:
        # Already failing or done: the first error is the one reported.
        with contextlib.suppress(Exception):
            self._wait()
        self.fh.close()
        if self.out is not None:
            self.out.close()


_local = threading.local()


def _thread_buffers() -> list[bytearray]:
    """Two read buffers per worker thread, reused for every file.

    Allocating (and zero-filling) fresh buffers for each of a thousand
    small files cost more than hashing them, and happens under the GIL.
    """
    bufs = getattr(_local, "bufs", None)
    if bufs is None or len(bufs[0]) != BLOCK:
        bufs = _local.bufs = [bytearray(BLOCK), bytearray(BLOCK)]
    return bufs


class _Aborted(Exception):
    """Another worker failed; stop early."""


class _Work:
    """State shared by the file workers of one bag."""

    def __init__(self, files: int) -> None:
        self.abort = threading.Event()
        self.remaining = files  # files not finished yet (queued or in flight)
        self.lock = threading.Lock()

    def done(self) -> None:
        with self.lock:
            self.remaining -= 1


def _link_or_none(src: Path, dest: Path) -> bool:
    """Hard-link ``src`` at ``dest``; False when the file systems (or policy) forbid it."""
    try:
        os.link(src, dest, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EACCES, errno.ENOTSUP):
            return False
        raise
    return True


def _process_file(
    pf: PayloadFile,
    data_dir: Path,
    algorithms: Sequence[str],
    helpers: ThreadPoolExecutor,
    progress: Callable[[int], None] | None,
    work: _Work,
    allow_link: bool,
) -> PayloadFile:
    """Link or copy one payload file into the bag, hashing (and checking) it once."""
    dest = data_dir / pf.rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    pf.linked = allow_link and _link_or_none(pf.source, dest)
    pf.warc = WarcStats() if pf.is_warc else None
    reader = _OnePass(
        pf.source, None if pf.linked else dest, algorithms, helpers, progress, pf.warc, work
    )
    try:
        pf.digests = reader.run()
        pf.size = reader.size
    finally:
        reader.close()
        work.done()
    return pf


def hash_payload(
    files: list[PayloadFile],
    data_dir: Path,
    algorithms: Sequence[str],
    *,
    progress: ProgressFn | None = None,
    allow_link: bool = True,
    workers: int = 2,
) -> list[PayloadFile]:
    """Bring every payload file into ``data_dir``, hashing each byte once.

    Two file workers run side by side, largest files first, so the big WARCs
    of a capture are hashed in parallel and the small files even out the end.
    When only one file is left, its algorithms run on separate threads.
    """
    work = _Work(len(files))
    sizes = {f.source: f.source.stat().st_size for f in files}
    order = sorted(files, key=lambda f: sizes[f.source], reverse=True)
    total = sum(sizes.values())
    done = 0
    lock = threading.Lock()

    def advance(n: int) -> None:
        nonlocal done
        with lock:
            done += n
            if progress is not None:
                progress(done, total)

    helpers = max(1, len(algorithms) - 1)
    with (
        ThreadPoolExecutor(max_workers=helpers, thread_name_prefix="hash") as hp,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="file") as fp,
    ):
        futures = [
            fp.submit(_process_file, f, data_dir, algorithms, hp, advance, work, allow_link)
            for f in order
        ]
        try:
            for fut in futures:
                fut.result()
        except BaseException:
            work.abort.set()
            for fut in futures:
                fut.cancel()
            # Report the first real error, not the _Aborted of the others.
            for fut in futures:
                if fut.done() and not fut.cancelled():
                    exc = fut.exception()
                    if exc is not None and not isinstance(exc, _Aborted):
                        raise exc from None
            raise
    return files


# --- tag files ------------------------------------------------------------------
def _manifest_text(files: list[PayloadFile], algorithm: str) -> str:
    # Sorted by path, so manifests of the same payload are byte-identical.
    rows = sorted((encode_manifest_path("data/" + f.rel), f.digests[algorithm]) for f in files)
    return "".join(f"{digest}  {path}\n" for path, digest in rows)


def _hash_file(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while chunk := fh.read(BLOCK):
            h.update(chunk)
    return h.hexdigest()


def _write_tag(bag: Path, rel: str, text: str) -> None:
    p = bag / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "x", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def _tag_files(bag: Path) -> list[str]:
    """Every tag file a tag manifest covers (not tag manifests, not the .sig)."""
    names = []
    for p in sorted(bag.rglob("*")):
        rel = p.relative_to(bag).as_posix()
        if rel == "data" or rel.startswith("data/") or not p.is_file():
            continue
        if rel.startswith("tagmanifest-") or rel.endswith(signing.SIG_SUFFIX):
            continue
        names.append(rel)
    return names


def _warcs_csv(files: list[PayloadFile], seeds: list[str]) -> str:
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


def default_manifests_dir(meta: dict[str, Any]) -> Path:
    """``<repo>/manifests`` for a capture of ``<repo>/collections/x.toml``, else ./manifests."""
    coll = meta.get("collection") or {}
    for key in ("path", "file"):
        p = coll.get(key) or meta.get(f"collection_{key}")
        if isinstance(p, str) and p:
            cpath = Path(p)
            if cpath.parent.name == "collections":
                return cpath.parent.parent / "manifests"
    return Path.cwd() / "manifests"


def _bag_info(
    archive: Archive,
    meta: dict[str, Any],
    *,
    bag_id: str,
    collection_id: str,
    seeds: list[str],
    designations: list[Designation],
    access: str,
    files: list[PayloadFile],
    total: int,
    is_version_of: str | None,
    fpr: str | None,
    operator: str,
) -> list[tuple[str, str]]:
    from strongroom.core.ui import human_bytes

    cfg = archive.config
    coll = meta.get("collection") or {}
    curator = coll.get("curator") or {}
    if not isinstance(curator, dict):
        curator = {}
    configured = archive.config_path.exists()
    org = cfg.organization if configured else (curator.get("organization") or cfg.organization)
    title = str(coll.get("title") or "Ad-hoc captures")
    pairs: list[tuple[str, str]] = [
        ("Source-Organization", str(org)),
        ("Contact-Name", cfg.contact_name or str(curator.get("name") or "")),
        ("Contact-Email", cfg.contact_email or str(curator.get("email") or "")),
        ("External-Identifier", bag_id),
        ("External-Description", f"{title}: web capture of {', '.join(seeds) or 'no seeds'}"),
        ("Bagging-Date", dt.datetime.now(dt.UTC).date().isoformat()),
        ("Bag-Group-Identifier", collection_id),
        ("Payload-Oxum", f"{total}.{len(files)}"),
        ("Bag-Size", human_bytes(total)),
        ("Bag-Software-Agent", SOFTWARE),
        ("Crawl-Start", str(meta.get("started") or "")),
        ("Crawl-End", str(meta.get("ended") or "")),
        ("Crawler-Software", str(meta.get("software") or "")),
        ("Crawl-Operator", operator),
    ]
    pairs += [("Seed-URL", s) for s in seeds]
    pairs.append(("WARC-Count", str(sum(1 for f in files if f.is_warc))))
    pairs += [("Designation", d.label()) for d in designations]
    pairs.append(("Access", access))
    embargo = (meta.get("collection") or {}).get("embargo_until")
    if isinstance(embargo, str) and embargo:
        pairs.append(("Embargo-Until", embargo))  # replay keeps the bag staff-only until then
    if is_version_of:
        pairs.append(("Is-Version-Of", is_version_of))
    if fpr:
        pairs.append(("Signing-Key-Fingerprint", fpr))
    # An empty label value is legal but useless; leave unset contact fields out.
    return [(k, v) for k, v in pairs if v != ""]


def _operator(archive: Archive, meta: dict[str, Any]) -> str:
    """The capturer's pseudonym: the collection's capture.operator, else the archive's."""
    settings = meta.get("settings") or {}
    op = settings.get("operator") if isinstance(settings, dict) else None
    return str(op or meta.get("operator") or archive.config.operator)


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
    files = _plan_payload(capture_dir)
    coll = meta.get("collection") or {}
    collection_id = coll.get("id") or DEFAULT_COLLECTION_ID
    bag_id = f"{collection_id}-{capture_id}"
    final = archive.bag_dir(bag_id)
    if final.exists() or archive.custody_path(bag_id).exists():
        raise UsageError(f"bag {bag_id} already exists in {archive.bags}; refusing to replace it")
    archive.ensure()
    manifests = Path(manifests_dir) if manifests_dir else default_manifests_dir(meta)
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
    fpr = signing.fingerprint(key.public_key()) if key else None
    operator = _operator(archive, meta)
    tag_algos = algos if TAG_ALGORITHM in algos else (*algos, TAG_ALGORITHM)

    digest_started = utcnow()
    try:
        with staging_dir(final) as tmp:
            data_dir = tmp / "data"
            data_dir.mkdir()
            hash_payload(files, data_dir, algos, progress=progress)
            digest_ended = utcnow()
            total = sum(f.size for f in files)
            _write_tag(tmp, "bagit.txt", BAGIT_TXT)
            for a in algos:
                _write_tag(tmp, f"manifest-{a}.txt", _manifest_text(files, a))
            info = _bag_info(
                archive,
                meta,
                bag_id=bag_id,
                collection_id=collection_id,
                seeds=seeds,
                designations=designations,
                access=level,
                files=files,
                total=total,
                is_version_of=is_version_of,
                fpr=fpr,
                operator=operator,
            )
            _write_tag(tmp, "bag-info.txt", format_bag_info(info))
            ctx = provenance.Context(
                bag_id=bag_id,
                capture=meta,
                files=[
                    provenance.FileFacts(
                        path="data/" + f.rel,
                        size=f.size,
                        digests=dict(f.digests),
                        is_warc=f.is_warc,
                        records=f.warc.records if f.warc else 0,
                    )
                    for f in files
                ],
                seeds=seeds,
                operator=operator,
                organization=dict(info).get("Source-Organization", ""),
                software=SOFTWARE,
                digest_started=digest_started,
                digest_ended=digest_ended,
                packed=utcnow(),
                algorithms=algos,
            )
            _write_tag(tmp, "tags/premis.json", provenance.premis_json(ctx))
            _write_tag(tmp, "tags/prov.jsonld", provenance.prov_jsonld(ctx))
            _write_tag(tmp, "tags/warcs.csv", _warcs_csv(files, seeds))
            shutil.copyfile(capture_dir / "capture.json", tmp / "tags" / "capture.json")
            tag_names = _tag_files(tmp)
            for a in tag_algos:
                lines = [
                    f"{_hash_file(tmp / n, a)}  {encode_manifest_path(n)}\n" for n in tag_names
                ]
                _write_tag(tmp, f"tagmanifest-{a}.txt", "".join(lines))
            if key is not None:
                signing.write_signature(tmp / custody.TAGMANIFEST, key)
            # Read-only payload: with hard links this also protects the capture's
            # copy, since both names share one inode.
            for f in files:
                os.chmod(data_dir / f.rel, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    except PermissionError as exc:
        raise UsageError(f"cannot write the bag under {archive.bags}: {exc.strerror}") from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise UsageError(f"disk full while writing {bag_id}; nothing was published") from None
        raise

    created = utcnow()
    tm_hashes = inventory.tagmanifest_hashes(final)
    custody.append(
        archive,
        bag_id,
        "creation",
        outcome="success",
        inputs={"capture_id": capture_id, "collection_id": collection_id},
        detail={
            "payload_oxum": f"{total}.{len(files)}",
            "algorithms": list(algos),
            "signed": fpr is not None,
        },
        actor=operator,
    )
    with open_ledger(archive.root) as ledger:
        ledger.record_bag(
            bag_id,
            collection_id=collection_id,
            capture_id=capture_id,
            created=created,
            access=level,
            seeds=seeds,
            is_version_of=is_version_of,
        )
        ledger.record_event(
            "creation",
            "success",
            bag_id=bag_id,
            actor=operator,
            detail={"capture_id": capture_id, "payload_oxum": f"{total}.{len(files)}"},
        )
    inventory.record_bag(
        manifests,
        collection_id,
        {
            "bag_id": bag_id,
            "created": created,
            "payload_oxum": f"{total}.{len(files)}",
            "tagmanifests": tm_hashes,
            "signing_key": fpr,
            "seeds": seeds,
            "access": level,
            "is_version_of": is_version_of,
        },
    )
    deleted = False
    if delete_capture:
        shutil.rmtree(capture_dir)
        deleted = True
    return BagResult(
        bag_id=bag_id,
        path=final,
        payload_oxum=f"{total}.{len(files)}",
        files=len(files),
        bytes=total,
        access=level,
        algorithms=algos,
        signed=fpr,
        inventory=inv_path,
        linked=all(f.linked for f in files),
        capture_deleted=deleted,
    )


def _merge(*groups: Sequence[Designation]) -> list[Designation]:
    """Designations without duplicates (same organisation, jurisdiction, kind, hosts)."""
    seen: dict[tuple[str, str, str, tuple[str, ...]], Designation] = {}
    for group in groups:
        for d in group:
            seen.setdefault((d.organization, d.jurisdiction, d.kind, d.hosts), d)
    return list(seen.values())
