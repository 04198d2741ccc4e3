"""A full disk, a read-only file system or a refused permission: a clear message and
exit 2, never a traceback. Real small tmpfs mounts where the machine allows it
(root), otherwise the error is injected at the OS boundary."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import diskkit
import pytest
from diskkit import fill, read_only

from strongroom.bag.signing import init_keys
from strongroom.core.fsutil import atomic_write_bytes, exclusive_lock
from strongroom.core.ledger import Ledger
from strongroom.errors import UsageError


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs (room for a ledger), unmounted afterwards."""
    with diskkit.small_fs(tmp_path / "fs", "1m") as where:
        yield where


def test_ledger_write_on_a_full_disk(small_fs):
    ledger = Ledger(small_fs / "ledger.sqlite")
    fill(small_fs)
    with pytest.raises(UsageError, match="disk is full") as exc:
        for i in range(200):  # until the ledger needs a page the disk does not have
            ledger.record_event("watch", "ok", detail={"pad": "x" * 2000, "i": i})
    assert exc.value.exit_code == 2
    ledger.close()


def test_ledger_on_a_read_only_file_system(small_fs):
    with Ledger(small_fs / "ledger.sqlite") as ledger:
        ledger.record_event("watch", "ok")
    read_only(small_fs)
    with (
        pytest.raises(UsageError, match="ledger") as exc,
        Ledger(small_fs / "ledger.sqlite") as led,
    ):
        led.record_event("watch", "ok")
    assert exc.value.exit_code == 2
    assert "read-only; remount it read-write and run the command again" in exc.value.message


def test_a_ledger_on_a_read_only_file_system_can_still_be_read(small_fs):
    """A mounted backup or an auditor's read-only copy: what was recorded reads back."""
    with Ledger(small_fs / "ledger.sqlite") as ledger:
        ledger.record_event("watch", "ok", bag_id="b1")
    read_only(small_fs)
    with Ledger(small_fs / "ledger.sqlite") as ledger:
        assert [e["outcome"] for e in ledger.events("b1")] == ["ok"]
    assert sorted(p.name for p in small_fs.iterdir()) == ["ledger.sqlite"]


def test_commits_still_in_the_wal_are_read_or_refused_on_a_read_only_file_system(small_fs):
    """A copy taken while the ledger was open keeps commits in ledger.sqlite-wal. They
    are read through it when its index (-shm) was copied too, and otherwise the open
    says what to do: never a ledger silently missing its last commits."""
    import shutil

    live = small_fs / "live"
    keep = Ledger(live / "ledger.sqlite")  # held open: the WAL is not checkpointed
    keep.record_event("watch", "ok", bag_id="b1")
    keep.record_event("watch", "gone", bag_id="b1")
    for copy, suffixes in (("whole", ("", "-wal", "-shm")), ("no-index", ("", "-wal"))):
        (small_fs / copy).mkdir()
        for suffix in suffixes:
            shutil.copy(live / f"ledger.sqlite{suffix}", small_fs / copy / f"ledger.sqlite{suffix}")
    keep.conn.close()
    read_only(small_fs)
    with Ledger(small_fs / "whole" / "ledger.sqlite") as ledger:
        assert [e["outcome"] for e in ledger.events("b1")] == ["ok", "gone"]
    with pytest.raises(UsageError, match="copy the archive to a writable place") as exc:
        Ledger(small_fs / "no-index" / "ledger.sqlite")
    assert exc.value.exit_code == 2


