"""The shared WARC reader: offsets and lengths, bodies, digests, damage."""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from strongroom.warc import read
from strongroom.warc.write import WarcSink, digest_response

CHUNKED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\n<html\r\n8\r\n>hello</\r\n5\r\nhtml>\r\n0\r\n\r\n"
)
PLAIN = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\ngone"


def sink_warc(folder: Path) -> Path:
    """A WARC written by our own writer: warcinfo, two exchanges, one metadata record."""
    sink = WarcSink(folder, "t", {"software": "test"})
    for uri, raw in (("http://a.test/", CHUNKED), ("http://a.test/x", PLAIN)):
        spool = io.BytesIO(raw)
        info = digest_response(spool)
        sink.write_exchange(uri, b"GET / HTTP/1.1\r\n\r\n", spool, info, peer="127.0.0.1")
    sink.write_metadata("http://a.test/", b"outlink: http://a.test/x\r\n", None)
    sink.close()
    return folder / sink.published[0].name


def warcio_chunked(path: Path, gz: bool = True) -> Path:
    """A response whose payload digest covers the raw chunked body (as warcio writes)."""
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=gz, warc_version="WARC/1.0")
        head, _, body = CHUNKED.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = StatusAndHeaders(
            lines[0].split(" ", 1)[1],
            [tuple(h.split(": ", 1)) for h in lines[1:]],
            protocol="HTTP/1.1",
        )
        w.write_record(
            w.create_warc_record(
                "http://b.test/", "response", payload=io.BytesIO(body), http_headers=headers
            )
        )
    return path


def test_records_carry_offsets_lengths_and_parsed_http(tmp_path):
    path = sink_warc(tmp_path)
    recs = []
    for r in read.iter_records(path):
        recs.append((r.rec_type, r.target_uri, r.offset, r.http_status, r.payload_digest))
        if r.rec_type == "response" and r.http_status == 200:
            assert r.body(1000) == b"<html>hello</html>"  # de-chunked
            assert r.http_header("content-type") == "text/html"
        assert r.length is None  # known once read to its end
    types = [t for t, *_ in recs]
    assert types == ["warcinfo", "response", "request", "response", "request", "metadata"]
    offsets = [o for _, _, o, *_ in recs]
    assert offsets[0] == 0 and offsets == sorted(offsets)
    lengths = [r.length for r in _all(path)]
    assert [o + n for o, n in zip(offsets, lengths, strict=True)][:-1] == offsets[1:]
    assert offsets[-1] + lengths[-1] == path.stat().st_size
    with read.record_at(path, offsets[3]) as r:
        assert r.target_uri == "http://a.test/x" and r.http_status == 404 and r.body(10) == b"gone"


def _all(path: Path) -> list[read.WarcRecord]:
    out = list(read.iter_records(path))
    return out


def test_body_is_capped(tmp_path):
    big = b"x" * 100_000
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + big
    sink = WarcSink(tmp_path, "t", {})
    sink.write_exchange(
        "http://a.test/",
        b"GET /\r\n\r\n",
        io.BytesIO(raw),
        digest_response(io.BytesIO(raw)),
        peer=None,
    )
    sink.close()
    (resp,) = [
        len(r.body(1000))
        for r in read.iter_records(tmp_path / sink.published[0].name)
        if r.rec_type == "response"
    ]
    assert resp == 1001  # limit + 1 tells the caller it was cut


def test_our_digests_check_under_the_dechunked_convention(tmp_path):
    path = sink_warc(tmp_path)
    checks = [
        (r.rec_type, read.check_digests(r)) for r in read.iter_records(path, parse_http=False)
    ]
    assert all(not c.problems for _, c in checks)
    resp = [c for t, c in checks if t == "response"]
    assert resp[0].convention == read.CONVENTION_DECHUNKED and resp[0].block is True


@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
def test_raw_chunked_digests_are_accepted_and_named(tmp_path, gz):
    path = warcio_chunked(tmp_path / ("b.warc.gz" if gz else "b.warc"), gz)
    (check,) = [
        read.check_digests(r)
        for r in read.iter_records(path, parse_http=False)
        if r.rec_type == "response"
    ]
    assert check.payload is True and check.convention == read.CONVENTION_RAW
    assert not check.problems


