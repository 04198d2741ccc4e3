"""``verify --deep``: every WARC record's block and payload digests, re-checked.

Damage does not stop the check: after data that cannot be decoded (a flipped bit
in a gzip member), the reader skips to the next gzip member or ``WARC/1.x``
record line and goes on, so that every damaged record is named (file, offset,
target URI) and every intact one after it is still checked.
"""

from __future__ import annotations

import io
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from strongroom.verify.findings import Problem, WarcRecordDamage, show

RESYNC_WINDOW = 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b\x08"
_TARGET_URI = re.compile(rb"(?im)^WARC-Target-URI:[ \t]*<?([^\s>]+)>?[ \t]*\r?$")


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
    from strongroom.warc.read import WarcRecord, check_digests

    found.records += 1
    found.last_uri = uri
    for code, what, alg in check_digests(WarcRecord(Path(found.rel), offset, rec)).problems:
        found.record(code, offset, uri, show(what), alg)


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
