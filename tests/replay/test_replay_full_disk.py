"""``export --wacz`` and ``replay --build-only`` onto a full or read-only disk: exit 2
with the next step, no traceback, nothing half-written (no partial WACZ, no export in
the custody log that did not happen, the previous replay folder whole).

Real small tmpfs mounts (root only; the tests skip otherwise), see tests/kits/diskkit.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from diskkit import broken, leftovers, says, small_fs
from replaykit import GV, make_bag

from strongroom.core.archive import Archive
from strongroom.demosite import SiteServer
from strongroom.replay.wacz import validate_wacz


@pytest.fixture(scope="module")
def public_bag(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    archive = Archive(tmp_path_factory.mktemp("replay-disk") / "archive")
    site = SiteServer().start()
    try:
        bag = make_bag(archive, site, [GV])
    finally:
        site.stop()
    yield archive.root, bag


def _one_line(r, how: str) -> None:  # type: ignore[no-untyped-def]
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert says(how) in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.parametrize("how", ["full", "ro"])
def test_export_wacz_onto_a_full_or_read_only_disk_leaves_nothing(cli, public_bag, tmp_path, how):
    source, bag = public_bag
    archive = tmp_path / "archive"
    shutil.copytree(source, archive)
    log = archive / "bags" / f"{bag}.custody.jsonl"
    entries = log.read_bytes()
    with small_fs(tmp_path / "fs", "1m") as fs:
        out = fs / "bag.wacz"
        args = ["export", bag, "--wacz", "-o", out, "--archive", archive]
        with broken(fs, how):
            r = cli(*args)
            _one_line(r, how)
            assert sorted(p.name for p in fs.iterdir()) == (["filler"] if how == "full" else [])
        assert log.read_bytes() == entries  # no export recorded that did not happen
        again = cli(*args)
        assert again.exit_code == 0, again.output
        assert validate_wacz(out)[0]
        assert b'"action":"export"' in log.read_bytes()[len(entries) :].replace(b" ", b"")


@pytest.mark.parametrize("how", ["full", "ro"])
def test_replay_build_on_a_full_or_read_only_archive_keeps_the_previous_build(
    cli, public_bag, tmp_path, how
):
    source, _bag = public_bag
    with small_fs(tmp_path / "fs", "8m") as fs:
        archive = fs / "archive"
        shutil.copytree(source, archive)
        args = ["replay", "--build-only", "--archive", archive, "--quiet"]
        assert cli(*args).exit_code == 0
        built = {
            p.relative_to(archive): p.read_bytes()
            for p in (archive / "replay").rglob("*")
            if p.is_file()
        }
        with broken(fs, how):
            _one_line(cli(*args), how)
        now = {
            p.relative_to(archive): p.read_bytes()
            for p in (archive / "replay").rglob("*")
            if p.is_file()
        }
        assert now == built and leftovers(archive) == []
        assert cli(*args).exit_code == 0
