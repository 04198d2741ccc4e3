"""SIGKILL ``receive`` and ``repair`` at many points: afterwards there is no bag or a
whole, fully recorded one, and a re-run finishes the job. Issue 11 #3.

Named points (``STRONGROOM_TEST_CRASH_AT``) hit each step exactly, right after
the rename among them; kills after a delay hit wherever the run happens to be.
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
from sharekit import (
    BAG,
    dir_partner,
    flip_bit,
    make_archive,
    make_bag,
    make_pair,
    write_partners,
)

from strongroom.bag import custody, inventory
from strongroom.bag.publish import CRASH_ENV
from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger
from strongroom.share import ingest
from strongroom.verify.validate import validate_bag

WARC = "data/warc/capture-00001.warc.gz"
RECEIVE_POINTS = [
    "receive-after-intent",
    "receive-after-log-rename",
    "receive-after-rename",
    "receive-after-ledger-row",
    "receive-after-ingestion",
    "receive-after-inventory",
]


def strongroom(cwd: Path, *args: object, crash: str | None = None, kill_after: float = 0.0):
    """Run the real CLI in a child process; SIGKILL it at a point or after a delay."""
    env = dict(os.environ)
    env.pop(CRASH_ENV, None)
    if crash:
        env[CRASH_ENV] = crash
    cmd = [sys.executable, "-m", "strongroom", *map(str, args)]
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if kill_after:
        time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
def pair(sender_template: Path, tmp_path: Path) -> tuple[Archive, Archive]:
    return make_pair(sender_template, tmp_path / "berlin", tmp_path / "kyiv", tmp_path / "out")


def assert_nothing_or_whole(receiver: Archive, manifests: Path, killed: bool = False) -> None:
    """No bag, or one that the ledger, the inventory and its custody log all record.

    Right after a kill (``killed``) a third state is allowed, the one the
    transaction is built on: a whole bag renamed into place whose ingestion
    intent, pending in the ledger, holds everything needed to record it (the
    next run records it; see ``share.ingest``)."""
    on_disk = set(receiver.bag_ids())
    opened = {i["bag_id"] for i in ingest.pending(receiver)} if killed else set()
    with open_ledger(receiver.root) as ledger:
        recorded = set(ledger.bag_ids())
    assert recorded <= on_disk, "the ledger records a bag that is not on disk"
    assert on_disk - recorded <= opened, "a bag on disk with neither a record nor an intent"
    for bag_id in on_disk & opened:
        assert validate_bag(receiver.bag_dir(bag_id), "full").valid
    for bag_id in on_disk - opened:
        inv = inventory.inventory_path(manifests, "andijan")
        assert inventory.check_bag(inv, receiver.bag_dir(bag_id)) == []
        actions = [e["action"] for e in custody.read_entries(receiver.custody_path(bag_id))]
        assert actions.count("ingestion") == 1, actions


@pytest.mark.parametrize("point", RECEIVE_POINTS)
def test_receive_killed_at_a_step_is_finished_by_the_next_run(cli, pair, tmp_path, point) -> None:
    sender, receiver = pair
    manifests = tmp_path / "manifests"
    args = ("receive", sender.bag_dir(BAG), "--manifests", manifests, "--archive", receiver.root)
    rc, _, _ = strongroom(tmp_path, *args, crash=point)
    assert rc == -signal.SIGKILL
    assert_nothing_or_whole(receiver, manifests, killed=True)
    r = cli(*args, "--json")  # the re-run need not be a child: only the killed one must
    assert r.exit_code == 0, r.stderr
    assert receiver.bag_ids() == [BAG]
    assert_nothing_or_whole(receiver, manifests)
    with open_ledger(receiver.root) as ledger:
        outcomes = [e["outcome"] for e in ledger.events(BAG, types=("ingestion",))]
    assert outcomes[-1] == "success"
    assert not [p for p in receiver.quarantine.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_killed_receive_is_finished_among_many_finished_ones(
    cli, pair, tmp_path, request, monkeypatch, engine
) -> None:
    """Years of received bags in the ledger: the next receive still finds the one
    intent a killed run left open, finishes it, and leaves the finished ones be."""
    sender, receiver = pair
    if engine == "postgresql":
        monkeypatch.setenv("STRONGROOM_LEDGER", request.getfixturevalue("pg_url"))
        assert cli("ledger", "migrate", "--archive", receiver.root).exit_code == 0
    with open_ledger(receiver.root) as ledger:
        ledger.begin_batch()
        for n in range(2000):
            bag_id = f"andijan-2005-20230101T000000Z-{n:06x}"
            ledger.record_event("ingestion", "pending", bag_id=bag_id, detail={"bag_id": bag_id})
            ledger.record_event("ingestion", "success", bag_id=bag_id, detail={"source": "x"})
        ledger.commit_batch()
    manifests = tmp_path / "manifests"
    args = ("receive", sender.bag_dir(BAG), "--manifests", manifests, "--archive", receiver.root)
    assert strongroom(tmp_path, *args, crash="receive-after-rename")[0] == -signal.SIGKILL
    assert [i["bag_id"] for i in ingest.pending(receiver)] == [BAG]
    r = cli(*args, "--json")
    assert r.exit_code == 0, r.stderr
    assert ingest.pending(receiver) == []
    assert_nothing_or_whole(receiver, manifests)
    with open_ledger(receiver.root) as ledger:
        outcomes = [e["outcome"] for e in ledger.events(types=("ingestion",))]
    assert outcomes.count("success") == 2001 and len(outcomes) == 4002  # nothing undone
    assert not list(receiver.quarantine.glob("*-unfinished-*"))


def test_receive_killed_after_delays_leaves_nothing_or_a_whole_bag(cli, pair, tmp_path) -> None:
    sender, receiver = pair
    manifests = tmp_path / "manifests"
    args = ("receive", sender.bag_dir(BAG), "--manifests", manifests, "--archive", receiver.root)
    t0 = time.monotonic()
    assert strongroom(tmp_path, *args)[0] == 0
    whole = time.monotonic() - t0
    for step in range(1, 4):
        for p in (receiver.bag_dir(BAG), receiver.custody_path(BAG)):
            if p.is_dir():
                subprocess.run(["chmod", "-R", "u+w", str(p)], check=True)
                subprocess.run(["rm", "-rf", str(p)], check=True)
            elif p.exists():
                p.unlink()
        with open_ledger(receiver.root) as ledger, ledger.transaction() as c:
            c.execute("DELETE FROM bags")
        strongroom(tmp_path, *args, kill_after=whole * step / 4)
        assert_nothing_or_whole(receiver, manifests, killed=True)
        r = cli(*args)
        assert r.exit_code == 0, r.stderr
        assert_nothing_or_whole(receiver, manifests)
        assert receiver.bag_ids() == [BAG]


def test_repair_killed_after_delays_is_finished_by_the_next_run(cli, tmp_path) -> None:
    archive = make_archive(tmp_path / "archive", "DE")
    make_bag(archive, BAG)
    (tmp_path / "kyiv").mkdir()
    write_partners(archive, dir_partner("kyiv-mirror", "UA", tmp_path / "kyiv"))
    assert (
        strongroom(tmp_path, "share", BAG, "--to", "kyiv-mirror", "--archive", archive.root)[0] == 0
    )
    local = archive.bag_dir(BAG) / WARC
    good = local.read_bytes()
    t0 = time.monotonic()
    flip_bit(local)
    assert strongroom(tmp_path, "repair", BAG, "--archive", archive.root)[0] == 0
    whole = time.monotonic() - t0
    for step in range(1, 4):
        flip_bit(local)
        strongroom(tmp_path, "repair", BAG, "--archive", archive.root, kill_after=whole * step / 4)
        assert local.read_bytes() in (good, _flipped(good))  # never half a file
        assert not [p for p in local.parent.iterdir() if p.name.startswith(".tmp-")]
        r = cli("repair", BAG, "--json", "--archive", archive.root)
        assert r.exit_code == 0, r.stderr
        assert local.read_bytes() == good
        runs = json.loads(cli("history", BAG, "--json", "--archive", archive.root).stdout)
        assert runs["runs"][-1]["result"] == "valid"
        with open_ledger(archive.root) as ledger:
            assert ledger.events(BAG, types=("repair",), limit=1)[0]["outcome"] == "success"


def _flipped(data: bytes, offset: int = 100) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1 :]
