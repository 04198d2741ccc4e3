"""The archive report: one self-contained HTML page, rendered in Chromium."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from replaykit import CHROMIUM, GV, NOTICE, RFERL, make_bag, needs_chromium

from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger
from strongroom.demosite import SiteServer

HOSTILE = 'http://evil.test/"><script>alert(1)</script><img src=http://evil.test/x.png>'


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    arch = Archive(tmp_path_factory.mktemp("report") / "archive")
    site = SiteServer().start()
    try:
        public = make_bag(arch, site, [GV])
        restricted = make_bag(arch, site, [RFERL], access="restricted")
        dark = make_bag(arch, site, [NOTICE], access="dark")
    finally:
        site.stop()
    with open_ledger(arch.root) as ledger, ledger.transaction() as c:
        for bag, day, result in [
            (public, "2025-01-10", "valid"),
            (public, "2025-03-10", "valid"),
            (public, "2025-06-10", "invalid"),
            (restricted, "2025-02-01", "valid"),
        ]:
            c.execute(
                "INSERT INTO fixity_runs (bag_id, started, ended, mode, result, files, bytes,"
                " failures) VALUES (?, ?, ?, 'full', ?, 7, 1000, '[]')",
                (bag, f"{day}T03:00:00Z", f"{day}T03:01:00Z", result),
            )
        rows = [
            (site.url + GV, "ok", None, 200, "2025-01-01T00:00:00Z"),
            (site.url + RFERL, "ok", None, 200, "2025-01-01T00:00:00Z"),
            (site.url + RFERL, "blocked-451", "ok", 451, "2025-04-02T08:00:00Z"),
            (HOSTILE, "gone", "ok", 410, "2025-05-05T05:00:00Z"),
        ]
        for url, status, prev, code, when in rows:
            c.execute(
                "INSERT INTO watch_results (url, status, previous_status, http_status, vantage,"
                " evidence, checked_at) VALUES (?, ?, ?, ?, 'local', '{}', ?)",
                (url, status, prev, code, when),
            )
        c.execute(
            "INSERT INTO copies (bag_id, partner, location, jurisdiction, verified_at, status)"
            " VALUES (?, 'partner-nl', 'rsync://nl.example/archive', 'NL', '2025-03-01T00:00:00Z',"
            " 'ok')",
            (public,),
        )
    yield {"archive": arch, "bags": [public, restricted, dark], "origin": site.url}


def test_report_shows_bags_fixity_takedowns_copies_and_access(cli, archive, tmp_path) -> None:
    out = tmp_path / "report.html"
    r = cli("report", "-o", out, "--archive", archive["archive"].root)
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == str(out)
    html = out.read_text("utf-8")
    for bag in archive["bags"]:
        assert bag in html
    assert archive["origin"] + GV in html
    assert "blocked-451" in html and "partner-nl" in html and "(NL)" in html
    assert html.count('class="spark"') == 3  # one fixity chart per bag
    assert 'class="timeline"' in html
    assert "public" in html and "restricted" in html and "dark" in html


def test_report_is_self_contained_and_escapes_hostile_strings(cli, archive, tmp_path) -> None:
    out = tmp_path / "r.html"
    assert cli("report", "-o", out, "--archive", archive["archive"].root).exit_code == 0
    html = out.read_text("utf-8")
    assert "<script" not in html.lower()
    assert "&lt;script&gt;" in html
    # No attribute makes the browser fetch anything: images are data: URIs, no <link>.
    srcs = re.findall(r"<[a-z][^>]*\ssrc\s*=\s*\"([^\"]*)\"", html, re.IGNORECASE)
    assert all(s.startswith("data:image/jpeg;base64,") for s in srcs)
    assert not re.search(r"<link\b", html)
    assert "@import" not in html and "url(" not in html


def test_default_path_and_json(cli, archive) -> None:
    root = archive["archive"].root
    r = cli("report", "--archive", root, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["path"] == str(root / "report.html")
    assert (root / "report.html").is_file()
    assert doc["access_counts"] == {"public": 1, "restricted": 1, "dark": 1}
    assert any(t["status"] == "blocked-451" for t in doc["takedowns"])
    r = cli("report", "--archive", root, "--quiet")
    assert r.exit_code == 0 and r.stdout == ""


def test_report_on_missing_archive_is_a_usage_error(cli, tmp_path) -> None:
    r = cli("report", "--archive", tmp_path / "nothing")
    assert r.exit_code == 2
    assert "no archive at" in r.stderr


@pytest.mark.slow
@needs_chromium
def test_report_renders_in_chromium(cli, archive, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    out = tmp_path / "report.html"
    assert cli("report", "-o", out, "--archive", archive["archive"].root).exit_code == 0
    requested: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: requested.append(r.url))
            page.goto(out.as_uri(), wait_until="load")
            assert page.title().startswith("Archive report")
            assert page.locator("svg.spark").count() == 3
            # The page fits a 1,280-pixel window: no sideways scrolling.
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280
            # What needs action comes first, above the fold.
            box = page.locator("#attention").bounding_box()
            assert box is not None and box["y"] < 200
            page.screenshot(path=str(tmp_path / "top.png"))
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert requested == [out.as_uri()], "the report loads nothing else"


def test_report_leads_with_what_needs_attention(cli, archive, tmp_path) -> None:
    root = archive["archive"].root
    (root / ".report-last").unlink(missing_ok=True)
    out = tmp_path / "r.html"
    assert cli("report", "-o", out, "--archive", root).exit_code == 0
    html = out.read_text("utf-8")
    panel = html[html.index('id="attention"') : html.index('class="cards"')]
    public = archive["bags"][0]
    # The invalid bag, with the command that repairs it.
    assert "1 bag failed the last fixity check" in panel and public in panel
    assert f"strongroom repair {public}" in panel
    # Takedowns since the last report (there was none before).
    assert "taken down since the last report" in panel and "blocked-451" in panel
    # Overdue (checks from 2025), below the copy policy, unsigned: each with its command.
    assert "overdue for fixity" in panel and "strongroom verify --due --interval 30d" in panel
    assert "below the copy policy" in panel and "replicate --all" in panel
    assert "unsigned" in panel and "strongroom keys init" in panel
    # The next report only shows takedowns that are new since this one.
    r = cli("report", "--archive", root, "--json")
    kinds = [a["kind"] for a in json.loads(r.stdout)["attention"]]
    assert "takedowns" not in kinds and "invalid" in kinds


def test_report_says_when_nothing_needs_action(cli, tmp_path) -> None:
    root = tmp_path / "empty-archive"
    root.mkdir()
    out = tmp_path / "r.html"
    assert cli("report", "-o", out, "--archive", root).exit_code == 0
    assert "Nothing needs action" in out.read_text("utf-8")


def test_report_has_a_thumbnail_and_a_replay_link_per_bag(cli, archive, tmp_path) -> None:
    out = tmp_path / "r.html"
    assert cli("report", "-o", out, "--archive", archive["archive"].root).exit_code == 0
    html = out.read_text("utf-8")
    assert html.count('class="thumb"') + html.count('class="nothumb"') == 3
    assert 'href="http://127.0.0.1:8080/demo/' in html  # public bag
    assert 'href="http://127.0.0.1:8080/demo-restricted/' in html
    assert html.count(">replay</a>") == 2  # never for the dark bag


def test_thumbnail_of_a_real_screenshot_and_of_a_hostile_file(tmp_path) -> None:
    from PIL import Image

    from strongroom.report.attention import _make_thumbnail

    shot = tmp_path / "shot.png"
    Image.new("RGB", (1280, 4000), "white").save(shot)
    thumb = _make_thumbnail(shot)
    assert thumb is not None and thumb[:3] == b"\xff\xd8\xff"
    with Image.open(__import__("io").BytesIO(thumb)) as img:
        assert img.size == (320, 200)
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    assert _make_thumbnail(fake) is None
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(bomb)  # 400 million pixels, a small file
    assert _make_thumbnail(bomb) is None
