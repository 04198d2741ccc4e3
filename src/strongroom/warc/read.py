"""The one WARC reader: watch, replay, screenshots, import and ``verify --deep`` use it.

warcio's ArchiveIterator parses the records. Around it we add what it lacks:

- a file that does not start with a WARC record is refused (warcio would read
  arbitrary text as a lenient ARC file);
- each record carries its file, its offset and, once read to its end, the
  length of its bytes in the file, so a problem can be named precisely;
- every failure (damaged gzip, a cut record, a bad header) becomes one
  :class:`WarcReadError` with the file, the offset and the last good record's URI;
- bodies are read with a cap, so a gzip or chunked bomb costs no memory;
- block and payload digests are re-checked under our convention (payload =
  entity body with transfer-encoding removed, content-encoding kept) and under
  the raw-chunked one that warcio and wget write, saying which one held.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from strongroom.warc.write import Dechunker, is_chunked

HEAD_MAX = 1024 * 1024  # the HTTP head of a record is looked for in its first MiB
STEP = 1024 * 1024
CONVENTION_DECHUNKED = "dechunked"  # ours: transfer-encoding removed
CONVENTION_RAW = "raw-chunked"  # warcio's and wget's: the stored body as is


class WarcReadError(Exception):
    """A WARC file that cannot be read on: names the file, offset and the record before."""

    def __init__(self, path: Path, offset: int, reason: str, after_uri: str = "") -> None:
        self.path, self.offset, self.reason, self.after_uri = Path(path), offset, reason, after_uri
        after = f" (the record after {after_uri})" if after_uri else ""
        super().__init__(f"{self.path.name}: damaged WARC data at offset {offset}{after}: {reason}")


def looks_like_warc(fh: IO[bytes]) -> bool:
    """True when a file starts with a WARC record, plain or gzipped (position kept at 0)."""
    head = fh.read(4096)
    fh.seek(0)
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 16)
        except zlib.error:
            return False
    return head.startswith(b"WARC/")


@dataclass
class WarcRecord:
    """One record, with where it sits in its file. Valid while its iteration is on it."""

    path: Path
    offset: int
    raw: Any  # warcio's ArcWarcRecord
    length: int | None = None  # bytes in the file; known once the record was read to its end

    def header(self, name: str) -> str:
        return self.raw.rec_headers.get_header(name) or ""

    @property
    def rec_type(self) -> str:
        return (self.raw.rec_type or self.header("WARC-Type")).lower()

    @property
    def target_uri(self) -> str:
        return self.header("WARC-Target-URI")

    @property
    def record_id(self) -> str:
        return self.header("WARC-Record-ID")

    @property
    def date(self) -> str:
        return self.header("WARC-Date")

    @property
    def payload_digest(self) -> str:
        return self.header("WARC-Payload-Digest")

    @property
    def content_type(self) -> str:
        return self.header("Content-Type")

    @property
    def http_status(self) -> int | None:
        """The HTTP status of a parsed response or revisit, else None."""
        http = self.raw.http_headers
        if http is None:
            return None
        try:
            return int(http.get_statuscode())
        except (TypeError, ValueError):
            return None

    def http_header(self, name: str) -> str:
        http = self.raw.http_headers
        return (http.get_header(name) or "") if http is not None else ""

    @property
    def http_headers(self) -> list[tuple[str, str]]:
        http = self.raw.http_headers
        return [(k, v) for k, v in http.headers] if http is not None else []

    def body(self, limit: int) -> bytes:
        """The entity body, de-chunked and decoded, at most ``limit`` bytes (+1 to tell)."""
        return bytes(self.raw.content_stream().read(limit + 1))

    @property
    def stream(self) -> Any:
        """The record's block as stored (after the HTTP head when that was parsed)."""
        return self.raw.raw_stream


def iter_records(path: Path, *, parse_http: bool = True) -> Iterator[WarcRecord]:
    """The records of one WARC file, in order; WarcReadError when it is damaged or not a WARC.

    ``parse_http=False`` leaves the block unparsed (for digest checks).
    """
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    path = Path(path)
    offset, uri, count = 0, "", 0
    it: Any = None
    try:
        with open(path, "rb") as fh:
            if not looks_like_warc(fh):
                raise WarcReadError(path, 0, "it does not start with a WARC record")
            it = ArchiveIterator(fh, no_record_parse=not parse_http)
            for raw in it:
                offset = it.offset
                rec = WarcRecord(path, offset, raw)
                yield rec
                it.read_to_end(raw)
                _check_complete(path, rec, it, uri if count else "")
                rec.length = it.get_record_length()
                uri, count = rec.target_uri or rec.rec_type, count + 1
            end = it.offset or 0
            if end < os.fstat(fh.fileno()).st_size:
                # warcio ends quietly when what follows the last record cannot be parsed
                raise WarcReadError(path, end, "a record is cut short or damaged", uri)
    except (ArchiveLoadFailed, zlib.error, EOFError, ValueError, OSError) as exc:
        # warcio quotes the undecodable bytes; keep only its first words
        why = str(exc).split(":")[0][:80] or type(exc).__name__
        where = it.offset if it is not None and it.offset is not None else offset
        raise WarcReadError(path, where, why, uri if count else "") from None


def _check_complete(path: Path, rec: WarcRecord, it: Any, before: str) -> None:
    """Refuse a record cut short: warcio silently stops at the end of the data it has
    (and only prints a zlib error), so a truncated file would pass as complete."""
    left = getattr(rec.raw.raw_stream, "limit", 0)
    if left:
        raise WarcReadError(
            path, rec.offset, f"record cut short ({left} bytes of its block missing)", before
        )
    dec = getattr(it.reader, "decompressor", None)
    if dec is not None and not getattr(dec, "eof", True):
        raise WarcReadError(path, rec.offset, "gzip member cut short or damaged", before)


