"""Several nodes share one PostgreSQL ledger and one nightly `verify --due` round.

The nodes are archive roots whose bags are hard-linked copies of the same
files (custody logs included), as nodes that mount one storage see the same
bags. Each runs the real CLI in its own process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nodekit import node_roots
from sharekit import make_archive, make_bag

from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger

BAGS = 9


def config(url: str, node: str, lease: int = 60) -> str:
    return f'[ledger]\nurl = "{url}"\n[node]\nname = "{node}"\njurisdiction = "DE"\n' + (
        f"lease_seconds = {lease}\n"
    )


def nodes(tmp_path: Path, url: str, count: int, lease: int = 60, size: int = 1) -> list[Path]:
    """``count`` node roots sharing ``BAGS`` bags (hard links) and one migrated ledger."""
    first = tmp_path / "node1"
    archive = make_archive(first, extra_config=config(url, "node1", lease))
    with open_ledger(archive.root, migrate=True):
        pass
    for i in range(BAGS):
        payload = os.urandom(size * 1024 * 1024)
        make_bag(archive, f"demo-20240501T10150{i}Z-aaaaaa", files={"warc/a.warc.gz": payload})
    return node_roots(first, count, tmp_path)


def verify_due(root: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "strongroom", "verify", "--due", "--json", "--archive", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def runs_per_bag(root: Path) -> dict[str, int]:
    with open_ledger(root) as led:
        return {b: len(led.fixity_history(b)) for b in sorted(Archive(root).bag_ids())}


@pytest.mark.slow
def test_three_nodes_at_once_verify_every_bag_exactly_once(tmp_path, pg_url):
    roots = nodes(tmp_path, pg_url, 3)
    procs = [verify_due(r) for r in roots]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode in (0, 1), err
        assert "Traceback" not in err
    assert runs_per_bag(roots[0]) == {b: 1 for b in runs_per_bag(roots[0])}
    assert len(runs_per_bag(roots[0])) == BAGS
    with open_ledger(roots[0]) as led:
        held = led.nodes()
    assert {n: v["bags"] for n, v in held.items()} == {"node1": BAGS, "node2": BAGS, "node3": BAGS}
    # Each node says which bags it left to the others.
    docs = [json.loads(out) for out, _err in outputs]
    assert all("elsewhere" in d for d in docs), docs
    # status and the report show the nodes and what each holds.
    status = subprocess.run(
        [sys.executable, "-m", "strongroom", "status", "--archive", str(roots[0])],
        capture_output=True, text=True,
    )  # fmt: skip
    assert f"node2 (DE, {BAGS} bags)" in status.stdout, status.stdout + status.stderr
    report = subprocess.run(
        [sys.executable, "-m", "strongroom", "report", "--json", "--archive", str(roots[0]),
         "-o", str(tmp_path / "report.html")],
        capture_output=True, text=True,
    )  # fmt: skip
    held_in_report = {n["name"]: n["bags"] for n in json.loads(report.stdout)["nodes"]}
    assert held_in_report == {"node1": BAGS, "node2": BAGS, "node3": BAGS}
    assert "node3" in (tmp_path / "report.html").read_text()


@pytest.mark.slow
def test_a_node_killed_mid_round_leaves_its_bag_to_the_next_run_once_its_lease_expires(
    tmp_path, pg_url
):
    lease = 3
    roots = nodes(tmp_path, pg_url, 2, lease=lease, size=24)
    victim = verify_due(roots[0])
    try:
        deadline = time.monotonic() + 60
        held = None
        while time.monotonic() < deadline and held is None:
            with open_ledger(roots[0]) as led:
                held = next(
                    (x.item for x in led.leases("verify") if x.node == "node1" and x.expires), None
                )
            time.sleep(0.02)
        assert held, "node1 never claimed a bag"
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.communicate()
    # The survivor runs at once: the dead node's bag is still leased, so it is left.
    out, err = verify_due(roots[1]).communicate(timeout=300)
    assert "Traceback" not in err
    doc = json.loads(out)
    counts = runs_per_bag(roots[1])
    if counts[held] == 0:
        assert held in doc["elsewhere"]
    time.sleep(lease + 1)  # the lease expires
    out, err = verify_due(roots[1]).communicate(timeout=300)
    assert "Traceback" not in err
    assert runs_per_bag(roots[1]) == {b: 1 for b in counts}, "every bag once, none twice"
