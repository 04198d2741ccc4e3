"""Browser capture: what Chromium loads is what the archive holds, recorded by our recorder."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsnews import EMBED_TEXT, JS_TEXTS, JsNewsSite, ground_truth
from replaykit import CHROMIUM, needs_chromium
from warcio.archiveiterator import ArchiveIterator

from strongroom.capture.behaviours import BEHAVIOURS

pytestmark = [pytest.mark.slow, needs_chromium]


def _records(capture_dir: Path) -> list[dict[str, Any]]:
    out = []
    for warc in sorted(capture_dir.glob("*.warc.gz")):
        with open(warc, "rb") as fh:
            for rec in ArchiveIterator(fh):
                h = rec.rec_headers
                out.append(
                    {
                        "type": rec.rec_type,
                        "uri": h.get_header("WARC-Target-URI") or "",
                        "id": h.get_header("WARC-Record-ID"),
                        "ip": h.get_header("WARC-IP-Address"),
                        "concurrent": h.get_header("WARC-Concurrent-To"),
                        "payload": h.get_header("WARC-Payload-Digest"),
                        "body": rec.content_stream().read(),
                        "status": rec.http_headers.get_statuscode() if rec.http_headers else "",
                    }
                )
    return out


def _capture(cli: Any, archive: Path, *args: str) -> tuple[Any, dict[str, Any], Path]:
    res = cli("capture", *args, "--archive", str(archive), "--retries", "0", "--json")
    doc = json.loads(res.stdout)
    return res, doc, Path(doc["path"])


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory, cli_runner: Any) -> Iterator[dict[str, Any]]:
    run_cli = cli_runner
    archive = tmp_path_factory.mktemp("browser") / "archive"
    with JsNewsSite() as site:
        truth = ground_truth(site.article, CHROMIUM)
        res, doc, folder = _capture(run_cli, archive, site.article, "--browser")
        static_res, static_doc, static_folder = _capture(run_cli, archive, site.article)
        yield {
            "site": site,
            "archive": archive,
            "truth": truth,
            "res": res,
            "doc": doc,
            "folder": folder,
            "records": _records(folder),
            "static": (static_res, static_doc, _records(static_folder)),
        }


def test_every_url_chromium_loads_has_a_record_recall_at_least_98_percent(captured) -> None:
    recorded = {r["uri"] for r in captured["records"] if r["type"] in ("response", "revisit")}
    truth = captured["truth"]
    assert len(truth) >= 30, truth  # the fixture really is built by JavaScript
    missing = [u for u in truth if u not in recorded]
    recall = 1 - len(missing) / len(truth)
    assert recall >= 0.98, f"recall {recall:.1%}; missing: {missing}"
    assert captured["res"].exit_code == 0, captured["res"].output
    assert captured["doc"]["failures"] == []


def test_records_are_wire_exact_from_our_recorder(captured) -> None:
    responses = [r for r in captured["records"] if r["type"] == "response"]
    assert responses
    for r in responses:
        assert r["ip"] == "127.0.0.1", r["uri"]
        assert r["payload"].startswith("sha256:")
    requests_ = [r for r in captured["records"] if r["type"] == "request"]
    # One request record per response, as the recorder writes them.
    assert len(requests_) >= len(responses)
    live = next(r for r in responses if "/api/live.json" in r["uri"])
    assert b"Relatives lay flowers" in live["body"]


def test_hls_rendition_and_all_its_segments_are_recorded(captured) -> None:
    base = captured["site"].url
    recorded = {r["uri"] for r in captured["records"] if r["type"] == "response"}
    assert base + "media/master.m3u8" in recorded
    played = "low" if base + "media/low/index.m3u8" in recorded else "high"
    for n in range(3):
        assert f"{base}media/{played}/seg{n}.ts" in recorded


def test_final_dom_behaviours_and_browser_version_are_recorded(captured) -> None:
    recs = captured["records"]
    url = captured["site"].article
    page = next(r for r in recs if r["type"] == "response" and r["uri"] == url)
    dom = next(r for r in recs if r["type"] == "resource")
    assert dom["uri"] == "urn:dom:" + url
    assert dom["concurrent"] == page["id"]
    assert b"Human rights researchers who interviewed refugees" in dom["body"]
    info = next(r for r in recs if r["type"] == "warcinfo")
    assert b"browser: Chromium " in info["body"]
    doc = captured["doc"]
    entry = doc["pages"][0]["browser"]
    names = [b["name"] for b in entry["behaviours"]]
    assert set(BEHAVIOURS) <= set(names)
    assert all(b["seconds"] >= 0 and b["outcome"] for b in entry["behaviours"])
    assert next(b for b in entry["behaviours"] if b["name"] == "expand")["detail"]["clicks"] >= 1


def test_screenshot_and_text_come_from_the_live_render_and_say_so(captured) -> None:
    derived = captured["folder"] / "derivatives"
    event = json.loads(next(derived.glob("*.json")).read_text())
    assert event["rendering"] == "live-capture"
    assert "live in headless Chromium during its capture" in event["premis:eventDetail"]
    text = next(derived.glob("*.txt")).read_text("utf-8")
    for t in JS_TEXTS:
        assert t in text
    from strongroom.capture.screenshot import png_text

    assert png_text(next(derived.glob("*.png")).read_bytes())["Rendering"] == "live capture"


def test_static_capture_behaves_as_before(captured) -> None:
    res, doc, recs = captured["static"]
    assert res.exit_code == 0, res.output
    # Same archive as the browser capture: unchanged payloads are revisits.
    uris = {r["uri"] for r in recs if r["type"] in ("response", "revisit")}
    site = captured["site"]
    assert site.article in uris and site.url + "js/app.js" in uris
    assert site.url + "api/live.json?edition=uz" not in uris  # only JavaScript knows it
    assert not any(r["type"] == "resource" for r in recs)
    assert doc["pages"][0].get("browser") is None
    info = next(r for r in recs if r["type"] == "warcinfo")
    assert b"browser: none (static capture)" in info["body"]
    # The browser finds everything static capture finds.
    browser_uris = {r["uri"] for r in captured["records"] if r["type"] in ("response", "revisit")}
    assert uris <= browser_uris


def test_a_failing_same_site_requisite_fails_the_capture(cli, tmp_path: Path) -> None:
    with JsNewsSite() as site:
        site.fail.add("/api/comments.json")
        res, doc, _folder = _capture(cli, tmp_path / "a", site.article, "--browser")
    assert res.exit_code == 1, res.output
    reasons = {f["url"]: f["reason"] for f in doc["failures"]}
    assert reasons.get(site.url + "api/comments.json") == "HTTP 500 Internal Server Error"


def test_navigation_away_is_blocked_and_reported(cli, tmp_path: Path) -> None:
    with JsNewsSite() as site:
        res, doc, _folder = _capture(cli, tmp_path / "a", site.url + "leaving.html", "--browser")
    assert res.exit_code == 0, res.output
    entry = doc["pages"][0]["browser"]
    assert entry["blocked_navigations"] == [site.url + "about.html"]
    assert doc["pages"][0]["title"] == "Leaving soon"


def test_replay_runs_modules_shows_js_text_and_never_reaches_the_origin(captured) -> None:
    from playwright.sync_api import sync_playwright

    from strongroom.bag.make import bag_capture
    from strongroom.core.archive import Archive
    from strongroom.replay import pywb as replay

    archive = Archive(captured["archive"])
    bag = bag_capture(archive, captured["doc"]["capture_id"], manifests_dir=archive.root / "m")
    built = replay.build(archive, [bag.bag_id])
    site = captured["site"]  # still running: anything that leaks would reach it
    with replay.start(built.root, port=0) as srv:
        url = replay.replay_url(srv.base, built.seeds[0])
        since = time.monotonic()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                page = browser.new_page()
                page.goto(url, wait_until="load", timeout=30_000)
                frame = next(f for f in page.frames if "mp_/" in f.url)
                frame.wait_for_selector("#related-list li", timeout=20_000)
                frame.click("#load-more")
                frame.wait_for_function(
                    "document.querySelectorAll('#related-list li').length >= 3", timeout=10_000
                )
                frame.wait_for_function(
                    "document.querySelectorAll('#live-list li').length >= 2", timeout=10_000
                )
                text = frame.inner_text("body")
                embed = next((f for f in page.frames if "embed/post.html" in f.url), None)
                assert embed is not None, [f.url for f in page.frames]
                embed.wait_for_selector("#post-text:not(:empty)", timeout=10_000)
                embed_text = embed.inner_text("body")
            finally:
                browser.close()
        leaked = site.requests_since(since)
    for t in JS_TEXTS:
        assert t in text, t
    assert EMBED_TEXT in embed_text
    assert leaked == [], f"replay reached the live origin: {leaked}"


def test_explicit_browser_without_chromium_exits_2_and_says_how_to_install(
    cli, tmp_path: Path, monkeypatch
) -> None:
    from strongroom.capture import screenshot

    monkeypatch.setattr(screenshot, "DEFAULT_CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.setenv("PATH", str(tmp_path))
    res = cli("capture", "http://127.0.0.1:9/x.html", "--browser", "--archive", str(tmp_path))
    assert res.exit_code == 2
    assert "apt-get install chromium" in res.output
    assert not (tmp_path / "captures").exists()


def test_archive_without_chromium_warns_once_and_captures_statically(
    cli, tmp_path: Path, monkeypatch
) -> None:
    from strongroom.capture import screenshot

    monkeypatch.setattr(screenshot, "DEFAULT_CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with JsNewsSite() as site:
        coll = tmp_path / "c.toml"
        coll.write_text(
            f'id = "js"\ntitle = "JS"\n[[seeds]]\nurl = "{site.url}about.html"\n'
            "[capture]\nretries = 0\n"
        )
        res = cli(
            "archive",
            "-c",
            str(coll),
            "--archive",
            str(tmp_path / "a"),
            "--manifests",
            str(tmp_path / "m"),
            "--no-verify",
        )
    assert res.exit_code == 0, res.output
    assert res.output.count("capturing statically") == 1
    doc = json.loads(next((tmp_path / "a" / "captures").glob("*/capture.json")).read_text())
    assert doc["browser"] is None


def test_browser_requests_obey_robots_txt_and_are_listed(cli, tmp_path: Path) -> None:
    with JsNewsSite() as site:
        res, doc, folder = _capture(cli, tmp_path / "a", site.url + "members.html", "--browser")
        origin_saw = site.requests_since(0)
    reasons = {f["url"]: f["reason"] for f in doc["failures"]}
    assert "robots.txt" in reasons.get(site.url + "private/note.json", ""), doc["failures"]
    assert res.exit_code == 1, res.output  # a same-site requisite is missing
    assert "/private/note.json" not in origin_saw  # never asked for
    uris = {r["uri"] for r in _records(folder)}
    assert site.url + "robots.txt" in uris  # the rules we obeyed are in the WARC


def test_the_browser_and_a_worker_take_turns_on_one_host(tmp_path: Path) -> None:
    """With --delay, Chromium's requests and a worker's share the host's clock, read
    from the site's own request log: while both fetch, requests still come one per
    delay (two clocks would let through two per delay). Counted over the whole
    window, so a single late request on a loaded machine cannot decide it. The
    capture runs in its own process, so the site's log is not held up by it."""
    import itertools
    import subprocess
    import sys

    delay, extras = 0.2, 40  # 8 s of the worker's requests: Chromium is up before they end
    with JsNewsSite() as site:
        # a worker fetches these while Chromium (started after the article) runs the article
        extra = [site.url + f"img/extra-{i}.png" for i in range(extras)]
        res = subprocess.run(
            [sys.executable, "-m", "strongroom", "capture", site.article, *extra, "--browser",
             "--delay", str(delay), "--concurrency", "2", "--retries", "0", "--json",
             "--archive", str(tmp_path / "archive")],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        log = sorted(site.log)
    assert res.returncode == 0, res.stdout + res.stderr
    paths = [p for _, p in log]
    assert all(f"/img/extra-{i}.png" in paths for i in range(extras))
    assert len(log) > extras + 30  # the article's own requests, made by Chromium, are there too
    # The window in which both the browser and the worker made requests.
    start = paths.index("/css/site.css")
    end = paths.index(f"/img/extra-{extras - 1}.png")
    window = [t for t, _ in log[start : end + 1]]
    span = window[-1] - window[0]
    assert len(window) >= 6, paths  # they did overlap, for several turns
    assert len(window) - 1 <= span / delay * 1.25 + 1, (len(window), span)
    gaps = sorted(b - a for a, b in itertools.pairwise(t for t, _ in log))
    assert gaps[len(gaps) // 2] >= 0.9 * delay  # and the typical gap is the delay
