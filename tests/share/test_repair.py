"""repair: damaged payload files come back from a partner copy that matches the manifest."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from sharekit import dir_partner, flip_bit, make_archive, make_bag, write_partners

from strongroom.bag import custody
from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger

BAG = "andijan-2005-20240501T101500Z-1a2b3c"
WARC = "data/warc/capture-00001.warc.gz"


@pytest.fixture
def shared(cli, archive_dir: Path, tmp_path: Path) -> Archive:
    """A bag with good copies at kyiv-mirror (UA) and riga-mirror (LV)."""
    archive = make_archive(archive_dir, "DE")
    make_bag(archive, BAG)
    for name in ("kyiv", "riga"):
        (tmp_path / name).mkdir()
    write_partners(
        archive,
        dir_partner("kyiv-mirror", "UA", tmp_path / "kyiv"),
        dir_partner("riga-mirror", "LV", tmp_path / "riga"),
    )
    for partner in ("kyiv-mirror", "riga-mirror"):
        assert cli("share", BAG, "--to", partner, "--archive", archive.root).exit_code == 0
    return archive


def test_flipped_bit_is_repaired_and_damaged_copy_refused(cli, shared, tmp_path) -> None:
    archive = shared
    local = archive.bag_dir(BAG) / WARC
    original = local.read_bytes()
    flip_bit(local)
    flip_bit(tmp_path / "kyiv" / BAG / WARC, 50)  # the first copy tried is damaged too
    assert cli("verify", BAG, "--archive", archive.root).exit_code == 1

    r = cli("repair", BAG, "--archive", archive.root)
    assert r.exit_code == 0, r.output
    assert (
        f"{WARC} at kyiv-mirror" in r.stderr and "does not match the manifest; not used" in r.stderr
    )
    assert f"repaired {WARC} from riga-mirror" in r.stdout
    assert "re-verified: valid" in r.stdout
    assert local.read_bytes() == original
    assert stat.S_IMODE(local.stat().st_mode) == 0o444
    assert not [p for p in local.parent.iterdir() if p.name.startswith(".tmp-")]
    assert cli("verify", BAG, "--archive", archive.root).exit_code == 0

    entries = custody.read_entries(archive.custody_path(BAG))
    event = [e for e in entries if e["action"] == "repair"][-1]
    assert event["outcome"] == "success"
    assert event["detail"]["repaired"][0]["source"] == "riga-mirror"
    with open_ledger(archive.root) as ledger:
        assert [e["event_type"] for e in ledger.events(BAG)][-1] == "repair"
        kyiv = ledger.query("SELECT status FROM copies WHERE partner = 'kyiv-mirror'")
    assert kyiv[0]["status"] == "damaged"


def test_missing_file_is_restored(cli, shared) -> None:
    archive = shared
    local = archive.bag_dir(BAG) / "data/derivatives/page.txt"
    local.unlink()
    r = cli("repair", BAG, "--from", "kyiv-mirror", "--json", "--archive", archive.root)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["ok"] and doc["repaired"][0]["file"] == "data/derivatives/page.txt"
    assert local.read_bytes() == b"The article text.\n"


def test_no_matching_copy_means_no_repair(cli, shared, tmp_path) -> None:
    archive = shared
    local = archive.bag_dir(BAG) / WARC
    flip_bit(local)
    damaged = local.read_bytes()
    flip_bit(tmp_path / "kyiv" / BAG / WARC, 60)
    flip_bit(tmp_path / "riga" / BAG / WARC, 70)
    r = cli("repair", BAG, "--archive", archive.root)
    assert r.exit_code == 1
    assert f"could not repair {WARC}: no copy matches the manifest" in r.stderr
    assert "still damaged after repair" in r.stderr
    assert local.read_bytes() == damaged  # never replaced with a wrong copy
    *_, check, event = custody.read_entries(archive.custody_path(BAG))
    assert event["action"] == "repair" and event["outcome"] == "failure"
    assert check["action"] == "fixity check" and check["outcome"] == "failure"


def test_valid_bag_needs_no_repair_and_damaged_tags_are_not_trusted(cli, shared) -> None:
    archive = shared
    r = cli("repair", BAG, "--archive", archive.root)
    assert r.exit_code == 0 and "nothing to repair" in r.stdout
    flip_bit(archive.bag_dir(BAG) / WARC)
    with open(archive.bag_dir(BAG) / "manifest-sha512.txt", "a") as fh:
        fh.write("\n")
    bad = cli("repair", BAG, "--archive", archive.root)
    assert bad.exit_code == 1 and "tag files are damaged" in bad.stderr


def test_repair_without_any_copy_says_so(cli, archive_dir) -> None:
    archive = make_archive(archive_dir, "DE")
    make_bag(archive, BAG)
    flip_bit(archive.bag_dir(BAG) / WARC)
    r = cli("repair", BAG, "--archive", archive.root)
    assert r.exit_code == 1 and "no good copy" in r.stderr
    unknown = cli("repair", "no-such-bag", "--archive", archive.root)
    assert unknown.exit_code == 2 and "no bag 'no-such-bag'" in unknown.stderr


def test_successful_repair_is_recorded_as_a_valid_fixity_run(cli, shared) -> None:
    """After `repair`, `history` shows the bag valid again, not the failed check before it."""
    archive = shared
    flip_bit(archive.bag_dir(BAG) / WARC)
    assert cli("verify", BAG, "--archive", archive.root).exit_code == 1
    assert cli("repair", BAG, "--archive", archive.root).exit_code == 0

    runs = json.loads(cli("history", BAG, "--json", "--archive", archive.root).stdout)["runs"]
    assert [r["result"] for r in runs][-2:] == ["invalid", "valid"]
    assert runs[-1]["mode"] == "full"
    actions = [e["action"] for e in custody.read_entries(archive.custody_path(BAG))]
    assert actions[-2:] == ["fixity check", "repair"]
