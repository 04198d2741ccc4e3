"""Benchmark: browser capture vs static capture vs wget, on the JS news fixture and the demo site.

For each site, one page is captured in paired runs (the same run order
rotates so no tool always goes first) by:

* ``strongroom capture --browser`` (Chromium, every request through our recorder);
* ``strongroom capture`` (static: HTML and CSS extraction);
* ``wget -p -H`` (page requisites, any host), asked for gzip like a browser;
* and, as the ceiling for a browser capture, Chromium itself loading the page
  straight from the site with the same behaviours and no recorder.

Recall is measured against that last run: the http(s) URLs Chromium requested
(read from each tool's WARC with warcio). Each tool gets a fresh archive, so no
run deduplicates against another. Same machine, same site server, no fsync
difference (strongroom fsyncs its WARCs; wget does not, which favours wget).

Run:  .venv/bin/python bench/browser.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table
from warcio.archiveiterator import ArchiveIterator

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "kits"))

from jsnews import JsNewsSite, ground_truth  # noqa: E402

from strongroom.demosite import SiteServer  # noqa: E402

GV = "globalvoices/2015/05/13/ten-years-on-from-andijan-massacre-an-uzbek-pleads-for-freedom/"
CHROMIUM = "/usr/bin/chromium"


def warc_uris(files: list[Path]) -> set[str]:
    found: set[str] = set()
    for f in files:
        with open(f, "rb") as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type in ("response", "revisit"):
                    found.add(rec.rec_headers.get_header("WARC-Target-URI") or "")
    return found


def strongroom(url: str, work: Path, browser: bool) -> tuple[float, set[str]]:
    exe = REPO / ".venv" / "bin" / "strongroom"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "strongroom"]
    args = [*cmd, "capture", url, "--archive", str(work), "--json", "--retries", "0"]
    started = time.monotonic()
    res = subprocess.run([*args, *(["--browser"] if browser else [])], capture_output=True)
    elapsed = time.monotonic() - started
    if res.returncode not in (0, 1):
        raise SystemExit(f"strongroom failed ({res.returncode}): {res.stderr.decode()[-800:]}")
    doc = json.loads(res.stdout)
    return elapsed, warc_uris(sorted(Path(doc["path"]).glob("*.warc.gz")))


def wget(url: str, work: Path) -> tuple[float, set[str]]:
    work.mkdir(parents=True)
    started = time.monotonic()
    subprocess.run(
        [
            "wget", "-p", "-H", "--no-verbose", "--no-proxy",
            "--header", "Accept-Encoding: gzip, deflate",
            f"--warc-file={work / 'wget'}", "-P", str(work / "files"), url,
        ],
        capture_output=True,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    return elapsed, warc_uris(sorted(work.glob("*.warc.gz")))


def chromium_direct(url: str) -> tuple[float, list[str]]:
    started = time.monotonic()
    urls = ground_truth(url, CHROMIUM)
    return time.monotonic() - started, urls


def bench_site(name: str, url: str, runs: int, tmp: Path) -> list[list[str]]:
    tools: dict[str, Callable[[Path], tuple[float, set[str]]]] = {
        "strongroom --browser": lambda w: strongroom(url, w, True),
        "strongroom (static)": lambda w: strongroom(url, w, False),
        "wget -p -H": lambda w: wget(url, w),
    }
    times: dict[str, list[float]] = {k: [] for k in [*tools, "Chromium alone (ceiling)"]}
    recalls: dict[str, list[float]] = {k: [] for k in tools}
    missing: dict[str, set[str]] = {k: set() for k in tools}
    order = list(tools)
    for run in range(runs):
        t, truth = chromium_direct(url)
        times["Chromium alone (ceiling)"].append(t)
        for tool in order[run % len(order) :] + order[: run % len(order)]:
            elapsed, got = tools[tool](tmp / f"{name[:2]}-{run}-{order.index(tool)}")
            times[tool].append(elapsed)
            miss = [u for u in truth if u not in got]
            recalls[tool].append(1 - len(miss) / len(truth))
            missing[tool] |= set(miss)
    rows = []
    for tool, ts in times.items():
        med = statistics.median(ts)
        rec = recalls.get(tool)
        rows.append(
            [
                name,
                tool,
                f"{1 / med:.3f}",
                f"{med:.1f} ({min(ts):.1f}-{max(ts):.1f})",
                f"{statistics.median(rec):.1%} ({min(rec):.0%}-{max(rec):.0%})" if rec else "100%",
                _short(missing.get(tool, set())),
            ]
        )
    return rows


def _short(urls: set[str]) -> str:
    names = sorted("/".join(u.split("?")[0].rsplit("/", 2)[-2:]) for u in urls)
    text = ", ".join(names)
    return (text[:120] + f"... ({len(names)})") if len(text) > 120 else (text or "-")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if not shutil.which("wget") or not Path(CHROMIUM).exists():
        raise SystemExit("needs wget and chromium (apt-get install wget chromium)")
    console = Console(width=180)
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="strongroom-bench-browser-") as tmp:
        with JsNewsSite() as site:
            rows += bench_site("JS news fixture", site.article, args.runs, Path(tmp))
        with SiteServer() as demo:
            rows += bench_site("demo site (GV article)", demo.url + GV, args.runs, Path(tmp))
    table = Table(title=f"browser capture benchmark: 1 page per site, median of {args.runs} runs")
    for col in (
        "site",
        "tool",
        "pages/s",
        "seconds median (min-max)",
        "recall (min-max)",
        "missed",
    ):
        table.add_column(col)
    for r in rows:
        table.add_row(*r)
    console.print(table)
    for site_name in {r[0] for r in rows}:
        per = {r[1]: float(r[3].split()[0]) for r in rows if r[0] == site_name}
        console.print(
            f"{site_name}: a browser capture takes "
            f"{per['strongroom --browser'] / per['strongroom (static)']:.1f}x the time of a static "
            f"one (+{per['strongroom --browser'] - per['strongroom (static)']:.1f} s per page), "
            f"{per['strongroom --browser'] / per['Chromium alone (ceiling)']:.1f}x Chromium alone"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
