"""Benchmark: strongroom capture vs. Debian wget on the same local news site.

Generates a news site of 40 articles, then one of 200 (``--pages``), in a
temporary folder (srcset, <picture>, video posters, a gzip-encoded stylesheet
whose url()s point at images) and serves it on 127.0.0.1 (TCP_NODELAY, as
production servers). On the small site a run lasts well under a second and
start-up counts; on the larger one the cost per request decides. For each latency
(default 0 ms and 50 ms per response) it makes ``--runs`` paired runs, the
order within a pair alternating:

- strongroom ``capture --depth 1`` at ``--concurrency 1`` and at the default 4;
- the anchor at the same parallelism: one ``wget -r -l 1 -p --warc-file`` (one
  connection) for ``-c 1``, and for ``-c 4`` four wget processes side by side,
  each given a quarter of the site's pages with ``-p`` and the same other flags
  (``-i`` instead of ``-r -l 1``: they are handed the page list that strongroom
  and the single wget discover; each fetches the stylesheet, script, logo and
  robots.txt its pages share once for itself, as four crawlers would). Ratios
  are against the anchor of the same parallelism, and against the single wget;
- the ceiling, measured in the same run: ``wget -i`` (one keep-alive
  connection) or ``curl --parallel`` (four) fetching the URLs that strongroom
  captured, to /dev/null: what the server and the network alone cost.

After a site's first table it lists the URL kinds (numbers written N) that one
tool fetched and the other did not. On the 40-article site strongroom makes 122 more
requests than wget (367 to 245), and wget makes none that strongroom does not:
42 are the url()s of the gzip-encoded stylesheet (40 ``img/badge-N.png``,
``img/paper.png``, ``img/logo-bg.png``), which wget stores but cannot read, so
it misses images a reader's browser does load (each page's body class uses its
badge, and the body background); 80 are the ``<picture><source srcset>``
candidates (``img/pN.webp``, ``img/pN@2x.webp``), which wget does not read. A
browser on one screen loads one of a picture's three candidates (and one of an
``<img srcset>``'s three, all of which wget fetches too); the others are kept
on purpose, so that the page replays faithfully on other screens and
densities. Compare requests/s for the cost per request.

It reports pages/s (HTML pages captured / wall-clock seconds, process start
included on both sides) as the median with min-max, requests/s likewise, CPU
seconds per run (user + system of the tool's processes) and of the server
(this process, median), the load average before and after, the HTTP requests
each tool made, and requisites found against the true set (read back from
each tool's WARC). At 0 ms the site is served by Debian's nginx (one worker;
``make bench`` installs it), as news sites are: a few microseconds of CPU per
request, so the tools' own costs decide. ``--server python`` serves it, as
runs with latency always do (nginx cannot delay a response), with the demo
site's Python server in the benchmark's process: 0.6-0.7 ms of its CPU per
request, on the same 2 cores as the tools, so its own ceiling is barely above
wget's rate and a tool that makes more requests pays for them twice, in its
own CPU and the server's (``bench/nginxsite.py``).

Durability is the same on both sides: strongroom fsyncs each WARC and
capture.json once when publishing (and its ledger commits, SQLite
synchronous=FULL); wget never fsyncs, so the benchmark fsyncs wget's WARC and
its folder right after wget exits, inside wget's timed run.

Each strongroom configuration captures into one archive kept across runs, as
a nightly job does (wget gets a new folder per run): the first capture of an
archive also creates its ledger, which the unmeasured warm-up run pays.
Before each latency, one unmeasured warm-up run of each tool (page cache, and
strongroom's byte-code cache: PYTHONDONTWRITEBYTECODE is dropped for the child,
as an installed strongroom has its .pyc files).

wget is asked for ``Accept-Encoding: gzip`` like a browser (and like
strongroom): servers and CDNs commonly send gzip CSS, which wget stores but
cannot look inside.

Measured (issue 16, eighth session), medians of 7 paired runs at 0 ms, served by
nginx, load 0.7-1.0:

- 40 articles: -c 1 177.2 pages/s (158.1-218.4) against one wget's 177.7
  (117.4-295.5): 1.00x, 1.49x in requests/s; -c 4 194.9 (135.9-215.7) against four
  wgets' 289.7 (212.1-420.3): 0.67x, 0.96x in requests/s, 1.10x one wget.
- 200 articles: -c 1 334.5 (305.8-358.7) against 312.4: 1.07x; -c 4 286.6 against
  four wgets' 588.7: 0.49x (0.92x one wget). An earlier run at a load of 1-3.5
  gave 0.97x and 1.10x on the small site, 1.66x and 1.65x on the large one: the
  four wget processes' rate moves most (their min-max spans 2-3x).
- With ``--server python`` (5 pairs, load 0.4-1.1): 40 articles 1.56x and 0.95x,
  200 articles 0.99x and 0.72x. At 50 ms, -c 4 is 0.69x four wgets' pages/s and
  2.54x one's (0.98x in requests/s; the ceiling is 1.06x strongroom's rate).

What is left, by profiles: a one-page capture takes 87 ms on an idle machine
(wget's whole one-page capture 9 ms), of which importing is about 55 ms (click and
the standard modules it pulls in 30 ms, the 17 dataclasses of the settings and
capture records 13 ms); at -c 1 a request costs 0.27 ms of CPU, at -c 4 0.42 ms
(GIL contention), and the process never uses more than one core, while four wgets
use both. Matching four wgets at 0 ms needs workers in more than one process.

Run:  .venv/bin/python bench/capture.py [--pages 40 200] [--latency 0 0.05] [--runs 5] [--long]
      [--server auto|nginx|python]
(about 3-4 minutes for the 40-article site and 8-10 for the 200-article one on an
idle 2-core machine; note the load average beside
the figures, since others' work on a shared machine moves them by 2x. By default the one-connection
strongroom run and its ceiling are made at 0 ms only, where start-up and CPU
per request decide; at 50 ms latency one connection is a sum of round trips.
``--long`` adds them at 50 ms too: about 3 more minutes.)
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from warcio.archiveiterator import ArchiveIterator

import nginxsite
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


@dataclass
class Run:
    seconds: float
    cpu: float
    warcs: list[Path]


CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _fsync_tree(folder: Path, pattern: str) -> None:
    """fsync the files matching ``pattern`` and their folder, as strongroom does its own."""
    for f in folder.glob(pattern):
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _timed(
    cmd: list[str], after: Any = None, env: dict[str, str] | None = None
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall-clock and CPU seconds (user + system of the child) of one command.

    ``after`` (timed too) makes its output as durable as the other side's."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env or CHILD_ENV)
    if after is not None:
        after()
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, res


def run_strongroom(url: str, work: Path, concurrency: int, src: Path | None = None) -> Run:
    """One capture into this tool's archive (kept across runs, as a user's archive is);
    ``src`` runs another source tree's strongroom (--baseline)."""
    exe = REPO / ".venv" / "bin" / "strongroom"
    cmd = [str(exe)] if exe.exists() and src is None else [sys.executable, "-m", "strongroom"]
    env = None
    if src is not None:
        env = CHILD_ENV | {"PYTHONPATH": os.pathsep.join([str(src), *sys.path[1:]])}
    archive = work / f"archive-c{concurrency}-{'baseline' if src else 'this'}"
    elapsed, cpu, res = _timed(
        [*cmd, "capture", url, "--depth", "1", "--concurrency", str(concurrency),
         "--archive", str(archive), "--json"],
        env=env,
    )  # fmt: skip
    if res.returncode not in (0, 1):
        raise SystemExit(f"strongroom failed ({res.returncode}): {res.stderr}")
    doc = json.loads(res.stdout)
    return Run(elapsed, cpu, sorted(Path(doc["path"]).glob("*.warc.gz")))


