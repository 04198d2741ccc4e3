"""A bag's capture record that is malformed, or written by a newer strongroom, is
named by one message wherever it is read (replay, WACZ export, watch); each goes on
with bag-info and says so, and the bag is never touched."""

from __future__ import annotations

import json

import pytest
from watchkit import file_hashes, make_bag, serve_article

from strongroom.bag.record import bag_capture_record
from strongroom.core.archive import Archive

BAG = "test-20240513T100000Z-aaaaaa"


def _write(tags, content: str) -> None:
    if content == "symlink":
        (tags.parent / "elsewhere.json").write_text(json.dumps({"capture_id": "x"}))
        (tags / "capture.json").symlink_to(tags.parent / "elsewhere.json")
    else:
        (tags / "capture.json").write_text(content)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"version": 2, "capture_id": "20240513T100000Z-aaaaaa"}), "version 2"),
        (json.dumps({"capture_id": "20240513T100000Z-aaaaaa", "seeds": "x"}), "'seeds'"),
        ("symlink", "symlink"),
    ],
    ids=["not-json", "newer", "wrong-type", "symlink"],
)
def test_an_untrusted_capture_record_gets_one_message_everywhere(
    cli, site, archive_dir, tmp_path, content, why
):
    url = serve_article(site)
    bag_dir = make_bag(archive_dir, url, bag_id=BAG)
    (bag_dir / "tags").mkdir()
    _write(bag_dir / "tags", content)
    before = file_hashes(bag_dir)
    record, message = bag_capture_record(bag_dir)
    assert record is None and why in message
    assert BAG in message and f"strongroom verify {BAG}" in message

    r = cli("replay", "--build-only", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["problems"] == [message]
    assert [s["url"] for s in doc["seeds"]] == [url]  # bag-info still names the seed
    assert message in " ".join(r.stderr.split())

    r = cli("export", BAG, "--wacz", "-o", str(tmp_path / "x.wacz"))
    assert r.exit_code == 0, r.output
    assert message in " ".join(r.stderr.split())

    r = cli("watch")
    assert r.exit_code == 0, r.output
    assert " ".join(r.stderr.split()).count(message) == 1  # once, not once per vantage
    assert file_hashes(bag_dir) == before
    assert Archive(archive_dir).bag_ids() == [BAG]


def test_a_bag_without_a_capture_record_is_no_problem(site, archive_dir):
    bag_dir = make_bag(archive_dir, serve_article(site), bag_id=BAG)
    assert bag_capture_record(bag_dir) == (None, "")
