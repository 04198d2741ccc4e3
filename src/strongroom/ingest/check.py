"""Check a foreign WARC file record by record, copying its bytes unchanged.

One pass over the file as received: every byte is hashed (SHA-256 and SHA-512
of the file as received, for provenance), copied to the staging folder, and,
decompressed, framed into records. Each record's structure is checked (version
line, header fields, Content-Length, the CRLF CRLF after the block), its
``WARC-Block-Digest``, and its ``WARC-Payload-Digest`` under both conventions
in use: over the entity body with chunked transfer-encoding removed
(strongroom, Heritrix) and over the body as stored, chunk framing included
(warcio, wget). Which one the file uses is noted.

We frame records ourselves rather than read with warcio's ArchiveIterator:
warcio tolerates what an ingest must refuse (it prints a warning on a bad gzip
member or a record longer than its Content-Length and carries on), and gives no
bound on a header's size. Decompression output is bounded per call, so a gzip
bomb costs time, never memory; a header block over 1 MiB is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from strongroom.bag.closure import RecordIndex, Revisit, strip_uri
from strongroom.warc.write import Dechunker

CHUNK = 1024 * 1024
MAX_HEADER = 1024 * 1024  # a WARC header block is a few hundred bytes
MAX_HTTP_HEAD = 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
VERSIONS = (b"WARC/1.0", b"WARC/1.1")
REQUIRED = ("WARC-Type", "WARC-Record-ID", "WARC-Date", "Content-Length")


class Fatal(Exception):
    """Damage after which the file cannot be framed further (or bagged)."""


@dataclass(frozen=True)
class Damage:
    """One damaged record: where, what it is about, and what is wrong."""

    file: str
    offset: int
    uri: str
    what: str
    fatal: bool = False

    def __str__(self) -> str:
        return f"{self.file}: record at offset {self.offset} ({self.uri or '-'}): {self.what}"


@dataclass
class Page:
    url: str
    date: str
    status: int
    title: str = ""


@dataclass
class FileCheck:
    """What checking one file found."""

    name: str
    source: str  # the name as given (or inside the WACZ)
    size: int = 0
    sha256: str = ""
    sha512: str = ""
    gzipped: bool = False
    records: int = 0
    versions: set[str] = field(default_factory=set)
    software: str = ""
    warcinfo: dict[str, str] = field(default_factory=dict)
    damage: list[Damage] = field(default_factory=list)
    dechunked: int = 0  # chunked payloads whose digest is over the de-chunked body
    raw_chunked: int = 0  # ... over the stored body, chunk framing included
    pages: list[Page] = field(default_factory=list)
    index: RecordIndex = field(default_factory=RecordIndex)
    first_date: str = ""
    last_date: str = ""

    @property
    def convention(self) -> str:
        """Which payload-digest convention the file's chunked responses use."""
        if self.dechunked and self.raw_chunked:
            return "mixed"
        if self.dechunked:
            return "de-chunked"
        if self.raw_chunked:
            return "raw-chunked"
        return "no chunked responses (both conventions agree)"


class _Digest:
    """A declared ``algo:value`` digest (base32, hex or base64) and a running hash."""

    def __init__(self, header: str) -> None:
        algo, _, value = header.strip().partition(":")
        self.header = header.strip()
        name = algo.lower().replace("-", "")
        self.hash = hashlib.new(name) if name in ("sha1", "sha256", "sha512", "md5") else None
        self.expected = _decode(value.strip(), self.hash.digest_size) if self.hash else None

    def update(self, data: bytes) -> None:
        if self.hash is not None:
            self.hash.update(data)

    def matches(self) -> bool | None:
        if self.hash is None or self.expected is None:
            return None
        return self.hash.digest() == self.expected


def _decode(value: str, size: int) -> bytes | None:
    for decode in (
        lambda v: base64.b32decode(v.upper() + "=" * (-len(v) % 8)),
        bytes.fromhex,
        lambda v: base64.b64decode(v + "=" * (-len(v) % 4)),
    ):
        try:
            raw = decode(value)
        except (ValueError, binascii.Error):
            continue
        if len(raw) == size:
            return raw
    return None