def run_wget(url: str, work: Path) -> Run:
    out = work / f"wget-{time.monotonic_ns()}"  # wget -r would skip files already there
    out.mkdir()
    elapsed, cpu, _ = _timed(
        [
            "wget", "-r", "-l", "1", "-p", "--no-verbose", "--no-proxy",
            "--header", "Accept-Encoding: gzip, deflate",
            f"--warc-file={out / 'wget'}", "-P", str(out / "files"), url,
        ],
        after=lambda: _fsync_tree(out, "*.warc.gz"),
    )  # fmt: skip
    return Run(elapsed, cpu, sorted(out.glob("*.warc.gz")))


def run_wget_parallel(base: str, work: Path, pages: list[str], parallel: int) -> Run:
    """``parallel`` wget processes side by side, each given a share of the site's pages
    (round robin) with ``-p`` and the flags of the one-process run: the anchor at the
    parallelism of ``capture --concurrency 4``. Each process fetches the requisites its
    pages share (stylesheet, script, logo) once for itself, as separate crawlers would."""
    out = work / f"wgetp-{time.monotonic_ns()}"
    out.mkdir()
    lists = [pages[i::parallel] for i in range(parallel)]
    for i, share in enumerate(lists):
        (out / f"seeds-{i}.txt").write_text("".join(base + p.lstrip("/") + "\n" for p in share))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    procs = []
    for i in range(len(lists)):
        cmd = ["wget", "-p", "--no-verbose", "--no-proxy",
               "--header", "Accept-Encoding: gzip, deflate",
               f"--warc-file={out / f'wget-{i}'}", "-P", str(out / f"files-{i}"),
               "-i", str(out / f"seeds-{i}.txt")]  # fmt: skip
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for proc in procs:
        proc.wait()
    _fsync_tree(out, "*.warc.gz")
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(elapsed, cpu, sorted(out.glob("*.warc.gz")))


