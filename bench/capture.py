"""Benchmark: strongroom capture vs. Debian wget on the same local news site.

Generates a 40-article news site in a temporary folder (srcset, <picture>,
video posters, a gzip-encoded stylesheet whose url()s point at images),
serves it on 127.0.0.1 with 50 ms latency per response, captures it with
strongroom (default concurrency) and with ``wget -r -p --warc-file``, then
reports pages/second, the ratio, and requisites found against the true set
(read back from each tool's WARC with warcio).

wget is asked for ``Accept-Encoding: gzip`` like a browser (and like
strongroom): servers and CDNs commonly send gzip CSS, which wget stores but
cannot look inside.

Run:  .venv/bin/python bench/capture.py [--pages 40] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from warcio.archiveiterator import ArchiveIterator

import strongroom.demosite
from strongroom.demosite import SiteServer

REPO = Path(__file__).resolve().parent.parent


def build_site(root: Path, pages: int) -> tuple[set[str], set[str]]:
    """Write the site; return (page paths, requisite paths) that a full capture needs."""
    (root / "static").mkdir(parents=True)
    (root / "img").mkdir()
    (root / "articles").mkdir()
    page_paths = {"/"}
    reqs = {"/static/site.css", "/static/app.js", "/static/logo.png"}
    css = ["body{background:url(/img/paper.png)} .logo{background:url('/img/logo-bg.png')}"]
    reqs |= {"/img/paper.png", "/img/logo-bg.png"}
    links = []
    for i in range(pages):
        css.append(f'.a{i}{{background-image:url("/img/badge-{i}.png")}}')
        reqs.add(f"/img/badge-{i}.png")
        name = f"/articles/story-{i}.html"
        page_paths.add(name)
        links.append(f'<li><a href="{name}">Story {i}</a></li>')
        imgs = {f"/img/s{i}-400.jpg", f"/img/s{i}-800.jpg", f"/img/s{i}-1600.jpg"}
        imgs |= {f"/img/p{i}.webp", f"/img/p{i}@2x.webp", f"/img/p{i}.jpg", f"/img/v{i}.jpg"}
        reqs |= imgs
        (root / name.lstrip("/")).write_text(
            f"""<!doctype html><html><head><title>Story {i}</title>