class _Source:
    """The decompressed stream of a file, with the compressed offset of each gzip member."""

    def __init__(self, fh: IO[bytes], copy: IO[bytes] | None, gz: bool) -> None:
        self.fh, self.copy, self.gz = fh, copy, gz
        self.sha256, self.sha512 = hashlib.sha256(), hashlib.sha512()
        self.pending = b""
        self.cpos = 0  # compressed offset of pending[0]
        self.size = 0
        self.d: zlib._Decompress | None = None
        self.buf = bytearray()
        self.pos = 0  # decompressed offset of buf[0]
        self.produced = 0
        self.members: list[tuple[int, int]] = [(0, 0)]  # (decompressed, compressed) starts

    def _raw(self) -> bytes:
        data = self.fh.read(CHUNK)
        if data:
            self.sha256.update(data)
            self.sha512.update(data)
            self.size += len(data)
            if self.copy is not None:
                self.copy.write(data)
        return data

    def _more(self) -> bool:
        """Add decompressed bytes to ``buf``; False at a clean end of the file."""
        if not self.gz:
            data = self._raw()
            self.buf += data
            self.produced += len(data)
            return bool(data)
        while True:
            if len(self.pending) < 2:
                more = self._raw()
                if not more:
                    if self.d is not None and not self.d.eof:
                        raise Fatal("truncated gzip member (the file is cut off)")
                    if self.pending:
                        raise Fatal("stray byte after the last gzip member")
                    return False
                self.pending += more
                continue
            if self.d is None or self.d.eof:
                if self.pending[:2] != GZIP_MAGIC:
                    raise Fatal("bytes after a gzip member are not another gzip member")
                self.d = zlib.decompressobj(31)
                if self.produced:
                    self.members.append((self.produced, self.cpos))
            before = len(self.pending)
            try:
                out = self.d.decompress(self.pending, CHUNK)
            except zlib.error as exc:
                raise Fatal(f"gzip data is damaged ({exc})") from None
            self.pending = self.d.unused_data if self.d.eof else self.d.unconsumed_tail
            self.cpos += before - len(self.pending)
            if out:
                self.buf += out
                self.produced += len(out)
                return True
            if not self.d.eof and not self.pending:
                more = self._raw()
                if not more:
                    raise Fatal("truncated gzip member (the file is cut off)")
                self.pending = more

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
        while len(self.buf) < n and self._more():
            pass
        out = bytes(self.buf[:n])
        del self.buf[:n]
        self.pos += len(out)
        return out

    def read_header(self) -> bytes | None:
        """The next header block through CRLF CRLF; None at a clean end of the file."""
        start = 0
        while True:
            i = self.buf.find(b"\r\n\r\n", start)
            if i >= 0:
                return self.read(i + 4)
            if len(self.buf) > MAX_HEADER:
                raise Fatal(f"header block larger than {MAX_HEADER // 1024} KiB")
            start = max(0, len(self.buf) - 3)
            if not self._more():
                if not self.buf:
                    return None
                raise Fatal("the file ends inside a record header")

    def drain(self) -> None:
        """Read the rest of the file (so the copy and digests are whole)."""
        self.buf.clear()
        while self._raw():
            pass


def _fields(block: bytes) -> dict[str, str]:
    """WARC named fields (the last of repeated names wins; continuation lines joined)."""
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
            raise Fatal(f"malformed header line {line[:80]!r}")
        last = name.strip().lower()
        out[last] = value.strip()
    return out


