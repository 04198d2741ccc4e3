"""One policy for every way out: share, tar export and WACZ ask the same question.

Issue 15 #7: a restricted bag does not leave as a WACZ (or a tar that may go
anywhere) without --override --reason, as it does not go to a partner that may
not hold it; sharing to a partner that already holds the bag confirms the copy;
`share --json` answers with a document when it refuses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sharekit import dir_partner, make_archive, make_bag, write_partners

from strongroom.bag import custody
from strongroom.core.archive import Archive

BAG = "andijan-2005-20240501T101500Z-1a2b3c"


@pytest.fixture
def restricted(archive_dir: Path, tmp_path: Path) -> Archive:
    """A restricted bag; kyiv-mirror may hold restricted bags, riga-mirror only public."""
    archive = make_archive(archive_dir, "DE")
    make_bag(archive, BAG, access="restricted")
    for name in ("kyiv", "riga"):
        (tmp_path / name).mkdir()
    write_partners(
        archive,
        dir_partner("kyiv-mirror", "UA", tmp_path / "kyiv"),
        dir_partner("riga-mirror", "LV", tmp_path / "riga", access=("public",)),
    )
    return archive


def test_restricted_bag_is_not_exported_as_wacz_without_override(cli, restricted, tmp_path):
    out = tmp_path / "bag.wacz"
    r = cli("export", BAG, "--wacz", "-o", out, "--archive", restricted.root)
    assert r.exit_code == 1, r.output
    assert "is restricted" in r.stderr and "--override" in r.stderr
    assert not out.exists()
    ok = cli(
        "export",
        BAG,
        "--wacz",
        "-o",
        out,
        "--override",
        "--reason",
        "court order 12/2025",
        "--archive",
        restricted.root,
    )
    assert ok.exit_code == 0, ok.output
    assert out.is_file()
    entries = custody.read_entries(restricted.custody_path(BAG))
    override = [e for e in entries if e["action"] == "policy override"]
    assert override and override[-1]["inputs"]["reason"] == "court order 12/2025"


def test_the_same_rule_governs_share_tar_export_and_wacz(cli, restricted, tmp_path):
    root = restricted.root
    share = cli("share", BAG, "--to", "riga-mirror", "--archive", root)
    tar = cli("share", "--export", BAG, "-o", tmp_path / "b.tar", "--archive", root)
    wacz = cli("export", BAG, "--wacz", "-o", tmp_path / "b.wacz", "--archive", root)
    assert [r.exit_code for r in (share, tar, wacz)] == [1, 1, 1]
    assert all("is restricted" in r.stderr for r in (share, tar, wacz))
    # a tar for a partner that may hold restricted bags goes
    to_kyiv = cli(
        "share", "--export", BAG, "-o", tmp_path / "k.tar", "--to", "kyiv-mirror", "--archive", root
    )
    assert to_kyiv.exit_code == 0, to_kyiv.output


def test_share_json_prints_a_document_when_it_refuses(cli, restricted):
    r = cli("share", BAG, "--to", "riga-mirror", "--json", "--archive", restricted.root)
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["partner"] == "riga-mirror" and doc["exit_code"] == 1
    assert any("restricted" in why for why in doc["reasons"])


def test_sharing_again_confirms_the_copy_is_there(cli, restricted, tmp_path):
    root = restricted.root
    assert cli("share", BAG, "--to", "kyiv-mirror", "--archive", root).exit_code == 0
    again = cli("share", BAG, "--to", "kyiv-mirror", "--json", "--archive", root)
    assert again.exit_code == 0, again.output
    doc = json.loads(again.stdout)
    assert doc["already_there"] is True and doc["confirmed_by"].startswith("already there")
    # a copy that was changed at the partner is not overwritten, and not called good
    page = tmp_path / "kyiv" / BAG / "data/derivatives/page.txt"
    page.chmod(0o644)
    page.write_text("edited\n")
    bad = cli("share", BAG, "--to", "kyiv-mirror", "--archive", root)
    assert bad.exit_code == 1 and "does not match" in bad.stderr
    assert page.read_text() == "edited\n"
