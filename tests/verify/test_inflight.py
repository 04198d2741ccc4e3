"""verify and a bag being published: no false "unrecorded" alarm, and a dead run's
publication finished.

A ``bag`` run is killed right after it renamed the bag into ``bags/`` (before its
ledger row, custody line and inventory entry): the state a nightly verify meets
while another run is publishing, or after that run died.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from bagkit import CAPTURE_ID, make_capture
from sharekit import BAG, build_sender, make_pair

from strongroom.bag.publish import CRASH_ENV, LOCK_NAME
from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger
from strongroom.share import ingest

BAG_ID = f"andijan-2005-{CAPTURE_ID}"


def _killed_after_rename(cli, archive: Path, manifests: Path, migrate: bool = False) -> None:
    make_capture(archive)
    if migrate:  # a new PostgreSQL ledger is made by ledger migrate
        assert cli("ledger", "migrate").exit_code == 0
    assert cli("keys", "init").exit_code == 0
    env = dict(os.environ, STRONGROOM_ARCHIVE=str(archive), **{CRASH_ENV: "after-rename"})
    res = subprocess.run(
        [sys.executable, "-m", "strongroom", "bag", CAPTURE_ID, "--manifests", str(manifests)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == -signal.SIGKILL, res.stderr
    assert Archive(archive).bag_ids() == [BAG_ID]
    with open_ledger(archive) as ledger:
        assert BAG_ID not in ledger.bag_ids()  # on disk, not yet recorded


def test_verify_leaves_a_bag_another_run_is_publishing_for_its_next_run(
    cli, archive_dir: Path, manifests: Path
) -> None:
    _killed_after_rename(cli, archive_dir, manifests)
    lock = Archive(archive_dir).locks / LOCK_NAME
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as the publishing run holds it while it works
        res = cli("verify", "--all", "--fast", "--json")
        assert res.exit_code == 0, res.output
        doc = json.loads(res.stdout)
        assert doc["in_flight"] == [BAG_ID]
        assert [b["bag"] for b in doc["bags"]] == []  # not checked, not "unrecorded"
        human = cli("verify", "--all", "--fast")
        assert human.exit_code == 0, human.output
        assert "being published" in human.output and BAG_ID in human.output
        assert "unrecorded" not in human.output and "V041" not in human.output
        assert cli("verify", "--all", "--fast", "--quiet").output == ""  # cron mails nothing
    finally:
        os.close(fd)
    # Once that run is gone, the next verify finishes its publication and checks the bag.
    res = cli("verify", "--all", "--fast", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["in_flight"] == []
    assert [(b["bag"], b["result"]) for b in doc["bags"]] == [(BAG_ID, "valid")]


def test_verify_finishes_the_publication_of_a_run_that_died(
    cli, archive_dir: Path, manifests: Path
) -> None:
    _killed_after_rename(cli, archive_dir, manifests)
    res = cli("verify", "--all", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [(b["bag"], b["result"]) for b in doc["bags"]] == [(BAG_ID, "valid")]
    with open_ledger(archive_dir) as ledger:
        assert ledger.bag_ids() == {BAG_ID}
        assert ledger.pending_publications() == []
    assert (manifests / "andijan-2005").is_dir()  # the inventory entry was written too
    # and the bag's own run, re-run, knows the bag is made
    again = cli("bag", CAPTURE_ID, "--manifests", str(manifests))
    assert again.exit_code == 2 and "already exists" in again.stderr


def test_on_a_shared_ledger_verify_leaves_an_open_publication_to_its_node(
    cli, archive_dir: Path, manifests: Path, pg_url: str, monkeypatch
) -> None:
    """Each node's publishing lock is its own, so a verify cannot tell another node's
    run at work from a dead one: it leaves the bag, and the next ``bag`` finishes it."""
    monkeypatch.setenv("STRONGROOM_LEDGER", pg_url)
    _killed_after_rename(cli, archive_dir, manifests, migrate=True)
    res = cli("verify", "--all", "--fast", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["in_flight"] == [BAG_ID] and doc["bags"] == []
    assert "shared ledger" in doc["notes"][0]
    with open_ledger(archive_dir) as ledger:
        assert [b for b, _ in ledger.pending_publications()] == [BAG_ID]  # left open
    # The node's own next bag run reconciles: the bag is recorded, and verify checks it.
    again = cli("bag", CAPTURE_ID, "--manifests", str(manifests))
    assert again.exit_code == 0 and BAG_ID in again.stdout, again.output
    res = cli("verify", "--all", "--fast", "--json")
    assert res.exit_code == 0, res.output
    assert [(b["bag"], b["result"]) for b in json.loads(res.stdout)["bags"]] == [(BAG_ID, "valid")]


def test_verify_finishes_the_receive_of_a_run_that_died(cli, tmp_path: Path) -> None:
    """A receive killed right after its rename: verify records the whole bag (the
    received bag's intent, as a dead ``bag`` run's), then checks it."""
    sender_root = build_sender(tmp_path / "template")
    sender, receiver = make_pair(
        sender_root, tmp_path / "berlin", tmp_path / "kyiv", tmp_path / "o"
    )
    manifests = tmp_path / "manifests"
    env = dict(os.environ, **{CRASH_ENV: "receive-after-rename"})
    res = subprocess.run(
        [sys.executable, "-m", "strongroom", "receive", str(sender.bag_dir(BAG)),
         "--manifests", str(manifests), "--archive", str(receiver.root)],
        env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == -signal.SIGKILL, res.stderr
    assert [i["bag_id"] for i in ingest.pending(receiver)] == [BAG]
    res = cli("verify", "--all", "--json", "--archive", str(receiver.root))
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["in_flight"] == []
    assert [(b["bag"], b["result"]) for b in doc["bags"]] == [(BAG, "valid")]
    assert ingest.pending(receiver) == []
    assert (manifests / "andijan").is_dir()  # its inventory entry was written too
    with open_ledger(receiver.root) as ledger:
        assert ledger.bag_ids() == {BAG}