def check_file(path: Path, name: str, copy_to: Path | None, source: str) -> FileCheck:
    """Check ``path`` (a .warc or .warc.gz), copying it to ``copy_to`` byte for byte."""
    fc = FileCheck(name=name, source=source)
    with open(path, "rb") as fh:
        head = fh.read(8)
        fh.seek(0)
        fc.gzipped = head[:2] == GZIP_MAGIC
        if not fc.gzipped and not head.startswith(VERSIONS):
            raise NotAWarc(f"{source}: not a WARC file (it starts neither with gzip nor WARC/1.x)")
        out = open(copy_to, "xb") if copy_to is not None else None  # noqa: SIM115
        try:
            src = _Source(fh, out, fc.gzipped)
            try:
                _records(src, fc)
            except Fatal as exc:
                fc.damage.append(Damage(name, src.offset(src.pos), "", str(exc), fatal=True))
            src.drain()
            fc.size, fc.sha256, fc.sha512 = src.size, src.sha256.hexdigest(), src.sha512.hexdigest()
            if out is not None:
                out.flush()
        finally:
            if out is not None:
                out.close()
    if fc.records == 0 and not fc.damage:
        raise NotAWarc(f"{source}: an empty WARC file (no records)")
    return fc


class NotAWarc(Exception):
    """The file is not a WARC at all (a usage error, not damage)."""


def _records(src: _Source, fc: FileCheck) -> None:
    while len(src.buf) < 8 and src._more():
        pass
    if not bytes(src.buf[:8]).startswith(VERSIONS):
        raise NotAWarc(f"{fc.source}: not a WARC file (no WARC/1.0 or 1.1 version line)")
    last = -1
    while True:
        start = src.pos
        block = src.read_header()
        if block is None:
            return
        if not block.startswith(VERSIONS):
            if fc.records == 0:
                raise NotAWarc(f"{fc.source}: not a WARC file (no WARC/1.0 or 1.1 version line)")
            raise Fatal("a record does not start with a WARC/1.0 or WARC/1.1 version line")
        fields = _fields(block)
        missing = [f for f in REQUIRED if f.lower() not in fields]
        if missing:
            raise Fatal(f"record header lacks {', '.join(missing)}")
        try:
            length = int(fields["content-length"])
            if length < 0:
                raise ValueError
        except ValueError:
            raise Fatal(f"bad Content-Length {fields['content-length'][:40]!r}") from None
        fc.versions.add(block[:8].decode())
        offset = src.offset(start)
        if src.gz and fc.records and offset == last:
            # Replay (pywb, WACZ) seeks to a record's gzip member: one member for
            # several records cannot be served, and we never recompress.
            raise NotAWarc(
                f"{fc.source}: several records share one gzip member (the whole file was "
                "gzipped); replay cannot seek in it. Recompress it record by record "
                "(warcio recompress IN OUT) and import that"
            )
        last = offset
        _record(src, fc, fields, length, offset)
        if src.read(4) != b"\r\n\r\n":
            raise Fatal("block longer than its Content-Length, or the file is cut off")
        fc.records += 1


def _record(src: _Source, fc: FileCheck, f: dict[str, str], length: int, offset: int) -> None:
    """Stream one record's block through its digests; note pages, revisits, warcinfo."""
    rtype = f["warc-type"].lower()
    uri = strip_uri(f.get("warc-target-uri"))
    date = f.get("warc-date", "")
    if date:
        fc.first_date = min(fc.first_date or date, date)
        fc.last_date = max(fc.last_date, date)
    block = _Digest(f["warc-block-digest"]) if "warc-block-digest" in f else None
    wants_payload = "warc-payload-digest" in f and rtype not in ("revisit",)
    is_http = "application/http" in f.get("content-type", "").lower()
    first = src.read(min(length, MAX_HTTP_HEAD))
    head, body = b"", first
    if is_http:
        i = first.find(b"\r\n\r\n")
        head, body = (first[: i + 4], first[i + 4 :]) if i >= 0 else (first, b"")
    chunked = is_http and b"chunked" in _header(head, b"transfer-encoding").lower()
    de = _Digest(f["warc-payload-digest"]) if wants_payload else None
    raw = _Digest(f["warc-payload-digest"]) if wants_payload and chunked else None
    dech = Dechunker() if chunked else None
    keep = bytearray(body[:65536]) if rtype == "warcinfo" or _is_html(head) else None
    if block:
        block.update(first)
    left = length - len(first)
    piece = body
    while True:
        if de:
            de.update(dech.feed(piece) if dech else piece)
        if raw:
            raw.update(piece)
        if not left:
            break
        piece = src.read(min(CHUNK, left))
        if not piece:
            raise Fatal(f"the file ends inside a record ({left} bytes of its block missing)")
        left -= len(piece)
        if block:
            block.update(piece)
        if keep is not None and len(keep) < 65536:
            keep += piece[: 65536 - len(keep)]
    problem = _digest_problems(block, de, raw, fc)
    if problem:
        fc.damage.append(Damage(fc.name, offset, uri, problem))
    _note(fc, rtype, f, uri, date, head, bytes(keep or b""), offset)