def test_status_history_and_report_read_an_archive_on_a_read_only_file_system(
    small_fs, cli, tmp_path
):
    """status, history and a report elsewhere (-o) read it; commands that must write
    into it still say what to do."""
    from strongroom.core.archive import Archive

    archive = Archive(small_fs / "archive")
    archive.ensure()
    with Ledger(archive.root / "ledger.sqlite") as ledger:
        ledger.record_fixity_run(
            "b1", started="2026-12-01T10:00:00Z", ended="2026-12-01T10:00:01Z", mode="full",
            result="valid", files=3, nbytes=12, failures=[],
        )  # fmt: skip
    read_only(small_fs)
    r = cli("status", "--json", "--archive", archive.root)
    assert r.exit_code == 0, r.stderr
    r = cli("history", "b1", "--json", "--archive", archive.root)
    assert r.exit_code == 0, r.stderr
    assert '"result": "valid"' in r.stdout or '"result":"valid"' in r.stdout
    out = tmp_path / "site" / "report.html"
    r = cli("report", "-o", out, "--archive", archive.root)
    assert r.exit_code == 0, r.stderr
    assert "<html" in out.read_text("utf-8").lower()
    r = cli("verify", "--all", "--fast", "--archive", archive.root)
    assert r.exit_code == 2
    assert "read-only; remount it read-write and run the command again" in r.stderr
    assert "Traceback" not in r.stderr


def test_keys_init_on_a_full_disk(small_fs, cli):
    fill(small_fs)
    r = cli("keys", "init", "--archive", small_fs / "archive")
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert "disk is full" in r.output or "cannot" in r.output
    assert (
        not list((small_fs / "archive" / "keys").glob(".tmp-*"))
        if (small_fs / "archive" / "keys").exists()
        else True
    )


def test_keys_init_on_a_read_only_file_system(small_fs):
    read_only(small_fs)
    with pytest.raises(UsageError, match="read-only"):
        init_keys(small_fs / "keys")


def test_lock_file_on_a_read_only_file_system(small_fs):
    read_only(small_fs)
    with pytest.raises(UsageError, match="read-only"), exclusive_lock(small_fs / "locks" / "x"):
        pass


def test_lock_file_pid_on_a_full_disk_still_locks(small_fs):
    (small_fs / "locks").mkdir()
    (small_fs / "locks" / "verify.lock").touch()
    fill(small_fs)
    with exclusive_lock(small_fs / "locks" / "verify.lock") as got:
        assert got  # the pid is a hint for a person; the lock itself needs no space


def test_atomic_write_on_a_full_disk_leaves_nothing(small_fs):
    fill(small_fs)
    with pytest.raises(UsageError, match="disk is full"):
        atomic_write_bytes(small_fs / "out.bin", b"x" * 100_000)
    assert sorted(p.name for p in small_fs.iterdir()) == ["filler"]


