"""The one WARC reader: watch, replay, screenshots, import, bag and ``verify --deep`` use it.

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

Import and bag need more than that: every byte of a file read once (hashed and
copied as it is read) and nothing tolerated. :class:`WarcSource` and
:func:`frame_records` frame records strictly, without warcio, for both: import
reads each block to check its digests, bag only passes over them (no copy).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
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


# --- strict framing: every byte read once, nothing tolerated (import, bag) ------------
# warcio tolerates what an import or a bag must refuse (it prints a warning on a bad
# gzip member or a record longer than its Content-Length and carries on, and a record
# cut short just reads as shorter), copies every content byte several times (a third
# of the bag time on large WARCs) and gives no bound on a header's size, so
# :class:`WarcSource` and :func:`frame_records` frame records themselves:
# decompression output is bounded per call (a gzip bomb costs time, never memory), a
# header block over 1 MiB is refused, and a block nobody reads is passed over without
# being copied.
FRAME_CHUNK = 1024 * 1024
MAX_HEADER = 1024 * 1024  # a WARC header block is a few hundred bytes
GZIP_MAGIC = b"\x1f\x8b"
VERSIONS = (b"WARC/1.0", b"WARC/1.1")
REQUIRED = ("WARC-Type", "WARC-Record-ID", "WARC-Date", "Content-Length")

# Raw bytes of a file, block after block; b"" at its end (see WarcSource's ``blocks``).
Blocks = Callable[[], bytes | memoryview]


class FramingError(Exception):
    """Damage after which the file cannot be framed further."""


class NotWarcData(FramingError):
    """The data does not start with a WARC/1.0 or WARC/1.1 record at all."""


class TruncatedData(FramingError):
    """The data ends inside a gzip member, a header or a record: the file is cut short."""


class WarcSource:
    """The decompressed stream of a file read once, with the compressed offset of each
    gzip member.

    Read from ``fh``, every byte as read is hashed (``sha256``, ``sha512``) and
    copied to ``copy`` if given. Alternatively ``blocks`` (with ``fh=None``) hands
    over the raw bytes of the file block by block, for a caller that hashes and
    copies them itself (bag hashes on its own threads, with its own algorithms);
    a block it returns is used before the next call, so it may reuse its buffer.
    ``size`` counts the raw bytes either way.
    """

    def __init__(
        self,
        fh: IO[bytes] | None,
        copy: IO[bytes] | None,
        gz: bool,
        *,
        blocks: Blocks | None = None,
    ) -> None:
        if (fh is None) == (blocks is None):
            raise ValueError("WarcSource reads either a file or blocks")
        self.fh, self.copy, self.gz = fh, copy, gz
        self.blocks = blocks
        self.sha256, self.sha512 = hashlib.sha256(), hashlib.sha512()
        self.pending: bytes | memoryview = b""
        self.cpos = 0  # compressed offset of pending[0]
        self.size = 0
        self.d: Any = None  # the current member's zlib decompressor
        # The unread decompressed bytes are buf[at:]: a chunk as zlib made it, so
        # passing over a block copies nothing (a bytearray would copy every byte).
        self.buf = b""
        self.at = 0
        self.pos = 0  # decompressed offset of buf[at]
        self.produced = 0
        self.members: list[tuple[int, int]] = [(0, 0)]  # (decompressed, compressed) starts

    def _raw(self) -> bytes | memoryview:
        if self.blocks is not None:
            data = self.blocks()
            self.size += len(data)
            return data
        assert self.fh is not None
        data = self.fh.read(FRAME_CHUNK)
        if data:
            self.sha256.update(data)
            self.sha512.update(data)
            self.size += len(data)
            if self.copy is not None:
                self.copy.write(data)
        return data

    def unread(self) -> int:
        """How many decompressed bytes are at hand, not read yet."""
        return len(self.buf) - self.at

    def peek(self, n: int) -> bytes:
        """Up to ``n`` of the bytes at hand, without reading them."""
        return self.buf[self.at : self.at + n]

    def more(self) -> bool:
        """Add decompressed bytes to those at hand; False at a clean end of the file."""
        rest = self.buf[self.at :] if self.at else self.buf
        data = self._produce()
        self.buf, self.at = (rest + data if rest else data), 0
        return bool(data)

    def _produce(self) -> bytes:
        """The next decompressed bytes (at most FRAME_CHUNK); b"" at a clean end."""
        if not self.gz:
            data = bytes(self._raw())  # kept past the caller's next block
            self.produced += len(data)
            return data
        while True:
            boundary = self.d is None or self.d.eof  # the next byte starts a member
            if len(self.pending) < (2 if boundary else 1):  # a magic needs both bytes
                kept = bytes(self.pending)  # before the caller's buffer takes the next block
                more = self._raw()
                if not more:
                    if not boundary:
                        # zlib may still hold output of input it took (a long match
                        # cut at the output bound): only then is the member cut off
                        out = self._inflate(b"")
                        if out or self.d.eof:
                            return out or self._produce()
                        raise TruncatedData("truncated gzip member (the file is cut off)")
                    if kept:
                        raise FramingError("stray byte after the last gzip member")
                    return b""
                # no copy of a whole block when nothing is pending (the usual case)
                self.pending = kept + more if kept else more
                continue
            if boundary:
                if self.pending[:2] != GZIP_MAGIC:
                    if self.d is None:
                        raise FramingError("not gzip data")
                    raise FramingError("bytes after a gzip member are not another gzip member")
                self.d = zlib.decompressobj(31)
                if self.produced:
                    self.members.append((self.produced, self.cpos))
            out = self._inflate(self.pending)
            if out:
                return out

    def _inflate(self, data: bytes | memoryview) -> bytes:
        """Decompress at most FRAME_CHUNK of the current member; what is left of
        ``data`` becomes ``pending`` (always bytes: never a view of a caller's buffer)."""
        try:
            out: bytes = self.d.decompress(data, FRAME_CHUNK)
        except zlib.error as exc:
            raise FramingError(f"gzip data is damaged ({exc})") from None
        self.pending = self.d.unused_data if self.d.eof else self.d.unconsumed_tail
        self.cpos += len(data) - len(self.pending)
        self.produced += len(out)
        return out

    def offset(self, dpos: int) -> int:
        """The offset to report for a record starting at decompressed offset ``dpos``."""
        if not self.gz:
            return dpos
        start = 0
        for d, c in self.members:
            if d <= dpos:
                start = c
        return start

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes (fewer only at the end of the file)."""
        while self.unread() < n and self.more():
            pass
        out = self.buf[self.at : self.at + n]
        self.at += len(out)
        self.pos += len(out)
        return out

    def skip(self, n: int) -> int:
        """Pass over up to ``n`` bytes without copying them; how many (fewer only at
        the end of the file)."""
        done = 0
        while done < n:
            if self.at == len(self.buf):
                data = self._produce()
                if not data:
                    break
                self.buf, self.at = data, 0
            take = min(n - done, len(self.buf) - self.at)
            self.at += take
            done += take
        self.pos += done
        return done

    def read_header(self) -> bytes | None:
        """The next header block through CRLF CRLF; None at a clean end of the file."""
        seen = 0  # bytes at hand already searched (but for 3: CRLF CRLF may straddle)
        while True:
            i = self.buf.find(b"\r\n\r\n", self.at + seen)
            if i >= 0:
                return self.read(i + 4 - self.at)
            if self.unread() > MAX_HEADER:
                raise FramingError(f"header block larger than {MAX_HEADER // 1024} KiB")
            seen = max(0, self.unread() - 3)
            if not self.more():
                if not self.unread():
                    return None
                raise TruncatedData("the file ends inside a record header")

    def drain(self) -> None:
        """Read the rest of the file (so the copy and digests are whole)."""
        self.buf, self.at = b"", 0
        while self._raw():
            pass


def parse_fields(block: bytes) -> dict[str, str]:
    """WARC named fields, names lower-cased (the last of repeated names wins;
    continuation lines joined)."""
    out: dict[str, str] = {}
    last = ""
    for line in block.decode("utf-8", "replace").split("\r\n")[1:]:
        if not line:
            continue
        if line[0] in " \t" and last:
            out[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise FramingError(f"malformed header line {line[:80]!r}")
        last = name.strip().lower()
        out[last] = value.strip()
    return out


@dataclass
class FramedRecord:
    """One record of :func:`frame_records`: its fields and where it starts; its block is
    read with :meth:`read` while the iteration is on it."""

    source: WarcSource
    fields: dict[str, str]  # names lower-cased
    version: str  # "WARC/1.0" or "WARC/1.1"
    offset: int  # in the file as stored (the start of its gzip member)
    length: int  # Content-Length
    left: int = 0  # block bytes not read yet

    def read(self, n: int) -> bytes:
        """Up to ``n`` more bytes of the block; b"" at its end. TruncatedData if the
        file ends inside it."""
        take = min(n, self.left)
        if not take:
            return b""
        data = self.source.read(take)
        if len(data) < take:
            raise TruncatedData(self._cut(len(data)))
        self.left -= len(data)
        return data

    def skip(self) -> None:
        """Pass over the rest of the block without copying it. TruncatedData if the
        file ends inside it."""
        got = self.source.skip(self.left)
        if got < self.left:
            raise TruncatedData(self._cut(got))
        self.left = 0

    def _cut(self, got: int) -> str:
        return f"the file ends inside a record ({self.left - got} bytes of its block missing)"


def frame_records(src: WarcSource) -> Iterator[FramedRecord]:
    """The records of ``src``, strictly framed: version line, the fields every record
    needs, a sane Content-Length and the CRLF CRLF after each block. Whatever of a
    block the caller leaves unread is skipped (not copied). At the clean end the
    whole file has been read. Raises NotWarcData when the data does not start with a
    record, TruncatedData when it is cut short, FramingError on other damage that
    stops the framing."""
    while src.unread() < 8 and src.more():
        pass
    if not src.peek(8).startswith(VERSIONS):
        raise NotWarcData("no WARC/1.0 or 1.1 version line")
    count = 0
    while True:
        start = src.pos
        block = src.read_header()
        if block is None:
            return
        if not block.startswith(VERSIONS):
            if count == 0:
                raise NotWarcData("no WARC/1.0 or 1.1 version line")
            raise FramingError("a record does not start with a WARC/1.0 or WARC/1.1 version line")
        fields = parse_fields(block)
        missing = [f for f in REQUIRED if f.lower() not in fields]
        if missing:
            raise FramingError(f"record header lacks {', '.join(missing)}")
        try:
            length = int(fields["content-length"])
            if length < 0:
                raise ValueError
        except ValueError:
            raise FramingError(f"bad Content-Length {fields['content-length'][:40]!r}") from None
        rec = FramedRecord(src, fields, block[:8].decode(), src.offset(start), length, length)
        yield rec
        rec.skip()
        end = src.read(4)
        if len(end) < 4:
            raise TruncatedData("the file ends after a record's block (no CRLF CRLF)")
        if end != b"\r\n\r\n":
            raise FramingError("block longer than its Content-Length")
        count += 1
