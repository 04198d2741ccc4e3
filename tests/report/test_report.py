"""The archive report: a self-contained site (an index and each collection's pages),
rendered in Chromium, written atomically."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from replaykit import CHROMIUM, GV, NOTICE, RFERL, make_bag, needs_chromium

from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger
from strongroom.demosite import SiteServer

HOSTILE = 'http://evil.test/"><script>alert(1)</script><img src=http://evil.test/x.png>'
# Values a partner, a config or a tampered ledger could hold: shown as text, never as markup.
EVIL_PARTNER = '<script>alert("partner")</script>'
EVIL_LABEL = '"><img src=x onerror=alert(1)>; RU; undesirable'
SQL_WORDS = {"WHERE", "JOIN", "ON", "ORDER", "GROUP", "LIMIT", "LEFT", "INNER", "AND", "OR"}
PAGE_LINK = re.compile(r'href="([^"/]+-pages-[^"/]+/[^"/]+\.html)"')


def read_site(index: Path) -> tuple[str, list[str]]:
    """The index page and every collection page it links, as a reader follows them."""
    html = index.read_text("utf-8")
    links = list(dict.fromkeys(PAGE_LINK.findall(html)))
    return html, [(index.parent / link).read_text("utf-8") for link in links]


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
        c.execute(
            "INSERT INTO copies (bag_id, partner, location, jurisdiction, verified_at, status)"
            " VALUES (?, ?, '/x', '<b>XX</b>', '2025-03-01T00:00:00Z', 'damaged')",
            (restricted, EVIL_PARTNER),
        )
        c.execute("UPDATE bags SET designations = ? WHERE bag_id = ?",
                  (json.dumps([EVIL_LABEL]), dark))  # fmt: skip
    yield {"archive": arch, "bags": [public, restricted, dark], "origin": site.url}


def test_report_shows_bags_fixity_takedowns_copies_and_access(cli, archive, tmp_path) -> None:
    out = tmp_path / "report.html"
    r = cli("report", "-o", out, "--archive", archive["archive"].root)
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == str(out)
    index, pages = read_site(out)
    assert len(pages) == 1  # one collection of three bags: one page
    page = pages[0]
    for bag in archive["bags"]:
        assert bag in page
    assert archive["origin"] + GV in page
    assert "blocked-451" in index and "blocked-451" in page  # a takedown, and a seed's status
    assert "partner-nl" in page and "(NL)" in page
    assert page.count('class="spark"') == 3  # one fixity chart per bag
    # each bag's copies are a column of its row, not a second table repeating every bag
    assert len(re.findall(r'<span class="(?:ok|bad)">\d+ cop(?:y|ies)</span>', page)) == 3
    assert 'id="copies"' not in page
    assert 'aria-label="3 fixity checks"' in page  # the public bag's three runs
    assert 'class="timeline"' in index
    assert "public" in page and "restricted" in page and "dark" in page
    assert "3 bags" in index.replace('</div><div class="l">', " ")  # the summary card


def test_the_index_links_every_collection_page_and_each_page_lists_its_bags(
    cli, archive, tmp_path, monkeypatch
) -> None:
    from strongroom.report import html as report

    monkeypatch.setattr(report, "PAGE_BAGS", 2)  # three bags: pages of two and one
    out = tmp_path / "site" / "index.html"
    assert cli("report", "-o", out, "--archive", archive["archive"].root).exit_code == 0
    index, pages = read_site(out)
    assert len(pages) == 2
    listed = [[b for b in archive["bags"] if f"<strong>{b}</strong>" in p] for p in pages]
    assert [len(found) for found in listed] == [2, 1]
    assert sorted(listed[0] + listed[1]) == sorted(archive["bags"])  # each bag on one page
    for p, other in zip(pages, ["demo-2.html", "demo-1.html"], strict=True):
        # each page links back to the index and to the collection's other page
        assert 'href="../index.html"' in p and f'href="{other}"' in p
    assert "<strong>2</strong>" in pages[1]  # where the reader is
    assert index.count('href="index-pages-') == 3  # the collection's title and pages 1, 2


def test_report_is_self_contained_and_escapes_hostile_strings(cli, archive, tmp_path) -> None:
    out = tmp_path / "r.html"
    assert cli("report", "-o", out, "--archive", archive["archive"].root).exit_code == 0
    index, pages = read_site(out)
    for html in [index, *pages]:
        assert "<script" not in html.lower()
        assert "<b>XX" not in html and "onerror=alert" not in html.replace(
            "onerror=alert(1)&gt;", ""
        )
        # No attribute makes the browser fetch anything: images are data: URIs, no <link>.
        srcs = re.findall(r"<[a-z][^>]*\ssrc\s*=\s*\"([^\"]*)\"", html, re.IGNORECASE)
        assert all(s.startswith("data:image/jpeg;base64,") for s in srcs)
        assert not re.search(r"<link\b", html)
        assert "@import" not in html and "url(" not in html
    assert "&lt;script&gt;" in index  # the hostile takedown URL, as text
    page = pages[0]
    assert "&lt;script&gt;alert(&quot;partner&quot;)&lt;/script&gt;" in page  # a partner's name
    assert "&lt;b&gt;XX&lt;/b&gt;" in page  # its jurisdiction
    assert "Designation: &quot;&gt;&lt;img src=x onerror=alert(1)&gt;; RU" in page  # a label


def test_a_crash_while_writing_leaves_the_previous_report_whole(archive, tmp_path) -> None:
    out = tmp_path / "report.html"
    env = dict(os.environ, STRONGROOM_ARCHIVE=str(archive["archive"].root))
    env.pop("STRONGROOM_TEST_CRASH_AT", None)

    def report(crash: str | None = None) -> int:
        run_env = env | ({"STRONGROOM_TEST_CRASH_AT": crash} if crash else {})
        cmd = [sys.executable, "-m", "strongroom", "report", "-o", str(out), "--quiet"]
        return subprocess.run(cmd, env=run_env, capture_output=True, timeout=120).returncode

    assert report() == 0
    before, before_pages = read_site(out)
    # Killed once the new pages are written, before the new index replaces the old one.
    assert report(crash="report-after-pages") == -9
    after, after_pages = read_site(out)
    assert (after, after_pages) == (before, before_pages)  # the old report, links and all
    assert len(list(tmp_path.glob("report-pages-*"))) == 2  # the new pages, not linked
    assert report() == 0  # the next run finishes the job and tidies up
    index, pages = read_site(out)
    assert index != before and len(pages) == 1
    assert [p.name for p in tmp_path.glob("report-pages-*")] == [
        PAGE_LINK.findall(index)[0].split("/")[0]
    ]


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
            # The page fits a 1,280-pixel window: no sideways scrolling.
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280
            # What needs action comes first, above the fold.
            box = page.locator("#attention").bounding_box()
            assert box is not None and box["y"] < 200
            page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
            page.click("#collections a >> nth=0")  # the collection's first page
            assert page.locator("svg.spark").count() == 3
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280
            page.screenshot(path=str(tmp_path / "top.png"))
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    pages = [u for u in requested if u != out.as_uri()]
    assert requested[0] == out.as_uri() and len(pages) == 1, "the report loads nothing else"
    assert pages[0].startswith(out.parent.as_uri() + "/report-pages-")


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
    html = "".join(read_site(out)[1])
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


def test_status_and_report_read_no_history_table_whole(archive, monkeypatch) -> None:
    """Every query status and the report run is bounded: the history tables (events,
    fixity runs, watch results, which grow every night) are read by index only."""
    from strongroom.core.ledger import Ledger
    from strongroom.report import html as report
    from strongroom.report.status import seed_statuses

    seen: list[tuple[str, tuple]] = []
    real = Ledger.query

    def traced(self, sql, params=()):
        seen.append((sql, params))
        return real(self, sql, params)

    monkeypatch.setattr(Ledger, "query", traced)
    seed_statuses(archive["archive"])
    report.gather(archive["archive"])
    monkeypatch.undo()
    assert len(seen) >= 8
    with open_ledger(archive["archive"].root) as ledger:
        for sql, params in seen:
            plan = " ".join(str(r[3]) for r in ledger.query("EXPLAIN QUERY PLAN " + sql, params))
            history = {"events", "fixity_runs", "watch_results"}
            aliases = re.findall(r"\b(?:events|fixity_runs|watch_results)\s+(?:AS\s+)?(\w+)", sql)
            for name in history | {a for a in aliases if a.upper() not in SQL_WORDS}:
                assert not re.search(rf"\bSCAN {name}\b", plan), (sql, plan)


def test_bag_and_seed_rows_escape_every_field_of_a_hostile_value() -> None:
    """A row holding nothing to escape is written as it is; one with a single hostile
    value, wherever it is, is escaped whole."""
    from strongroom.report.html import BagRow
    from strongroom.report.rows import bag_rows

    evil = '"><img src=x onerror=alert(1)>'
    fields = ["bag_id", "access", "created", "timestamp", "replay_url", "thumbnail"]

    def row(**changes: Any) -> BagRow:
        b = BagRow(bag_id="c-1", collection_id="c", title="t", access="public", size=10,
                   files=1, created="2024-01-01T00:00:00Z", seeds=["https://a.example/"],
                   designations=["X; RU"], runs=1, signed=True, replay_url="http://r/x",
                   last_fixity={"result": "valid", "started": "s", "ended": "e",
                                "mode": "fast"},
                   copies=[{"partner": "p", "jurisdiction": "NL", "status": "ok"}],
                   jurisdictions=["NL"], compliant=True)  # fmt: skip
        for k, v in changes.items():
            setattr(b, k, v)
        return b

    plain = str(bag_rows([row()]))
    assert "<strong>c-1</strong>" in plain and "1 copy" in plain and "(NL)" in plain
    hostile = [row(**{f: evil}) for f in fields]
    hostile += [row(seeds=[evil], thumbnail="data:x"), row(designations=[evil])]
    hostile += [row(last_fixity={"result": evil, "started": evil, "ended": "", "mode": evil})]
    hostile += [row(copies=[{"partner": evil, "jurisdiction": evil, "status": evil}],
                    jurisdictions=[evil], replication_problems=[evil])]  # fmt: skip
    for r in hostile:
        html = str(bag_rows([row(), r]))
        assert "<img src=x" not in html, r
        assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in html, r
    # copies shared by several bags of a page: one note, linked from each of their rows,
    # escaped as in a row; a bag with copies of its own keeps them in its row
    from strongroom.report.rows import bag_table

    shared = {"copies": [{"partner": evil, "jurisdiction": "NL", "status": "ok"}],
              "replication_problems": ["1 of 3 copies"]}  # fmt: skip
    own = row(bag_id="c-own", copies=[{"partner": "q", "jurisdiction": "DE", "status": "ok"}])
    rows_html, notes = bag_table([row(**shared), row(bag_id="c-2", **shared), own])
    assert str(rows_html).count('href="#copy-note-1"') == 2 and "note 2" not in rows_html
    assert "q (DE) &middot; ok" in rows_html and "q (DE)" not in notes
    assert str(notes).count('id="copy-note-1"') == 1 and "(2 bags)" in notes
    assert "&lt;img src=x onerror=alert(1)&gt; (NL)" in notes and "<img src=x" not in notes
    from strongroom.report.rows import seed_rows

    seed = {"url": "https://a.example/", "status": "ok", "checked_at": "t", "http_status": 200,
            "bags": 1}  # fmt: skip
    assert '<td class="url">https://a.example/</td>' in str(seed_rows([seed]))
    for key in ("url", "status", "checked_at", "http_status"):
        html = str(seed_rows([seed, seed | {key: evil}]))
        assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html, key


def test_fixity_chart_marks_checks_and_survives_absurd_or_hostile_values() -> None:
    """A bag's chart: one dot when its latest check is its last good full one, a ring
    and a red bar when its latest failed; times from a tampered ledger (year 1 east
    of UTC, year 9999, not a time) and a hostile result neither crash it nor escape."""
    import datetime as dt

    from strongroom.report.charts import fixity_svg

    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    good = "2025-12-01T00:00:00Z"
    one = fixity_svg(3, "2025-01-01T00:00:00Z", good, ("valid", good), now)
    assert one.count("<circle") == 1 and "the last good full check" in one
    assert ">2025-01-01<" in one and ">3 checks<" in one
    failed = fixity_svg(4, "2025-01-01T00:00:00Z", good, ("invalid", "2025-12-20T00:00:00Z"), now)
    assert failed.count("<circle") == 1 and failed.count("<rect") == 1
    assert "latest check 2025-12-20T00:00:00Z: invalid" in failed
    evil = '"><img src=x onerror=alert(1)>'
    for created, last_good, latest in [
        ("0001-01-01T00:00:00+01:00", None, ("valid", "0001-01-01T00:00:00+14:00")),
        ("9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59-12:00", (evil, evil)),
        (evil, evil, ("valid", "not a time")),
    ]:
        svg = fixity_svg(1, created, last_good, latest, now)
        assert svg.startswith('<svg class="spark"') and svg.endswith("</svg>")
        assert "<img" not in svg
    shown = fixity_svg(1, None, evil, (evil, "2025-12-20T00:00:00Z"), now)
    assert "latest check 2025-12-20T00:00:00Z: &quot;&gt;&lt;img src=x" in shown
    assert "no fixity check yet" in fixity_svg(0, None, None, (None, None), now)
