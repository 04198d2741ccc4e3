"""The demo site, its collection, and `strongroom demo` as a user would run them."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import bagit
import pytest

from strongroom.bag import closure
from strongroom.core.collection import load_collection
from strongroom.demo import (
    DEMO_PORT,
    GLOBALVOICES_PATH,
    RFERL_PATH,
    article_urls,
    load_demo_collection,
    packaged_collection_path,
    rebase_collection,
)
from strongroom.demosite import SITE_ROOT, SiteServer, free_port
from strongroom.errors import UsageError

REPO = Path(__file__).resolve().parent.parent

# Attributes whose value is a URL the browser loads or follows.
URL_ATTRS = {"href", "src", "poster", "data", "action", "cite"}
CSS_URL_RE = re.compile(r"""url\(\s*['"]?([^'")\s]+)['"]?\s*\)""")
CSS_IMPORT_RE = re.compile(r"""@import\s+(?:url\()?\s*['"]([^'"]+)['"]""")


class _Refs(HTMLParser):
    """Every URL an HTML page references, split into requisites and links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.requisites: list[str] = []
        self.links: list[str] = []
        self.inline_css: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name == "srcset":
                self.requisites += [part.split()[0] for part in value.split(",") if part.strip()]
            elif name == "style":
                self.inline_css.append(value)
            elif name in URL_ATTRS:
                is_link = tag == "a" or (tag == "link" and "stylesheet" not in _rel(attrs))
                is_link = is_link and not _is_requisite_link(attrs)
                (self.links if is_link else self.requisites).append(value)
        self._in_style = tag == "style"

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.inline_css.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False


def _rel(attrs: list[tuple[str, str | None]]) -> str:
    return " ".join(v or "" for k, v in attrs if k == "rel").lower()


def _is_requisite_link(attrs: list[tuple[str, str | None]]) -> bool:
    rel = _rel(attrs)
    return any(r in rel.split() for r in ("icon", "preload", "stylesheet"))


def get(url: str) -> tuple[int, bytes]:
    """GET without proxies (the test never leaves 127.0.0.1)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def crawl(start: list[str]) -> dict[str, int]:
    """Fetch pages, their requisites (CSS recursively) and internal links; URL -> status."""
    seen: dict[str, int] = {}
    queue = list(start)
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        status, body = get(url)
        seen[url] = status
        path = urlsplit(url).path
        if status != 200:
            continue
        if path.endswith((".html", "/")):
            refs = _Refs()
            refs.feed(body.decode("utf-8"))
            queue += [urljoin(url, r) for r in refs.requisites + refs.links]
            for css in refs.inline_css:
                queue += [urljoin(url, u) for u in CSS_URL_RE.findall(css)]
        elif path.endswith(".css"):
            text = body.decode("utf-8")
            queue += [urljoin(url, u) for u in CSS_URL_RE.findall(text)]
            queue += [urljoin(url, u) for u in CSS_IMPORT_RE.findall(text)]
    return seen


# --- the site ---------------------------------------------------------------------------


def test_every_requisite_and_link_of_both_articles_is_served(site: SiteServer) -> None:
    urls = article_urls(site.port)
    seen = crawl([site.url, urls["globalvoices"], urls["rferl"]])
    broken = {u: s for u, s in seen.items() if s != 200}
    assert broken == {}
    paths = {urlsplit(u).path for u in seen}
    # What capture has to get right is really there: srcset widths, <picture> webp,
    # the @import-ed stylesheet and its url(), the font, the video and its poster.
    for expected in (
        "/static/img/andijan-town-480.jpg",
        "/static/img/andijan-town-1200.jpg",
        "/static/img/tashkent-960.webp",
        "/static/img/tashkent-640.png",
        "/static/css/site.css",
        "/static/css/typography.css",
        "/static/img/rule.png",
        "/static/img/paper.png",
        "/static/fonts/demo-serif-bold.woff",
        "/static/js/site.js",
        "/static/media/yakubov-interview.webm",
        "/static/img/interview-poster.jpg",
        "/static/img/favicon.png",
        "/globalvoices/",
        "/rferl/",
    ):
        assert expected in paths, expected
    # The two publishers keep their own hosts.
    hosts = {urlsplit(u).hostname for u in seen}
    assert hosts == {"127.0.0.1", "localhost"}


def test_no_page_or_stylesheet_references_another_host() -> None:
    base = "http://127.0.0.1:1/"
    offenders = []
    for path in sorted(SITE_ROOT.rglob("*")):
        if path.suffix not in (".html", ".css", ".js"):
            continue
        rel = path.relative_to(SITE_ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        page_url = urljoin(base, rel)
        if path.suffix == ".html":
            refs = _Refs()
            refs.feed(text)
            found = refs.requisites + refs.links
            for css in refs.inline_css:
                found += CSS_URL_RE.findall(css)
        elif path.suffix == ".css":
            found = CSS_URL_RE.findall(text) + CSS_IMPORT_RE.findall(text)
        else:
            found = re.findall(r"""["'](\w+://[^"']+|//[^"']+)["']""", text)
        for ref in found:
            target = urlsplit(urljoin(page_url, ref))
            if target.scheme not in ("http", "https") or target.netloc != "127.0.0.1:1":
                offenders.append(f"{rel}: {ref}")
    assert offenders == []


