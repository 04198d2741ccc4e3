"""A full disk during receive or export: a clear message, exit 2, nothing half-made.

Issue 11 #9, on a real small file system (tmpfs; the tests need root to mount it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from diskkit import fill, small_fs
from sharekit import make_archive, make_bag, warc_bytes

BAG = "andijan-2005-20240501T101500Z-1a2b3c"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB tmpfs, unmounted afterwards."""
    with small_fs(tmp_path / "small", "4m") as mnt:
        yield mnt


def test_receive_on_a_full_disk_exits_2_and_leaves_nothing(cli, tmp_path, small_disk) -> None:
    sender = make_archive(tmp_path / "berlin", "DE")
    make_bag(sender, BAG)
    receiver = make_archive(small_disk / "archive", "UA")
    (receiver.keys / "trusted").mkdir(exist_ok=True)
    (receiver.keys / "trusted" / "berlin.pub").write_bytes(
        (sender.keys / "signing.pub").read_bytes()
    )
    assert cli("status", "--archive", receiver.root).exit_code == 0  # the ledger exists
    fill(small_disk)
    r = cli("receive", sender.bag_dir(BAG), "--archive", receiver.root)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert "cannot write" in r.stderr or "free space" in r.stderr
    assert receiver.bag_ids() == []
    leftovers = list(receiver.quarantine.iterdir()) if receiver.quarantine.exists() else []
    assert leftovers == []


def test_export_to_a_full_disk_exits_2_and_leaves_no_partial_tar(cli, tmp_path, small_disk):
    archive = make_archive(tmp_path / "archive", "DE")
    payload = {"warc/capture-00001.warc.gz": warc_bytes(BAG), "big.bin": os.urandom(6 << 20)}
    make_bag(archive, BAG, files=payload)
    r = cli("share", "--export", BAG, "-o", small_disk / "bag.tar", "--archive", archive.root)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and "disk is full" in r.stderr
    assert list(small_disk.iterdir()) == []  # no temporary file, no half tar
