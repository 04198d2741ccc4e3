"""WARC 1.1 writing: our own digests, exact blocks, revisits, rolling files.

Records are serialised here (one gzip member per record), not by warcio's
writer: its payload digest is taken over the stored bytes, which is wrong for
chunked bodies, and its HTTP header buffer is rebuilt from parsed headers,
which is not what came off the wire; we had to defeat both, and profiling a
capture at 0 ms of latency then put a quarter of the crawl's CPU time in its
per-record machinery (header objects, digest checks, a flush per record).
A record is a few header lines and the exact block, so we write them directly;
tests/warc/test_write.py checks that warcio reads every record back identically.

Digest convention (stated in every warcinfo record): ``WARC-Block-Digest`` is
sha256 over the exact stored block; ``WARC-Payload-Digest`` is sha256 over the
entity body with transfer-encoding removed and content-encoding kept. Both are
written as ``sha256:<base32>``, as warcio does.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import os
import threading
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, NamedTuple

from strongroom.core.fsutil import fsync_dir, tmp_name, translated
from strongroom.errors import UsageError

WARC_VERSION = "WARC/1.1"
REVISIT_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
DIGEST_CONVENTION = (
    "WARC-Block-Digest: sha256 over the exact stored block; WARC-Payload-Digest: sha256 "
    "over the entity body with transfer-encoding removed and content-encoding kept; "
    "both base32 'sha256:' form"
)
ROLL_SIZE = 1024**3
STEP = 64 * 1024
# zlib's default level: level 9 (warcio's) costs far more CPU for a few percent
# on HTML and nothing on images, which are already compressed.
GZIP_LEVEL = 6


def _compressor(size: int) -> Any:
    """A gzip member compressor sized to the record.

    zlib's default state (32 KiB window, memLevel 8) is ~256 KiB that is
    allocated and cleared per member: for a 500-byte request record that cost
    7x the compression itself. A window no larger than the record compresses
    exactly as well; every gzip reader accepts any window size.
    """
    bits = min(max(size.bit_length(), 10), 15)
    return zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + bits, 4 if size < 16384 else 8)


def digest_str(h: Any) -> str:
    """``sha256:<BASE32>`` for a finished hashlib object."""
    return "sha256:" + base64.b32encode(h.digest()).decode("ascii")


def sha256_digest(data: bytes) -> str:
    if not data:
        return EMPTY_DIGEST  # a GET request's payload, once per exchange
    return digest_str(hashlib.sha256(data))


EMPTY_DIGEST = digest_str(hashlib.sha256(b""))


def warc_date(when: dt.datetime | None = None) -> str:
    """WARC 1.1 date with microseconds (sub-second precision is allowed in 1.1)."""
    when = when or dt.datetime.now(dt.UTC)
    if when.utcoffset() == _ZERO and when.year >= 1000:
        # isoformat is C and twice as fast as strftime: YYYY-MM-DDTHH:MM:SS.ffffff+00:00
        return when.isoformat(timespec="microseconds")[:26] + "Z"
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_ZERO = dt.timedelta(0)


def new_record_id() -> str:
    """``<urn:uuid:...>`` of a random (version 4) UUID, as ``uuid.uuid4()`` makes it.

    Made here from 16 random bytes: the uuid module imports platform (nine
    regular expressions compiled) at start-up, and its object costs more per
    record than the id itself.
    """
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = b.hex()
    return f"<urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}>"


class Dechunker:
    """Tolerant streaming decoder of HTTP/1.1 chunked framing.

    Written by hand because we must de-chunk the *stored* bytes (after the
    fact, from our spool) and must not fail on hostile or truncated framing:
    a bad size line ends decoding, keeping what was decoded so far.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._left = 0  # bytes of chunk data still expected
        self._state = "size"  # size | data | crlf | done
        self.malformed = False

    def feed(self, data: bytes) -> bytes:
        self._buf += data
        out = bytearray()
        while True:
            if self._state == "done":
                self._buf.clear()
                break
            if self._state == "size":
                nl = self._buf.find(b"\n")
                if nl < 0:
                    if len(self._buf) > 4096:  # a size line is never this long
                        self.malformed, self._state = True, "done"
                    break
                line = bytes(self._buf[:nl]).split(b";", 1)[0].strip()
                del self._buf[: nl + 1]
                try:
                    self._left = int(line, 16)
                except ValueError:
                    self.malformed, self._state = True, "done"
                    continue
                self._state = "data" if self._left else "done"
            elif self._state == "data":
                if not self._buf:
                    break
                take = min(self._left, len(self._buf))
                out += self._buf[:take]
                del self._buf[:take]
                self._left -= take
                if self._left == 0:
                    self._state = "crlf"
            elif self._state == "crlf":
                nl = self._buf.find(b"\n")
                if nl < 0:
                    break
                del self._buf[: nl + 1]
                self._state = "size"
        return bytes(out)