def _digest_problems(
    block: _Digest | None, de: _Digest | None, raw: _Digest | None, fc: FileCheck
) -> str:
    problems = []
    if block and block.matches() is False:
        problems.append(f"block digest does not match WARC-Block-Digest {block.header}")
    elif block and block.matches() is None:
        problems.append(f"unreadable WARC-Block-Digest {block.header[:80]!r}")
    if de:
        ok_de, ok_raw = de.matches(), raw.matches() if raw else None
        if raw and ok_de and not ok_raw:
            fc.dechunked += 1
        elif raw and ok_raw and not ok_de:
            fc.raw_chunked += 1
        if ok_de is None:
            problems.append(f"unreadable WARC-Payload-Digest {de.header[:80]!r}")
        elif not ok_de and not ok_raw:
            problems.append(
                f"payload digest does not match WARC-Payload-Digest {de.header} (de-chunked or raw)"
            )
    return "; ".join(problems)


def _header(head: bytes, name: bytes) -> bytes:
    value = b""
    for line in head.split(b"\n")[1:]:
        k, sep, v = line.partition(b":")
        if sep and k.strip().lower() == name:
            value = v.strip()
    return value


def _is_html(head: bytes) -> bool:
    ctype = _header(head, b"content-type").lower()
    return ctype.startswith((b"text/html", b"application/xhtml"))


def _status(head: bytes) -> int:
    parts = head.split(b"\r\n", 1)[0].split()
    try:
        return int(parts[1]) if len(parts) > 1 and parts[0].startswith(b"HTTP/") else 0
    except ValueError:
        return 0


def _note(
    fc: FileCheck,
    rtype: str,
    f: dict[str, str],
    uri: str,
    date: str,
    head: bytes,
    body: bytes,
    offset: int,
) -> None:
    digest = f.get("warc-payload-digest", "").strip()
    rid = strip_uri(f.get("warc-record-id"))
    if rtype == "warcinfo":
        for line in body.decode("utf-8", "replace").splitlines():
            k, sep, v = line.partition(":")
            if sep and k.strip():
                fc.warcinfo.setdefault(k.strip().lower(), v.strip())
        fc.software = fc.software or fc.warcinfo.get("software", "")
    elif rtype in ("response", "resource"):
        fc.index.ids.add(rid)
        if digest:
            fc.index.payloads.add((uri, digest))
        status = _status(head) if rtype == "response" else 200
        if status == 200 and _is_html(head) and uri.startswith(("http://", "https://")):
            fc.pages.append(Page(uri, date, status, _title(body)))
    elif rtype == "revisit":
        fc.index.revisits.append(
            Revisit(
                file=fc.name,
                offset=offset,
                uri=uri,
                refers_to=strip_uri(f.get("warc-refers-to")),
                refers_to_uri=strip_uri(f.get("warc-refers-to-target-uri")),
                digest=digest,
            )
        )


def _title(body: bytes) -> str:
    """The <title> of an HTML body's first 64 KiB (plain or gzip-encoded bodies are skipped)."""
    low = body.lower()
    i = low.find(b"<title")
    j = low.find(b"</title>", i)
    if i < 0 or j < 0:
        return ""
    start = low.find(b">", i) + 1
    return " ".join(body[start:j].decode("utf-8", "replace").split())[:300]