def iter_many(paths: Iterable[Path], *, parse_http: bool = True) -> Iterator[WarcRecord]:
    """The records of several WARC files, file after file."""
    for p in paths:
        yield from iter_records(p, parse_http=parse_http)


@contextlib.contextmanager
def record_at(path: Path, offset: int) -> Iterator[WarcRecord]:
    """The record that starts at ``offset`` (as given by :func:`iter_records`)."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            raw = next(iter(ArchiveIterator(fh)), None)
            if raw is None:
                raise WarcReadError(Path(path), offset, "no record at this offset")
            yield WarcRecord(Path(path), offset, raw)
    except (ArchiveLoadFailed, zlib.error, EOFError, ValueError, OSError) as exc:
        raise WarcReadError(Path(path), offset, str(exc).split(":")[0][:80]) from None


# --- digests ------------------------------------------------------------------------
def hashlib_name(algorithm: str) -> str | None:
    """hashlib's name for a WARC digest algorithm (``sha-256`` -> ``sha256``), or None."""
    name = algorithm.lower().replace("-", "")
    name = {"sha3256": "sha3_256", "sha3512": "sha3_512"}.get(name, name)
    return name if name in hashlib.algorithms_guaranteed else None


def _digest_bytes(value: str, size: int) -> bytes | None:
    """Decode a WARC digest value in base32 (the usual), hex or base64; None if none fits."""
    for decode in (
        lambda v: base64.b32decode(v.upper() + "=" * (-len(v) % 8)),
        lambda v: bytes.fromhex(v),
        lambda v: base64.b64decode(v + "=" * (-len(v) % 4), altchars=b"-_" if "-" in v else None),
    ):
        try:
            raw = decode(value)
        except (ValueError, binascii.Error):
            continue
        if len(raw) == size:
            return raw
    return None


class RunningDigest:
    """A declared ``algo:value`` digest and a running hash to compare it with."""

    def __init__(self, header: str) -> None:
        algo, _, value = header.strip().partition(":")
        self.header = header.strip()
        self.algorithm = algo.lower()
        name = hashlib_name(self.algorithm)
        self.hash = hashlib.new(name) if name else None
        self.expected = _digest_bytes(value.strip(), self.hash.digest_size) if self.hash else None

    def update(self, data: bytes) -> None:
        if self.hash is not None:
            self.hash.update(data)

    def matches(self) -> bool | None:
        """True/False, or None when the declared digest cannot be understood."""
        if self.hash is None or self.expected is None:
            return None
        return self.hash.digest() == self.expected


@dataclass
class DigestCheck:
    """The outcome of re-checking one record's digests (None: no digest declared)."""

    block: bool | None = None
    payload: bool | None = None
    convention: str = ""  # which payload convention held: dechunked | raw-chunked
    problems: list[tuple[str, str, str | None]] = field(default_factory=list)  # code, what, algo


def _split_http_head(first: bytes) -> int:
    for sep in (b"\r\n\r\n", b"\n\n"):
        i = first.find(sep)
        if i >= 0:
            return i + len(sep)
    return len(first)


def _read_upto(stream: Any, size: int) -> bytes:
    parts, got = [], 0
    while got < size:
        chunk = stream.read(size - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def check_digests(rec: WarcRecord) -> DigestCheck:
    """Re-hash a record read with ``parse_http=False`` and compare its declared digests.

    The HTTP head is split off exactly as warc.write.split_head does when the
    record is written, so both sides agree on where the payload starts. A
    revisit's payload digest names another record's payload: not checked here.
    """
    bd, pd = rec.header("WARC-Block-Digest"), rec.header("WARC-Payload-Digest")
    block = RunningDigest(bd) if bd else None
    payload = RunningDigest(pd) if pd and rec.rec_type != "revisit" else None
    raw_body = RunningDigest(pd) if payload else None
    is_http = "application/http" in rec.content_type.lower()
    first = _read_upto(rec.stream, HEAD_MAX)
    if block:
        block.update(first)
    body, dech = first, None
    if is_http and payload:
        head_len = _split_http_head(first)
        body = first[head_len:]
        if is_chunked(first[:head_len]):
            dech = Dechunker()
    pending = body
    while pending:
        if payload:
            payload.update(dech.feed(pending) if dech else pending)
            if dech and raw_body:
                raw_body.update(pending)
        pending = rec.stream.read(STEP)
        if block and pending:
            block.update(pending)
    return _outcome(block, payload, raw_body if dech else None, bd, pd)


def _outcome(
    block: RunningDigest | None,
    payload: RunningDigest | None,
    raw_body: RunningDigest | None,
    bd: str,
    pd: str,
) -> DigestCheck:
    out = DigestCheck()
    if block:
        out.block = block.matches()
        if out.block is False:
            what = f"block digest does not match WARC-Block-Digest {block.header}"
            out.problems.append(("warc-block", what, block.algorithm))
        elif out.block is None:
            out.problems.append(("warc-digest", f"unreadable WARC-Block-Digest {bd!r}", None))
    if payload:
        out.payload = payload.matches()
        out.convention = CONVENTION_DECHUNKED if out.payload else ""
        if out.payload is False and raw_body is not None and raw_body.matches():
            out.payload, out.convention = True, CONVENTION_RAW
        if out.payload is False:
            what = f"payload digest does not match WARC-Payload-Digest {payload.header}"
            out.problems.append(("warc-payload", what, payload.algorithm))
        elif out.payload is None:
            out.problems.append(("warc-digest", f"unreadable WARC-Payload-Digest {pd!r}", None))
    return out
