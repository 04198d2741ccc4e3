"""End-to-end capture tests against a real HTTP server on 127.0.0.1.

Every WARC is checked independently of strongroom's own code: digests are
recomputed here from the raw stored blocks, and warcio / cdxj-indexer are run.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile import CHUNKED_BODY, CHUNKED_RAW, CP1251_LINK, CP1251_TITLE, LARGE_SIZE, install
from warcio.archiveiterator import ArchiveIterator

from strongroom.demosite import SiteServer, free_port
from strongroom.warc.write import parse_warc_fields

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"

NEWS_INDEX = """<!doctype html>
<html><head><title>Ten years on from Andijan</title>
<link rel="stylesheet" href="/static/site.css">
<link rel="icon" href="/static/favicon.ico">
<script src="/static/app.js"></script>
<style>.hero{background-image:url('/static/hero-bg.jpg')}</style>
</head><body>
<img src="/img/photo-small.jpg" srcset="/img/photo-800.jpg 800w, /img/photo-1600.jpg 1600w">
<picture><source srcset="/img/pic.webp 1x, /img/pic@2x.webp 2x" type="image/webp">
<img src="/img/pic.jpg"></picture>
<video poster="/img/poster.jpg"><source src="/media/clip.mp4"></video>
<div style="background:url(/img/inline.png)"></div>
<a href="/story2.html">Next story</a>
<a href="https://elsewhere.example/">out of scope</a>
</body></html>
"""
NEWS_CSS = '@import "more.css";\nbody{background:url(/img/paper.png)}\n'
NEWS_MORE_CSS = "@font-face{src:url('/fonts/serif.woff2')}\n"
REQUISITES = {
    "/static/site.css",
    "/static/more.css",
    "/static/favicon.ico",
    "/static/app.js",
    "/static/hero-bg.jpg",
    "/img/photo-small.jpg",
    "/img/photo-800.jpg",
    "/img/photo-1600.jpg",
    "/img/pic.webp",
    "/img/pic@2x.webp",
    "/img/pic.jpg",
    "/img/poster.jpg",
    "/media/clip.mp4",
    "/img/inline.png",
    "/img/paper.png",
    "/fonts/serif.woff2",
}


@pytest.fixture
def news(tmp_path: Path):
    """A small local news site (CSS gzip-encoded, JS chunked by the server)."""
    root = tmp_path / "news"
    (root / "static").mkdir(parents=True)
    (root / "index.html").write_text(NEWS_INDEX)
    (root / "story2.html").write_text("<html><title>Story 2</title><img src='/img/pic.jpg'></html>")
    (root / "static" / "site.css").write_text(NEWS_CSS)
    (root / "static" / "more.css").write_text(NEWS_MORE_CSS)
    (root / "static" / "app.js").write_text("console.log('hello from a chunked script');\n" * 20)
    for rel in REQUISITES - {"/static/site.css", "/static/more.css", "/static/app.js"}:
        p = root / rel.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"BIN" + rel.encode())
    with SiteServer(root=root) as server:
        yield server


@pytest.fixture
def hostile(site: SiteServer) -> SiteServer:
    return install(site)


def b32(data: bytes) -> str:
    return "sha256:" + base64.b32encode(hashlib.sha256(data).digest()).decode()


def dechunk_reference(data: bytes) -> bytes:
    """A strict de-chunker written separately from strongroom's, for cross-checking."""
    out, pos = b"", 0
    while True:
        eol = data.index(b"\r\n", pos)
        size = int(data[pos:eol].split(b";")[0], 16)
        if size == 0:
            return out
        out += data[eol + 2 : eol + 2 + size]
        pos = eol + 2 + size + 2


def raw_records(path: Path) -> list[dict]:
    """Every record with its WARC headers and the exact stored block bytes."""
    out = []
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh, no_record_parse=True):
            block = rec.raw_stream.read()
            out.append({"type": rec.rec_type, "h": dict(rec.rec_headers.headers), "block": block})
    return out


