"""Two nodes share one PostgreSQL ledger: a node's unfinished publication is its own.

Node 1 is killed right after renaming its bag into its ``bags/`` (the intent is
still open). Node 2's next ``bag`` reconciles before it publishes, as every
locked command does: it must leave node 1's intent alone (the bag is not even on
its disk; before, it closed it as "abandoned", and node 1's bag was never
recorded). Node 1's next run then finishes its own publication.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from bagkit import CAPTURE_ID, make_capture

from strongroom.bag.publish import CRASH_ENV
from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger

OTHER_CAPTURE = "20240221T101500Z-cd34ef"


def _node(cli, root: Path, name: str, capture_id: str) -> None:
    make_capture(root, capture_id)
    (root / "config.toml").write_text(f'[node]\nname = "{name}"\njurisdiction = "DE"\n')
    assert cli("keys", "init", "--archive", str(root)).exit_code == 0


def test_a_node_leaves_another_nodes_unfinished_publication_to_it(
    cli, tmp_path: Path, pg_url: str, monkeypatch
) -> None:
    monkeypatch.setenv("STRONGROOM_LEDGER", pg_url)
    one, two = tmp_path / "node1", tmp_path / "node2"
    manifests = tmp_path / "manifests"
    _node(cli, one, "node1", CAPTURE_ID)
    _node(cli, two, "node2", OTHER_CAPTURE)
    assert cli("ledger", "migrate", "--archive", str(one)).exit_code == 0
    env = dict(os.environ, **{CRASH_ENV: "after-rename"})
    killed = subprocess.run(
        [sys.executable, "-m", "strongroom", "bag", CAPTURE_ID, "--archive", str(one),
         "--manifests", str(manifests)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    bag_one = f"andijan-2005-{CAPTURE_ID}"

    res = cli("bag", OTHER_CAPTURE, "--archive", str(two), "--manifests", str(manifests))
    assert res.exit_code == 0, res.output
    with open_ledger(one) as ledger:
        assert [b for b, _ in ledger.pending_publications()] == [bag_one]  # still node 1's

    # Node 1's next run finishes it: the bag is recorded, and verifies.
    res = cli("bag", CAPTURE_ID, "--archive", str(one), "--manifests", str(manifests))
    assert res.exit_code == 0 and bag_one in res.stdout, res.output
    with open_ledger(one) as ledger:
        assert ledger.pending_publications() == []
        assert {bag_one, f"andijan-2005-{OTHER_CAPTURE}"} <= ledger.bag_ids()
    assert Archive(one).bag_ids() == [bag_one]
    res = cli("verify", bag_one, "--archive", str(one), "--inventory",
              str(manifests / "andijan-2005"))  # fmt: skip
    assert res.exit_code == 0, res.output
