"""Benchmark: `strongroom watch --all` vs. `xargs -P 8 curl` over the same seeds.

Serves N article pages from H local sites (each its own host:port, as a watch
list spans many publishers) with a fixed latency per response, bags every page
once (one bag per site, as `strongroom archive` makes one bag per collection
run), then times, in paired runs on the same data:

- strongroom: `strongroom watch --all --quiet --concurrency 8` (default
  per-host limit 2), which fetches each page, extracts and compares its text
  with the bag's, and records a result in the ledger and custody log;
- the anchor: `xargs -P 8 -n 1 curl -s -o /dev/null` over the same URLs, which
  only fetches.

Both sides run 8 requests at once. Neither fsyncs more than it must: curl writes
nothing; strongroom's ledger runs with SQLite's synchronous=FULL (its default),
so the anchor is if anything favoured. The network floor of the run (seeds x
latency / 8) is printed as the ceiling. Each case reports the median of
--runs paired runs, with min-max; the order within a pair alternates.

Run:  .venv/bin/python bench/watch.py [--seeds 500] [--hosts 10] [--runs 5]
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import bagit
import requests
from rich.console import Console
from rich.table import Table
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

import strongroom.demosite
from strongroom.bag.signing import init_keys
from strongroom.core.archive import Archive
from strongroom.demosite import Override, SiteServer

REPO = Path(__file__).resolve().parent.parent
PARALLEL = 8

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Andijan report {i}</title></head><body><nav><a href="/">Home</a></nav>
<main><article><h1>Andijan report {i}</h1>
<p>On 13 May 2005 troops fired on a crowd on Babur Square in Andijan. Report {i}
retells what witnesses saw as the crowd fled towards the Kyrgyz border.</p>
<p>The government gave a figure of 187 dead; rights groups said several hundred.
No independent inquiry followed, and relatives say they are still watched.</p>
</article></main><footer>Advertisement</footer></body></html>"""


def strongroom_cmd() -> list[str]:
    exe = REPO / ".venv" / "bin" / "strongroom"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "strongroom"]


def build(archive_dir: Path, sites: list[SiteServer], seeds: int) -> list[str]:
    """Serve ``seeds`` pages over ``sites`` and bag each site's pages once."""
    archive = Archive(archive_dir).ensure()
    init_keys(archive.keys)
    urls: list[str] = []
    for h, site in enumerate(sites):
        bag_id = f"bench-20240513T1000{h:02d}Z-aaaaaa"
        bag_dir = archive.bag_dir(bag_id)
        warc = bag_dir / "warc" / f"{bag_id}-00000.warc.gz"
        warc.parent.mkdir(parents=True)
        mine = [i for i in range(seeds) if i % len(sites) == h]
        with open(warc, "wb") as fh:
            writer = WARCWriter(fh, gzip=True, warc_version="1.1")
            for i in mine:
                path = f"/news/{i}.html"
                body = PAGE.format(i=i).encode()
                site.set_override(path, Override(200, {"Content-Type": "text/html"}, body))
                url = site.url.rstrip("/") + path
                headers = StatusAndHeaders(
                    "200 OK",
                    [("Content-Type", "text/html"), ("Content-Length", str(len(body)))],
                    "HTTP/1.1",
                )
                writer.write_record(
                    writer.create_warc_record(
                        url, "response", payload=io.BytesIO(body), http_headers=headers
                    )
                )
                urls.append(url)
        seeds_of = [u for u in urls if u.startswith(site.url.rstrip("/") + "/")]
        bagit.make_bag(
            str(bag_dir),
            bag_info={"Seed-URL": seeds_of, "Bag-Group-Identifier": "bench"},
            checksums=["sha512"],
        )
    # A warm-up request per site, so neither side pays for the first connection setup.
    for site in sites:
        requests.get(site.url, timeout=5)
    return urls


def run_strongroom(archive_dir: Path) -> float:
    started = time.monotonic()
    res = subprocess.run(
        [*strongroom_cmd(), "watch", "--all", "--quiet", "--archive", str(archive_dir),
         "--concurrency", str(PARALLEL), "--timeout", "10"],
        capture_output=True, text=True,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    if res.returncode not in (0, 1):
        raise SystemExit(f"strongroom watch failed ({res.returncode}): {res.stderr[-2000:]}")
    return elapsed


def run_curl(url_file: Path) -> float:
    started = time.monotonic()
    with open(url_file, "rb") as fh:
        subprocess.run(
            ["xargs", "-P", str(PARALLEL), "-n", "1", "curl", "-s", "--noproxy", "*",
             "-o", "/dev/null", "--max-time", "10"],
            stdin=fh, check=True,
        )  # fmt: skip
    return time.monotonic() - started


@dataclass
class Case:
    latency: float
    ours: list[float]
    theirs: list[float]
    ratios: list[float]
    floor: float


def case(seeds: int, hosts: int, latency: float, runs: int) -> Case:
    with tempfile.TemporaryDirectory(prefix="strongroom-bench-watch-") as tmp:
        work = Path(tmp)
        sites = [SiteServer().start() for _ in range(hosts)]
        try:
            urls = build(work / "archive", sites, seeds)
            url_file = work / "urls.txt"
            url_file.write_text("\n".join(urls) + "\n")
            for s in sites:
                s._srv.latency = latency  # after building: bagging is not what we time
            run_strongroom(work / "archive")  # warm the page cache and the ledger file
            ours, theirs = [], []
            for n in range(runs):
                if n % 2:
                    theirs.append(run_curl(url_file))
                    ours.append(run_strongroom(work / "archive"))
                else:
                    ours.append(run_strongroom(work / "archive"))
                    theirs.append(run_curl(url_file))
        finally:
            for s in sites:
                s.stop()
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    return Case(latency, ours, theirs, ratios, seeds * latency / PARALLEL)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=500)
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--latency", type=float, action="append", help="seconds; repeatable")
    args = ap.parse_args()
    if not shutil.which("curl"):
        raise SystemExit("curl is not installed (apt-get install curl)")
    # Production servers send small responses without Nagle delay; so does this one.
    strongroom.demosite._Handler.disable_nagle_algorithm = True
    latencies = args.latency or [0.0, 0.05]
    console = Console(width=140)
    table = Table(
        title=f"watch: {args.seeds} seeds on {args.hosts} hosts, {PARALLEL} at once, "
        f"median (min-max) of {args.runs} paired runs, seconds"
    )
    for col in ("latency", "strongroom watch", "xargs -P 8 curl", "ratio", "network floor"):
        table.add_column(col, justify="right")
    for latency in latencies:
        r = case(args.seeds, args.hosts, latency, args.runs)
        table.add_row(
            f"{latency * 1000:.0f} ms",
            spread(r.ours),
            spread(r.theirs),
            spread(r.ratios) + "x",
            f"{r.floor:.2f}",
        )
    console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
