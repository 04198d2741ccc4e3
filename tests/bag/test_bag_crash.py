"""SIGKILL ``bag`` and ``archive`` at many points: afterwards every bag verifies, the
ledger and the inventory agree with the disk, and a re-run finishes the job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bagkit import CAPTURE_ID, make_capture

from strongroom.bag import custody, inventory
from strongroom.bag.publish import CRASH_ENV, STALE_CAPTURE
from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger

BAG_ID = f"andijan-2005-{CAPTURE_ID}"
POINTS = [
    "before-rename",
    "after-rename",
    "after-ledger-row",
    "after-creation",
    "after-inventory",
]


def strongroom(archive: Path, *args: str, crash: str | None = None, cwd: Path | None = None):
    env = dict(os.environ, STRONGROOM_ARCHIVE=str(archive))
    env.pop(CRASH_ENV, None)
    if crash:
        env[CRASH_ENV] = crash
    return subprocess.run(
        [sys.executable, "-m", "strongroom", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def assert_consistent(cli, archive: Path, manifests: Path) -> None:
    """Every bag on disk verifies and is known to the ledger, the inventory and its
    custody log (one creation); nothing half-made is left under bags/."""
    arch = Archive(archive)
    on_disk = set(arch.bag_ids())
    assert not [p.name for p in arch.bags.iterdir() if p.name.startswith(".tmp-")]
    with open_ledger(archive) as ledger:
        assert ledger.bag_ids() == on_disk
        assert ledger.pending_publications() == []
    for bag_id in on_disk:
        coll = bag_id.rsplit(f"-{CAPTURE_ID}", 1)[0]
        inv = inventory.inventory_path(manifests, coll)
        assert inventory.check_bag(inv, arch.bag_dir(bag_id)) == []
        actions = [e["action"] for e in custody.read_entries(arch.custody_path(bag_id))]
        assert actions.count("creation") == 1, actions
    if on_disk:
        res = cli("verify", "--all", "--inventory", str(inv), "--archive", archive)
        assert res.exit_code == 0, res.output


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS)
def test_sigkill_of_bag_then_rerun(cli, archive_dir, tmp_path, point):
    # Only the killed run must be a child process; the others run in-process (faster).
    make_capture(archive_dir)
    manifests = tmp_path / "manifests"
    assert cli("keys", "init").exit_code == 0
    res = strongroom(archive_dir, "bag", CAPTURE_ID, "--manifests", str(manifests), crash=point)
    assert res.returncode == -signal.SIGKILL, res.stderr
    # Right after the kill: either no bag, or a bag folder whose intent is pending.
    with open_ledger(archive_dir) as ledger:
        pending = [b for b, _ in ledger.pending_publications()]
    assert pending == [BAG_ID]

    res = cli("bag", CAPTURE_ID, "--manifests", str(manifests))
    assert res.exit_code == 0, res.output
    assert Archive(archive_dir).bag_ids() == [BAG_ID]
    assert_consistent(cli, archive_dir, manifests)
    # And the bag is only made once: a further run refuses to replace it.
    res = cli("bag", CAPTURE_ID, "--manifests", str(manifests))
    assert res.exit_code == 2 and "already exists" in res.stderr


@pytest.mark.slow
def test_sigkill_at_a_random_moment_of_hashing(cli, archive_dir, tmp_path):
    """A kill while the payload is being hashed leaves a staging folder, no bag; the
    next run removes the staging folder and makes the bag."""
    from bagkit import write_big_warc

    cap = make_capture(archive_dir)
    write_big_warc(cap / f"{CAPTURE_ID}-00001.warc.gz", 64 * 1024 * 1024)
    manifests = tmp_path / "manifests"
    env = dict(os.environ, STRONGROOM_ARCHIVE=str(archive_dir))
    proc = subprocess.Popen(
        [sys.executable, "-m", "strongroom", "bag", CAPTURE_ID, "--manifests", str(manifests)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    bags = archive_dir / "bags"
    while time.monotonic() < deadline and proc.poll() is None:
        if bags.is_dir() and any(p.name.startswith(".tmp-") for p in bags.iterdir()):
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert Archive(archive_dir).bag_ids() in ([], [BAG_ID])
    res = cli("bag", CAPTURE_ID, "--manifests", str(manifests))
    if Archive(archive_dir).bag_ids() == [BAG_ID] and res.exit_code == 2:
        pass  # the kill came after the bag was fully recorded
    else:
        assert res.exit_code == 0, res.output
    assert_consistent(cli, archive_dir, manifests)


@pytest.mark.slow
@pytest.mark.parametrize("point", ["before-rename", "after-rename", "after-creation"])
def test_sigkill_of_archive_then_rerun(cli, archive_dir, tmp_path, site, point):
    """The main job (capture, screenshots off, bag, verify) killed while it bags."""
    text = (Path(__file__).parents[2] / "collections" / "demo.toml").read_text("utf-8")
    coll = tmp_path / "demo.toml"
    coll.write_text(text.replace(":8737/", f":{site.port}/"), "utf-8")
    manifests = tmp_path / "manifests"
    args = ["archive", "-c", str(coll), "--manifests", str(manifests), "--no-screenshot"]
    res = strongroom(archive_dir, *args, crash=point)
    assert res.returncode == -signal.SIGKILL, res.stdout + res.stderr
    captures = [p.name for p in (archive_dir / "captures").iterdir()]
    assert len(captures) == 1
    # Re-running the job reconciles first: the interrupted bag is finished or undone,
    # and the capture left behind can be bagged by name.
    res = cli("bag", captures[0], "--manifests", str(manifests))
    assert res.exit_code == 0, res.output
    arch = Archive(archive_dir)
    assert arch.bag_ids() == [f"demo-{captures[0]}"]
    with open_ledger(archive_dir) as ledger:
        assert ledger.bag_ids() == set(arch.bag_ids())
        assert ledger.pending_publications() == []
    inv = inventory.inventory_path(manifests, "demo")
    assert inventory.check_bag(inv, arch.bag_dir(arch.bag_ids()[0])) == []
    res = cli("verify", "--all", "--inventory", str(inv))
    assert res.exit_code == 0, res.output


def test_stale_staging_and_abandoned_captures_are_cleared(cli, archive_dir, tmp_path):
    make_capture(archive_dir)
    bags = archive_dir / "bags"
    (bags / ".tmp-old-bag-1234").mkdir(parents=True)
    (bags / ".tmp-old-bag-1234" / "junk").write_bytes(b"x" * 100)
    dead = archive_dir / "captures" / "20200101T000000Z-dead00"
    dead.mkdir(parents=True)
    (dead / "x.warc.gz").write_bytes(b"partial")
    old = time.time() - STALE_CAPTURE - 60
    for p in (dead / "x.warc.gz", dead):
        os.utime(p, (old, old))
    live = archive_dir / "captures" / "20200101T000000Z-live00"  # maybe still capturing
    live.mkdir()
    res = cli("bag", CAPTURE_ID, "--manifests", str(tmp_path / "m"))
    assert res.exit_code == 0, res.stderr
    assert not (bags / ".tmp-old-bag-1234").exists()
    assert not dead.exists() and live.exists()
    moved = list((archive_dir / "quarantine" / "captures").iterdir())
    assert [p.name.rsplit("-", 1)[0] for p in moved] == [dead.name]
