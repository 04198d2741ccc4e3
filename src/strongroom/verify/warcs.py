"""``verify --deep``: every WARC record's block and payload digests, re-checked.

Damage does not stop the check: after data that cannot be decoded (a flipped bit
in a gzip member), the reader skips to the next gzip member or ``WARC/1.x``
record line and goes on, so that every damaged record is named (file, offset,
target URI) and every intact one after it is still checked.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from strongroom.verify.findings import Problem, WarcRecordDamage, show
from strongroom.verify.manifests import hashlib_name

HEAD_MAX = 1024 * 1024
RESYNC_WINDOW = 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b\x08"
_TARGET_URI = re.compile(rb"(?im)^WARC-Target-URI:[ \t]*<?([^\s>]+)>?[ \t]*\r?$")


def _digest_bytes(value: str, size: int) -> bytes | None:
    """Decode a WARC digest value in base32 (the usual), hex or base64; None if none fits."""
    import base64
    import binascii

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


class _WarcDigest:
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


def _read_upto(stream: Any, size: int) -> bytes:
    parts, got = [], 0
    while got < size:
        chunk = stream.read(size - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _split_http_head(first: bytes) -> tuple[bytes, int]:
    for sep in (b"\r\n\r\n", b"\n\n"):
        i = first.find(sep)
        if i >= 0:
            return first[: i + len(sep)], i + len(sep)
    return first, len(first)


@dataclass
class _Findings:
    """What one WARC file's check has found so far."""

    rel: str
    problems: list[Problem] = field(default_factory=list)
    records: int = 0
    last_uri: str | None = None  # of the last record whose head was read

    def record(self, code: str, offset: int, uri: str | None, what: str, alg: str | None) -> None:
        after = f"; the record after {show(self.last_uri)}" if self.last_uri else ""
        shown = show(uri) if uri else f"target URI unreadable{after}"
        self.problems.append(
            WarcRecordDamage(
                code,
                f"{show(self.rel)}: record at offset {offset} ({shown}): {what}",
                file=self.rel,
                algorithm=alg,
                offset=offset,
                target_uri=uri,
            )
        )


class _RecordDigests:
    """The declared block and payload digests of one record, and running hashes."""

    def __init__(self, headers: Any) -> None:
        rtype = (headers.get_header("WARC-Type") or "").lower()
        self.bd = headers.get_header("WARC-Block-Digest")
        self.pd = headers.get_header("WARC-Payload-Digest")
        self.block = _WarcDigest(self.bd) if self.bd else None
        self.payload = _WarcDigest(self.pd) if self.pd and rtype != "revisit" else None
        self.raw_body = _WarcDigest(self.pd) if self.payload else None
        self.is_http = "application/http" in (headers.get_header("Content-Type") or "").lower()
        self.dech: Any = None

    def read(self, stream: Any) -> None:
        """Hash the record's block, and its payload (de-chunked when the head says so)."""
        from strongroom.warc.write import Dechunker, is_chunked

        # The first MiB holds the HTTP head; split it exactly as warc.split_head does
        # when the record was written, so both sides agree on where the payload starts.
        first = _read_upto(stream, HEAD_MAX)
        if self.block:
            self.block.update(first)
        body = first
        if self.is_http and self.payload:
            head, head_len = _split_http_head(first)
            body = first[head_len:]
            if is_chunked(head):
                self.dech = Dechunker()
        pending = body
        while pending:
            if self.payload:
                self.payload.update(self.dech.feed(pending) if self.dech else pending)
                if self.dech and self.raw_body:
                    self.raw_body.update(pending)
            pending = stream.read(1024 * 1024)
            if self.block and pending:
                self.block.update(pending)

    def report(self, found: _Findings, offset: int, uri: str) -> None:
        if self.block and self.block.matches() is False:
            what = f"block digest does not match WARC-Block-Digest {self.block.header}"
            found.record("warc-block", offset, uri, what, self.block.algorithm)
        elif self.block and self.block.matches() is None:
            what = f"unreadable WARC-Block-Digest {show(self.bd or '')!r}"
            found.record("warc-digest", offset, uri, what, None)
        if not self.payload:
            return
        ok = self.payload.matches()
        if ok is False and self.dech is not None and self.raw_body:
            ok = self.raw_body.matches()  # what warcio and wget write for chunked bodies
        if ok is False:
            what = f"payload digest does not match WARC-Payload-Digest {self.payload.header}"
            found.record("warc-payload", offset, uri, what, self.payload.algorithm)
        elif ok is None:
            what = f"unreadable WARC-Payload-Digest {show(self.pd or '')!r}"
            found.record("warc-digest", offset, uri, what, None)


def check_warc(path: Path, rel: str) -> tuple[list[Problem], int]:
    """Re-check every record's block and payload digests; return (problems, records).

    The payload digest follows the strongroom convention (de-chunked entity
    body, content-encoding kept); for chunked responses a digest over the raw
    body (what warcio and wget write) is accepted too, so other tools' WARCs
    pass. Problems name the file, the record's offset and its target URI.
    """
    found = _Findings(rel)
    try:
        with open(path, "rb") as fh:
            gzipped = fh.read(3) == _GZIP_MAGIC
            start: int | None = 0
            while start is not None:
                if gzipped:
                    start = _check_member(fh, start, found)
                else:
                    start = _check_plain(fh, start, found)
    except OSError as exc:
        found.problems.append(
            Problem("unreadable", f"{show(rel)}: cannot read ({exc.strerror})", file=rel)
        )
    return found.problems, found.records


