"""Helpers for the watch, status and risk tests (no tests here).

``make_bag`` builds a real BagIt bag the way the archive lays them out: the
seed page is fetched from the running test site with requests and written as
request/response WARC records with warcio, then bagit-python makes the bag and
the archive's labels are added to bag-info.
"""

from __future__ import annotations

import hashlib
import io
import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import bagit
import requests
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from strongroom.bag.signing import init_keys
from strongroom.core.archive import Archive
from strongroom.demosite import Override, SiteServer

SEED_PATH = "/news/2024/05/andijan-report.html"

ARTICLE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{title}</title></head>
<body>
<nav><a href="/">Home</a> <a href="/news/">News</a></nav>
{banner}
<main><article>
<h1>{title}</h1>
<p>On 13 May 2005 troops opened fire on a crowd of several thousand people who had
gathered on Babur Square in Andijan to protest against poverty and the trial of
twenty-three local businessmen.</p>
<p>{sentence}Witnesses told our correspondent that soldiers in armoured vehicles fired
without warning, and that the shooting went on for hours while people tried to flee
towards the Kyrgyz border.</p>
<p>The government said that 187 people died, most of them armed militants. Human rights
groups and survivors put the number of dead at several hundred, many of them women
and children.</p>
<p>Ten years later no independent investigation has taken place, and relatives of the
victims say they are still watched by the security service.</p>
</article></main>
<footer>Published {stamp}. Advertisement: buy a better mattress today.</footer>
</body></html>
"""
REMOVED_SENTENCE = "Our reporter counted more than three hundred bodies in a school gymnasium. "


def article(
    *,
    title: str = "Andijan: what happened on Babur Square",
    sentence: str = REMOVED_SENTENCE,
    banner: str = "",
    stamp: str = "2024-05-13 10:00",
) -> bytes:
    return ARTICLE.format(title=title, sentence=sentence, banner=banner, stamp=stamp).encode()


def send_article(handler: BaseHTTPRequestHandler) -> None:
    """Answer a request with the test article (for routes that do more than serve it)."""
    body = article()
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html; charset=utf-8")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def serve_article(site: SiteServer, path: str = SEED_PATH, **kw: str) -> str:
    """Serve the test article at ``path`` on the site; return its URL."""
    site.set_override(path, Override(200, {}, article(**kw)))
    return site.url.rstrip("/") + path


def _write_exchange(writer: WARCWriter, url: str, resp: requests.Response) -> None:
    req_headers = StatusAndHeaders(
        f"GET {resp.request.path_url} HTTP/1.1",
        [(k, v) for k, v in resp.request.headers.items()],
        is_http_request=True,
    )
    writer.write_record(writer.create_warc_record(url, "request", http_headers=req_headers))
    body = resp.content  # requests removed any content-encoding; say so in the headers
    headers = [
        (k, v)
        for k, v in resp.raw.headers.items()
        if k.lower() not in ("content-encoding", "transfer-encoding", "content-length")
    ]
    headers.append(("Content-Length", str(len(body))))
    http_headers = StatusAndHeaders(f"{resp.status_code} {resp.reason}", headers, "HTTP/1.1")
    writer.write_record(
        writer.create_warc_record(
            url, "response", payload=io.BytesIO(body), http_headers=http_headers
        )
    )


def record_warc(path: Path, url: str, record_as: str | None = None) -> None:
    """Fetch ``url`` (following redirects hop by hop) into a gzipped WARC at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True, warc_version="1.1")
        current = url
        for _ in range(5):
            resp = requests.get(current, allow_redirects=False, timeout=5)
            _write_exchange(writer, record_as or current, resp)
            if resp.is_redirect and not record_as:
                current = requests.compat.urljoin(current, resp.headers["Location"])
                continue
            break


def make_bag(
    archive_dir: Path,
    url: str,
    *,
    bag_id: str = "test-20240513T100000Z-aaaaaa",
    group: str = "test",
    access: str = "public",
    designations: tuple[str, ...] = (),
    is_version_of: str | None = None,
    record_as: str | None = None,
    warc_bytes: bytes | None = None,
) -> Path:
    """A bag in ``archive_dir/bags/<bag_id>`` holding the seed ``url`` (or ``record_as``)."""
    archive = Archive(archive_dir).ensure()
    if not (archive.keys / "signing.key").exists():
        init_keys(archive.keys)
    bag_dir = archive.bag_dir(bag_id)
    warc = bag_dir / "warc" / f"{bag_id}-00000.warc.gz"
    if warc_bytes is not None:
        warc.parent.mkdir(parents=True)
        warc.write_bytes(warc_bytes)
    else:
        record_warc(warc, url, record_as)
    info: dict[str, object] = {
        "Seed-URL": record_as or url,
        "Bag-Group-Identifier": group,
        "Access": access,
        "External-Description": "watch test bag",
    }
    if designations:
        info["Designation"] = list(designations)
    if is_version_of:
        info["Is-Version-Of"] = is_version_of
    bagit.make_bag(str(bag_dir), bag_info=info, checksums=["sha256"])
    return bag_dir


def file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file below ``root``: proof that a bag was not touched."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def capture_and_bag(cli, url: str, manifests: Path) -> str:
    """The real pipeline: ``strongroom capture`` then ``strongroom bag``; returns the bag id."""
    r = cli("capture", url, "--timeout", "3", "--delay", "0", "--json")
    assert r.exit_code == 0, r.output
    capture_id = json.loads(r.stdout)["capture_id"]
    r = cli("bag", capture_id, "--manifests", str(manifests), "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["bag_id"]


def make_collection_bag(archive_dir: Path, urls: list[str], *, bag_id: str) -> Path:
    """One bag holding many seeds (as ``strongroom archive`` makes a collection's bag)."""
    archive = Archive(archive_dir).ensure()
    if not (archive.keys / "signing.key").exists():
        init_keys(archive.keys)
    bag_dir = archive.bag_dir(bag_id)
    for n, url in enumerate(urls):
        record_warc(bag_dir / "warc" / f"{bag_id}-{n:05d}.warc.gz", url)
    info = {"Seed-URL": list(urls), "Bag-Group-Identifier": "test", "Access": "public"}
    bagit.make_bag(str(bag_dir), bag_info=info, checksums=["sha256"])
    return bag_dir
