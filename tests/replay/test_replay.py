"""Replay through pywb: archived pages in a real browser, access levels enforced."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from replaykit import CHROMIUM, GV, NOTICE, RFERL, make_bag, needs_chromium

from strongroom.core.archive import Archive
from strongroom.demosite import SiteServer
from strongroom.replay import pywb as replay

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def three_bags(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A public, a restricted and a dark bag of one collection; the origin is stopped."""
    archive = Archive(tmp_path_factory.mktemp("replay") / "archive")
    site = SiteServer().start()
    try:
        bags = {
            "public": make_bag(archive, site, [GV], access="public"),
            "restricted": make_bag(archive, site, [RFERL], access="restricted", dedup="archive"),
            "dark": make_bag(archive, site, [NOTICE], access="dark"),
        }
    finally:
        site.stop()  # from here on, nothing may come from the origin
    yield {"archive": archive, "bags": bags, "origin": site.url, "port": site.port}


@pytest.fixture(scope="module")
def server(three_bags: dict[str, Any]) -> Iterator[tuple[replay.ReplayServer, replay.ReplayBuild]]:
    archive = three_bags["archive"]
    built = replay.build(archive, replay.select_bags(archive))
    with replay.start(built.root, port=0) as srv:
        yield srv, built


def _url(srv: replay.ReplayServer, built: replay.ReplayBuild, suffix: str) -> str:
    seed = next(s for s in built.seeds if s.url.endswith(suffix))
    return replay.replay_url(srv.base, seed)


@needs_chromium
def test_replayed_article_loads_text_and_images_from_the_archive_only(server, three_bags) -> None:
    from playwright.sync_api import sync_playwright

    srv, built = server
    url = _url(srv, built, GV)
    requested: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.on("request", lambda r: requested.append(r.url))
            page.goto(url, wait_until="load", timeout=30_000)
            frame = next(f for f in page.frames if "mp_/" in f.url)
            frame.wait_for_selector("article h1", timeout=15_000)
            text = frame.inner_text("article")
            images = frame.evaluate(
                "() => [...document.images].map(i => [i.currentSrc, i.complete && i.naturalWidth])"
            )
        finally:
            browser.close()
    assert "Ten Years on from Andijan Massacre" in text
    assert "Akram Rustamov" in text
    assert images, "the article has images"
    assert all(width and width > 0 for _src, width in images), images
    assert all(src.startswith(srv.base) for src, _w in images), images
    origin = f":{three_bags['port']}/"
    leaked = [
        u
        for u in requested
        if u.startswith(("http://127.0.0.1" + origin, "http://localhost" + origin))
    ]
    assert leaked == [], "requests went to the origin instead of the archive"
    assert all(u.startswith((srv.base, "data:", "blob:", "about:")) for u in requested), requested


def test_restricted_page_answers_451_unless_staff_header(server) -> None:
    srv, built = server
    url = _url(srv, built, RFERL).replace("/http", "mp_/http", 1)
    blocked = requests.get(url, timeout=10)
    assert blocked.status_code == 451
    assert "Former Uzbek Spy" not in blocked.text
    staff = requests.get(url, headers={replay.STAFF_HEADER: replay.STAFF_USER}, timeout=10)
    assert staff.status_code == 200
    assert "Former Uzbek Spy" in staff.text
    other = requests.get(url, headers={replay.STAFF_HEADER: "visitor"}, timeout=10)
    assert other.status_code == 451


def test_dark_bag_answers_404_and_is_not_listed(server, three_bags) -> None:
    srv, built = server
    dark_url = three_bags["origin"] + NOTICE
    assert three_bags["bags"]["dark"] in built.dark
    assert all(s.url != dark_url for s in built.seeds)
    for coll in ("demo", "demo-restricted"):
        r = requests.get(f"{srv.base}/{coll}/mp_/{dark_url}", timeout=10)
        assert r.status_code == 404
        r = requests.get(
            f"{srv.base}/{coll}/mp_/{dark_url}",
            headers={replay.STAFF_HEADER: replay.STAFF_USER},
            timeout=10,
        )
        assert r.status_code == 404
    # The CDX API (what calendars and listings use) does not know the dark page either.
    cdx = requests.get(f"{srv.base}/demo/cdx", params={"url": dark_url}, timeout=10)
    assert dark_url not in cdx.text
    listing = requests.get(srv.base + "/", timeout=10).text
    assert "/demo-restricted" not in listing  # visitors are not told it exists
    staff = {replay.STAFF_HEADER: replay.STAFF_USER}
    assert "/demo-restricted" in requests.get(srv.base + "/", headers=staff, timeout=10).text
    # The dark bag's WARC is not referenced by the pywb configuration at all.
    config = (built.root / "config.yaml").read_text()
    assert three_bags["bags"]["dark"] not in config


