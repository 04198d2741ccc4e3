"""Our WARC serializer: warcio reads every record back exactly as we meant it,
a hostile value cannot forge a header line, and a failed record leaves no half."""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from strongroom.warc.write import WarcSink, digest_response, sha256_digest

BODY = b"<html><title>t</title></html>"
PLAIN = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 29\r\n\r\n" + BODY
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Odd:  spaced \r\n\r\n"
    b"5\r\n<html\r\n18\r\n><title>t</title></html>\r\n0\r\n\r\n"
)
REQUEST = b"GET /a HTTP/1.1\r\nHost: example.org\r\nUser-Agent: t\r\n\r\n"


def spool(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)


def members(path: Path) -> list[bytes]:
    """Each gzip member of a file, inflated separately."""
    data, out = path.read_bytes(), []
    while data:
        d = zlib.decompressobj(31)
        out.append(d.decompress(data) + d.flush())
        data = d.unused_data
    return out


def write_sample(folder: Path) -> tuple[Path, list[str]]:
    sink = WarcSink(folder, "t", {"software": "test", "operator": "op"})
    ids = []
    for uri, wire in (("http://example.org/a", PLAIN), ("http://example.org/c", CHUNKED)):
        s = spool(wire)
        info = digest_response(s, keep=1000)
        w = sink.write_exchange(uri, REQUEST, s, info, peer="127.0.0.1", seed=uri)
        ids.append(w.record_id)
    s = spool(PLAIN)
    info = digest_response(s)
    sink.write_exchange(
        "http://example.org/b", REQUEST, s, info, peer=None,
        revisit_of=(ids[0], "http://example.org/a", "2024-01-01T00:00:00Z"),
    )  # fmt: skip
    sink.write_metadata("http://example.org/a", b"outlink: http://example.org/b\r\n", ids[0])
    sink.close()
    (path,) = folder.glob("*.warc.gz")
    return path, ids


def test_warcio_reads_back_every_record_exactly(tmp_path):
    path, ids = write_sample(tmp_path)
    with open(path, "rb") as fh:
        recs = []
        for r in ArchiveIterator(fh):
            raw = r.raw_stream.read()
            recs.append((r.rec_type, r.rec_headers, raw, r.http_headers))
    kinds = [k for k, *_ in recs]
    assert kinds == ["warcinfo", "response", "request", "response", "request", "revisit",
                     "request", "metadata"]  # fmt: skip
    _, h, raw, http = recs[1]
    assert h.get_header("WARC-Record-ID") == ids[0]
    assert h.get_header("WARC-IP-Address") == "127.0.0.1"
    assert h.get_header("WARC-Block-Digest") == sha256_digest(PLAIN)
    assert h.get_header("WARC-Payload-Digest") == sha256_digest(BODY)
    assert h.get_header("Content-Length") == str(len(PLAIN))
    assert http.get_statuscode() == "200" and raw == BODY
    _, h, raw, http = recs[3]  # chunked: the block is the wire, the payload digest de-chunked
    assert h.get_header("WARC-Block-Digest") == sha256_digest(CHUNKED)
    assert h.get_header("WARC-Payload-Digest") == sha256_digest(BODY)
    _, h, raw, _ = recs[2]
    assert h.get_header("WARC-Concurrent-To") == ids[0] and h.protocol == "WARC/1.1"
    _, h, raw, http = recs[5]
    assert h.get_header("WARC-Refers-To") == ids[0] and raw == b""
    assert h.get_header("Content-Length") == str(PLAIN.index(b"\r\n\r\n") + 4)
    assert h.get_header("WARC-IP-Address") is None
    _, h, raw, _ = recs[7]
    assert h.get_header("WARC-Payload-Digest") is None  # WARC 1.1: metadata has no payload
    assert raw == b"outlink: http://example.org/b\r\n"


def test_each_record_is_one_gzip_member_in_warc_layout(tmp_path):
    path, _ = write_sample(tmp_path)
    parts = members(path)
    assert len(parts) == 8
    for m in parts:
        head, sep, rest = m.partition(b"\r\n\r\n")
        assert head.startswith(b"WARC/1.1\r\nWARC-Type: ") and sep
        length = int(head.rsplit(b"Content-Length: ", 1)[1])
        assert len(rest) == length + 4 and rest.endswith(b"\r\n\r\n")
    block = parts[3].partition(b"\r\n\r\n")[2][:-4]
    assert block == CHUNKED  # the exact wire bytes, odd spacing and framing kept
    assert gzip.decompress(path.read_bytes()) == b"".join(parts)


