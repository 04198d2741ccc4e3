"""The lean HTTP/1.1 client against hostile servers on 127.0.0.1: every byte is kept,
and no response can crash it, hold it forever or make it store a wrong record."""

from __future__ import annotations

import contextlib
import time

import pytest

from strongroom.capture.http import fetch, make_session
from strongroom.capture.wire import ChunkFramer, Malformed, framing_of, parse_head
from strongroom.demosite import SiteServer
from strongroom.warc.write import digest_response, sha256_digest


def raw(data: bytes, close: bool = True):
    def handler(req):
        with contextlib.suppress(OSError):
            req.wfile.write(data)
        req.close_connection = close

    return handler


def get(site: SiteServer, path: str, **kw):
    args = {"timeout": 5.0, "max_bytes": 10**6, "time_limit": 9.0} | kw
    return fetch(make_session("t"), site.url + path.lstrip("/"), **args)


@pytest.mark.parametrize(
    "status",
    [b"HTTP/1.1 20 OK", b"HTTP/2 200 OK", b"FOO 200 OK", b"HTTP/1.1 2000 OK", b"HTTP/1.1 099 X"],
)
def test_malformed_status_lines_fail_clearly(site, status):
    site.add_route("/s", raw(status + b"\r\nContent-Length: 2\r\n\r\nok"))
    res = get(site, "s")
    assert res.spool is None
    assert res.error == "malformed HTTP response: invalid status line"


def test_status_without_reason_and_bare_lf_lines_are_http(site):
    wire = b"HTTP/1.1 200\nContent-Length: 2\n\nok"
    site.add_route("/lf", raw(wire))
    res = get(site, "lf")
    assert res.status == 200 and not res.error and res.spool.read() == wire


@pytest.mark.parametrize("length", [b"99999999999999999999999999", b"-1", b"5, 6", b"abc", b"0x10"])
def test_absurd_content_length_is_refused(site, length):
    site.add_route("/cl", raw(b"HTTP/1.1 200 OK\r\nContent-Length: " + length + b"\r\n\r\nhello"))
    res = get(site, "cl")
    assert res.spool is None and "invalid Content-Length" in res.error


def test_huge_content_length_then_close_is_a_clear_disconnect(site):
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n"
    site.add_route("/big", raw(head + b"x" * 10))
    res = get(site, "big", max_bytes=10**15)
    assert res.truncated == "disconnect"
    assert "got 10 of 1000000000000 bytes (Content-Length mismatch)" in res.error
    assert res.spool.read() == head + b"x" * 10  # what came is recorded as it came


def test_endless_headers_stop_at_the_head_limit(site):
    flood = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"y" * 1000 + b"\r\n"
    site.add_route("/flood", raw(flood * 400))  # 400 KB of head, never a blank line
    res = get(site, "flood")
    assert res.spool is None
    assert res.error == "malformed HTTP response: header too long or too many headers"
    site.add_route("/line", raw(b"HTTP/1.1 200 OK\r\nX: " + b"z" * 300_000))
    assert "header too long" in get(site, "line").error


def test_chunk_size_overflow_is_malformed_and_kept_as_received(site):
    wire = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n" + b"F" * 40 + b"\r\n"
    )
    site.add_route("/chunks", raw(wire))
    res = get(site, "chunks")
    assert res.truncated == "disconnect"
    assert res.error.startswith("malformed chunked encoding after 3 bytes")
    assert res.spool.read() == wire


def test_chunked_with_extensions_and_trailer_is_exact(site):
    body = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    framing = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: t\r\n\r\n"
    site.add_route("/trailer", raw(body + framing + b"JUNK", close=True))
    res = get(site, "trailer")
    assert not res.error and res.received == 9
    assert res.spool.read() == body + framing  # nothing after the message end
    assert digest_response(res.spool).payload_digest == sha256_digest(b"Wikipedia")


def test_slow_drip_body_is_cut_at_the_time_limit(site):
    def drip(req):
        with contextlib.suppress(OSError):
            req.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            for _ in range(40):
                req.wfile.write(b"x")
                req.wfile.flush()
                time.sleep(0.05)
        req.close_connection = True

    site.add_route("/drip", drip)
    started = time.monotonic()
    res = get(site, "drip", time_limit=0.5)
    assert time.monotonic() - started < 1.5
    assert res.truncated == "time" and res.error.startswith("resource took longer than 0.5s")
    assert res.spool.read().startswith(b"HTTP/1.1 200 OK")


def test_slow_drip_headers_are_cut_at_the_time_limit(site):
    def drip(req):
        with contextlib.suppress(OSError):
            req.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            for _ in range(60):
                req.wfile.write(b"y")
                req.wfile.flush()
                time.sleep(0.05)
        req.close_connection = True

    site.add_route("/hdrip", drip)
    started = time.monotonic()
    res = get(site, "hdrip", time_limit=0.5)
    assert time.monotonic() - started < 1.5
    assert res.spool is None and "took longer than 0.5s" in res.error