def warcs_of(archive: Path, capture_id: str) -> list[Path]:
    return sorted((archive / "captures" / capture_id).glob("*.warc.gz"))


def all_records(archive: Path, capture_id: str) -> list[dict]:
    return [r for w in warcs_of(archive, capture_id) for r in raw_records(w)]


def verify_digests(records: list[dict]) -> None:
    """Recompute every digest from the stored block, independently of strongroom."""
    for r in records:
        h, block = r["h"], r["block"]
        assert h["WARC-Block-Digest"] == b32(block), (r["type"], h.get("WARC-Target-URI"))
        assert "<" not in h.get("WARC-Target-URI", "")
        if r["type"] in ("response", "request", "revisit"):
            head, _, body = block.partition(b"\r\n\r\n")
            if r["type"] == "revisit":
                assert body == b""
                continue
            if b"transfer-encoding: chunked" in head.lower() and not h.get("WARC-Truncated"):
                body = dechunk_reference(body)
            if not h.get("WARC-Truncated"):
                assert h["WARC-Payload-Digest"] == b32(body), h.get("WARC-Target-URI")


def warcio_check(paths: list[Path]) -> None:
    """Run ``warcio check``; its only allowed complaint is the known chunked-payload one.

    warcio digests a chunked body with its framing; our convention (stated in
    warcinfo, cross-checked by verify_digests) de-chunks it. Any other failure,
    or a payload failure on a record that is not chunked, fails the test.
    """
    tool = VENV_BIN / "warcio"
    if not tool.exists():
        return
    res = subprocess.run(
        [str(tool), "check", "-v", *map(str, paths)], capture_output=True, text=True
    )
    chunked = {
        r["h"]["WARC-Record-ID"]
        for p in paths
        for r in raw_records(p)
        if b"transfer-encoding: chunked" in r["block"].partition(b"\r\n\r\n")[0].lower()
    }
    current = ""
    for line in res.stdout.splitlines():
        if "WARC-Record-ID" in line:
            current = line.split("WARC-Record-ID", 1)[1].split()[0]
        elif "fail" in line or "problem" in line.lower():
            assert "payload digest failed" in line and current in chunked, res.stdout
    assert "Traceback" not in res.stderr, res.stderr


def metadata_fields(record: dict) -> dict[str, list[str]]:
    """A page's metadata record (application/warc-fields) as name -> values."""
    fields: dict[str, list[str]] = {}
    for name, value in parse_warc_fields(record["block"]):
        fields.setdefault(name, []).append(value)
    return fields


def capture_json(archive: Path, capture_id: str) -> dict:
    return json.loads((archive / "captures" / capture_id / "capture.json").read_text())


def run_capture(cli, *args: str):
    res = cli("capture", *args, "--json")
    doc = json.loads(res.stdout)
    return res, doc


def assert_archive_dedup(cli, url: str, archive_dir: Path) -> None:
    """With --dedup archive a second capture stores revisits instead of the payloads."""
    res2, doc2 = run_capture(cli, url, "--dedup", "archive")
    assert res2.exit_code == 0
    assert doc2["stats"]["deduplicated"] >= len(REQUISITES)
    recs2 = all_records(archive_dir, doc2["capture_id"])
    revisits = [r for r in recs2 if r["type"] == "revisit"]
    assert revisits
    for r in revisits:
        h = r["h"]
        assert h["WARC-Profile"].endswith("/warc/1.1/revisit/identical-payload-digest")
        assert h["WARC-Refers-To"].startswith("<urn:uuid:")
        assert h["WARC-Refers-To-Target-URI"] == h["WARC-Target-URI"]
        assert h["WARC-Refers-To-Date"]
    verify_digests(recs2)
    warcio_check(warcs_of(archive_dir, doc2["capture_id"]))
    db = sqlite3.connect(archive_dir / "ledger.sqlite")
    assert db.execute("SELECT count(*) FROM payload_digests").fetchone()[0] >= len(REQUISITES)
    assert db.execute("SELECT count(*) FROM captures").fetchone()[0] == 2