def test_restricted_index_is_not_given_away_by_cdx_timemap_raw_mode_or_listing(
    server, three_bags
) -> None:
    """Issue 11 #11: pywb's ACL guarded content, but its index endpoints named the URLs."""
    srv, built = server
    url = three_bags["origin"] + RFERL
    base = f"{srv.base}/demo-restricted"
    ts = next(s.timestamp for s in built.seeds if s.url == url)
    endpoints = [
        (f"{base}/cdx", {"url": url, "output": "json"}),
        (f"{base}/timemap/link/{url}", None),
        (f"{base}/timemap/json/{url}", None),
        (f"{base}/{ts}id_/{url}", None),
        (f"{base}/*/{url}", None),
        (f"{base}/", None),
        (f"{srv.base}/collinfo.json", None),
    ]
    staff = {replay.STAFF_HEADER: replay.STAFF_USER}
    for endpoint, params in endpoints:
        for host_headers in ({}, {replay.STAFF_HEADER: "visitor"}):
            r = requests.get(endpoint, params=params, headers=host_headers, timeout=10)
            assert "uzbek-spy" not in r.text, (endpoint, r.status_code, r.text[:300])
            assert "demo-restricted" not in r.text or r.status_code >= 400, endpoint
            assert ".warc.gz" not in r.text, endpoint
    # Staff still get the index they need.
    r = requests.get(f"{base}/cdx", params={"url": url}, headers=staff, timeout=10)
    assert r.status_code == 200 and "uzbek-spy" in r.text
    r = requests.get(f"{base}/timemap/link/{url}", headers=staff, timeout=10)
    assert r.status_code == 200 and "uzbek-spy" in r.text
    r = requests.get(f"{base}/{ts}id_/{url}", headers=staff, timeout=10)
    assert r.status_code == 200 and "Former Uzbek Spy" in r.text
    # Ordinary replay of the restricted page still says why: 451.
    assert requests.get(f"{base}/{ts}mp_/{url}", timeout=10).status_code == 451


def test_every_replay_response_allows_only_the_replay_origin(server, three_bags) -> None:
    srv, built = server
    seed = next(s for s in built.seeds if s.url.endswith(GV))
    urls = [
        replay.replay_url(srv.base, seed),
        replay.replay_url(srv.base, seed).replace("/http", "mp_/http", 1),
        f"{srv.base}/",
        f"{srv.base}/demo/cdx?url={seed.url}",
        f"{srv.base}/static/wombat.js",
        f"{srv.base}/demo/{seed.timestamp}mp_/{three_bags['origin']}nothing-here.html",
    ]
    for u in urls:
        r = requests.get(u, timeout=10)
        csp = r.headers.get("Content-Security-Policy", "")
        assert csp == replay.CSP, (u, r.status_code, csp)
        assert "http:" not in csp and "ws:" not in csp and "*" not in csp


def test_replay_cli_prints_seed_urls_and_keeps_bags_read_only(cli, three_bags) -> None:
    archive = three_bags["archive"]
    before = {
        p: p.stat().st_mtime_ns
        for p in archive.bags.rglob("*")
        if p.is_file() and "custody" not in p.name
    }
    r = cli("replay", "--archive", archive.root, "--build-only", "--port", "8099")
    assert r.exit_code == 0, r.output
    lines = r.stdout.strip().splitlines()
    assert any("http://127.0.0.1:8099/demo/" in ln and GV in ln for ln in lines), r.stdout
    assert any(
        "/demo-restricted/" in ln and "restricted: needs X-Pywb-ACL-User" in ln for ln in lines
    )
    assert "not shown (dark)" in r.stdout
    r = cli("replay", "--archive", archive.root, "--build-only", "--json")
    doc = json.loads(r.stdout)
    assert {c["access"] for c in doc["collections"]} == {"public", "restricted"}
    after = {
        p: p.stat().st_mtime_ns
        for p in archive.bags.rglob("*")
        if p.is_file() and "custody" not in p.name
    }
    assert before == after