def test_a_changed_byte_is_a_block_and_payload_problem(tmp_path):
    src = sink_warc(tmp_path)
    plain = tmp_path / "plain.warc"
    data = gzip.decompress(src.read_bytes()).replace(b"hello", b"HELLO")
    plain.write_bytes(data)
    found = [
        (r.target_uri, r.offset, code)
        for r in read.iter_records(plain, parse_http=False)
        for code, _what, _algo in read.check_digests(r).problems
    ]
    assert {code for *_, code in found} == {"warc-block", "warc-payload"}
    assert {uri for uri, *_ in found} == {"http://a.test/"}
    assert all(off > 0 for _, off, _ in found)


def test_not_a_warc_is_refused_at_offset_0(tmp_path):
    for i, data in enumerate([b"", b"hello world\n" * 50, gzip.compress(b"<html></html>")]):
        p = tmp_path / f"{i}.warc.gz"
        p.write_bytes(data)
        with pytest.raises(read.WarcReadError) as exc:
            list(read.iter_records(p))
        assert exc.value.offset == 0 and "does not start with a WARC record" in str(exc.value)


def test_a_cut_or_damaged_file_names_offset_and_the_record_before(tmp_path):
    src = sink_warc(tmp_path)
    data = src.read_bytes()
    offsets = [r.offset for r in read.iter_records(src)]
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[: offsets[3] + 40])
    with pytest.raises(read.WarcReadError) as exc:
        for _ in read.iter_records(cut):
            pass
    assert exc.value.offset >= offsets[2] and exc.value.after_uri
    damaged = tmp_path / "damaged.warc.gz"
    damaged.write_bytes(data[: offsets[3] + 20] + b"\x00" * 60 + data[offsets[3] + 80 :])
    with pytest.raises(read.WarcReadError):
        for r in read.iter_records(damaged):
            r.body(10_000)