def test_articles_are_substantial_and_dated(site: SiteServer) -> None:
    urls = article_urls(site.port)
    for key, phrase, date in (
        ("globalvoices", "Akram Rustamov", "2015-05-13"),
        ("rferl", "Ikrom Yakubov", "2008-09-02"),
    ):
        status, body = get(urls[key])
        assert status == 200
        html = body.decode("utf-8")
        text = re.sub(r"<[^>]+>", " ", html)
        assert 500 <= len(text.split()) <= 1300
        assert phrase in text and f'datetime="{date}' in html
    _, rferl = get(urls["rferl"])
    assert b"undesirable organization" in rferl


def test_robots_txt_keeps_crawlers_out_of_private_only(site: SiteServer) -> None:
    from urllib.robotparser import RobotFileParser

    status, body = get(site.url + "robots.txt")
    assert status == 200
    robots = RobotFileParser()
    robots.parse(body.decode("utf-8").splitlines())
    assert robots.can_fetch("strongroom", site.url + GLOBALVOICES_PATH.lstrip("/"))
    assert robots.can_fetch("strongroom", site.url + RFERL_PATH.lstrip("/"))
    assert not robots.can_fetch("strongroom", site.url + "private/")


def test_unknown_and_hostile_paths_get_404_not_files_outside_the_site(site: SiteServer) -> None:
    for path in ("/no/such/page.html", "/%2e%2e/%2e%2e/etc/passwd", "/static/../../demo.toml"):
        status, body = get(site.url.rstrip("/") + path)
        assert status == 404, path
        assert b"root:" not in body and b"[[seeds]]" not in body


def test_whole_site_is_small() -> None:
    total = sum(p.stat().st_size for p in SITE_ROOT.rglob("*") if p.is_file())
    assert total < 300 * 1024


def test_images_are_real_and_distinct() -> None:
    images = [p for p in (SITE_ROOT / "static" / "img").iterdir() if p.is_file()]
    magic = {".png": b"\x89PNG\r\n\x1a\n", ".jpg": b"\xff\xd8\xff", ".webp": b"RIFF"}
    for p in images:
        assert p.read_bytes().startswith(magic[p.suffix]), p.name
    assert len({p.read_bytes() for p in images}) == len(images)


# --- the demo collection ---------------------------------------------------------------


def test_packaged_demo_collection_equals_the_repository_copy() -> None:
    assert packaged_collection_path().read_bytes() == (REPO / "collections/demo.toml").read_bytes()


def test_rebase_moves_demo_seeds_onto_the_port_and_keeps_hosts() -> None:
    c = rebase_collection(load_demo_collection(), 40123)
    assert [s.url for s in c.seeds] == list(article_urls(40123).values())
    # Titles, dates and designations travel unchanged.
    assert c.seeds[1].published.isoformat() == "2008-09-02"
    assert [d.organization for d in c.designations_for(c.seeds[1].host)] == ["RFE/RL (demo)"]


def test_rebase_leaves_other_hosts_alone_and_refuses_bad_ports() -> None:
    andijan = load_collection(REPO / "collections/andijan-2005.toml")
    assert rebase_collection(andijan, 40123).seeds == andijan.seeds
    for port in (0, -1, 70000):
        with pytest.raises(UsageError):
            rebase_collection(andijan, port)


def test_demo_collection_uses_the_serve_port() -> None:
    c = load_demo_collection()
    assert [s.url for s in c.seeds] == list(article_urls(DEMO_PORT).values())


# --- the command -----------------------------------------------------------------------


def test_help_has_an_example(cli) -> None:
    r = cli("demo", "--help")
    assert r.exit_code == 0
    assert "Example:" in r.stdout and "strongroom demo --serve" in r.stdout