def test_news_page_every_requisite_digests_and_dedup(cli, news, archive_dir):
    res, doc = run_capture(cli, news.url, "--depth", "1")
    assert res.exit_code == 0, res.output
    cid = doc["capture_id"]
    records = all_records(archive_dir, cid)
    uris = {r["h"].get("WARC-Target-URI") for r in records if r["type"] == "response"}
    for rel in REQUISITES:
        assert news.url.rstrip("/") + rel in uris, f"requisite {rel} missing"
    assert news.url + "story2.html" in uris  # depth 1 outlink in scope
    assert not any("elsewhere.example" in (u or "") for u in uris)  # out of scope
    verify_digests(records)
    warcio_check(warcs_of(archive_dir, cid))

    # request/response pairs are linked and carry the socket's IP address
    by_id = {r["h"]["WARC-Record-ID"]: r for r in records}
    reqs = [r for r in records if r["type"] == "request"]
    assert reqs and all(by_id[r["h"]["WARC-Concurrent-To"]]["type"] == "response" for r in reqs)
    assert all(r["h"]["WARC-IP-Address"] == "127.0.0.1" for r in reqs)
    assert reqs[0]["block"].startswith(b"GET ")

    # the chunked script: block is the wire (chunk framing kept), payload digest de-chunked
    js = next(r for r in records if r["h"].get("WARC-Target-URI", "").endswith("app.js"))
    head, _, body = js["block"].partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    dechunked = dechunk_reference(body)
    assert dechunked != body
    assert js["h"]["WARC-Payload-Digest"] == b32(dechunked)
    assert gzip.decompress(dechunked).startswith(b"console.log")  # content-encoding kept

    info = records[0]
    assert info["type"] == "warcinfo"
    assert b"WARC File Format 1.1" in info["block"]
    assert b"transfer-encoding removed" in info["block"]
    assert b"robots: obey" in info["block"]

    meta = [metadata_fields(r) for r in records if r["type"] == "metadata"]
    front = next(m for m in meta if m["page"] == [news.url])
    assert news.url.rstrip("/") + "/img/photo-1600.jpg" in front["requisite"]
    assert news.url + "story2.html" in front["outlink"]

    cj = capture_json(archive_dir, cid)
    assert cj["status"] == "complete"
    assert cj["pages"][0]["title"] == "Ten years on from Andijan"
    assert cj["warcs"][0]["name"] == f"{cid}-00000.warc.gz"

    assert_archive_dedup(cli, news.url, archive_dir)

    # cdxj-indexer indexes what we wrote
    tool = VENV_BIN / "cdxj-indexer"
    if tool.exists():
        out = subprocess.run(
            [str(tool), *map(str, warcs_of(archive_dir, cid))], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        assert "/img/photo-1600.jpg" in out.stdout


def test_one_connection_and_four_capture_the_same_records(cli, news, tmp_path):
    """-c 1 (fetched on the main thread) and -c 4 (worker threads: this process runs
    the test site's threads, so it forks no fetch processes; tests/capture/test_procs.py
    has those) make the same WARC records: the same (type, URI) pairs, every digest
    valid, warcio reads them all. Each file starts with its own warcinfo record."""
    kinds = []
    for c in ("1", "4"):
        archive = tmp_path / f"archive-c{c}"
        res, doc = run_capture(
            cli, news.url, "--depth", "1", "--concurrency", c, "--archive", str(archive)
        )
        assert res.exit_code == 0, res.output
        records = all_records(archive, doc["capture_id"])
        verify_digests(records)
        warcio_check(warcs_of(archive, doc["capture_id"]))
        for r in records:
            if r["type"] in ("response", "request", "revisit"):
                assert r["h"]["WARC-IP-Address"] == "127.0.0.1"
        assert sum(r["type"] == "warcinfo" for r in records) == len(doc["warcs"])
        kinds.append(
            sorted(
                (r["type"], r["h"].get("WARC-Target-URI", ""))
                for r in records
                if r["type"] != "warcinfo"
            )
        )
        assert doc["stats"]["fetched"] == len(REQUISITES) + 2  # and the two pages
    assert kinds[0] == kinds[1]


def test_wire_exact_chunked_response_and_gzip_css(cli, hostile, archive_dir):
    res, doc = run_capture(
        cli, hostile.url + "hostile/chunked.html", hostile.url + "hostile/gzip.css"
    )
    assert res.exit_code == 0, res.output
    records = all_records(archive_dir, doc["capture_id"])
    chunked = next(
        r
        for r in records
        if r["type"] == "response" and r["h"]["WARC-Target-URI"].endswith("chunked.html")
    )
    assert chunked["block"] == CHUNKED_RAW  # odd header case/spacing and chunk extension kept
    assert chunked["h"]["WARC-Payload-Digest"] == b32(CHUNKED_BODY)
    uris = {r["h"].get("WARC-Target-URI") for r in records}
    for rel in ("from-chunked.png", "gz-bg.png", "gz-more.css", "gz-p.png"):
        assert hostile.url + "hostile/" + rel in uris  # found inside chunked HTML / gzip CSS
    verify_digests(records)


def test_redirect_hops_each_recorded(cli, hostile, archive_dir):
    res, doc = run_capture(cli, hostile.url + "hostile/redirect")
    assert res.exit_code == 0, res.output
    statuses = [
        (r["h"]["WARC-Target-URI"].rsplit("/", 1)[1], r["block"].split(b" ", 2)[1])
        for r in all_records(archive_dir, doc["capture_id"])
        if r["type"] == "response" and "robots" not in r["h"]["WARC-Target-URI"]
    ]
    assert statuses == [("redirect", b"302"), ("redirect2", b"301"), ("final.html", b"200")]
    assert doc["pages"][0]["final_url"] == hostile.url + "hostile/final.html"


def test_redirect_loop_fails_with_reason(cli, hostile, archive_dir):
    res, doc = run_capture(cli, hostile.url + "hostile/loop-a")
    assert res.exit_code == 1
    assert "redirect loop" in doc["failures"][0]["reason"]
    verify_digests(all_records(archive_dir, doc["capture_id"]))


def test_reset_mid_body_is_truncated_and_failed(cli, hostile, archive_dir):
    res, doc = run_capture(cli, hostile.url + "hostile/reset.bin", "--retries", "0")
    assert res.exit_code == 1
    reason = doc["failures"][0]["reason"]
    assert "Content-Length mismatch" in reason and "1000 of 100000" in reason
    recs = all_records(archive_dir, doc["capture_id"])
    resp = next(
        r
        for r in recs
        if r["type"] == "response" and r["h"]["WARC-Target-URI"].endswith("reset.bin")
    )
    assert resp["h"]["WARC-Truncated"] == "disconnect"
    verify_digests(recs)
    warcio_check(warcs_of(archive_dir, doc["capture_id"]))


def test_slow_response_times_out(cli, hostile, archive_dir):
    res, doc = run_capture(
        cli, hostile.url + "hostile/slow.html", "--timeout", "0.5", "--retries", "0"
    )
    assert res.exit_code == 1
    assert "timed out" in doc["failures"][0]["reason"]
    assert "Traceback" not in res.output
    warcio_check(warcs_of(archive_dir, doc["capture_id"]))


def test_max_bytes_truncates_without_failing(cli, hostile, archive_dir):
    res, doc = run_capture(cli, hostile.url + "hostile/large.bin", "--max-bytes", "100KB")
    assert res.exit_code == 0, res.output
    assert doc["stats"]["truncated"] == 1
    recs = all_records(archive_dir, doc["capture_id"])
    resp = next(
        r
        for r in recs
        if r["type"] == "response" and r["h"]["WARC-Target-URI"].endswith("large.bin")
    )
    assert resp["h"]["WARC-Truncated"] == "length"
    assert len(resp["block"]) < LARGE_SIZE
    verify_digests(recs)


def test_gzip_bomb_css_is_stored_and_extraction_bounded(cli, hostile, archive_dir):
    # building the bomb costs the server seconds of CPU: on a loaded machine, more than 30
    res, doc = run_capture(cli, hostile.url + "hostile/bomb.html", "--timeout", "300")
    assert res.exit_code == 0, res.output
    recs = all_records(archive_dir, doc["capture_id"])
    bomb = next(r for r in recs if r["h"].get("WARC-Target-URI", "").endswith("bomb.css"))
    assert not bomb["h"].get("WARC-Truncated")  # stored whole, compressed, as sent
    assert hostile.url + "hostile/tiny.png" in {r["h"].get("WARC-Target-URI") for r in recs}
    verify_digests(recs)


def test_robots_txt_obeyed_and_recorded(cli, hostile, archive_dir):
    res, doc = run_capture(cli, hostile.url + "hostile/robots-page.html", "--depth", "1")
    assert res.exit_code == 1  # a blocked requisite is reported, never dropped silently
    assert hostile.hits("/hostile/private/secret.png") == 0
    assert hostile.hits("/hostile/private/secret.html") == 0
    assert all("robots.txt" in f["reason"] for f in doc["failures"])
    recs = all_records(archive_dir, doc["capture_id"])
    assert any(r["h"].get("WARC-Target-URI", "").endswith("/robots.txt") for r in recs)

    res2, doc2 = run_capture(
        cli, hostile.url + "hostile/robots-page.html", "--depth", "1", "--ignore-robots"
    )
    assert res2.exit_code == 0, res2.output
    assert hostile.hits("/hostile/private/secret.png") == 1
    info = all_records(archive_dir, doc2["capture_id"])[0]
    assert b"robots: ignore" in info["block"]


def test_windows_1251_page_links_found(cli, hostile, archive_dir):
    res, doc = run_capture(cli, hostile.url + "hostile/cp1251.html", "--depth", "1")
    assert res.exit_code == 0, res.output
    assert doc["pages"][0]["title"] == CP1251_TITLE
    assert [p["url"] for p in doc["pages"]][1] == hostile.url.rstrip("/") + CP1251_LINK


def test_calendar_trap_stops_at_limit_and_says_so(cli, hostile, archive_dir):
    res = cli(
        "capture",
        hostile.url + "calendar/?month=0",
        "--depth",
        "1000",
        "--max-pages-per-host",
        "12",
    )
    assert res.exit_code == 0, res.output
    assert "max_pages_per_host (12)" in res.stderr
    assert hostile.hits("/calendar/") == 12


@pytest.mark.parametrize(
    "bad",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/x",
        "javascript:alert(1)",
        "data:text/html,hi",
        "http://[::1",
        "http://127.0.0.1:99999/",
        "not a url",
    ],
)
def test_unsupported_or_malformed_url_refused_before_fetch(cli, site, archive_dir, bad):
    res = cli("capture", site.url, bad)
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert site.hits("/") == 0 and site.hits("/robots.txt") == 0
    assert not (archive_dir / "captures").exists() or not any((archive_dir / "captures").iterdir())


