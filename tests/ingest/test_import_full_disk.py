"""``strongroom import`` into a full or read-only archive: exit 2 with the next step, no
traceback, no half-copied capture or bag; with the disk whole again it imports.

Real small tmpfs mounts (root only; the tests skip otherwise), see tests/kits/diskkit.py.
"""

from __future__ import annotations

import json

import foreignkit as fk
import pytest
from diskkit import broken, leftovers, says, small_fs

from strongroom.core.archive import Archive


@pytest.mark.parametrize("how", ["full", "ro"])
@pytest.mark.parametrize("style", ["wget", "wacz"])
def test_import_into_a_full_or_read_only_archive_leaves_nothing(cli, tmp_path, style, how):
    src = (fk.wget_warc if style == "wget" else fk.wacz_file)(tmp_path)
    with small_fs(tmp_path / "fs", "4m") as fs:
        archive = Archive(fs / "archive").ensure()
        args = ["import", src, "--archive", archive.root, "--manifests", tmp_path / "m"]
        with broken(fs, how):
            r = cli(*args)
        assert r.exit_code == 2, r.output
        assert "Traceback" not in r.output
        assert says(how) in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert list(archive.captures.iterdir()) == [] and archive.bag_ids() == []
        assert leftovers(archive.root) == []
        again = cli(*args, "--json")
        assert again.exit_code == 0, again.output
        assert archive.bag_ids() == json.loads(again.stdout)["bags"]
