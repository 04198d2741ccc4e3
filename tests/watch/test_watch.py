"""strongroom watch: every live state classified on the first try, logged, exit codes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import bagit
import pytest
from proxy import Proxy
from watchkit import (
    REMOVED_SENTENCE,
    SEED_PATH,
    file_hashes,
    make_bag,
    serve_article,
)

from strongroom.bag import custody
from strongroom.bag.signing import Keyring
from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger
from strongroom.demosite import Override, free_port

WATCH = ("watch", "--all", "--json", "--timeout", "3")
BAG = "test-20240513T100000Z-aaaaaa"


def watch_json(cli, *extra: str):
    r = cli(*WATCH, *extra)
    assert r.exit_code in (0, 1), r.output
    assert "Traceback" not in r.output
    return r.exit_code, json.loads(r.stdout)


@pytest.fixture
def seeded(site, archive_dir):
    """The test article served and captured into one bag; returns its URL."""
    url = serve_article(site)
    make_bag(archive_dir, url, bag_id=BAG)
    return url


def _html(status: int, body: bytes, **headers: str) -> Override:
    return Override(status, headers, body)


STATES = {
    "ok": lambda site: None,
    "edited": lambda site: serve_article(site, sentence=""),
    "redirect-home": lambda site: site.set_override(SEED_PATH, _html(302, b"", Location="/")),
    "soft-404": lambda site: site.set_override(
        SEED_PATH,
        _html(200, b"<html><title>Page not found</title><body><p>Sorry.</p></body></html>"),
    ),
    "not-found": lambda site: site.set_override(SEED_PATH, _html(404, b"<title>404</title>")),
    "gone": lambda site: site.set_override(SEED_PATH, _html(410, b"<title>Gone</title>")),
    "blocked-451": lambda site: site.set_override(
        SEED_PATH,
        _html(451, b"<title>Blocked</title>", Link='<https://isp.example/>; rel="blocked-by"'),
    ),
}


@pytest.mark.parametrize("state", list(STATES))
def test_each_state_is_classified_logged_and_exit_code_tracks_change(
    cli, site, archive_dir, seeded, state
):
    archive = Archive(archive_dir)
    before = file_hashes(archive.bag_dir(BAG))
    STATES[state](site)

    code, results = watch_json(cli)
    [r] = results
    assert r["status"] == state
    assert r["url"] == seeded
    assert r["previous_status"] is None
    assert r["vantage"] == "direct"
    assert r["bag_id"] == BAG
    assert r["checked_at"].endswith("Z")
    # first watch: news exactly when the page is not ok
    assert code == (0 if state == "ok" else 1)

    # a second identical watch is not news
    code2, [r2] = watch_json(cli)
    assert (code2, r2["status"], r2["previous_status"]) == (0, state, state)

    # the event is in the ledger and the custody log, and the chain verifies
    with open_ledger(archive_dir) as ledger:
        rows = ledger.query("SELECT status FROM watch_results WHERE url = ?", (seeded,))
        events = [e for e in ledger.events(BAG) if e["event_type"] == "watch"]
    assert [row["status"] for row in rows] == [state, state]
    assert events[-1]["outcome"] == state
    assert events[-1]["detail"]["vantage"] == "direct"
    entries = custody.read_entries(archive.custody_path(BAG))
    assert [e["action"] for e in entries] == ["watch", "watch"]
    assert entries[0]["outcome"] == state
    assert entries[0]["detail"]["http_status"] == r["http_status"]
    chain = custody.verify_chain(
        archive.custody_path(BAG),
        Keyring.load(archive),
        archive.bag_dir(BAG) / "tagmanifest-sha256.txt",
    )
    assert chain.ok and chain.signed == 2, chain.problems

    # the bag is untouched, byte for byte, and still valid
    assert file_hashes(archive.bag_dir(BAG)) == before
    bagit.Bag(str(archive.bag_dir(BAG))).validate()

    if state == "edited":
        assert r["similarity"] < 1.0
        assert REMOVED_SENTENCE.strip() in r["evidence"]["diff"]["removed"][0]
    if state == "redirect-home":
        assert r["final_url"] == site.url
        assert r["evidence"]["hops"][0]["status"] == 302
    if state == "blocked-451":
        assert r["http_status"] == 451
        assert r["evidence"]["blocked_by"] == "https://isp.example/"
    if state == "ok":
        assert r["similarity"] == 1.0


def test_ads_and_timestamps_outside_the_article_are_not_edits(cli, site, seeded):
    serve_article(site, stamp="2026-11-22 09:00")
    code, [r] = watch_json(cli)
    assert (code, r["status"]) == (0, "ok")


def test_closed_port_is_unreachable_with_reason(cli, site, archive_dir):
    serve_article(site)
    dead = f"http://127.0.0.1:{free_port()}{SEED_PATH}"
    make_bag(archive_dir, site.url.rstrip("/") + SEED_PATH, bag_id=BAG, record_as=dead)
    code, [r] = watch_json(cli)
    assert r["status"] == "unreachable"
    assert "refused" in r["evidence"]["reason"]
    assert r["http_status"] is None
    assert code == 1


def test_legal_banner_appearing_is_an_edit_that_says_so(cli, site, seeded):
    banner = (
        '<p class="legal-banner">This material was created and distributed by a foreign '
        "agent. ДАННОЕ СООБЩЕНИЕ СОЗДАНО ИНОСТРАННЫМ АГЕНТОМ.</p>"
    )
    serve_article(site, banner=banner)
    code, [r] = watch_json(cli)
    assert code == 1
    assert r["status"] == "edited"
    assert "foreign agent" in r["evidence"]["legal_label"]
    assert "legal label appeared" in r["evidence"]["reason"]


def test_two_vantages_that_disagree_are_geo_blocked(cli, site, seeded):
    with Proxy() as proxy:
        proxy.block(f"127.0.0.1:{site.port}")
        code, [r] = watch_json(cli, "--proxy", proxy.url)
        assert proxy.requests, "the second vantage must really go through the proxy"
    assert code == 1
    assert r["status"] == "geo-blocked"
    vantages = r["evidence"]["vantages"]
    assert vantages["direct"]["status"] == "ok"
    proxy_name = f"proxy:127.0.0.1:{proxy.port}"
    assert vantages[proxy_name]["status"] == "blocked-451"
    assert vantages[proxy_name]["blocked_by"] == "https://isp.example/"
    assert r["vantage"] == f"direct,{proxy_name}"


@pytest.mark.parametrize("mode", ["reset", "page"])
def test_a_reset_or_block_page_through_the_proxy_is_geo_blocked_too(cli, site, seeded, mode):
    with Proxy() as proxy:
        proxy.block(f"127.0.0.1:{site.port}", mode=mode)
        _code, [r] = watch_json(cli, "--proxy", proxy.url)
    assert r["status"] == "geo-blocked"
    seen = r["evidence"]["vantages"][f"proxy:127.0.0.1:{proxy.port}"]
    assert seen["status"] == "unreachable"
    assert ("block page" in seen["reason"]) == (mode == "page")


def test_a_broken_proxy_is_a_warning_not_a_geo_block(cli, site, seeded):
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    r = cli(*WATCH, "--proxy", dead_proxy)
    [res] = json.loads(r.stdout)
    assert (r.exit_code, res["status"]) == (0, "ok")
    assert res["evidence"]["failed_vantages"] == [f"proxy:127.0.0.1:{dead_proxy.rsplit(':', 1)[1]}"]
    assert "failed" in r.stderr


def test_vantages_that_agree_give_one_status(cli, site, seeded):
    with Proxy() as proxy:
        code, [r] = watch_json(cli, "--proxy", proxy.url)
        assert proxy.requests
    assert (code, r["status"]) == (0, "ok")


def test_soft_404_found_by_a_probe_url_that_cannot_exist(cli, site, seeded):
    """A site that answers 200 with the same error page for any URL, without a telling title."""
    sorry = b"<html><title>Daily News</title><body><p>We moved things around. Try search.</p>"

    def any_path(handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(sorry)))
        handler.end_headers()
        handler.wfile.write(sorry)

    class CatchAll(dict):
        def get(self, key, default=None):
            return any_path if key.startswith("/news/") else super().get(key, default)

    site._srv.routes = CatchAll()
    code, [r] = watch_json(cli)
    assert r["status"] == "soft-404"
    assert "strongroom-probe-" in r["evidence"]["probe"]["url"]
    assert code == 1


def test_redirect_to_a_section_page_is_redirect_home(cli, site, seeded):
    site.set_override("/news/", _html(200, b"<title>News</title><h1>Latest news</h1>"))
    site.set_override(SEED_PATH, _html(301, b"", Location="/news/"))
    _code, [r] = watch_json(cli)
    assert r["status"] == "redirect-home"
    assert "section" in r["evidence"]["reason"]


def test_moved_article_is_compared_not_called_a_takedown(cli, site, seeded):
    serve_article(site, path="/news/2024/05/andijan-report-updated.html")
    site.set_override(
        SEED_PATH, _html(301, b"", Location="/news/2024/05/andijan-report-updated.html")
    )
    code, [r] = watch_json(cli)
    assert (code, r["status"]) == (0, "ok")
    assert r["final_url"].endswith("andijan-report-updated.html")


def test_windows_1251_page_compares_equal_to_its_utf8_capture(cli, site, archive_dir):
    text = "Андижан: что произошло на площади Бабура. " * 20
    utf8 = f"<html><head><title>Андижан</title></head><body><article><p>{text}</p></article>"
    site.set_override(SEED_PATH, _html(200, utf8.encode()))
    make_bag(archive_dir, site.url.rstrip("/") + SEED_PATH, bag_id=BAG)
    site.set_override(
        SEED_PATH,
        _html(200, utf8.encode("cp1251"), **{"Content-Type": "text/html; charset=windows-1251"}),
    )
    code, [r] = watch_json(cli)
    assert (code, r["status"], r["similarity"]) == (0, "ok", 1.0)


def test_recorded_redirect_is_followed_to_the_baseline(cli, site, archive_dir):
    final = serve_article(site)
    site.set_override("/old/link.html", _html(301, b"", Location=SEED_PATH))
    seed = site.url.rstrip("/") + "/old/link.html"
    make_bag(archive_dir, seed, bag_id=BAG)
    code, [r] = watch_json(cli)
    assert (code, r["status"], r["final_url"]) == (0, "ok", final)


def test_status_change_after_quiet_run_prints_only_news(cli, site, seeded):
    r = cli("watch", "--all", "--quiet", "--timeout", "3")
    assert (r.exit_code, r.stdout) == (0, "")
    site.set_override(SEED_PATH, _html(410, b"<title>Gone</title>"))
    r = cli("watch", "--all", "--quiet", "--timeout", "3")
    assert r.exit_code == 1
    assert "gone (was ok)" in r.stdout
    r = cli("watch", "--all", "--quiet", "--timeout", "3")
    assert (r.exit_code, r.stdout) == (0, "")


def test_page_coming_back_is_news_and_a_second_edit_is_news(cli, site, seeded):
    serve_article(site, sentence="")
    assert watch_json(cli)[0] == 1
    assert watch_json(cli)[0] == 0
    serve_article(site, sentence="", title="Andijan: a disputed account")
    code, [r] = watch_json(cli)
    assert (code, r["status"], r["previous_status"]) == (1, "edited", "edited")
    serve_article(site)
    code, [r] = watch_json(cli)
    assert (code, r["status"], r["previous_status"]) == (1, "ok", "edited")


def test_usage_errors_exit_2(cli, site, seeded, tmp_path):
    r = cli("watch", "--all", "-c", str(tmp_path / "x.toml"))
    assert r.exit_code == 2 and "either" in r.stderr
    r = cli("watch", "--all", "--proxy", "ftp://127.0.0.1:1")
    assert r.exit_code == 2 and "--proxy" in r.stderr
    r = cli("watch", "--archive", str(tmp_path / "nowhere"))
    assert r.exit_code == 2 and "no archive" in r.stderr
    r = cli("watch", "-c", str(tmp_path / "missing.toml"))
    assert r.exit_code == 2 and "no such file" in r.stderr


def test_collection_selects_its_seeds_and_threshold(cli, site, archive_dir, tmp_path):
    url = serve_article(site)
    make_bag(archive_dir, url, bag_id=BAG)
    other = serve_article(site, path="/news/other.html")
    make_bag(archive_dir, other, bag_id="other-20240513T100000Z-bbbbbb", group="other")
    coll = tmp_path / "test.toml"
    coll.write_text(
        f'id = "test"\ntitle = "Test"\n[[seeds]]\nurl = "{url}"\n'
        "[capture]\ndelay = 0.0\ntimeout = 3.0\n[watch]\nedit_threshold = 0.2\n"
    )
    serve_article(site, sentence="")  # a 5% change: under this collection's threshold
    r = cli("watch", "-c", str(coll), "--json")
    code, results = r.exit_code, json.loads(r.stdout)
    assert [r["url"] for r in results] == [url]
    assert (code, results[0]["status"]) == (0, "ok")


# --- hostile input --------------------------------------------------------


def test_gzip_bomb_from_the_live_site_is_bounded(cli, site, seeded):
    bomb = gzip.compress(b"<p>" + b"A" * (64 * 1024 * 1024), compresslevel=9)
    site.set_override(
        SEED_PATH, _html(200, bomb, **{"Content-Encoding": "gzip", "Content-Type": "text/html"})
    )
    code, [r] = watch_json(cli)
    assert r["evidence"]["truncated"] is True
    assert r["status"] == "edited"
    assert code == 1


def test_malformed_response_headers_give_a_clear_status(cli, site, seeded):
    def garbage(handler) -> None:
        handler.wfile.write(b"HTTP/1.1 2OO OK\r\nContent-Length: banana\r\n\x00\x01\r\n\r\n")
        handler.close_connection = True

    site.add_route(SEED_PATH, garbage)
    code, [r] = watch_json(cli)
    assert r["status"] == "unreachable"
    assert r["evidence"]["reason"]
    assert code == 1


def test_damaged_warc_in_a_bag_does_not_stop_the_watch(cli, site, archive_dir):
    url = serve_article(site)
    make_bag(archive_dir, url, bag_id=BAG, warc_bytes=b"this is not a WARC file at all\n" * 10)
    code, [r] = watch_json(cli)
    assert "cannot read WARC" in r["evidence"]["baseline_error"]
    assert r["status"] == "ok"  # no baseline to compare with: the page is at least there
    assert code == 0


def test_symlinked_warc_in_a_bag_is_not_followed(cli, site, archive_dir, tmp_path):
    url = serve_article(site)
    bag = make_bag(archive_dir, url, bag_id=BAG)
    secret = tmp_path / "secret.warc.gz"
    real = next((bag / "data" / "warc").iterdir())
    secret.write_bytes(real.read_bytes())
    real.unlink()
    (bag / "data" / "warc" / "evil.warc.gz").symlink_to(secret)
    _code, [r] = watch_json(cli)
    assert r["evidence"].get("baseline") == "no recorded response for this seed in its bag"


def test_revisit_record_resolves_to_the_original_in_another_bag(cli, site, archive_dir):
    from warcio.archiveiterator import ArchiveIterator
    from warcio.warcwriter import WARCWriter

    url = serve_article(site)
    first_bag = make_bag(archive_dir, url, bag_id=BAG)
    warc = next((first_bag / "data" / "warc").iterdir())
    with open(warc, "rb") as fh:
        orig = next(r for r in ArchiveIterator(fh) if r.rec_type == "response")
        digest = orig.rec_headers.get_header("WARC-Payload-Digest")
        date = orig.rec_headers.get_header("WARC-Date")
        http_headers = orig.http_headers
    revisit = Path(archive_dir) / "revisit.warc.gz"
    with open(revisit, "wb") as fh:
        w = WARCWriter(fh, gzip=True, warc_version="1.1")
        w.write_record(w.create_revisit_record(url, digest, url, date, http_headers=http_headers))
    make_bag(
        archive_dir,
        url,
        bag_id="test-20240601T100000Z-bbbbbb",
        is_version_of=BAG,
        warc_bytes=revisit.read_bytes(),
    )
    serve_article(site, sentence="")
    code, [r] = watch_json(cli)
    assert r["bag_id"] == "test-20240601T100000Z-bbbbbb"  # the latest version is the baseline
    assert r["status"] == "edited"
    assert REMOVED_SENTENCE.strip() in r["evidence"]["diff"]["removed"][0]
    assert code == 1


def test_slow_drip_server_is_cut_off_at_the_deadline(cli, site, seeded):
    import time

    def drip(handler) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html><p>")
        try:
            for _ in range(100):
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass
        handler.close_connection = True

    site.add_route(SEED_PATH, drip)
    r = cli("watch", "--all", "--json", "--timeout", "0.5")
    [res] = json.loads(r.stdout)
    assert res["evidence"]["truncated"] is True
    assert res["http_status"] == 200
