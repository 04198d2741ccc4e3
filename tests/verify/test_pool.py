"""verify --all --fast on every core: the same findings as one bag after another, and a
run stopped at any moment (Ctrl-C, SIGTERM, SIGKILL) leaves ledger and logs consistent."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from verifykit import COLLECTION, make_archive_bag, register_bag

from strongroom.bag import custody, inventory, signing
from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger

REPO = Path(__file__).resolve().parents[2]


def make_many(archive: Archive, manifests: Path, n: int) -> list[str]:
    """``n`` archive bags: one made as strongroom makes them, the others copies of it
    under their own ids, each with its own custody log, ledger row and inventory entry."""
    ids = [f"{COLLECTION}-20240101T000000Z-{i:06x}" for i in range(n)]
    first = make_archive_bag(archive, ids[0], manifests, {"http://127.0.0.1/a": b"a" * 300})
    key = signing.load_private_key(archive.keys)
    hashes = inventory.tagmanifest_hashes(first)
    with open_ledger(archive.root) as ledger:
        for bag_id in ids[1:]:
            shutil.copytree(first, archive.bag_dir(bag_id))
            register_bag(
                archive,
                bag_id,
                manifests,
                ["http://127.0.0.1/a"],
                ledger=ledger,
                key=key,
                tagmanifests=hashes,
            )
    return ids


def verdicts(doc: dict) -> dict[str, tuple[str, list[str]]]:
    return {b["bag"]: (b["result"], [p["message"] for p in b["problems"]]) for b in doc["bags"]}


def test_pool_finds_what_a_sequential_run_finds(
    cli, archive: Archive, manifests: Path, tmp_path: Path
) -> None:
    ids = make_many(archive, manifests, 12)
    damaged = ids[7]
    warc = next((archive.bag_dir(damaged) / "data").rglob("*.warc.gz"))
    warc.write_bytes(warc.read_bytes() + b"more")  # Payload-Oxum no longer holds
    (archive.bag_dir(ids[3]) / "tagmanifest-sha512.txt.sig").unlink()  # signed at bagging
    pooled = cli("verify", "--all", "--fast", "--jobs", "2", "--json")
    sequential = cli("verify", "--all", "--fast", "--jobs", "1", "--json")
    assert pooled.exit_code == sequential.exit_code == 1, pooled.output
    one, two = json.loads(pooled.stdout), json.loads(sequential.stdout)
    assert [b["bag"] for b in one["bags"]] == ids  # in the bags' order
    assert verdicts(one) == verdicts(two)
    bad = {b for b, (result, _) in verdicts(one).items() if result != "valid"}
    assert bad == {damaged, ids[3]}
    assert any("Payload-Oxum" in m for m in verdicts(one)[damaged][1])
    assert any("tagmanifest-sha512.txt.sig: missing" in m for m in verdicts(one)[ids[3]][1])
    # the human output names the damaged bag, on stdout and stderr
    r = cli("verify", "--all", "--fast", "--jobs", "2")
    assert r.exit_code == 1 and f"INVALID  {damaged}" in r.stdout and damaged in r.stderr
    # every check was recorded, in order, by the one process that writes the ledger
    with open_ledger(archive.root) as ledger:
        for bag_id in ids:
            entries = custody.read_entries(archive.custody_path(bag_id))
            assert [e["action"] for e in entries][-3:] == ["fixity check"] * 3
            head = ledger.custody_head(bag_id)
            assert head is not None and head.seq == entries[-1]["seq"]


def test_pool_quiet_prints_nothing_and_no_bar_off_a_terminal(
    cli, archive: Archive, manifests: Path
) -> None:
    make_many(archive, manifests, 6)
    r = cli("verify", "--all", "--fast", "--jobs", "2", "--quiet")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    r = cli("verify", "--all", "--fast", "--jobs", "2")
    assert r.exit_code == 0 and r.stderr == ""  # no progress bar when not on a terminal
    assert r.stdout.count("valid    ") == 6


def test_progress_bar_on_a_terminal(archive: Archive, manifests: Path) -> None:
    import pty

    make_many(archive, manifests, 4)
    main, child = pty.openpty()
    proc = subprocess.run(
        [sys.executable, "-m", "strongroom", "verify", "--all", "--fast", "--jobs", "2"],
        env=_env(archive),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=child,
        timeout=120,
    )
    os.close(child)
    seen = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(main)
    assert proc.returncode == 0
    assert b"verify" in seen and b"4/4" in seen  # the bar counts bags


def _env(archive: Archive) -> dict[str, str]:
    src = str(REPO / "src")
    path = os.environ.get("PYTHONPATH")
    return dict(
        os.environ,
        STRONGROOM_ARCHIVE=str(archive.root),
        PYTHONPATH=src + (os.pathsep + path if path else ""),
        COLUMNS="100",
    )


def _checked(archive: Archive) -> int:
    """How many custody logs hold a fixity check already (the run's progress)."""
    return sum(b'"fixity check"' in p.read_bytes() for p in archive.bags.glob("*.custody.jsonl"))


def _stop_midway(archive: Archive, how: str, delay: float) -> int:
    """Start a pooled run, stop it with ``how`` once it has begun; its exit code."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "strongroom", "verify", "--all", "--fast", "--jobs", "2"],
        env=_env(archive),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while _checked(archive) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(delay)
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal sends it: the whole group
    else:
        with_signal = signal.SIGTERM if how == "sigterm" else signal.SIGKILL
        os.kill(proc.pid, with_signal)
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err, err.decode(errors="replace")
    _no_workers_left(proc.pid)
    return proc.returncode


def _no_workers_left(pgid: int) -> None:
    """Workers end with the run, even one killed outright."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.killpg(pgid, signal.SIGKILL)
    pytest.fail("worker processes outlived the verify run")


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "sigkill"])
def test_a_stopped_pooled_run_leaves_ledger_and_logs_consistent(
    cli, archive: Archive, manifests: Path, how: str
) -> None:
    ids = make_many(archive, manifests, 120)
    code = _stop_midway(archive, how, random.uniform(0.0, 0.3))
    sig = {"ctrl-c": signal.SIGINT, "sigterm": signal.SIGTERM, "sigkill": signal.SIGKILL}[how]
    allowed = {0, 2} if how != "sigkill" else {0, -signal.SIGKILL}
    if _checked(archive) == len(ids):
        # On an idle machine the signal can land after the last bag, as the run
        # exits; it then ends by that signal, as any Unix program does. Mid-run,
        # it must be the clean stop (exit 2).
        allowed.add(-sig)
    assert code in allowed, code
    # every log still reaches the head the ledger anchored (lines the batch did not
    # commit chain on from it), so the next run, and a full check, find every bag valid
    r = cli("verify", "--all", "--fast", "--quiet")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", ""), r.output
    r = cli("verify", "--all", "--quiet", "--jobs", "2")
    assert r.exit_code == 0, r.output
    with open_ledger(archive.root) as ledger:
        for bag_id in ids:
            entries = custody.read_entries(archive.custody_path(bag_id))
            head = ledger.custody_head(bag_id)
            assert head is not None and head.seq == entries[-1]["seq"]
            assert custody.verify_chain(archive.custody_path(bag_id)).ok