_DAMAGE = (zlib.error, EOFError, ValueError)


class _Member(io.RawIOBase):
    """One gzip member of a WARC file, inflated as it is read.

    We inflate members ourselves rather than let warcio do it: on damage warcio
    prints the zlib error to stderr and quietly ends the file, while we must
    raise, name the record, and go on with the next member.
    """

    def __init__(self, fh: IO[bytes], start: int) -> None:
        self.fh, self.start = fh, start
        self.inflate = zlib.decompressobj(31)
        self.used = 0  # compressed bytes of this member consumed so far
        self.pending = b""
        fh.seek(start)

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        while not self.pending and not self.inflate.eof:
            raw = self.fh.read(BLOCK_IN)
            if not raw:
                raise EOFError("the WARC file ends inside a gzip member")
            self.pending = self.inflate.decompress(raw, len(buf))
            self.used += len(raw) - len(self.inflate.unused_data)
            if self.inflate.unconsumed_tail:  # keep it for the next read
                self.fh.seek(-len(self.inflate.unconsumed_tail), os.SEEK_CUR)
                self.used -= len(self.inflate.unconsumed_tail)
        n = min(len(buf), len(self.pending))
        buf[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n

    @property
    def end(self) -> int:
        return self.start + self.used


BLOCK_IN = 256 * 1024


def _check_member(fh: IO[bytes], start: int, found: _Findings) -> int | None:
    """Check the records of the gzip member at ``start``; return the next member's offset."""
    fh.seek(start)
    if not fh.read(1):
        return None
    member = _Member(fh, start)
    uri: str | None = None
    try:
        for rec, _offset in _records(io.BufferedReader(member, 1024 * 1024)):
            uri = rec.rec_headers.get_header("WARC-Target-URI") or "-"
            _check_record(rec, start, uri, found)
        while member.read(BLOCK_IN):  # the rest of the member (blank lines, padding)
            pass
    except _warc_errors() as exc:
        uri = uri or _peek_target_uri(fh, start, True)
        found.record("warc-damaged", start, uri, f"damaged WARC data: {_why(exc)}", None)
        return _next_record_start(fh, start + 1, True)
    return member.end


def _check_plain(fh: IO[bytes], start: int, found: _Findings) -> int | None:
    """Check an uncompressed WARC from ``start``; after damage, return where to resume."""
    fh.seek(start)
    offset, uri = start, None
    try:
        for rec, offset in _records(fh):
            uri = rec.rec_headers.get_header("WARC-Target-URI") or "-"
            _check_record(rec, offset, uri, found)
            uri = None
    except _warc_errors() as exc:
        uri = uri or _peek_target_uri(fh, offset, False)
        found.record("warc-damaged", offset, uri, f"damaged WARC data: {_why(exc)}", None)
        return _next_record_start(fh, offset + 1, False)
    return None


def _records(stream: Any) -> Iterator[tuple[Any, int]]:
    """(record, offset in ``stream``) for each WARC record of ``stream``."""
    from warcio.archiveiterator import ArchiveIterator

    it = ArchiveIterator(stream, no_record_parse=True)
    for rec in it:
        yield rec, it.offset


def _check_record(rec: Any, offset: int, uri: str, found: _Findings) -> None:
    found.records += 1
    found.last_uri = uri
    digests = _RecordDigests(rec.rec_headers)
    digests.read(rec.raw_stream)
    digests.report(found, offset, uri)


def _why(exc: BaseException) -> str:
    # warcio quotes the undecodable bytes; keep only its first words
    return show(str(exc)).split(":")[0][:80] or type(exc).__name__


def _warc_errors() -> tuple[type[Exception], ...]:
    """What damaged WARC data raises; warcio is imported only when a WARC is read."""
    from warcio.exceptions import ArchiveLoadFailed

    return (ArchiveLoadFailed, *_DAMAGE)


def _peek_target_uri(fh: IO[bytes], offset: int, gzipped: bool) -> str | None:
    """The WARC-Target-URI of a damaged record, from whatever of its head still decodes."""
    fh.seek(offset)
    raw = fh.read(64 * 1024)
    if gzipped:
        out = bytearray()
        inflate = zlib.decompressobj(31)
        for i in range(0, len(raw), 4096):  # keep what decodes before the damage
            try:
                out += inflate.decompress(raw[i : i + 4096])
            except zlib.error:
                break
        raw = bytes(out)
    head = raw.split(b"\r\n\r\n", 1)[0]
    m = _TARGET_URI.search(head)
    return m.group(1).decode("utf-8", "replace") if m else None


def _next_record_start(fh: IO[bytes], pos: int, gzipped: bool) -> int | None:
    """The next offset at or after ``pos`` where a gzip member or WARC record begins."""
    marker = _GZIP_MAGIC if gzipped else b"\nWARC/1."
    while True:
        fh.seek(pos)
        window = fh.read(RESYNC_WINDOW + len(marker))
        if len(window) < len(marker):
            return None
        i = window.find(marker)
        while i >= 0:
            at = pos + i + (0 if gzipped else 1)
            if not gzipped or _starts_warc_member(fh, at):
                return at
            i = window.find(marker, i + 1)
        pos += RESYNC_WINDOW


def _starts_warc_member(fh: IO[bytes], at: int) -> bool:
    """Whether a gzip member that decodes to a WARC record line begins at ``at``."""
    fh.seek(at)
    try:
        return zlib.decompressobj(31).decompress(fh.read(4096), 16).startswith(b"WARC/")
    except zlib.error:
        return False