def dechunk(data: bytes) -> bytes:
    """De-chunk a whole body (see :class:`Dechunker`)."""
    return Dechunker().feed(data)


def split_head(spool: IO[bytes]) -> tuple[bytes, int]:
    """Return (status line + headers incl. blank line, their length) from a response spool."""
    spool.seek(0)
    head = spool.read(1024 * 1024)
    spool.seek(0)
    return _head_of(head)


def _head_of(data: bytes) -> tuple[bytes, int]:
    for sep in (b"\r\n\r\n", b"\n\n"):
        i = data.find(sep)
        if i >= 0:
            end = i + len(sep)
            return data[:end], end
    return data, len(data)


def _header_value(head: bytes, name: bytes) -> bytes:
    """Last value of a header in raw header bytes (lower-case ``name``), or b''."""
    value = b""
    for line in head.split(b"\n")[1:]:
        k, sep, v = line.partition(b":")
        if sep and k.strip().lower() == name:
            value = v.strip()
    return value


def is_chunked(head: bytes) -> bool:
    return b"chunked" in _header_value(head, b"transfer-encoding").lower()


class BlockInfo(NamedTuple):
    """Digests of a stored response block, and its head and (capped) payload.

    Tuples, not dataclasses, for the per-record types here: a dataclass costs
    about a millisecond of a capture's start-up to define."""

    block_digest: str
    payload_digest: str
    head: bytes
    head_len: int
    size: int
    payload_size: int
    payload_sample: bytes  # de-chunked payload, up to ``keep`` bytes (for extraction)


def digest_response(spool: IO[bytes], keep: int = 0) -> BlockInfo:
    """One pass over a response spool: block digest, payload digest, payload sample."""
    spool.seek(0)
    first = spool.read(STEP)
    if len(first) < STEP:  # the whole block in one read: most responses of a page
        spool.seek(0)
        return _digest_block(first, keep)
    head, head_len = split_head(spool)
    chunked = is_chunked(head)
    bh, ph = hashlib.sha256(), hashlib.sha256()
    dech = Dechunker() if chunked else None
    sample = bytearray()
    size = payload_size = 0
    spool.seek(0)
    pos = 0
    while True:
        buf = spool.read(STEP)
        if not buf:
            break
        bh.update(buf)
        size += len(buf)
        body = buf[max(0, head_len - pos) :] if pos + len(buf) > head_len else b""
        pos += len(buf)
        if not body:
            continue
        if dech is not None:
            body = dech.feed(body)
        ph.update(body)
        payload_size += len(body)
        if len(sample) < keep:
            sample += body[: keep - len(sample)]
    spool.seek(0)
    return BlockInfo(
        digest_str(bh), digest_str(ph), head, head_len, size, payload_size, bytes(sample)
    )


def _digest_block(block: bytes, keep: int) -> BlockInfo:
    """:func:`digest_response` of a block already in memory."""
    head, head_len = _head_of(block)
    payload = block[head_len:]
    if is_chunked(head):
        payload = Dechunker().feed(payload)
    return BlockInfo(
        digest_str(hashlib.sha256(block)),
        digest_str(hashlib.sha256(payload)),
        head,
        head_len,
        len(block),
        len(payload),
        payload[:keep] if keep else b"",
    )


def _field(value: str) -> str:
    """A WARC header value on one line: CR and LF (never in a URL we fetch) are escaped,
    so a hostile value cannot forge header lines or records."""
    if "\r" in value or "\n" in value:
        return value.replace("\r", "%0D").replace("\n", "%0A")
    return value