def test_embargo_blocks_public_bags_until_the_date(three_bags, tmp_path: Path) -> None:
    import datetime as dt

    archive = three_bags["archive"]
    public = three_bags["bags"]["public"]
    built = replay.build(
        archive,
        [public],
        embargo_until=dt.date.today() + dt.timedelta(days=30),
        root=tmp_path / "replay",
    )
    coll = built.collections[0]
    assert coll.blocked and coll.embargo_until
    assert "default_access: block" in (built.root / "config.yaml").read_text()
    assert (
        (built.root / "collections" / "demo" / "acl" / "access.aclj").read_text().startswith("*,")
    )
    past = replay.build(
        archive, [public], embargo_until=dt.date(2000, 1, 1), root=tmp_path / "replay"
    )
    assert not past.collections[0].blocked


def test_replay_refuses_unknown_bag_and_staff_mode_on_network(cli, three_bags) -> None:
    root = three_bags["archive"].root
    r = cli("replay", "--archive", root, "no-such-bag", "--build-only")
    assert r.exit_code == 2
    assert "no bag 'no-such-bag'" in r.stderr
    r = cli("replay", "--archive", root, "--as-staff", "--host", "0.0.0.0", "--build-only")
    assert r.exit_code == 2
    assert "--as-staff is only allowed" in r.stderr
    assert "Traceback" not in r.output


def test_symlinked_warc_in_a_bag_is_not_served(tmp_path: Path, three_bags) -> None:
    """Hostile bag: a WARC name that is a symlink to a file elsewhere is ignored."""
    import shutil

    archive = three_bags["archive"]
    src = archive.bag_dir(three_bags["bags"]["public"])
    copy = Archive(tmp_path / "a2")
    copy.ensure()
    shutil.copytree(src, copy.bag_dir(src.name), symlinks=True)
    evil = copy.bag_dir(src.name) / "data" / "warc" / "zz-evil.warc.gz"
    os.symlink("/etc/hostname", evil)
    bag = replay.read_bag(copy, src.name)
    assert evil not in bag.warcs
    assert len(bag.warcs) >= 1


def test_restricted_page_gets_its_deduplicated_stylesheet_from_an_earlier_public_bag(
    server,
) -> None:
    """The restricted capture came second with dedup = "archive", so its shared CSS is
    a revisit record, and its bag declares the public bag as Depends-On."""
    srv, built = server
    coll = next(c for c in built.collections if c.group == "restricted")
    assert coll.sources, "the earlier public bag is indexed for revisits"
    seed = next(s for s in built.seeds if s.url.endswith(RFERL))
    css = seed.url.split("/rferl/")[0] + "/static/css/site.css"
    url = f"{srv.base}/{coll.name}/{seed.timestamp}cs_/{css}"
    staff = {replay.STAFF_HEADER: replay.STAFF_USER}
    r = requests.get(url, headers=staff, timeout=10)
    assert r.status_code == 200
    assert "font-family" in r.text or "{" in r.text
    assert requests.get(url, timeout=10).status_code == 451


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"], ids=["ctrl-c", "sigterm"])
def test_the_replay_command_serves_until_stopped_and_leaves_no_pywb(three_bags, stop) -> None:
    """`strongroom replay` under systemd or `timeout`: SIGTERM stops it as Ctrl-C does."""
    import signal
    import subprocess
    import sys

    root = three_bags["archive"].root
    args = [sys.executable, "-m", "strongroom", "replay", "--archive", str(root)]
    proc = subprocess.Popen(
        [*args, "--port", "0", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"},
    )
    try:
        assert proc.stdout is not None
        doc = json.loads(proc.stdout.readline())
        assert doc["serving"] is True
        assert requests.get(doc["base"], timeout=10).status_code == 200
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert children, "pywb runs as a child process"
        proc.send_signal(getattr(signal, stop))
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert b"Traceback" not in err
        assert not any(Path(f"/proc/{pid}").exists() for pid in children), "pywb was left behind"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
