"""A capture onto a full or read-only disk: exit 2 with the next step, no traceback,
no half-made capture folder, and a re-run with space again captures the page.

Real small tmpfs mounts (root only; the tests skip otherwise), see tests/kits/diskkit.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from diskkit import broken, leftovers, says, small_fs
from replaykit import GV

from strongroom.core.archive import Archive
from strongroom.core.ledger import Ledger


def _captures(archive: Path) -> list[Path]:
    folder = archive / "captures"
    return sorted(folder.iterdir()) if folder.is_dir() else []


@pytest.mark.parametrize(("how", "workers"), [("full", "4"), ("full", "1"), ("ro", "4")])
def test_capture_onto_a_full_or_read_only_disk_leaves_no_half_capture(
    cli, site, tmp_path, how, workers
):
    """Threaded workers and the inline ``--concurrency 1`` crawl alike."""
    with small_fs(tmp_path / "fs", "4m") as fs:
        archive = Archive(fs / "archive").ensure()
        # On a full disk the ledger is open (its WAL index made) before the disk fills,
        # as in a run that started with room: what fails is the WARC, not the ledger.
        # (A read-only remount needs no file open for writing.)
        ledger = Ledger(archive.root / "ledger.sqlite")
        if how == "ro":
            ledger.close()
        try:
            with broken(fs, how):
                r = cli("capture", site.url + GV, "--concurrency", workers,
                        "--archive", archive.root)  # fmt: skip
        finally:
            ledger.close()
        assert r.exit_code == 2, r.output
        assert "Traceback" not in r.output
        assert says(how) in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        if how == "full":
            assert "cannot write WARC" in r.stderr
        assert _captures(archive.root) == []  # no folder without its capture.json
        assert leftovers(archive.root) == []
        again = cli("capture", site.url + GV, "--archive", archive.root)
        assert again.exit_code == 0, again.output
        [made] = _captures(archive.root)
        assert (made / "capture.json").is_file() and list(made.glob("*.warc.gz"))
