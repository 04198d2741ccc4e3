"""Benchmark: nightly `verify --due` shared by 1 and 3 nodes over one PostgreSQL ledger.

Starts a real PostgreSQL on 127.0.0.1 (Debian's initdb/pg_ctl, as the tests
do), builds --bags small signed bags, hard-links them into 1 or 3 node roots
(nodes that mount the same storage), and times, in the same run:

- the ledger round trip (`SELECT 1`), the ceiling for any claim;
- one lease claim + finish per bag, through the ledger's own methods;
- a whole `strongroom verify --due` round, with 1 node and with 3 nodes at
  once (each node a separate process, as under cron), and how many bags each
  node checked: the work is spread, never repeated.

Every figure is the median of --runs runs, with min-max. Both node counts use
the same bags and the same fsync settings (PostgreSQL fsync=on; SQLite is not
involved).

Run:  .venv/bin/python bench/nodes.py [--bags 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "kits"))

import pgserver  # noqa: E402  (the tests' PostgreSQL starter)
from nodekit import node_roots  # noqa: E402
from sharekit import make_archive, make_bag  # noqa: E402

from strongroom.core.ledger import open_ledger  # noqa: E402
from strongroom.core.shared import precise_now  # noqa: E402


def spread(values: list[float], unit: str = "s", scale: float = 1.0) -> str:
    v = [x * scale for x in values]
    return f"{statistics.median(v):.2f} {unit} ({min(v):.2f}-{max(v):.2f})"


def build(root: Path, url: str, bags: int) -> Path:
    cfg = f'[ledger]\nurl = "{url}"\n[node]\nname = "node1"\njurisdiction = "DE"\n'
    archive = make_archive(root / "node1", extra_config=cfg)
    with open_ledger(archive.root, migrate=True):
        pass
    for i in range(bags):
        make_bag(archive, f"bench-20240501T{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}Z-aaaaaa",
                 files={"warc/a.warc.gz": os.urandom(4096)})  # fmt: skip
    return archive.root


def round_trip(root: Path, n: int = 500) -> list[float]:
    with open_ledger(root) as led:
        t = []
        for _ in range(n):
            t0 = time.perf_counter()
            led.query("SELECT 1")
            t.append(time.perf_counter() - t0)
    return t


def claims(root: Path, n: int) -> list[float]:
    with open_ledger(root) as led:
        start = precise_now()
        t = []
        for i in range(n):
            t0 = time.perf_counter()
            led.claim("bench", f"item-{i}-{start}", "node1", round_start=start, ttl=60)
            led.finish("bench", f"item-{i}-{start}", "node1")
            t.append(time.perf_counter() - t0)
    return t


def verify_round(roots: list[Path], interval: str) -> tuple[float, list[int]]:
    """One round on every node at once; (seconds, bags each node checked)."""
    cmd = [sys.executable, "-m", "strongroom", "verify", "--due", "--json",
           "--interval", interval]  # fmt: skip
    t0 = time.monotonic()
    procs = [
        subprocess.Popen([*cmd, "--archive", str(r)], stdout=subprocess.PIPE, text=True)
        for r in roots
    ]
    outs = [p.communicate()[0] for p in procs]
    elapsed = time.monotonic() - t0
    return elapsed, [len(json.loads(o)["bags"]) for o in outs]


def make_all_due(root: Path) -> None:
    """Age every bag's last good check to the year 2000, so the next round checks all.

    (Harness only: a real archive's bags fall due with time.)
    """
    with open_ledger(root) as led, led.transaction() as c:
        c.execute("UPDATE fixity_latest SET last_good = NULL, ended = '2000-01-01T00:00:00Z'")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bags", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    server = pgserver.start()
    os.environ["PGPASSFILE"] = str(server.pgpass)
    try:
        with tempfile.TemporaryDirectory(prefix="strongroom-bench-nodes-") as tmp:
            work = Path(tmp)
            first = build(work, server.create_database(), args.bags)
            rt = round_trip(first)
            cl = []
            for _ in range(args.runs):
                cl.append(statistics.median(claims(first, 200)))
            print(f"ledger round trip (SELECT 1): {spread(rt, 'ms', 1000)}")
            print(f"claim + finish per bag:       {spread(cl, 'ms', 1000)}  (target < 5 ms)")
            for count in (1, 3):
                roots = node_roots(first, count, work)
                times, shares = [], []
                for _ in range(args.runs):
                    make_all_due(first)
                    elapsed, per_node = verify_round(roots, "30d")
                    times.append(elapsed)
                    shares.append(per_node)
                    assert sum(per_node) == args.bags, f"a bag was repeated or skipped: {per_node}"
                print(
                    f"verify --due round, {count} node(s), {args.bags} bags: {spread(times)};"
                    f" bags per node in each run: {shares}"
                )
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
