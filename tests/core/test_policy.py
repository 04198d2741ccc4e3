"""Designations matched by host (access changes: tests/bag/test_bag_access.py)."""

from __future__ import annotations

from watchkit import make_bag, serve_article

from strongroom.bag import access
from strongroom.core import policy as risk
from strongroom.core.archive import Archive
from strongroom.core.collection import load_collection

BAG = "test-20240513T100000Z-aaaaaa"


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
    labels = [d.label() for d in access.bag_designations(archive, BAG)]
    assert labels == ["Old; UZ; other", "Test Radio; BY; extremist"]


def test_hostile_designation_labels_are_ignored_not_fatal():
    assert risk.parse_designation_label("garbage") is None
    d = risk.parse_designation_label("X; ru; undesirable; since not-a-date")
    assert d is not None and d.jurisdiction == "RU" and d.since is None