def test_demo_runs_the_whole_workflow_and_says_where_things_are(cli, tmp_path: Path) -> None:
    target = tmp_path / "demo"
    port = str(free_port())  # the default, 8737, may be taken by another test run
    r = cli("demo", "--archive", str(target), "--port", port)
    assert r.exit_code == 0, r.output
    assert len(list(target.glob("captures/*/*.warc.gz"))) == 2  # one capture per article
    bags = sorted(p for p in (target / "bags").iterdir() if p.is_dir())
    assert len(bags) == 2
    for bag in bags:  # signed, screenshotted, and valid for an independent validator
        assert (bag / "tagmanifest-sha512.txt.sig").is_file()
        assert list((bag / "data" / "derivatives").glob("*.png"))
        bagit.Bag(str(bag)).validate()
        # each bag stands alone: no revisit points into the other article's bag
        assert closure.dangling(closure.bag_warcs(bag)) == []
        assert "Depends-On" not in (bag / "bag-info.txt").read_text()
    assert "RFE/RL (demo); RU; undesirable" in r.stdout
    assert "(restricted, signed)" in r.stdout and "(public, signed)" in r.stdout
    assert "ok -> gone (simulated takedown)" in r.stdout
    assert "http://127.0.0.1:8080/demo/" in r.stdout  # replay URL
    assert str(target / "report.html") in r.stdout and (target / "report.html").is_file()
    assert (target / "manifests" / "demo").is_dir()
    # A second run: one JSON document; the key is reused; the pages are captured
    # again, found unchanged, and the existing bags stand (the demo is idempotent).
    r = cli("demo", "--archive", str(target), "--json", "--port", port)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["exit_code"] == 0 and doc["problems"] == []
    assert [s["bag_id"] for s in doc["seeds"]] == [b.name for b in bags]
    assert all(s["fixity"].startswith("unchanged") and s["signed"] for s in doc["seeds"])
    assert [s["second_watch"] for s in doc["seeds"]] == ["ok", "gone"]
    assert all(s["replay_url"].startswith("http://127.0.0.1:8080/") for s in doc["seeds"])
    assert len(list(target.glob("captures/*/capture.json"))) == 4
    # ... but neither the seeds nor the bags double.
    status = json.loads(cli("status", "--archive", str(target), "--json").stdout)
    assert [s["url"] for s in status] == list(article_urls(int(port)).values())
    assert [len(s["bags"]) for s in status] == [1, 1]


def test_demo_on_a_busy_port_says_what_holds_it(cli, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = cli("demo", "--archive", tmp_path / "d", "--port", port)
    assert r.exit_code == 2
    assert "strongroom demo --serve" in r.stderr and "--port" in r.stderr


def test_demo_ignores_strongroom_archive_env(
    cli, archive_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("strongroom.capture.crawl")
    monkeypatch.chdir(tmp_path)
    r = cli("demo", "--quiet", "--port", str(free_port()))
    assert r.exit_code == 0, r.output
    assert list((tmp_path / "demo-archive").glob("captures/*/*.warc.gz"))
    assert not archive_dir.exists()  # the real archive is never touched by the demo


def test_demo_into_an_unwritable_place_is_a_usage_error(cli, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = cli("demo", "--archive", str(blocker / "archive"))
    assert r.exit_code == 2
    assert "cannot create archive" in r.stderr and "Traceback" not in r.output


def test_serve_on_a_busy_port_is_a_usage_error(cli) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = cli("demo", "--serve", "--port", str(port))
    assert r.exit_code == 2
    assert f"port {port}" in r.stderr and "already in use" in r.stderr


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_runs_until_interrupted(tmp_path: Path, stop: signal.Signals) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "strongroom", "demo", "--serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        printed = "".join(lines)
        urls = article_urls(port)
        assert urls["globalvoices"] in printed and urls["rferl"] in printed
        assert get(urls["rferl"])[0] == 200
        proc.send_signal(stop)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "Stopped." in out and "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_demo_reports_a_missing_requisite_and_exits_1(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("strongroom.capture.crawl")
    import shutil

    import strongroom.demosite

    # A copy of the site with the interview clip gone: the capture must say so.
    broken_site = tmp_path / "site"
    shutil.copytree(SITE_ROOT, broken_site)
    (broken_site / "static/media/yakubov-interview.webm").unlink()
    monkeypatch.setattr(strongroom.demosite, "SITE_ROOT", broken_site)
    r = cli("demo", "--archive", str(tmp_path / "demo"), "--port", str(free_port()))
    assert r.exit_code == 1, r.output
    assert "yakubov-interview.webm" in r.stderr
    assert "problem" in r.stderr and "Traceback" not in r.output
    # What was captured is still kept and listed.
    assert list((tmp_path / "demo").glob("captures/*/*.warc.gz"))
    assert "capture" in r.stdout and "bag" in r.stdout
