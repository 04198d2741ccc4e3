"""Check a foreign WARC file record by record, copying its bytes unchanged.

One pass over the file as received: every byte is hashed (SHA-256 and SHA-512
of the file as received, for provenance), copied to the staging folder, and,
decompressed, framed into records by the strict reader of
:mod:`strongroom.warc.read` (:class:`~strongroom.warc.read.WarcSource`,
:func:`~strongroom.warc.read.frame_records`): version line, header fields,
Content-Length, the CRLF CRLF after each block, bounded decompression and
header size. Here we check each record's ``WARC-Block-Digest``, and its
``WARC-Payload-Digest`` under both conventions in use: over the entity body
with chunked transfer-encoding removed (strongroom, Heritrix) and over the body
as stored, chunk framing included (warcio, wget). Which one the file uses is
noted, and so are the pages, revisits and warcinfo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from strongroom.bag.closure import RecordIndex, Revisit, strip_uri
from strongroom.warc.read import (
    GZIP_MAGIC,
    VERSIONS,
    FramedRecord,
    FramingError,
    NotWarcData,
    RunningDigest,
    WarcSource,
    frame_records,
)
from strongroom.warc.write import Dechunker

CHUNK = 1024 * 1024
MAX_HTTP_HEAD = 1024 * 1024


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
            src = WarcSource(fh, out, fc.gzipped)
            try:
                _records(src, fc)
            except NotWarcData as exc:
                raise NotAWarc(f"{source}: not a WARC file ({exc})") from None
            except FramingError as exc:
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


def _records(src: WarcSource, fc: FileCheck) -> None:
    last = -1
    for rec in frame_records(src):
        fc.versions.add(rec.version)
        if src.gz and fc.records and rec.offset == last:
            # Replay (pywb, WACZ) seeks to a record's gzip member: one member for
            # several records cannot be served, and we never recompress.
            raise NotAWarc(
                f"{fc.source}: several records share one gzip member (the whole file was "
                "gzipped); replay cannot seek in it. Recompress it record by record "
                "(warcio recompress IN OUT) and import that"
            )
        last = rec.offset
        _record(rec, fc)
        fc.records += 1


def _record(rec: FramedRecord, fc: FileCheck) -> None:
    """Stream one record's block through its digests; note pages, revisits, warcinfo."""
    f, offset = rec.fields, rec.offset
    rtype = f["warc-type"].lower()
    uri = strip_uri(f.get("warc-target-uri"))
    date = f.get("warc-date", "")
    if date:
        fc.first_date = min(fc.first_date or date, date)
        fc.last_date = max(fc.last_date, date)
    block = RunningDigest(f["warc-block-digest"]) if "warc-block-digest" in f else None
    wants_payload = "warc-payload-digest" in f and rtype not in ("revisit",)
    is_http = "application/http" in f.get("content-type", "").lower()
    first = rec.read(MAX_HTTP_HEAD)
    head, body = b"", first
    if is_http:
        i = first.find(b"\r\n\r\n")
        head, body = (first[: i + 4], first[i + 4 :]) if i >= 0 else (first, b"")
    chunked = is_http and b"chunked" in _header(head, b"transfer-encoding").lower()
    de = RunningDigest(f["warc-payload-digest"]) if wants_payload else None
    raw = RunningDigest(f["warc-payload-digest"]) if wants_payload and chunked else None
    dech = Dechunker() if chunked else None
    keep = bytearray(body[:65536]) if rtype == "warcinfo" or _is_html(head) else None
    if block:
        block.update(first)
    piece = body
    while True:
        if de:
            de.update(dech.feed(piece) if dech else piece)
        if raw:
            raw.update(piece)
        piece = rec.read(CHUNK)
        if not piece:
            break
        if block:
            block.update(piece)
        if keep is not None and len(keep) < 65536:
            keep += piece[: 65536 - len(keep)]
    problem = _digest_problems(block, de, raw, fc)
    if problem:
        fc.damage.append(Damage(fc.name, offset, uri, problem))
    _note(fc, rtype, f, uri, date, head, bytes(keep or b""), offset)


def _digest_problems(
    block: RunningDigest | None, de: RunningDigest | None, raw: RunningDigest | None, fc: FileCheck
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