def test_refused_connection_is_a_clear_failure(cli, archive_dir):
    port = free_port()
    res = cli("capture", f"http://127.0.0.1:{port}/", "--retries", "0")
    assert res.exit_code == 1
    assert "connection refused" in res.output
    assert "Traceback" not in res.output


def test_human_and_quiet_output(cli, news, archive_dir):
    res = cli("capture", news.url)
    assert res.exit_code == 0
    cid = res.stdout.splitlines()[0].strip()
    assert (archive_dir / "captures" / cid / "capture.json").exists()
    assert "fetched" in res.stdout
    quiet = cli("capture", news.url, "--quiet")
    assert quiet.exit_code == 0 and quiet.stdout == ""


def test_help_has_example(cli):
    res = cli("capture", "--help")
    assert res.exit_code == 0 and "Example:" in res.stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("concurrency", ["1", "4"])  # -c 1 fetches on the main thread
def test_kill_leaves_only_complete_valid_warcs(hostile, tmp_path, sig, concurrency):
    """Kill a capture mid-way: no partial WARC under a final name, capture.json says so."""
    archive = tmp_path / "archive"
    exe = VENV_BIN / "strongroom"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "strongroom"]
    env = dict(os.environ, NO_PROXY="127.0.0.1")
    proc = subprocess.Popen(
        [
            *cmd,
            "capture",
            hostile.url + "hostile/chunked.html",
            hostile.url + "hostile/drip.txt",
            "--archive",
            str(archive),
            "--retries",
            "0",
            "--concurrency",
            concurrency,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    captures = archive / "captures"
    deadline = time.monotonic() + 30
    # wait until the drip download is under way (its first bytes have been served)
    while time.monotonic() < deadline and hostile.hits("/hostile/drip.txt") == 0:
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, err
    assert b"interrupted" in err and b"Traceback" not in err
    (folder,) = list(captures.iterdir())
    names = [p.name for p in folder.iterdir()]
    assert not [n for n in names if n.startswith(".tmp-")]
    warcs = sorted(folder.glob("*.warc.gz"))
    assert warcs
    records = [r for w in warcs for r in raw_records(w)]
    verify_digests(records)
    warcio_check(warcs)
    assert json.loads((folder / "capture.json").read_text())["status"] == "interrupted"


def test_proxy_is_used_and_recorded(cli, news, archive_dir):
    from proxy import Proxy

    with Proxy() as proxy:
        res, doc = run_capture(cli, news.url, "--proxy", proxy.url)
    assert res.exit_code == 0, res.output
    assert news.url in proxy.requests  # the fetch went through the other vantage point
    recs = all_records(archive_dir, doc["capture_id"])
    req = next(r for r in recs if r["type"] == "request" and r["h"]["WARC-Target-URI"] == news.url)
    assert req["block"].startswith(f"GET {news.url} HTTP/1.1".encode())  # as sent to the proxy
    # a proxy was used, but neither its address nor any credential is recorded
    assert b"proxy: used (http; address and credentials not recorded)" in recs[0]["block"]
    assert f"127.0.0.1:{proxy.port}".encode() not in recs[0]["block"]
    verify_digests(recs)


def test_bad_or_dead_proxy_is_clear(cli, news, archive_dir):
    res = cli("capture", news.url, "--proxy", "gopher://x")
    assert res.exit_code == 2 and "not a proxy URL" in res.stderr
    res = cli("capture", news.url, "--proxy", f"http://127.0.0.1:{free_port()}", "--retries", "0")
    assert res.exit_code == 1 and "proxy error" in res.output and "Traceback" not in res.output
    assert news.hits("/") == 0


def test_retry_after_503_then_success(cli, site, archive_dir):
    calls = []

    def flaky(req):
        calls.append(1)
        if len(calls) == 1:
            body, head = b"busy", "HTTP/1.1 503 Busy\r\nRetry-After: 0\r\n"
        else:
            body, head = b"<html>ok</html>", "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
        req.wfile.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)

    site.add_route("/flaky.html", flaky)
    res, _doc = run_capture(cli, site.url + "flaky.html", "--retries", "2")
    assert res.exit_code == 0, res.output
    assert len(calls) == 2
    res2, _doc2 = run_capture(cli, site.url + "flaky.html", "--retries", "0")
    assert res2.exit_code == 0  # third call succeeds straight away


def test_warcs_roll_and_post_process_hook(news, tmp_path):
    from strongroom.capture.crawl import CaptureOptions, capture
    from strongroom.core.archive import Archive
    from strongroom.core.collection import adhoc_collection

    seen: list[list[str]] = []

    def post(folder: Path) -> None:
        # runs after WARCs are published and before capture.json is written
        seen.append(sorted(p.name for p in folder.iterdir()))
        (folder / "derivatives").mkdir()
        (folder / "derivatives" / "page.txt").write_text("text")

    archive = Archive(tmp_path / "a")
    result = capture(
        archive,
        adhoc_collection([news.url]),
        options=CaptureOptions(warc_roll_size=4000, post_process=post),
    )
    assert result.exit_code == 0
    names = [w["name"] for w in result.warcs]
    assert len(names) > 2
    assert names[:2] == [f"{result.capture_id}-00000.warc.gz", f"{result.capture_id}-00001.warc.gz"]
    for name in names:  # every file stands alone: it starts with its own warcinfo
        recs = raw_records(result.path / name)
        assert recs[0]["type"] == "warcinfo"
        assert recs[0]["h"]["WARC-Filename"] == name
        verify_digests(recs)
    assert "capture.json" not in seen[0] and not any(n.startswith(".tmp-") for n in seen[0])
    cj = json.loads((result.path / "capture.json").read_text())
    assert [w["name"] for w in cj["warcs"]] == names
    assert sum(w["records"] for w in cj["warcs"]) == sum(
        len(raw_records(result.path / n)) for n in names
    )
    assert (result.path / "derivatives" / "page.txt").exists()
    assert archive.capture_ids() == [result.capture_id]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("hostile/bad-status", "malformed HTTP response: invalid status line"),
        ("hostile/header-flood", "malformed HTTP response: header too long or too many headers"),
        ("hostile/not-http", "malformed HTTP response"),
        ("hostile/bad-chunk", "malformed chunked encoding"),
    ],
)
def test_malformed_responses_are_clear_failures(cli, hostile, archive_dir, path, reason):
    res, doc = run_capture(cli, hostile.url + path, "--retries", "0")
    assert res.exit_code == 1
    assert doc["failures"][0]["reason"].startswith(reason)
    recs = all_records(archive_dir, doc["capture_id"])
    verify_digests(recs)
    warcio_check(warcs_of(archive_dir, doc["capture_id"]))
    meta = [metadata_fields(r) for r in recs if r["type"] == "metadata"]
    assert meta[0]["failure"][0].split(" ", 1)[1].startswith(reason)  # in the WARC, too