<link rel="stylesheet" href="/static/site.css"><script src="/static/app.js"></script></head>
<body class="a{i}"><img src="/static/logo.png" alt="logo">
<img src="/img/s{i}-400.jpg" srcset="/img/s{i}-800.jpg 800w, /img/s{i}-1600.jpg 1600w">
<picture><source srcset="/img/p{i}.webp 1x, /img/p{i}@2x.webp 2x" type="image/webp">
<img src="/img/p{i}.jpg"></picture><video poster="/img/v{i}.jpg"></video>
<p>Article {i} text.</p><a href="/">home</a></body></html>"""
        )
    (root / "index.html").write_text(
        "<!doctype html><html><head><title>Local news</title>"
        '<link rel="stylesheet" href="/static/site.css"></head><body>'
        f'<img src="/static/logo.png"><ul>{"".join(links)}</ul></body></html>'
    )
    (root / "static" / "site.css").write_text("\n".join(css) + "\n")
    (root / "static" / "app.js").write_text("console.log('news');\n" * 50)
    for r in reqs - {"/static/site.css", "/static/app.js"}:
        (root / r.lstrip("/")).write_bytes(b"\x89PNG fake image " + r.encode() * 20)
    return page_paths, reqs


def warc_paths(files: list[Path], base: str) -> tuple[set[str], int, int]:
    """200-status response paths in some WARCs (revisits count), HTML pages, HTTP requests."""
    found: set[str] = set()
    html = requests = 0
    for f in files:
        with open(f, "rb") as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type not in ("response", "revisit"):
                    continue
                requests += 1
                uri = rec.rec_headers.get_header("WARC-Target-URI") or ""
                status = rec.http_headers.get_statuscode() if rec.http_headers else ""
                if status != "200" or not uri.startswith(base):
                    continue
                path = "/" + uri[len(base) :]
                found.add(path)
                ctype = rec.http_headers.get_header("Content-Type") or ""
                if ctype.startswith("text/html"):
                    html += 1
    return found, html, requests


def run_strongroom(url: str, work: Path) -> tuple[float, list[Path]]:
    exe = REPO / ".venv" / "bin" / "strongroom"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "strongroom"]
    started = time.monotonic()
    res = subprocess.run(
        [*cmd, "capture", url, "--depth", "1", "--archive", str(work / "archive"), "--json"],
        capture_output=True,
        text=True,
    )
    elapsed = time.monotonic() - started
    if res.returncode not in (0, 1):
        raise SystemExit(f"strongroom failed ({res.returncode}): {res.stderr}")
    doc = json.loads(res.stdout)
    return elapsed, sorted(Path(doc["path"]).glob("*.warc.gz"))


def run_wget(url: str, work: Path) -> tuple[float, list[Path]]:
    if not shutil.which("wget"):
        raise SystemExit("wget is not installed (apt-get install wget)")
    out = work / "wget"
    out.mkdir()
    started = time.monotonic()
    subprocess.run(
        [
            "wget", "-r", "-l", "1", "-p", "--no-verbose", "--no-proxy",
            "--header", "Accept-Encoding: gzip, deflate",
            f"--warc-file={out / 'wget'}", "-P", str(out / "files"), url,
        ],
        capture_output=True,
        text=True,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    return elapsed, sorted(out.glob("*.warc.gz"))


def _realistic_server() -> None:
    """Send small responses without Nagle delay, as production servers do.

    The demo server writes headers and body in two small writes; with Nagle on,
    the second waits for the client's delayed ACK (~40 ms on Linux) on every
    response, for any client. nginx and friends set TCP_NODELAY, so we do too
    (the stdlib flag, for this benchmark's server only).
    """
    strongroom.demosite._Handler.disable_nagle_algorithm = True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=40)
    ap.add_argument("--latency", type=float, default=0.05)
    args = ap.parse_args()
    console = Console(width=160)
    _realistic_server()
    with tempfile.TemporaryDirectory(prefix="strongroom-bench-") as tmp:
        work = Path(tmp)
        page_paths, true_reqs = build_site(work / "site", args.pages)
        with SiteServer(root=work / "site", latency=args.latency) as srv:
            base = srv.url
            s_time, s_warcs = run_strongroom(base, work)
            w_time, w_warcs = run_wget(base, work)
        s_found, s_pages, s_reqs = warc_paths(s_warcs, base)
        w_found, w_pages, w_reqs = warc_paths(w_warcs, base)
    s_rate, w_rate = s_pages / s_time, w_pages / w_time
    table = Table(
        title=f"capture benchmark: {len(page_paths)} pages, {len(true_reqs)} requisites, "
        f"{args.latency * 1000:.0f} ms latency"
    )
    for col in (
        "tool",
        "pages",
        "requests",
        "seconds",
        "pages/s",
        "requests/s",
        "requisites found",
        "missed",
    ):
        table.add_column(col, justify="right" if col not in ("tool", "missed") else "left")
    for name, pages, reqs, secs, rate, found in (
        ("strongroom (4 workers)", s_pages, s_reqs, s_time, s_rate, s_found),
        ("wget -r -p", w_pages, w_reqs, w_time, w_rate, w_found),
    ):
        got = found & true_reqs
        missed = sorted(true_reqs - found)
        shown = ", ".join(missed[:3]) + (f" … (+{len(missed) - 3})" if len(missed) > 3 else "")
        table.add_row(
            name,
            str(pages),
            str(reqs),
            f"{secs:.2f}",
            f"{rate:.1f}",
            f"{reqs / secs:.1f}",
            f"{len(got)}/{len(true_reqs)} ({100 * len(got) / len(true_reqs):.0f}%)",
            shown or "-",
        )
    console.print(table)
    console.print(
        f"throughput ratio strongroom / wget: [bold]{s_rate / w_rate:.2f}x[/bold] pages/s"
    )
    console.print(
        f"request throughput ratio: {(s_reqs / s_time) / (w_reqs / w_time):.2f}x requests/s "
        f"(strongroom fetches {s_reqs - w_reqs} more requisites that wget cannot see)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