def test_a_gzip_bomb_costs_no_memory(tmp_path):
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    body = bomb.compress(b"\0" * (64 * 1024 * 1024)) + bomb.flush()
    raw = (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    sink = WarcSink(tmp_path, "t", {})
    sink.write_exchange(
        "http://a.test/",
        b"GET /\r\n\r\n",
        io.BytesIO(raw),
        digest_response(io.BytesIO(raw)),
        peer=None,
    )
    sink.close()
    (n,) = [
        len(r.body(4096))
        for r in read.iter_records(tmp_path / sink.published[0].name)
        if r.rec_type == "response"
    ]
    assert n == 4097


# --- strict framing (import) ---------------------------------------------------------
def _record(body: bytes, *, length: int | None = None, extra: bytes = b"") -> bytes:
    head = (
        b"WARC/1.1\r\nWARC-Type: resource\r\nWARC-Record-ID: <urn:uuid:1>\r\n"
        b"WARC-Date: 2024-02-20T10:15:00Z\r\nWARC-Target-URI: http://a.test/\r\n" + extra
    )
    size = len(body) if length is None else length
    return head + b"Content-Length: %d\r\n\r\n" % size + body + b"\r\n\r\n"


def _frame(data: bytes, gz: bool = False) -> list[tuple[str, int, bytes]]:
    copy = io.BytesIO()
    src = read.WarcSource(io.BytesIO(data), copy, gz)
    out = [
        (r.fields["warc-target-uri"], r.offset, r.read(1 << 20)) for r in read.frame_records(src)
    ]
    src.drain()
    assert copy.getvalue() == data  # every byte copied as read, once
    return out


def test_strict_framing_gives_fields_offsets_and_blocks():
    one, two = _record(b"first"), _record(b"second one")
    plain = _frame(one + two)
    assert plain == [("http://a.test/", 0, b"first"), ("http://a.test/", len(one), b"second one")]
    members = [gzip.compress(one), gzip.compress(two)]
    zipped = _frame(b"".join(members), gz=True)
    assert [o for _u, o, _b in zipped] == [0, len(members[0])]  # each record's gzip member


@pytest.mark.parametrize(
    ("data", "gz", "why"),
    [
        (_record(b"longer than said", length=4), False, "longer than its Content-Length"),
        (_record(b"x", length=-1), False, "bad Content-Length"),
        (_record(b"short", length=9)[:-4], False, "ends inside a record"),
        (b"WARC/1.1\r\nWARC-Type: resource\r\nContent-Length: 0\r\n\r\n\r\n\r\n", False, "lacks"),
        (b"WARC/1.1\r\nX-Pad: " + b"a" * (1 << 21), False, "header block larger"),
        (gzip.compress(_record(b"abc"))[:-6], True, "truncated gzip member"),
        (gzip.compress(_record(b"abc")) + b"junk", True, "not another gzip member"),
    ],
)
def test_strict_framing_refuses_what_warcio_tolerates(data, gz, why):
    with pytest.raises(read.FramingError, match=why):
        _frame(data, gz)


def test_strict_framing_refuses_data_that_is_not_a_warc():
    with pytest.raises(read.NotWarcData):
        _frame(b"<html>not a warc</html>\r\n\r\n")


def test_strict_framing_of_a_gzip_bomb_costs_no_memory():
    import resource

    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = b"WARC/1.1\r\nWARC-Type: resource\r\nWARC-Record-ID: <urn:uuid:1>\r\n"
    head += b"WARC-Date: 2024-02-20T10:15:00Z\r\nContent-Length: %d\r\n\r\n" % (1 << 26)
    data = bomb.compress(head) + b"".join(bomb.compress(bytes(1 << 20)) for _ in range(64))
    data += bomb.compress(b"\r\n\r\n") + bomb.flush()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    src = read.WarcSource(io.BytesIO(data), None, True)
    records = list(read.frame_records(src))  # the block is skipped, 1 MiB at a time
    assert len(records) == 1 and records[0].length == 1 << 26
    # growth in KiB: a 64 MiB block is never held
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 24 * 1024  # KiB


def _blocks(data: bytes, size: int):
    """``data`` handed over ``size`` bytes at a time through ONE reused buffer (as bag
    reads), so a view kept past the next call would read the wrong bytes."""
    buf, pos = bytearray(size), 0

    def nxt() -> memoryview:
        nonlocal pos
        piece = data[pos : pos + size]
        pos += len(piece)
        buf[: len(piece)] = piece
        return memoryview(buf)[: len(piece)]

    return nxt


@pytest.mark.parametrize("size", [1, 7, 4096])
@pytest.mark.parametrize("gz", [False, True])
def test_strict_framing_over_caller_blocks_matches_reading_the_file(size, gz):
    recs = [_record(b"x" * n) for n in (0, 5, 9000, 3)]
    data = b"".join(gzip.compress(r) for r in recs) if gz else b"".join(recs)
    src = read.WarcSource(None, None, gz, blocks=_blocks(data, size))
    # blocks passed over unread (as bag does), then the whole file was read
    got = [(r.offset, r.length) for r in read.frame_records(src)]
    assert got == [(o, n) for _u, o, n in ((u, o, len(b)) for u, o, b in _frame(data, gz))]
    assert src.size == len(data) and src.blocks is not None and src.blocks() == b""


@pytest.mark.parametrize(
    ("data", "gz"),
    [
        (gzip.compress(_record(b"abc"))[:-3], True),  # inside the gzip trailer
        (_record(b"abc")[:20], False),  # inside the header
        (_record(b"abcdef")[:-6], False),  # inside the block
        (_record(b"abc")[:-2], False),  # the CRLF CRLF after the block
    ],
    ids=["gzip", "header", "block", "trailer"],
)
def test_strict_framing_says_a_cut_file_is_truncated(data, gz):
    with pytest.raises(read.TruncatedData):
        list(read.frame_records(read.WarcSource(io.BytesIO(data), None, gz)))


def test_strict_framing_refuses_a_file_that_is_not_gzip_at_all():
    with pytest.raises(read.FramingError, match="not gzip data"):
        list(read.frame_records(read.WarcSource(io.BytesIO(b"WARC/1.1 plain"), None, True)))