def run_ceiling(urls: list[str], work: Path, parallel: int) -> Run:
    """Fetch every URL once, keeping nothing: one keep-alive connection (wget -i), or
    ``parallel`` keep-alive connections (curl --parallel), the tools' parallelism."""
    listing = work / "urls.txt"
    listing.write_text("".join(u + "\n" for u in urls))
    if parallel == 1:
        cmd = ["wget", "-q", "--no-proxy", "--header", "Accept-Encoding: gzip, deflate",
               "-O", "/dev/null", "-i", str(listing)]  # fmt: skip
    else:
        cmd = ["curl", "-s", "--noproxy", "*", "-H", "Accept-Encoding: gzip, deflate",
               "--parallel", "--parallel-max", str(parallel), "--parallel-immediate"]  # fmt: skip
        for u in urls:
            cmd += [u, "-o", "/dev/null"]
    elapsed, cpu, _ = _timed(cmd)
    return Run(elapsed, cpu, [])


def _realistic_server() -> None:
    """Send small responses without Nagle delay, as production servers do.

    The demo server writes headers and body in two small writes; with Nagle on,
    the second waits for the client's delayed ACK (~40 ms on Linux) on every
    response, for any client. nginx and friends set TCP_NODELAY, so we do too
    (the stdlib flag, for this benchmark's server only).
    """
    strongroom.demosite._Handler.disable_nagle_algorithm = True


def _urls(files: list[Path]) -> list[str]:
    out = []
    for f in files:
        with open(f, "rb") as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type in ("response", "revisit"):
                    out.append(rec.rec_headers.get_header("WARC-Target-URI") or "")
    return [u for u in dict.fromkeys(out) if u]


def _spread(values: list[float], fmt: str = "{:.1f}") -> str:
    med, lo, hi = (fmt.format(v) for v in (statistics.median(values), min(values), max(values)))
    return f"{med} ({lo}-{hi})"


TOOLS = ("strongroom -c 1", "wget -r -p", "ceiling -c 1: wget -i", "strongroom -c 4",
         "4 x wget -p -i", "ceiling -c 4: curl --parallel")  # fmt: skip
# The anchor of each parallelism: one wget process for one connection, four for four.
ANCHOR = {"1": "wget -r -p", "4": "4 x wget -p -i"}
PAGES: list[str] = []  # the site's page paths, shared out among the parallel wgets


BASELINE: list[Path] = []  # --baseline: an earlier source tree, run beside this one


def _one(tool: str, base: str, work: Path, urls: list[str]) -> Run:
    if tool.startswith("baseline"):
        return run_strongroom(base, work, 4 if tool.endswith("4") else 1, BASELINE[0])
    if tool == "wget -r -p":
        return run_wget(base, work)
    if tool == "4 x wget -p -i":
        return run_wget_parallel(base, work, PAGES, 4)
    if tool.startswith("ceiling"):
        return run_ceiling(urls, work, 4 if "-c 4" in tool else 1)
    return run_strongroom(base, work, 4 if tool.endswith("4") else 1)


def _tools(latency: float, long: bool) -> tuple[str, ...]:
    """The tools of one latency: the one-connection strongroom run and its ceiling at
    50 ms only with --long (a sum of round trips there, and the longest runs)."""
    tools = TOOLS + (("baseline -c 1", "baseline -c 4") if BASELINE else ())
    if latency > 0 and not long:
        tools = tuple(t for t in tools if t == "wget -r -p" or _conns(t) == "4")
    return tools


