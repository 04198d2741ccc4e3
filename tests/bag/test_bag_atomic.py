"""Never lose data: a failure or a kill midway leaves no bag, and the capture intact."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bagkit import CAPTURE_ID, make_capture, write_big_warc

from strongroom.bag import make as bagging
from strongroom.bag import payload
from strongroom.core.archive import Archive
from strongroom.core.fsutil import clean_stale_temps
from strongroom.errors import UsageError

BAG_ID = f"andijan-2005-{CAPTURE_ID}"


def leftovers(archive: Path) -> list[str]:
    bags = archive / "bags"
    return sorted(p.name for p in bags.iterdir()) if bags.is_dir() else []


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_injected_failure_after_first_file_leaves_nothing(archive_dir, tmp_path, monkeypatch):
    cap = make_capture(archive_dir, derivatives={f"{i}.txt": b"x" * 1000 for i in range(5)})
    before = {p.name: (digest(p), p.stat().st_mode) for p in cap.rglob("*") if p.is_file()}
    calls = []

    def failing(real):  # every file after the first fails, big (threads) or small (batches)
        def fail_after_first(first, *args, **kwargs):
            calls.append(first)
            if len(calls) > 1:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(first, *args, **kwargs)

        return fail_after_first

    real = payload._process_file
    real_small = payload._one_small
    monkeypatch.setattr(payload, "_process_file", failing(real))
    monkeypatch.setattr(payload, "_one_small", failing(real_small))
    with pytest.raises(UsageError, match="disk is full"):
        bagging.bag_capture(Archive(archive_dir), CAPTURE_ID, manifests_dir=tmp_path / "m")
    assert len(calls) > 1
    assert leftovers(archive_dir) == []  # not even a .tmp- folder on a clean failure
    assert Archive(archive_dir).bag_ids() == []
    assert not (tmp_path / "m" / "andijan-2005.json").exists()
    assert not (archive_dir / "bags" / f"{BAG_ID}.custody.jsonl").exists()
    after = {p.name: (digest(p), p.stat().st_mode) for p in cap.rglob("*") if p.is_file()}
    assert after == before  # content, and modes: nothing made read-only

    monkeypatch.setattr(payload, "_process_file", real)
    monkeypatch.setattr(payload, "_one_small", real_small)
    result = bagging.bag_capture(Archive(archive_dir), CAPTURE_ID, manifests_dir=tmp_path / "m")
    assert Archive(archive_dir).bag_ids() == [result.bag_id]


def test_failure_in_the_cli_is_a_clear_message(cli, archive_dir, tmp_path, monkeypatch):
    make_capture(archive_dir)

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(bagging, "write_tag", full)
    res = cli("bag", CAPTURE_ID, "--manifests", tmp_path)
    assert res.exit_code == 2
    assert "disk is full; free space" in res.stderr and "Traceback" not in res.output
    assert leftovers(archive_dir) == []


@pytest.mark.slow
def test_sigkill_midway_leaves_no_bag(archive_dir, tmp_path):
    cap = make_capture(archive_dir)
    big = cap / f"{CAPTURE_ID}-00001.warc.gz"
    write_big_warc(big, 384 * 1024 * 1024)
    mode_before = stat.S_IMODE(big.stat().st_mode)
    size_before = big.stat().st_size
    env = dict(os.environ, STRONGROOM_ARCHIVE=str(archive_dir))
    algos = [a for alg in ("sha256", "sha384", "sha1", "md5") for a in ("--algorithm", alg)]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "strongroom",
            "bag",
            CAPTURE_ID,
            *algos,
            "--manifests",
            str(tmp_path),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # Wait until the staging folder holds the big WARC: hashing is under way.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            staged = list((archive_dir / "bags").glob(f".tmp-*/data/warc/{big.name}"))
            if staged:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "bag finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    names = leftovers(archive_dir)
    assert all(n.startswith(".tmp-") for n in names), names
    assert Archive(archive_dir).bag_ids() == []
    assert not (tmp_path / "andijan-2005.json").exists()
    # The capture is untouched: same size, still writable by its owner, still bag-able.
    assert big.stat().st_size == size_before
    assert stat.S_IMODE(big.stat().st_mode) == mode_before
    assert clean_stale_temps(archive_dir / "bags")
    assert leftovers(archive_dir) == []


@pytest.mark.parametrize("how", ["full", "ro"])
def test_bag_onto_a_full_or_read_only_disk_exits_2_and_publishes_nothing(cli, site, tmp_path, how):
    """A real full or read-only tmpfs: exit 2 naming the next step, no bag, no temp
    folder, the capture untouched; with the disk whole again the same command bags it."""
    from diskkit import broken, leftovers, says, small_fs
    from replaykit import GV, RFERL

    from strongroom.core.ledger import Ledger

    pages = [GV, RFERL]
    with small_fs(tmp_path / "fs", "4m") as fs:
        archive = fs / "archive"
        first, second = (
            json.loads(cli("capture", site.url + p, "--archive", archive, "--json").stdout)
            for p in pages
        )
        bag = ["bag", "--archive", archive, "--manifests", tmp_path / "m"]
        # a first bag fixes the inventory's place in config.toml, as in a working archive
        assert cli(*bag, first["capture_id"]).exit_code == 0
        cap = Path(second["path"])
        before = {p.name: digest(p) for p in cap.rglob("*") if p.is_file()}
        # the ledger's WAL index exists before the disk fills (a run that started with room)
        ledger = Ledger(archive / "ledger.sqlite") if how == "full" else None
        try:
            with broken(fs, how):
                r = cli(*bag, second["capture_id"])
        finally:
            if ledger is not None:
                ledger.close()
        assert r.exit_code == 2, r.output
        assert "Traceback" not in r.output
        assert says(how) in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        if how == "full":
            assert "nothing was published" in r.stderr
        assert len(Archive(archive).bag_ids()) == 1 and leftovers(archive) == []
        assert {p.name: digest(p) for p in cap.rglob("*") if p.is_file()} == before
        again = cli(*bag, second["capture_id"])
        assert again.exit_code == 0, again.output
        assert len(Archive(archive).bag_ids()) == 2
