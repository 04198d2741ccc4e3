"""The recording HTTP layer and the de-chunker, against a real server on 127.0.0.1."""

from __future__ import annotations

import gzip

import pytest
from hostile import CHUNKED_BODY, CHUNKED_RAW, install

from strongroom.capture.http import fetch, make_session
from strongroom.demosite import SiteServer
from strongroom.warc.write import Dechunker, dechunk, digest_response, sha256_digest


@pytest.fixture
def hostile(site: SiteServer) -> SiteServer:
    return install(site)


def test_response_bytes_are_exactly_the_wire(hostile):
    s = make_session("strongroom-test/1")
    res = fetch(s, hostile.url + "hostile/chunked.html", timeout=5, max_bytes=10**6, time_limit=10)
    assert res.status == 200 and not res.error
    assert res.spool.read() == CHUNKED_RAW
    assert res.request.startswith(b"GET /hostile/chunked.html HTTP/1.1\r\n")
    assert b"User-Agent: strongroom-test/1\r\n" in res.request
    assert res.peer == "127.0.0.1"
    info = digest_response(res.spool, keep=1000)
    assert info.payload_sample == CHUNKED_BODY
    assert info.payload_digest == sha256_digest(CHUNKED_BODY)
    assert info.block_digest == sha256_digest(CHUNKED_RAW)


def test_keep_alive_records_each_exchange_separately(site):
    s = make_session("t")
    a = fetch(s, site.url + "robots.txt", timeout=5, max_bytes=10**6, time_limit=10)
    b = fetch(s, site.url + "no-such-page", timeout=5, max_bytes=10**6, time_limit=10)
    assert a.spool.read().startswith(b"HTTP/1.1 200")
    body_b = b.spool.read()
    assert body_b.startswith(b"HTTP/1.1 404") and body_b.count(b"HTTP/1.1") == 1
    assert b.request.count(b"GET ") == 1


def test_gzip_payload_kept_encoded(tmp_path):
    (tmp_path / "s.css").write_text("body{color:red}")
    with SiteServer(root=tmp_path) as srv:
        res = fetch(make_session("t"), srv.url + "s.css", timeout=5, max_bytes=10**6, time_limit=9)
        info = digest_response(res.spool, keep=1000)
    assert b"Content-Encoding: gzip" in info.head
    assert gzip.decompress(info.payload_sample) == b"body{color:red}"


def test_dechunker_tolerates_hostile_framing():
    assert dechunk(b"3\r\nabc\r\n0\r\n\r\n") == b"abc"
    assert dechunk(b"3;name=val\r\nabc\r\n2\r\nde\r\n0\r\n\r\n") == b"abcde"
    assert dechunk(b"3\nabc\n0\n\n") == b"abc"  # bare LF
    # truncated mid-chunk: keep what arrived
    assert dechunk(b"10\r\nabc") == b"abc"
    # garbage size line: stop, flag it, no exception
    d = Dechunker()
    assert d.feed(b"3\r\nabc\r\nzz\r\nmore") == b"abc" and d.malformed
    # an endless size line is not buffered forever
    d2 = Dechunker()
    assert d2.feed(b"1" * 10000) == b"" and d2.malformed
    # byte-by-byte feeding gives the same result
    d3 = Dechunker()
    wire = b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n"
    assert b"".join(d3.feed(wire[i : i + 1]) for i in range(len(wire))) == b"Wikipedia"


def _raw_route(data: bytes):
    def handler(req):
        req.wfile.write(data)
        req.close_connection = True

    return handler


def test_bytes_beyond_content_length_are_not_stored(site):
    site.add_route(
        "/extra", _raw_route(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloJUNK-AFTER")
    )
    res = fetch(make_session("t"), site.url + "extra", timeout=5, max_bytes=10**6, time_limit=9)
    assert res.spool.read() == b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    assert digest_response(res.spool).payload_digest == sha256_digest(b"hello")


def test_interim_100_and_103_are_skipped_not_the_record(site):
    final = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    site.add_route("/continue", _raw_route(b"HTTP/1.1 100 Continue\r\n\r\n" + final))
    res = fetch(make_session("t"), site.url + "continue", timeout=5, max_bytes=10**6, time_limit=9)
    assert res.status == 200
    assert res.spool.read() == final  # the record parses as the 200 it is
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" + final
    site.add_route("/hints", _raw_route(hints))
    res = fetch(make_session("t"), site.url + "hints", timeout=5, max_bytes=10**6, time_limit=9)
    assert res.status == 200 and not res.error and res.spool.read() == final
    site.add_route("/endless", _raw_route(b"HTTP/1.1 103 Early Hints\r\n\r\n" * 50 + final))
    res = fetch(make_session("t"), site.url + "endless", timeout=5, max_bytes=10**6, time_limit=9)
    assert res.spool is None and "endless interim" in res.error