def record_head(headers: list[tuple[str, str]], content_type: str, length: int) -> bytes:
    """The WARC record header block, as warcio writes it (WARC/1.1, CRLF lines)."""
    lines = [WARC_VERSION]
    lines += [f"{k}: {_field(v)}" for k, v in headers]
    lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class WarcStats:
    """One WARC file of a capture: its size, records, seeds and dates, as it grows."""

    # A plain class, not a dataclass: one per WARC file, and defining a dataclass
    # costs every capture about half a millisecond of start-up.
    __slots__ = ("first_date", "last_date", "name", "records", "seeds", "size")

    def __init__(self, name: str) -> None:
        self.name = name
        self.size = 0
        self.records = 0
        self.seeds: set[str] = set()
        self.first_date = ""
        self.last_date = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size": self.size,
            "records": self.records,
            "seeds": sorted(self.seeds),
            "first_date": self.first_date,
            "last_date": self.last_date,
        }


class Written(NamedTuple):
    """Where a record went: for dedup and metadata links."""

    record_id: str
    date: str
    warc_file: str


class WarcSink:
    """Rolling, crash-safe WARC output: ``<prefix>-NNNNN.warc.gz`` under a temp name until closed.

    Thread-safe: one lock serialises writes, so each record is one whole gzip
    member and a closed file never contains half a record.
    """

    def __init__(
        self,
        folder: Path,
        prefix: str,
        warcinfo: dict[str, Any],
        roll_size: int = ROLL_SIZE,
    ) -> None:
        self.folder = Path(folder)
        self.prefix = prefix
        self.warcinfo = warcinfo
        self.roll_size = roll_size
        self.lock = threading.RLock()
        self.closed = False
        self.published: list[WarcStats] = []
        self._seq = 0
        self._fh: IO[bytes] | None = None
        self._pos = 0  # bytes written to _fh: a tell() is a system call on every record
        self._tmp: Path | None = None
        self._stats: WarcStats | None = None
        self._on_publish: list[Any] = []
        # A full or read-only disk: the file in progress is dropped, every later write
        # refused with this (exit 2), and the capture ends (see ``_lost``).
        self.failed: UsageError | None = None

    def on_publish(self, fn: Any) -> None:
        """Call ``fn(warc_name)`` after each file is renamed into place."""
        self._on_publish.append(fn)

    # --- file lifecycle ---------------------------------------------------
    def _open(self) -> None:
        name = f"{self.prefix}-{self._seq:05d}.warc.gz"
        self._seq += 1
        self._tmp = tmp_name(self.folder / name)
        self._stats = WarcStats(name=name)
        try:
            self._fh = open(self._tmp, "xb")  # noqa: SIM115 - closed in _close_current
        except OSError as exc:
            raise self._lost(exc) from None
        self._pos = 0
        self._write_warcinfo()

    def _lost(self, exc: OSError) -> Exception:
        """A full disk, a read-only mount and the like, as a UsageError; the file in
        progress goes (a buffer that cannot be flushed cannot be cut back to its last
        whole record either) and later writes are refused. Other errors stay as they are."""
        name = self._stats.name if self._stats is not None else f"{self.prefix}-*.warc.gz"
        problem = translated(f"cannot write WARC {self.folder / name}", exc)
        if not isinstance(problem, UsageError):
            return problem
        self.failed = problem
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()  # closes the file even when its last flush fails
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.unlink()
        self._fh = self._tmp = self._stats = None
        return problem

    def _close_current(self) -> None:
        if self._fh is None or self._stats is None or self._tmp is None:
            return
        final = self.folder / self._stats.name
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            os.replace(self._tmp, final)
            fsync_dir(self.folder)
        except OSError as exc:
            raise self._lost(exc) from None
        self._stats.size = final.stat().st_size
        self.published.append(self._stats)
        name = self._stats.name
        self._fh = self._tmp = self._stats = None
        for fn in self._on_publish:
            fn(name)

    def close(self) -> None:
        """Close and publish the current file; later writes are refused."""
        with self.lock:
            self.closed = True
            if self.failed is not None:
                raise UsageError(self.failed.message)
            self._close_current()

    def current_name(self) -> str:
        with self.lock:
            if self._stats is None:
                self._open()
            assert self._stats is not None
            return self._stats.name

    # --- records ----------------------------------------------------------
    def _write(
        self,
        rec_type: str,
        uri: str,
        block: bytes | IO[bytes],
        length: int,
        headers: list[tuple[str, str]],
        content_type: str,
        date: str | None = None,
        record_id: str | None = None,
        seed: str | None = None,
    ) -> Written:
        """One record, one gzip member: ``block`` is bytes, or a stream of ``length`` bytes."""
        assert self._fh is not None and self._stats is not None
        record_id = record_id or new_record_id()
        date = date or warc_date()
        wh = [("WARC-Type", rec_type), ("WARC-Record-ID", record_id), ("WARC-Date", date)]
        if uri:
            wh.append(("WARC-Target-URI", uri))
        wh += headers
        head = record_head(wh, content_type, length)
        z = _compressor(len(head) + length + 4)
        if not isinstance(block, bytes | bytearray) and length < STEP:
            block = block.read(length)  # a small block: one compress call, one write
            if len(block) != length:  # the stream is shorter than its digest pass said
                raise OSError(f"record block ended {length - len(block)} bytes early")
        start = self._pos
        try:
            if isinstance(block, bytes | bytearray):
                member = z.compress(head + block + b"\r\n\r\n") + z.flush()
                self._fh.write(member)
                self._pos += len(member)
            else:
                self._pos += self._write_stream(z, head, block, length)
        except BaseException as exc:
            # never leave half a record behind: cut the file back to where it began
            try:
                self._fh.seek(start)
                self._fh.truncate()
            except OSError as cut:
                raise self._lost(cut) from None
            self._pos = start
            if isinstance(exc, OSError):
                raise self._lost(exc) from None
            raise
        st = self._stats
        st.records += 1
        st.first_date = st.first_date or date
        st.last_date = date
        if seed:
            st.seeds.add(seed)
        return Written(record_id, date, st.name)

    def _write_stream(self, z: Any, head: bytes, block: IO[bytes], length: int) -> int:
        """Compress and write a large block in steps; return the bytes written."""
        assert self._fh is not None
        out = [z.compress(head)]
        left, written = length, 0
        while left > 0:
            buf = block.read(min(STEP, left))
            if not buf:  # the stream is shorter than its digest pass said
                raise OSError(f"record block ended {left} bytes early")
            left -= len(buf)
            out.append(z.compress(buf))
            if len(out) > 16:
                data = b"".join(out)
                self._fh.write(data)
                written += len(data)
                out.clear()
        out.append(z.compress(b"\r\n\r\n"))
        out.append(z.flush())
        data = b"".join(out)
        self._fh.write(data)
        return written + len(data)

    def _write_warcinfo(self) -> None:
        assert self._stats is not None
        lines = "".join(f"{k}: {v}\r\n" for k, v in self.warcinfo.items() if v not in ("", None))
        body = lines.encode("utf-8")
        self._write(
            "warcinfo",
            "",
            body,
            len(body),
            [("WARC-Filename", self._stats.name), ("WARC-Block-Digest", sha256_digest(body))],
            "application/warc-fields",
        )

    def _ensure_open(self) -> None:
        if self.failed is not None:
            raise UsageError(self.failed.message)
        if self.closed:
            raise RuntimeError("WARC output is closed")
        if self._fh is None:
            self._open()

    def _maybe_roll(self) -> None:
        if self._fh is not None and self._pos >= self.roll_size:
            self._close_current()

    def write_exchange(
        self,
        uri: str,
        request: bytes,
        response: IO[bytes],
        info: BlockInfo,
        *,
        peer: str | None,
        truncated: str = "",
        seed: str | None = None,
        revisit_of: tuple[str, str, str] | None = None,
    ) -> Written:
        """Write a response (or a revisit, when ``revisit_of`` = (record id, uri, date))
        and its request, linked by ``WARC-Concurrent-To``."""
        with self.lock:
            self._ensure_open()
            resp_id = new_record_id()
            common: list[tuple[str, str]] = []
            if peer:
                common.append(("WARC-IP-Address", peer))
            if revisit_of is not None:
                head = info.head
                hdrs = [
                    *common,
                    ("WARC-Profile", REVISIT_PROFILE),
                    ("WARC-Refers-To", revisit_of[0]),
                    ("WARC-Refers-To-Target-URI", revisit_of[1]),
                    ("WARC-Refers-To-Date", revisit_of[2]),
                    ("WARC-Payload-Digest", info.payload_digest),
                    ("WARC-Block-Digest", sha256_digest(head)),
                ]
                w = self._write(
                    "revisit",
                    uri,
                    head,  # a revisit's block is the response head only
                    len(head),
                    hdrs,
                    "application/http; msgtype=response",
                    record_id=resp_id,
                    seed=seed,
                )
            else:
                hdrs = [
                    *common,
                    ("WARC-Block-Digest", info.block_digest),
                    ("WARC-Payload-Digest", info.payload_digest),
                ]
                if truncated:
                    hdrs.append(("WARC-Truncated", truncated))
                response.seek(0)
                w = self._write(
                    "response",
                    uri,
                    response,
                    info.size,
                    hdrs,
                    "application/http; msgtype=response",
                    record_id=resp_id,
                    seed=seed,
                )
            self._write_request(uri, request, peer, resp_id, w.date)
            self._maybe_roll()
            return w

    def _write_request(
        self, uri: str, request: bytes, peer: str | None, resp_id: str, date: str
    ) -> None:
        hdrs: list[tuple[str, str]] = [("WARC-Concurrent-To", resp_id)]
        if peer:
            hdrs.append(("WARC-IP-Address", peer))
        hdrs.append(("WARC-Block-Digest", sha256_digest(request)))
        end = request.find(b"\r\n\r\n")
        body = request[end + 4 :] if end >= 0 else b""
        # Always stated, so warcio never adds its own (sha1, whole-block) digest.
        hdrs.append(("WARC-Payload-Digest", sha256_digest(body)))
        self._write(
            "request",
            uri,
            request,
            len(request),
            hdrs,
            "application/http; msgtype=request",
            date=date,
        )

    def write_metadata(self, uri: str, body: bytes, concurrent_to: str | None) -> Written:
        """A metadata record about a page (outlinks, requisites, failures).

        The body is ``application/warc-fields`` (see :func:`format_warc_fields`), the
        convention Heritrix uses: replay indexers (cdxj-indexer, wacz) skip such
        records, so a page URL never replays as its own metadata.
        """
        with self.lock:
            self._ensure_open()
            # WARC 1.1 gives metadata records no payload, so no WARC-Payload-Digest.
            hdrs = [("WARC-Block-Digest", sha256_digest(body))]
            if concurrent_to:
                hdrs.insert(0, ("WARC-Concurrent-To", concurrent_to))
            w = self._write("metadata", uri, body, len(body), hdrs, "application/warc-fields")
            self._maybe_roll()
            return w

    def write_resource(
        self, uri: str, body: bytes, content_type: str, concurrent_to: str | None = None
    ) -> Written | None:
        """A ``resource`` record (a browser's final DOM); ``None`` once the output is closed.

        A browser can finish a page after an interrupt closed the output: that
        record is dropped rather than raising in the browser's thread.
        """
        with self.lock:
            if self.closed or self.failed is not None:
                return None
            self._ensure_open()
            digest = sha256_digest(body)
            hdrs = [("WARC-Block-Digest", digest), ("WARC-Payload-Digest", digest)]
            if concurrent_to:
                hdrs.insert(0, ("WARC-Concurrent-To", concurrent_to))
            w = self._write("resource", uri, body, len(body), hdrs, content_type)
            self._maybe_roll()
            return w


def format_warc_fields(fields: Iterable[tuple[str, object]]) -> bytes:
    """Render ``name: value`` lines (CRLF, UTF-8); whitespace in values is folded."""
    lines = []
    for name, value in fields:
        clean = " ".join(str(value).split())
        lines.append(f"{name}: {clean}\r\n")
    return "".join(lines).encode("utf-8")


def parse_warc_fields(block: bytes) -> list[tuple[str, str]]:
    """Parse an ``application/warc-fields`` block into (name, value) pairs."""
    out = []
    for line in block.decode("utf-8", "replace").splitlines():
        name, sep, value = line.partition(":")
        if sep:
            out.append((name.strip(), value.strip()))
    return out
