"""share, export, replicate and partners, end to end through the CLI, with real bags."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest
from sharekit import (
    RFERL,
    dir_partner,
    flip_bit,
    make_archive,
    make_bag,
    write_partners,
)

from strongroom.bag import custody
from strongroom.bag.signing import Keyring
from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger

BAG = "andijan-2005-20240501T101500Z-1a2b3c"
RFE = "rferl-2024-20240601T101500Z-aaaaaa"


@pytest.fixture
def setup(archive_dir: Path, tmp_path: Path) -> tuple[Archive, Path]:
    """An archive in DE with a public bag, and partner folders in UA, RU and LV."""
    archive = make_archive(archive_dir, "DE")
    make_bag(archive, BAG)
    for name in ("kyiv", "moscow", "riga"):
        (tmp_path / name).mkdir()
    write_partners(
        archive,
        dir_partner("kyiv-mirror", "UA", tmp_path / "kyiv"),
        dir_partner("moscow-mirror", "RU", tmp_path / "moscow"),
        dir_partner("riga-mirror", "LV", tmp_path / "riga", ("public",)),
    )
    return archive, tmp_path


def actions(archive: Archive, bag_id: str) -> list[str]:
    return [e["action"] for e in custody.read_entries(archive.custody_path(bag_id))]


def test_dir_share_is_verified_recorded_and_never_overwrites(cli, setup) -> None:
    archive, tmp = setup
    r = cli("share", BAG, "--to", "kyiv-mirror", "--archive", archive.root)
    assert r.exit_code == 0, r.output
    assert "Shared" in r.stdout and "re-hashed at the destination" in r.stdout
    assert "2 (policy 3) in 2 jurisdictions (policy 2): DE, UA; below the policy" in r.stdout
    copy = tmp / "kyiv" / BAG
    assert (copy / "bagit.txt").is_file()
    assert (tmp / "kyiv" / f"{BAG}.custody.jsonl").is_file()
    assert not [p for p in (tmp / "kyiv").iterdir() if p.name.startswith(".tmp-")]
    assert (copy / "data/warc/capture-00001.warc.gz").read_bytes() == (
        archive.bag_dir(BAG) / "data/warc/capture-00001.warc.gz"
    ).read_bytes()
    with open_ledger(archive.root) as ledger:
        rows = [dict(x) for x in ledger.query("SELECT * FROM copies")]
    assert [(x["partner"], x["jurisdiction"], x["status"]) for x in rows] == [
        ("kyiv-mirror", "UA", "ok")
    ]
    entry = custody.read_entries(archive.custody_path(BAG))[-1]
    assert entry["action"] == "replication" and entry["inputs"]["location"] == str(copy)
    assert custody.verify_chain(archive.custody_path(BAG), Keyring.load(archive)).ok

    again = cli("share", BAG, "--to", "kyiv-mirror", "--archive", archive.root)
    assert again.exit_code == 0, again.output  # the copy is there: confirmed, not overwritten
    assert "Already at kyiv-mirror" in again.stdout and "re-hashed" in again.stdout


def test_json_output_is_one_document(cli, setup) -> None:
    archive, _ = setup
    r = cli("share", BAG, "--to", "kyiv-mirror", "--json", "--archive", archive.root)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["partner"] == "kyiv-mirror" and doc["replication"]["copies"] == 2


def test_policy_refuses_rferl_bag_to_ru_partner_and_dark_bag(cli, setup) -> None:
    archive, tmp = setup
    make_bag(archive, RFE, access="restricted", designations=(RFERL,))
    make_bag(archive, "dark-2024-20240601T101500Z-bbbbbb", access="dark")
    r = cli("share", RFE, "--to", "moscow-mirror", "--archive", archive.root)
    assert r.exit_code == 1
    assert "designation 'RFE/RL; RU; undesirable; since 2024-02-20' applies in RU" in r.stderr
    dark = cli(
        "share",
        "dark-2024-20240601T101500Z-bbbbbb",
        "--to",
        "kyiv-mirror",
        "--archive",
        archive.root,
    )
    assert dark.exit_code == 1 and "is dark" in dark.stderr
    restricted = cli("share", RFE, "--to", "riga-mirror", "--archive", archive.root)
    assert restricted.exit_code == 1
    assert "is restricted and partner riga-mirror may only receive public" in restricted.stderr
    assert list((tmp / "moscow").iterdir()) == [] and list((tmp / "kyiv").iterdir()) == []
    assert "replication" not in actions(archive, RFE)


def test_override_needs_reason_and_is_logged(cli, setup) -> None:
    archive, tmp = setup
    make_bag(archive, RFE, access="restricted", designations=(RFERL,))
    bare = cli("share", RFE, "--to", "moscow-mirror", "--override", "--archive", archive.root)
    assert bare.exit_code == 2 and "--override needs --reason" in bare.stderr
    r = cli(
        "share",
        RFE,
        "--to",
        "moscow-mirror",
        "--override",
        "--reason",
        "court order 12/2024",
        "--archive",
        archive.root,
    )
    assert r.exit_code == 0, r.output
    assert "policy overridden (court order 12/2024)" in r.stderr
    assert (tmp / "moscow" / RFE / "bagit.txt").is_file()
    entries = custody.read_entries(archive.custody_path(RFE))
    override = [e for e in entries if e["action"] == "policy override"]
    assert override and override[0]["inputs"]["reason"] == "court order 12/2024"
    with open_ledger(archive.root) as ledger:
        events = [e for e in ledger.events(RFE) if e["event_type"] == "policy override"]
    assert events and events[0]["detail"]["reason"] == "court order 12/2024"


def test_damaged_bag_is_never_sent(cli, setup) -> None:
    archive, tmp = setup
    flip_bit(archive.bag_dir(BAG) / "data/warc/capture-00001.warc.gz")
    r = cli("share", BAG, "--to", "kyiv-mirror", "--archive", archive.root)
    assert r.exit_code == 1
    assert "is damaged, not sent" in r.stderr and "checksum does not match" in r.stderr
    assert list((tmp / "kyiv").iterdir()) == []


def test_unknown_partner_and_bad_partners_file(cli, setup) -> None:
    archive, _ = setup
    r = cli("share", BAG, "--to", "nowhere", "--archive", archive.root)
    assert r.exit_code == 2 and "no partner 'nowhere'" in r.stderr and "kyiv-mirror" in r.stderr
    archive.partners_path.write_text(
        '[[partners]]\nname = "x"\njurisdiction = "Ukraine"\ntransport = "dir"\npath = "/tmp"\n'
    )
    bad = cli("partners", "--archive", archive.root)
    assert bad.exit_code == 2
    assert "partners.toml: field 'partners[0].jurisdiction': expected an ISO 3166" in bad.stderr
    archive.partners_path.write_text(
        '[[partners]]\nname = "x"\njurisdiction = "UA"\ntransport = "rsync"\n'
        'destination = "no-colon"\n'
    )
    bad = cli("partners", "--archive", archive.root)
    assert bad.exit_code == 2 and "field 'partners[0].destination'" in bad.stderr
    archive.partners_path.write_text(
        '[[partners]]\nname = "x"\njurisdiction = "UA"\npath = "/tmp"\naccess = ["dark"]\n'
    )
    bad = cli("partners", "--archive", archive.root)
    assert bad.exit_code == 2 and "field 'partners[0].access'" in bad.stderr
    archive.partners_path.write_text(
        '[[partners]]\nname = "x"\njurisdiction = "UA"\npath = "/tmp"\npublic_key = "ssh-rsa AAA"\n'
    )
    bad = cli("partners", "--archive", archive.root)
    assert bad.exit_code == 2 and "field 'partners[0].public_key'" in bad.stderr


def test_partners_lists_each_partner(cli, setup) -> None:
    archive, _ = setup
    r = cli("partners", "--json", "--archive", archive.root)
    assert r.exit_code == 0
    assert [(p["name"], p["jurisdiction"]) for p in json.loads(r.stdout)] == [
        ("kyiv-mirror", "UA"),
        ("moscow-mirror", "RU"),
        ("riga-mirror", "LV"),
    ]


def test_export_is_byte_identical_and_signed(cli, setup, tmp_path: Path) -> None:
    archive, _ = setup
    one, two = tmp_path / "one.tar", tmp_path / "two.tar"
    r1 = cli("share", "--export", BAG, "-o", one, "--archive", archive.root)
    r2 = cli("share", "--export", BAG, "-o", two, "--quiet", "--archive", archive.root)
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output + r2.output
    assert "Exported" in r1.stdout and r2.stdout == ""
    assert one.read_bytes() == two.read_bytes()
    with tarfile.open(one) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    # the bag's names sorted, then its custody log
    assert names[:-1] == sorted(names[:-1]) and names[-1] == f"{BAG}.custody.jsonl"
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, "", "")}
    assert {m.mode for m in members} == {0o644, 0o755}
    assert len({m.mtime for m in members}) == 1
    sums = tmp_path / "one.tar.sha512"
    assert sums.read_text() == f"{hashlib.sha512(one.read_bytes()).hexdigest()}  one.tar\n"
    check = Keyring.load(archive).verify_file_signature(sums, tmp_path / "one.tar.sig")
    assert check.ok, check.reason


def test_export_refuses_dark_bag_without_override(cli, setup, tmp_path: Path) -> None:
    archive, _ = setup
    make_bag(archive, "dark-2024-20240601T101500Z-bbbbbb", access="dark")
    out = tmp_path / "dark.tar"
    r = cli(
        "share",
        "--export",
        "dark-2024-20240601T101500Z-bbbbbb",
        "-o",
        out,
        "--archive",
        archive.root,
    )
    assert r.exit_code == 1 and "refusing to export" in r.stderr and not out.exists()
    no_o = cli("share", "--export", BAG, "--archive", archive.root)
    assert no_o.exit_code == 2 and "--export needs -o" in no_o.stderr


def test_replicate_all_reaches_policy_with_two_partners(cli, archive_dir, tmp_path) -> None:
    archive = make_archive(archive_dir, "DE")
    make_bag(archive, BAG)
    make_bag(archive, "andijan-2005-20240502T101500Z-2b2b2b")
    (tmp_path / "kyiv").mkdir()
    (tmp_path / "riga").mkdir()
    write_partners(
        archive,
        dir_partner("kyiv-mirror", "UA", tmp_path / "kyiv"),
        dir_partner("riga-mirror", "LV", tmp_path / "riga"),
    )
    dry = cli("replicate", "--all", "--dry-run", "--archive", archive.root)
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.count("would send") == 4 and list((tmp_path / "kyiv").iterdir()) == []
    r = cli("replicate", "--all", "--archive", archive.root)
    assert r.exit_code == 0, r.output
    assert "All 2 bag(s) meet the replication policy." in r.stdout
    from strongroom.share.replicate import replication_status

    for bag_id in archive.bag_ids():
        st = replication_status(archive, bag_id)
        assert st.compliant and st.copies == 3 and st.jurisdictions == ["DE", "LV", "UA"]
    again = cli("replicate", "--all", "--json", "--archive", archive.root)
    assert again.exit_code == 0 and json.loads(again.stdout)["actions"] == []


def test_replicate_says_which_bags_cannot_comply(cli, setup) -> None:
    archive, _ = setup
    make_bag(archive, RFE, access="restricted", designations=(RFERL,))
    r = cli("replicate", "--all", "--archive", archive.root)
    assert r.exit_code == 1
    assert f"{RFE} cannot meet the replication policy" in r.stderr
    assert "riga-mirror" in r.stderr and "moscow-mirror: designation" in r.stderr
    assert not (archive.root.parent / "moscow" / RFE).exists()
