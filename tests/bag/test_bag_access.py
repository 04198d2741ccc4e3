"""Access changes are appended to the custody log and never rewrite a bag."""

from __future__ import annotations

import json

import bagit
from watchkit import file_hashes, make_bag, serve_article

from strongroom.bag import access, custody
from strongroom.bag.signing import Keyring
from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger

BAG = "test-20240513T100000Z-aaaaaa"


def test_access_change_is_logged_and_the_bag_is_not_rewritten(cli, site, archive_dir):
    make_bag(archive_dir, serve_article(site), bag_id=BAG)
    archive = Archive(archive_dir)
    before = file_hashes(archive.bag_dir(BAG))

    r = cli("access", BAG, "dark", "--reason", "source at risk after publication")
    assert r.exit_code == 0, r.output
    assert "public -> dark" in r.stdout
    assert access.current_access(archive, BAG) == "dark"

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
