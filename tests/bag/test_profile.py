"""Our BagIt profile, and new bags against it and the Beyond the Repository profile."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import bagit
import bagit_profile
from bagkit import CAPTURE_ID, make_capture

from strongroom.bag.baginfo import PROFILE_ID

ROOT = Path(__file__).resolve().parents[2]
OURS = ROOT / "profiles" / "strongroom-web-archive-v1.0.json"
# Written from the BtR profile 1.0 requirements for these tests (see its description).
BTR = Path(__file__).parent / "fixtures" / "btr-bagit-profile-1.0.json"
BAG_ID = f"andijan-2005-{CAPTURE_ID}"


def new_bag(cli, archive_dir: Path, tmp_path: Path) -> Path:
    make_capture(archive_dir, derivatives={"p.png": b"\x89PNG", "p.txt": b"text"})
    assert cli("keys", "init").exit_code == 0
    res = cli("bag", CAPTURE_ID, "--manifests", tmp_path / "m")
    assert res.exit_code == 0, res.output
    return archive_dir / "bags" / BAG_ID


def test_profile_file_is_versioned_with_a_stable_identifier():
    data = json.loads(OURS.read_text())
    info = data["BagIt-Profile-Info"]
    assert info["BagIt-Profile-Identifier"] == PROFILE_ID
    assert info["Version"] == "1.0" and OURS.name.endswith("-v1.0.json")
    assert data["Accept-BagIt-Version"] == ["1.0"]
    assert data["Manifests-Required"] == ["sha512"]
    assert "tags/premis.xml" in data["Tag-Files-Required"]
    bagit_profile.Profile(PROFILE_ID, profile=data)  # the spec's validator accepts it


def test_new_bag_meets_our_profile_and_btr_with_bagit_profile(cli, archive_dir, tmp_path):
    bag = bagit.Bag(str(new_bag(cli, archive_dir, tmp_path)))
    ours = bagit_profile.Profile(PROFILE_ID, profile=json.loads(OURS.read_text()))
    assert ours.validate_serialization(bag.path)
    assert ours.validate(bag), [str(e) for e in ours.report.errors]
    # A bag declares one profile (ours), and bagit-profile compares that tag with the
    # URL it is given; BtR's rules are checked in full with our identifier as that URL.
    btr = bagit_profile.Profile(PROFILE_ID, profile=json.loads(BTR.read_text()))
    assert btr.validate_serialization(bag.path)
    assert btr.validate(bag), [str(e) for e in btr.report.errors]
    for label in (
        "Organization-Address",
        "Bag-Count",
        "Internal-Sender-Identifier",
        "Internal-Sender-Description",
        "Bag-Producing-Organization",
    ):
        assert label in json.loads(BTR.read_text())["Bag-Info"]
    assert {"Bag-Count", "Bag-Producing-Organization"} <= set(bag.info)


def test_verify_profile_accepts_and_refuses(cli, archive_dir, tmp_path):
    bag = new_bag(cli, archive_dir, tmp_path)
    res = cli("verify", BAG_ID, "--profile", OURS)
    assert res.exit_code == 0, res.output
    res = cli("verify", str(bag), "--profile", BTR)
    assert res.exit_code == 0, res.output
    assert "declares profile urn:strongroom" in res.output  # said, not failed

    # A copy of the bag that lost a required tag file fails our profile, by name.
    copy = tmp_path / "copy"
    shutil.copytree(bag, copy)
    (copy / "tags" / "premis.xml").chmod(0o644)
    (copy / "tags" / "premis.xml").unlink()
    res = cli("verify", str(copy), "--profile", OURS, "--fast")
    assert res.exit_code == 1
    assert "tags/premis.xml" in res.output


def test_verify_profile_with_a_bad_profile_file_is_a_usage_error(cli, archive_dir, tmp_path):
    new_bag(cli, archive_dir, tmp_path)
    for text in ("not json", "[]", '{"BagIt-Profile-Info": {}}'):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        res = cli("verify", BAG_ID, "--profile", bad)
        assert res.exit_code == 2 and "Traceback" not in res.output, res.output