def test_a_hostile_uri_cannot_forge_header_lines(tmp_path):
    sink = WarcSink(tmp_path, "t", {"software": "test"})
    evil = "http://example.org/x\r\nWARC-Type: forged\r\n\r\nWARC/1.1"
    sink.write_metadata(evil, b"k: v\r\n", None)
    sink.close()
    (path,) = tmp_path.glob("*.warc.gz")
    with open(path, "rb") as fh:
        recs = [(r.rec_type, r.rec_headers) for r in ArchiveIterator(fh)]
    assert [k for k, _ in recs] == ["warcinfo", "metadata"]
    assert recs[1][1].get_header("WARC-Type") == "metadata"
    member = members(path)[1]
    assert b"WARC-Target-URI: http://example.org/x%0D%0AWARC-Type: forged%0D%0A" in member


def test_a_record_whose_block_fails_leaves_nothing_half_written(tmp_path):
    sink = WarcSink(tmp_path, "t", {"software": "test"})
    s = spool(PLAIN)
    info = digest_response(s)
    sink.write_exchange("http://example.org/a", REQUEST, s, info, peer=None)
    info = info._replace(size=info.size + 100)  # the stream now ends 100 bytes early
    with pytest.raises(OSError, match="ended 100 bytes early"):
        sink.write_exchange("http://example.org/b", REQUEST, spool(PLAIN), info, peer=None)
    sink.close()
    (path,) = tmp_path.glob("*.warc.gz")
    with open(path, "rb") as fh:
        kinds = [r.rec_type for r in ArchiveIterator(fh)]
    assert kinds == ["warcinfo", "response", "request"]  # whole records only


def test_digests_are_rfc4648_base32_like_warcio_writes_them():
    import base64
    import hashlib

    from strongroom.warc.write import digest_str

    for i in range(500):
        h = hashlib.sha256(str(i).encode())
        assert digest_str(h) == "sha256:" + base64.b32encode(h.digest()).decode()


def test_large_and_small_records_inflate_exactly(tmp_path):
    sink = WarcSink(tmp_path, "t", {"software": "test"})
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n" + bytes(range(256)) * 1172
    big = big[: big.index(b"\r\n\r\n") + 4 + 300000]
    for wire in (PLAIN, big):
        s = spool(wire)
        sink.write_exchange("http://example.org/x", REQUEST, s, digest_response(s), peer=None)
    sink.close()
    (path,) = tmp_path.glob("*.warc.gz")
    blocks = [m.partition(b"\r\n\r\n")[2][:-4] for m in members(path)]
    assert blocks[1] == PLAIN and blocks[3] == big and blocks[2] == blocks[4] == REQUEST


def test_a_resource_record_reads_back_and_none_is_written_after_close(tmp_path):
    sink = WarcSink(tmp_path, "t", {"software": "test"})
    dom = b"<html><p>added by a script: Andijan, 13 May 2005</p></html>"
    w = sink.write_resource("urn:dom:http://example.org/a", dom, "text/html", "<urn:uuid:x>")
    assert w is not None
    sink.close()
    assert sink.write_resource("urn:dom:http://example.org/b", dom, "text/html") is None
    (path,) = tmp_path.glob("*.warc.gz")
    with path.open("rb") as fh:
        # read each block while the iterator is on its record
        seen = [
            (r.rec_headers.get_header("WARC-Record-ID"), r.content_stream().read(), r.rec_headers)
            for r in ArchiveIterator(fh)
            if r.rec_type == "resource"
        ]
    ((record_id, block, headers),) = seen
    assert record_id == w.record_id and block == dom
    assert headers.get_header("WARC-Concurrent-To") == "<urn:uuid:x>"
    assert headers.get_header("WARC-Payload-Digest") == sha256_digest(dom)


def test_record_ids_are_random_version_4_uuids() -> None:
    """Record ids are ``<urn:uuid:...>`` of RFC 4122 version-4 UUIDs, never repeated."""
    import uuid

    from strongroom.warc.write import new_record_id

    ids = [new_record_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for rid in ids:
        assert rid.startswith("<urn:uuid:") and rid.endswith(">")
        u = uuid.UUID(rid[len("<urn:uuid:") : -1])
        assert u.version == 4 and u.variant == uuid.RFC_4122
        assert str(u) == rid[len("<urn:uuid:") : -1]


@pytest.mark.parametrize("size", [0, 1, 65_000, 65_536, 70_000, 300_000])
@pytest.mark.parametrize("chunked", [False, True])
def test_digests_of_small_and_large_blocks_match_an_independent_hash(size, chunked):
    """A block read whole (under 64 KiB) and one read in steps give the same digests,
    sample and sizes as hashing the bytes directly; chunked framing is removed."""
    import base64
    import hashlib

    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    if chunked:
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        half = len(payload) // 2
        parts = [p for p in (payload[:half], payload[half:]) if p]
        body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    else:
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(payload)
        body = payload
    block = head + body

    def b32(data: bytes) -> str:
        return "sha256:" + base64.b32encode(hashlib.sha256(data).digest()).decode()

    info = digest_response(spool(block), keep=1000)
    assert (info.block_digest, info.payload_digest) == (b32(block), b32(payload))
    assert (info.size, info.payload_size, info.head_len) == (len(block), len(payload), len(head))
    assert info.head == head and info.payload_sample == payload[:1000]
