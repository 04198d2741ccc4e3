"""Designations matched by host, and access changes that never rewrite a bag."""

from __future__ import annotations

import json

import bagit
from watchkit import file_hashes, make_bag, serve_article

from strongroom.bag import custody
from strongroom.bag.signing import Keyring
from strongroom.core import policy as risk
from strongroom.core.archive import Archive
from strongroom.core.collection import load_collection
from strongroom.core.ledger import open_ledger

BAG = "test-20240513T100000Z-aaaaaa"


def test_access_change_is_logged_and_the_bag_is_not_rewritten(cli, site, archive_dir):
    make_bag(archive_dir, serve_article(site), bag_id=BAG)
    archive = Archive(archive_dir)
    before = file_hashes(archive.bag_dir(BAG))

    r = cli("access", BAG, "dark", "--reason", "source at risk after publication")
    assert r.exit_code == 0, r.output
    assert "public -> dark" in r.stdout
    assert risk.current_access(archive, BAG) == "dark"

    r = cli("access", BAG, "restricted", "--reason", "reviewed", "--json")
    doc = json.loads(r.stdout)
    assert (doc["from"], doc["to"], doc["reason"]) == ("dark", "restricted", "reviewed")

    [a, _b] = custody.read_entries(archive.custody_path(BAG))
    assert a["action"] == "access change"
    assert a["inputs"] == {
        "from": "public",
        "to": "dark",
        "reason": "source at risk after publication",
    }
    assert custody.verify_chain(archive.custody_path(BAG), Keyring.load(archive)).ok
    with open_ledger(archive_dir) as ledger:
        assert [e["event_type"] for e in ledger.events(BAG)] == ["access change"] * 2
    assert file_hashes(archive.bag_dir(BAG)) == before
    bagit.Bag(str(archive.bag_dir(BAG))).validate()


def test_access_needs_a_reason_a_level_and_a_bag(cli, site, archive_dir):
    make_bag(archive_dir, serve_article(site), bag_id=BAG)
    r = cli("access", BAG, "dark")
    assert r.exit_code == 2 and "--reason" in r.stderr
    r = cli("access", BAG, "secret", "--reason", "x")
    assert r.exit_code == 2
    r = cli("access", "../../etc", "dark", "--reason", "x")
    assert r.exit_code == 2 and "no bag" in r.stderr
    assert not Archive(archive_dir).custody_path(BAG).exists()


def test_designations_from_collection_and_archive_match_by_host(tmp_path, site, archive_dir):
    coll_file = tmp_path / "c.toml"
    coll_file.write_text(
        'id = "c"\ntitle = "C"\n[[seeds]]\nurl = "https://www.rferl.org/a/1.html"\n'
        '[[designations]]\norganization = "RFE/RL"\nhosts = ["rferl.org"]\n'
        'jurisdiction = "RU"\nkind = "undesirable"\nsince = 2024-02-20\n'
    )
    archive = Archive(archive_dir).ensure()
    archive.designations_path.write_text(
        '[[designations]]\norganization = "Test Radio"\nhosts = ["127.0.0.1"]\n'
        'jurisdiction = "BY"\nkind = "extremist"\n'
    )
    coll = load_collection(coll_file)
    found = risk.all_designations(archive, coll)
    assert {d.organization for d in found} == {"RFE/RL", "Test Radio"}
    matched = risk.designations_for_urls(["https://www.rferl.org/a/1.html"], found)
    assert [d.label() for d in matched] == ["RFE/RL; RU; undesirable; since 2024-02-20"]
    assert risk.default_access("public", bool(matched)) == "restricted"
    assert risk.default_access("dark", True) == "dark"

    # a bag captured before the designation still picks it up (archive-wide, by host)
    make_bag(archive_dir, serve_article(site), bag_id=BAG, designations=("Old; UZ; other",))
    labels = [d.label() for d in risk.bag_designations(archive, BAG)]
    assert labels == ["Old; UZ; other", "Test Radio; BY; extremist"]


def test_hostile_designation_labels_are_ignored_not_fatal():
    assert risk.parse_designation_label("garbage") is None
    d = risk.parse_designation_label("X; ru; undesirable; since not-a-date")
    assert d is not None and d.jurisdiction == "RU" and d.since is None