def _conns(tool: str) -> str:
    return "4" if "4" in tool.split(":")[0] else "1"


def _kind(url: str, base: str) -> str:
    """A URL's kind: its path with every number written N (``img/sN-NNN.jpg``)."""
    return re.sub(r"\d+", "N", url[len(base) :] if url.startswith(base) else url)


def url_kinds(ours: list[Path], theirs: list[Path], base: str) -> list[str]:
    """Lines naming the URL kinds one tool fetched and the other did not, with counts."""
    mine, wget = set(_urls(ours)), set(_urls(theirs))
    lines = []
    for label, extra in (("only strongroom", mine - wget), ("only wget", wget - mine)):
        kinds = collections.Counter(_kind(u, base) for u in extra)
        listed = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none"
        lines.append(f"{label}: {len(extra)} requests: {listed}")
    return lines


def _measure(
    tools: tuple[str, ...],
    work: Path,
    server: Any,
    runs: int,
    urls: list[str],
    pages: int,
) -> dict[str, dict[str, Any]]:
    """``runs`` paired rounds of every tool (order alternating): rates, CPU, what was found
    (``server.cpu()``: the CPU seconds the site's server has used so far)."""
    base = server.url
    m: dict[str, dict[str, Any]] = {
        t: {"rate": [], "req": [], "cpu": [], "server": [], "found": None, "requests": len(urls)}
        for t in tools
    }
    for i in range(runs):
        for tool in tools if i % 2 == 0 else tools[::-1]:
            before = server.cpu()
            run = _one(tool, base, work, urls)
            m[tool]["server"].append(server.cpu() - before)
            if run.warcs:
                got, html, requests = warc_paths(run.warcs, base)
                m[tool]["found"], m[tool]["requests"] = got, requests
                m[tool]["rate"].append(html / run.seconds)
            else:  # the ceiling fetches the same pages strongroom captured
                requests = len(urls)
                m[tool]["rate"].append(pages / run.seconds)
            m[tool]["req"].append(requests / run.seconds)
            m[tool]["cpu"].append(run.cpu)
    return m


SERVER = ["auto"]  # --server


class _PythonSite:
    """The demo site's Python server in this process (it can add latency)."""

    name = "the demo site's Python server (in the benchmark's process)"

    def __init__(self, root: Path, latency: float) -> None:
        self.server = SiteServer(root=root, latency=latency)
        self.url = self.server.url

    def cpu(self) -> float:
        """This process's CPU seconds: the server's, and the benchmark's own bookkeeping."""
        use = resource.getrusage(resource.RUSAGE_SELF)
        return use.ru_utime + use.ru_stime

    def __enter__(self) -> _PythonSite:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


class _NginxSite(nginxsite.NginxSite):
    name = "nginx (1 worker)"


def _site(work: Path, latency: float) -> Any:
    """The server of one latency's runs: nginx at 0 ms unless ``--server python`` (it
    cannot delay a response), else the Python server (see nginxsite's docstring)."""
    use_nginx = latency == 0 and SERVER[0] != "python" and nginxsite.available()
    if SERVER[0] == "nginx" and not nginxsite.available():
        raise SystemExit("nginx is not installed (make bench installs it)")
    if use_nginx:
        return _NginxSite(work / "site", work / f"nginx-{time.monotonic_ns()}")
    return _PythonSite(work / "site", latency)