def test_silent_server_times_out(site):
    site.add_route("/silent", lambda req: time.sleep(1.5))
    res = get(site, "silent", timeout=0.3)
    assert res.error == "timed out after 0.3s waiting for the server"


def test_body_until_close_and_http10(site):
    wire = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it"
    site.add_route("/h10", raw(wire))
    res = get(site, "h10")
    assert not res.error and not res.truncated and res.spool.read() == wire


def test_max_bytes_cuts_a_body_without_length(site):
    site.add_route("/endless", raw(b"HTTP/1.1 200 OK\r\n\r\n" + b"e" * 200_000))
    res = get(site, "endless", max_bytes=50_000)
    assert res.truncated == "length" and not res.error


def test_a_server_that_closed_an_idle_connection_costs_nothing(site):
    site.add_route("/once", raw(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", close=True))
    session = make_session("t")
    for _ in range(3):  # each time the kept connection is dead: a new one is made
        res = fetch(session, site.url + "once", timeout=5, max_bytes=100, time_limit=5)
        assert res.status == 200 and not res.error
    session.close()


def test_connection_refused_is_named(site):
    url = site.url
    site.stop()
    res = fetch(make_session("t"), url, timeout=2, max_bytes=100, time_limit=5)
    assert res.error == "connection refused"


def test_request_target_is_percent_encoded_and_recorded(site):
    res = get(site, "a b/ü?q=x y&r=%41")
    assert res.request.startswith(b"GET /a%20b/%C3%BC?q=x%20y&r=%41 HTTP/1.1\r\nHost: 127.0.0.1:")


def test_chunk_framer_byte_by_byte_and_hostile_lines():
    wire = b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n"
    f = ChunkFramer()
    used = payload = 0
    buf = bytearray()
    for b in wire:
        buf.append(b)
        n, p = f.feed(buf)
        del buf[:n]
        used, payload = used + n, payload + p
    assert f.done and used == len(wire) and payload == 9
    for bad in (b"zz\r\n", b"1" * 5000, b"3\r\nabcX\r\n", b"-1\r\n"):
        with pytest.raises(Malformed):
            ChunkFramer().feed(bad)


def test_head_parser_limits_and_framing():
    many = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(101)) + b"\r\n"
    with pytest.raises(Malformed, match="too many headers"):
        parse_head(many)
    status, reason, h = parse_head(b"HTTP/1.1 404 Not Found\r\nA: 1\r\na: 2\r\nB: x\r\n  y\r\n\r\n")
    assert (status, reason, h) == (404, "Not Found", {"a": "1, 2", "b": "x y"})
    assert framing_of(304, {"content-length": "9"}, b"") == ("length", 0)
    assert framing_of(200, {"transfer-encoding": "gzip, chunked"}, b"") == ("chunked", 0)
    assert framing_of(200, {"transfer-encoding": "gzip"}, b"") == ("close", 0)
    assert framing_of(200, {"content-length": "5, 5"}, b"") == ("length", 5)


def test_https_is_verified_and_recorded_as_plaintext(tmp_path, monkeypatch):
    import ssl
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
         "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    site = SiteServer()
    site._srv.socket = server_ctx.wrap_socket(site._srv.socket, server_side=True)
    site.add_route("/tls", raw(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret"))
    with site:
        url = site.url.replace("http://", "https://") + "tls"
        refused = fetch(make_session("t"), url, timeout=5, max_bytes=100, time_limit=5)
        assert (
            refused.error.startswith("TLS error:") and "certificate verify failed" in refused.error
        )
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # now the client trusts it
        res = fetch(make_session("t"), url, timeout=5, max_bytes=100, time_limit=5)
    assert res.status == 200 and not res.error and res.peer == "127.0.0.1"
    assert res.spool.read() == b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret"
    assert res.request.startswith(b"GET /tls HTTP/1.1\r\nHost: 127.0.0.1:")


def _counting(site: SiteServer, path: str, wire: bytes) -> list[int]:
    """A route answering ``wire`` and keeping the connection open; returns the client
    ports it saw (one per TCP connection)."""
    ports: list[int] = []

    def handler(req):
        ports.append(req.client_address[1])
        req.wfile.write(wire)
        req.close_connection = False

    site.add_route(path, handler)
    return ports


@pytest.mark.parametrize(
    ("wire", "connections"),
    [
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", 1),
        (b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok", 1),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 3),  # 1.0 closes by default
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", 3),
    ],
)
def test_keep_alive_is_reused_as_the_server_offers_it(site, wire, connections):
    """An HTTP/1.0 server that says keep-alive gets one connection for three requests,
    as an HTTP/1.1 server does; without it (or with close) each request opens its own.
    Counted from the server's side: the client ports it saw."""
    ports = _counting(site, "/ka", wire)
    session = make_session("t")
    try:
        for _ in range(3):
            res = fetch(session, site.url + "ka", timeout=5.0, max_bytes=10**6, time_limit=9.0)
            assert res.status == 200 and res.spool.read() == wire
    finally:
        session.close()
    assert len(ports) == 3 and len(set(ports)) == connections