def test_permission_denied_on_the_lock_is_a_usage_error(tmp_path, monkeypatch):
    """Root ignores permissions, so EACCES is injected where the OS would raise it."""
    real = os.open

    def refuse(path, *args, **kwargs):
        if str(path).endswith("verify.lock"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with (
        pytest.raises(UsageError, match="permission denied"),
        exclusive_lock(tmp_path / "verify.lock"),
    ):
        pass


def test_custody_append_on_a_full_disk(small_fs, monkeypatch):
    from strongroom.bag import custody
    from strongroom.core.archive import Archive

    archive = Archive(small_fs / "archive")
    archive.ensure()
    (archive.bags / "b").mkdir()
    custody.append(archive, "b", "creation", outcome="success")
    fill(small_fs)
    with pytest.raises(UsageError, match=r"disk is full|cannot"):
        for _ in range(100):
            custody.append(archive, "b", "watch", outcome="ok", detail={"pad": "y" * 3000})


@pytest.mark.parametrize("free", [64 * 1024, 0])
def test_archive_with_little_or_no_free_space_exits_2_and_leaves_no_bag(cli, site, tmp_path, free):
    """Issue 11 #9: ``archive`` with 64 KB free (the ledger write) and with none."""
    from strongroom.demo import article_urls

    with diskkit.small_fs(tmp_path / "fs", "8m") as where:
        archive = where / "archive"
        urls = tmp_path / "urls.txt"
        urls.write_text(article_urls(site.port)["rferl"] + "\n", "utf-8")
        fill(where, free)
        r = cli("archive", "-i", urls, "--archive", archive, "--no-screenshot",
                "--manifests", tmp_path / "m")  # fmt: skip
        assert r.exit_code == 2, r.output
        assert "Traceback" not in r.output
        assert "disk is full" in r.stderr or "No space left" in r.stderr, r.stderr
        bags = archive / "bags"
        published = [p for p in bags.iterdir() if p.is_dir()] if bags.is_dir() else []
        # nothing half-made under bags/: a bag is published only whole and recorded
        assert [p.name for p in published if p.name.startswith(".tmp-")] == []
        (where / "filler").unlink()
        r = cli("archive", "-i", urls, "--archive", archive, "--no-screenshot",
                "--manifests", tmp_path / "m")  # fmt: skip
        assert r.exit_code == 0, r.output  # with space again, a re-run finishes the job


def test_a_ledger_opened_on_a_full_disk_says_the_disk_is_full(small_fs):
    """SQLite reports a full disk at open as "disk I/O error" (its WAL index cannot
    grow): the message says what it is and what to do, not the engine's words."""
    Ledger(small_fs / "ledger.sqlite").close()
    fill(small_fs)
    with pytest.raises(UsageError) as exc, Ledger(small_fs / "ledger.sqlite") as led:
        led.record_event("watch", "ok")
    assert exc.value.exit_code == 2
    assert "the disk is full; free space and run the command again" in exc.value.message
    assert "I/O error" not in exc.value.message


# --- every command that writes the ledger, custody logs or keys --------------------
@pytest.fixture(scope="module")
def one_bag(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, str]]:
    """(archive folder, bag id, seed URL) of a real archive with one bag; the site stays
    up for the module, so a watch re-run finds the page."""
    from replaykit import GV, make_bag

    from strongroom.core.archive import Archive
    from strongroom.demosite import SiteServer

    archive = Archive(tmp_path_factory.mktemp("one-bag") / "archive")
    site = SiteServer().start()
    try:
        yield archive.root, make_bag(archive, site, [GV]), site.url + GV
    finally:
        site.stop()


def _custody_logs(archive: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (archive / "bags").glob("*.custody.jsonl")}


LEDGER_WRITERS = {
    "access": lambda bag, key: ["access", bag, "restricted", "--reason", "court order"],
    "watch": lambda bag, key: ["watch", "--all"],
    "ledger-migrate": lambda bag, key: ["ledger", "migrate"],
    "verify": lambda bag, key: ["verify", bag],  # --all and --due: tests/verify/test_anchors.py
    "keys-trust": lambda bag, key: ["keys", "trust", key, "--name", "memorial"],
}


@pytest.mark.parametrize("how", ["full", "ro"])
@pytest.mark.parametrize("command", sorted(LEDGER_WRITERS))
def test_commands_on_a_full_or_read_only_archive_say_what_to_do(
    cli, one_bag, tmp_path, command, how
):
    """Exit 2 with the next step on one line, nothing changed, and a re-run once the disk
    is whole again finishes the job."""
    import shutil

    from diskkit import broken, leftovers, says, small_fs

    from strongroom.bag.signing import init_keys

    source, bag_id, _url = one_bag
    key = init_keys(tmp_path / "partner-keys").public_path
    with small_fs(tmp_path / "fs", "8m") as fs:
        archive = fs / "archive"
        shutil.copytree(source, archive)
        args = [*LEDGER_WRITERS[command](bag_id, key), "--archive", archive]
        logs = _custody_logs(archive)
        with broken(fs, how):
            r = cli(*args)
        if command == "ledger-migrate" and how == "ro":
            # a ledger already at this version reads fine and needs no write
            assert r.exit_code == 0 and "nothing to do" in r.stdout, r.output
            return
        assert r.exit_code == 2, r.output
        assert "Traceback" not in r.output
        assert says(how) in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert _custody_logs(archive) == logs  # not half a line more
        assert leftovers(archive) == []
        assert not (archive / "keys" / "trusted" / "memorial.pub").exists()
        again = cli(*args)
        assert again.exit_code == 0, again.output
