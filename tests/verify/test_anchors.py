"""What protects an archive bag lies outside it: ledger row, inventory, custody log, signature.

Each test plays an adversary or an unlucky operator (issue #1, #9): the check that
should catch them is never skipped, whatever the current folder or the bag's bag-info.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import bagit
import pytest
from test_validate import PAGES_A, write_warc
from verifykit import COLLECTION, make_archive_bag

from strongroom.core.archive import Archive


def problem_codes(r) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    doc = json.loads(r.stdout)
    return {b["bag"]: {p["code"] for p in b["problems"]} for b in doc["bags"]}


def forge(archive: Archive, bag_id: str, group: str = "someone-else") -> None:
    """Replace a bag wholesale by a self-consistent fake, and delete its custody log."""
    bag = archive.bag_dir(bag_id)
    shutil.rmtree(bag)
    (bag / "warc").mkdir(parents=True)
    write_warc(bag / "warc" / f"{bag_id}-00000.warc.gz", {"http://127.0.0.1/x": b"forged"})
    bagit.make_bag(str(bag), bag_info={"Bag-Group-Identifier": group}, checksums=["sha512"])
    archive.custody_path(bag_id).unlink()


def test_forged_bag_fails_verify_all_run_from_root(
    cli, archive: Archive, bags: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    forge(archive, bags[0])
    assert bagit.Bag(str(archive.bag_dir(bags[0]))).is_valid()  # self-consistent
    monkeypatch.chdir("/")  # as under the README's cron line
    r = cli("verify", "--all", "--json")
    assert r.exit_code == 1, r.output
    found = problem_codes(r)[bags[0]]
    assert "inventory" in found and found & {"custody", "custody-missing"}
    assert found & {"inventory-missing", "signature-missing"}


def test_changed_bag_group_identifier_does_not_skip_the_inventory(
    cli, archive: Archive, bags: list[str]
) -> None:
    bag = bagit.Bag(str(archive.bag_dir(bags[0])))
    bag.info["Bag-Group-Identifier"] = "nowhere"
    bag.save()  # tag manifests rewritten: the bag is self-consistent again
    (archive.bag_dir(bags[0]) / "tagmanifest-sha512.txt.sig").unlink()
    r = cli("verify", bags[0], "--json")
    assert r.exit_code == 1, r.output
    messages = " ".join(p["message"] for p in json.loads(r.stdout)["bags"][0]["problems"])
    assert "the ledger recorded the bag in collection 'demo-coll'" in messages
    assert "no longer hashes to the value recorded at bagging" in messages
    assert "signed at bagging" in messages


def test_inventory_that_cannot_be_found_is_a_problem(
    cli, archive: Archive, bags: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    r = cli("verify", bags[0])
    assert r.exit_code == 1, r.output
    assert "inventory of collection demo-coll was not found" in r.stderr
    monkeypatch.chdir(tmp_path / "work")
    assert cli("verify", bags[0]).exit_code == 0


def test_missing_custody_log_is_reported(cli, archive: Archive, bags: list[str]) -> None:
    archive.custody_path(bags[0]).unlink()
    r = cli("verify", bags[0], "--fast")
    assert r.exit_code == 1, r.output
    assert f"custody log {bags[0]}.custody.jsonl is missing" in r.stderr


def test_missing_signature_of_a_signed_bag_is_reported(
    cli, archive: Archive, bags: list[str]
) -> None:
    (archive.bag_dir(bags[1]) / "tagmanifest-sha512.txt.sig").unlink()
    r = cli("verify", bags[1], "--json")
    assert r.exit_code == 1, r.output
    assert "signature-missing" in problem_codes(r)[bags[1]]


def test_verify_all_reports_bags_missing_from_disk_and_unknown_to_the_ledger(
    cli, archive: Archive, bags: list[str]
) -> None:
    shutil.rmtree(archive.bag_dir(bags[0]))
    stray = "demo-coll-20240109T000000Z-ffffff"
    (archive.bag_dir(stray) / "warc").mkdir(parents=True)
    write_warc(archive.bag_dir(stray) / "warc" / "x.warc.gz", PAGES_A)
    bagit.make_bag(str(archive.bag_dir(stray)), bag_info={"Bag-Group-Identifier": COLLECTION})
    r = cli("verify", "--all", "--fast", "--json")
    assert r.exit_code == 1, r.output
    found = problem_codes(r)
    assert found[bags[0]] == {"bag-missing"}
    assert "unrecorded" in found[stray]
    assert found[bags[1]] == set()
    r = cli("verify", "--all", "--fast")
    assert f"the ledger records bag {bags[0]}" in r.stderr
    assert "Traceback" not in r.output


# --- an archive that cannot be written (issue #9) -----------------------------------------


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    return done.returncode == 0


@pytest.fixture
def small_fs(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A real 4 MiB tmpfs (root only), unmounted afterwards."""
    mnt = tmp_path / "small"
    if not _mount_tmpfs(mnt, "4m"):
        pytest.skip("needs root and mount to make a small real file system")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _archive_on(cli, root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Archive:  # type: ignore[no-untyped-def]
    from strongroom.bag import signing

    monkeypatch.setenv("STRONGROOM_ARCHIVE", str(root / "archive"))
    arch = Archive(root / "archive").ensure()
    signing.init_keys(arch.keys)
    work = tmp_path / "work"
    (work / "manifests").mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(work)
    make_archive_bag(arch, "demo-coll-20240101T000000Z-aaaaaa", work / "manifests", PAGES_A)
    return arch


def _fill(folder: Path) -> None:
    with open(folder / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


@pytest.mark.parametrize("how", ["--all", "--due"])
def test_full_disk_gives_a_clear_message_and_exit_2(
    cli, small_fs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    _archive_on(cli, small_fs, tmp_path, monkeypatch)
    _fill(small_fs)
    r = cli("verify", how)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert str(small_fs / "archive") in r.stderr and "cannot" in r.stderr
    assert "the disk is full; free space and run the command again" in r.stderr  # what next


@pytest.mark.parametrize("how", ["--all", "--due"])
def test_read_only_archive_gives_a_clear_message_and_exit_2(
    cli, small_fs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    _archive_on(cli, small_fs, tmp_path, monkeypatch)
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    r = cli("verify", how)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert "read-only" in r.stderr.lower() and str(small_fs / "archive") in r.stderr
    assert "remount it read-write and run the command again" in r.stderr  # what next


def test_full_disk_while_recording_is_injected_when_no_tmpfs(
    cli, archive: Archive, bags: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same failure by injection at the OS boundary, so it is covered without root."""
    real_write = os.write

    def full(fd: int, data: bytes) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".custody.jsonl"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full)
    r = cli("verify", "--all")
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert "No space left" in r.stderr or "full" in r.stderr
