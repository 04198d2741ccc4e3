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
    # No attribute makes the browser fetch anything: no src=, no href= to a resource.
    assert not re.search(r"<[a-z][^>]*\ssrc\s*=", html, re.IGNORECASE)
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
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert requested == [out.as_uri()], "the report loads nothing else"