def bench_latency(
    work: Path, latency: float, runs: int, true_reqs: set[str], long: bool = False
) -> tuple[Table, list[str]]:
    """Paired runs of every tool at one latency after a warm-up; the table and the
    URL kinds fetched by strongroom and not by wget (or the other way round)."""
    tools = _tools(latency, long)
    load_before = "/".join(f"{x:.1f}" for x in os.getloadavg())
    with _site(work, latency) as srv:
        base = srv.url
        warm: dict[str, Run] = {}
        for tool in tools:  # warm-up runs (page cache, byte code, ledgers), not measured
            if not tool.startswith("ceiling"):
                warm[tool] = _one(tool, base, work, [])
        ours = warm.get("strongroom -c 4") or warm["strongroom -c 1"]
        urls = _urls(ours.warcs)  # the ceiling fetches what strongroom captured
        pages = warc_paths(ours.warcs, base)[1]
        kinds = url_kinds(ours.warcs, warm["wget -r -p"].warcs, base)
        m = _measure(tools, work, srv, runs, urls, pages)
        served_by = srv.name
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    table = Table(
        title=f"capture at {latency * 1000:.0f} ms latency: median (min-max) of {runs} paired"
        " runs; 'vs wget' = against wget at the same number of connections",
        caption=f"served by {served_by}; load average {load_before} before, {load} after"
        " (1/5/15 min)",
    )
    cols = ("tool", "connections", "pages/s", "vs wget", "vs 1 wget", "requests/s", "vs wget",
            "CPU s/run", "server CPU", "requests", "requisites")  # fmt: skip
    for col in cols:
        table.add_column(col, justify="left" if col == "tool" else "right")
    med = {t: (statistics.median(m[t]["rate"]), statistics.median(m[t]["req"])) for t in tools}
    for tool in tools:
        anchor = med.get(ANCHOR[_conns(tool)], med["wget -r -p"])
        got = m[tool]["found"]
        table.add_row(
            tool,
            _conns(tool),
            _spread(m[tool]["rate"]),
            f"{med[tool][0] / anchor[0]:.2f}x",
            f"{med[tool][0] / med['wget -r -p'][0]:.2f}x",
            _spread(m[tool]["req"], "{:.0f}"),
            f"{med[tool][1] / anchor[1]:.2f}x",
            _spread(m[tool]["cpu"], "{:.2f}"),
            f"{statistics.median(m[tool]['server']):.2f}",
            str(m[tool]["requests"]),
            f"{len(got & true_reqs)}/{len(true_reqs)}" if got is not None else "-",
        )
    return table, kinds


def _bench_site(console: Console, pages: int, args: argparse.Namespace) -> None:
    """Every latency on one generated site of ``pages`` articles."""
    with tempfile.TemporaryDirectory(prefix="strongroom-bench-") as tmp:
        work = Path(tmp)
        page_paths, true_reqs = build_site(work / "site", pages)
        console.print(
            f"site: {len(page_paths)} pages, {len(true_reqs)} requisites; "
            "pages/s = HTML pages captured / wall-clock seconds (process start included); "
            "both sides fsync: strongroom its WARCs, capture.json and ledger commits, "
            "wget's WARC and folder by the benchmark inside wget's timed run"
        )
        PAGES[:] = sorted(page_paths)
        for n, latency in enumerate(args.latency):
            table, kinds = bench_latency(work, latency, args.runs, true_reqs, args.long)
            console.print(table)
            if n == 0:  # the same site at every latency
                console.print("\n".join(kinds))


def _without_pages(argv: list[str]) -> list[str]:
    """The command line without its ``--pages N [N ...]`` (each site gets its own)."""
    out, skipping = [], False
    for arg in argv:
        if arg == "--pages" or arg.startswith("--pages="):
            skipping = arg == "--pages"
            continue
        if skipping and arg.isdigit():
            continue
        skipping = False
        out.append(arg)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--pages",
        type=int,
        nargs="+",
        default=[40, 200],
        help="articles per site: a small site, where start-up counts, and a larger one",
    )
    ap.add_argument("--latency", type=float, nargs="+", default=[0.0, 0.05])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument(
        "--long", action="store_true", help="also the one-connection strongroom runs at 50 ms"
    )
    ap.add_argument(
        "--baseline", type=Path, help="also run the strongroom of this src/ folder (before/after)"
    )
    ap.add_argument(
        "--server",
        choices=("auto", "nginx", "python"),
        default="auto",
        help="the site's server at 0 ms: nginx (auto: when installed), or the demo site's"
        " Python server; runs with latency always use the Python server",
    )
    args = ap.parse_args()
    SERVER[0] = args.server
    if args.baseline:
        BASELINE.append(args.baseline.resolve())
    if not shutil.which("wget"):
        raise SystemExit("wget is not installed (apt-get install wget)")
    console = Console(width=180)
    _realistic_server()
    if len(args.pages) == 1:
        _bench_site(console, args.pages[0], args)
        return 0
    # Each site in a process of its own, so that one site's runs (its server's threads,
    # the memory they leave) cannot change the other's figures.
    for pages in args.pages:
        subprocess.run([sys.executable, __file__, *_without_pages(sys.argv[1:]),
                        "--pages", str(pages)], check=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