def test_tls_error_is_a_clear_failure(cli, site, archive_dir):
    res, doc = run_capture(cli, site.url.replace("http://", "https://"), "--retries", "0")
    assert res.exit_code == 1
    assert doc["failures"][0]["reason"].startswith("TLS error:")
    assert "Traceback" not in res.output


def test_a_recapture_stands_alone_by_default(cli, news, archive_dir):
    """Without --dedup archive, no revisit of a second capture points into the first."""
    res, first = run_capture(cli, news.url)
    assert res.exit_code == 0, res.output
    res, doc = run_capture(cli, news.url)
    assert res.exit_code == 0, res.output
    records = all_records(archive_dir, doc["capture_id"])
    own_ids = {r["h"]["WARC-Record-ID"] for r in records}
    revisits = [r for r in records if r["type"] == "revisit"]
    assert all(r["h"]["WARC-Refers-To"] in own_ids for r in revisits)
    responses = {r["h"]["WARC-Target-URI"] for r in records if r["type"] == "response"}
    assert {news.url.rstrip("/") + r for r in REQUISITES} <= responses
    assert doc["stats"]["deduplicated"] == 0
    assert capture_json(archive_dir, doc["capture_id"])["depends_on_captures"] == []
    assert capture_json(archive_dir, first["capture_id"])["depends_on_captures"] == []
