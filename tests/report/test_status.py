"""strongroom status: one row per seed, and a loud row when the live page is gone."""

from __future__ import annotations

import json

import pytest
from watchkit import SEED_PATH, capture_and_bag, make_bag, serve_article

from strongroom.demosite import Override

pytest.importorskip("strongroom.capture.crawl")
pytest.importorskip("strongroom.bag.make")

DESIGNATIONS = """
[[designations]]
organization = "Test Radio"
hosts = ["127.0.0.1"]
jurisdiction = "RU"
kind = "undesirable"
since = 2024-02-20
source = "https://minjust.example/registry"
"""


def test_status_shows_the_takedown_fixity_designation_and_access(
    cli, site, archive_dir, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert cli("keys", "init").exit_code == 0
    url = serve_article(site)
    bag = capture_and_bag(cli, url, tmp_path / "manifests")
    (archive_dir / "designations.toml").write_text(DESIGNATIONS)
    r = cli("verify", bag)
    assert r.exit_code == 0, r.output

    from strongroom.core.ledger import open_ledger

    with open_ledger(archive_dir) as ledger:  # recorded at bagging: status reads no bag-info
        assert ledger.creation_details()[bag]["depends_on"] == []
        assert ledger.bag(bag)["designations"] == []
        facts = ledger.bag_facts()[bag]  # what its creation event says, kept by a trigger
        assert facts.signed is True and facts.alone is True
        assert facts.payload is not None and facts.payload[1] >= 1
    r = cli("status", "--json")
    assert r.exit_code == 0, r.output
    [row] = json.loads(r.stdout)
    assert row["live_status"] is None and row["alarm"] is None
    assert row["bags"][0]["bag_id"] == bag
    assert row["bags"][0]["fixity"] == "valid"
    assert row["designations"] == ["Test Radio; RU; undesirable; since 2024-02-20"]
    assert row["access"] == "public"
    assert row["copies"] >= 1

    cli("watch", "--all", "--timeout", "3")
    site.set_override(SEED_PATH, Override(410, {}, b"<title>Gone</title>"))
    assert cli("watch", "--all", "--timeout", "3").exit_code == 1
    first_gone = json.loads(cli("status", "--json").stdout)[0]["live_since"]
    assert cli("watch", "--all", "--timeout", "3").exit_code == 0
    assert cli("access", bag, "restricted", "--reason", "publisher designated").exit_code == 0

    [row] = json.loads(cli("status", "--json").stdout)
    assert row["live_status"] == "gone"
    assert row["live_since"] == first_gone  # since the first time it was seen gone
    assert row["alarm"].startswith("GONE LIVE")
    assert row["access"] == "restricted"

    r = cli("status")
    assert r.exit_code == 0
    text = " ".join(r.stdout.split())
    assert "gone" in text
    assert "GONE LIVE" in text
    assert "restricted" in text


def test_status_for_one_collection_lists_uncaptured_seeds(cli, site, archive_dir, tmp_path):
    url = serve_article(site)
    make_bag(archive_dir, url)
    coll = tmp_path / "c.toml"
    coll.write_text(
        f'id = "test"\ntitle = "T"\n[[seeds]]\nurl = "{url}"\n'
        '[[seeds]]\nurl = "http://127.0.0.1:9/never/captured.html"\n'
    )
    r = cli("status", "-c", str(coll), "--json")
    rows = json.loads(r.stdout)
    assert [x["url"] for x in rows] == [url, "http://127.0.0.1:9/never/captured.html"]
    assert rows[1]["latest_bag"] is None and rows[1]["bags"] == []
    r = cli("status", "-c", str(coll))
    assert "never" in r.stdout


def test_status_on_a_missing_archive_is_a_usage_error(cli, tmp_path):
    r = cli("status", "--archive", str(tmp_path / "none"))
    assert r.exit_code == 2
    assert "no archive" in r.stderr


@pytest.mark.parametrize(
    "record",
    [
        b'{"version": 99, "capture_id": "x", "ended": "2099-01-01T00:00:00Z"}',
        b'{"capture_id": "x", "ended": 20990101}',
        b"\xff\xfe not json",
    ],
    ids=["newer", "wrong-type", "not-json"],
)
def test_status_passes_over_a_damaged_capture_record(cli, site, archive_dir, record):
    """status judges tags/capture.json with the one parser bag, replay and watch use:
    a damaged or newer record is not believed, and status still answers."""
    url = serve_article(site)
    bag_dir = make_bag(archive_dir, url)
    (bag_dir / "tags").mkdir(exist_ok=True)
    (bag_dir / "tags" / "capture.json").write_bytes(record)
    r = cli("status", "--json")
    assert r.exit_code == 0, r.output
    [row] = json.loads(r.stdout)
    assert row["latest_bag"] == bag_dir.name
    assert row["last_capture"] and not row["last_capture"].startswith("2099")


def test_status_takes_the_capture_time_from_a_sound_capture_record(cli, site, archive_dir):
    from strongroom.capture.record import CaptureRecord

    url = serve_article(site)
    bag_dir = make_bag(archive_dir, url)
    (bag_dir / "tags").mkdir(exist_ok=True)
    ended = "2024-05-13T10:00:09Z"
    CaptureRecord("x", started="2024-05-13T10:00:00Z", ended=ended).write(bag_dir / "tags")
    [row] = json.loads(cli("status", "--json").stdout)
    assert row["last_capture"] == ended


def test_status_finds_the_bags_on_disk_in_one_listing(tmp_path):
    """A folder is a bag when the ledger recorded it or it holds bagit.txt; staging
    folders, symlinks, stray folders and files are not."""
    from strongroom.core.archive import Archive
    from strongroom.core.ledger import open_ledger
    from strongroom.report.status import seed_statuses

    archive = Archive(tmp_path / "archive")
    archive.ensure()
    with open_ledger(archive.root) as ledger:
        ledger.record_bag("c-known", collection_id="c", capture_id=None,
                          created="2024-01-01T00:00:00Z", access="public",
                          seeds=["https://a.example/known"], designations=[])  # fmt: skip
        ledger.record_bag("c-gone", collection_id="c", capture_id=None,  # no folder left
                          created="2024-01-01T00:00:00Z", access="public",
                          seeds=["https://a.example/gone"], designations=[])  # fmt: skip
    (archive.bags / "c-known").mkdir()
    loose = archive.bags / "c-loose"  # on disk, not in the ledger: read from its tags
    loose.mkdir()
    (loose / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    (loose / "bag-info.txt").write_text(
        "Bag-Group-Identifier: c\nBagging-Date: 2024-02-01\nSeed-URL: https://a.example/loose\n"
    )
    staging = archive.bags / ".staging-c-new"
    staging.mkdir()
    (staging / "bagit.txt").write_text("BagIt-Version: 1.0\n")
    (archive.bags / "stray").mkdir()
    (archive.bags / "notes.txt").write_text("not a bag")
    (archive.bags / "c-link").symlink_to(loose, target_is_directory=True)

    assert archive.bag_ids() == ["c-loose"]
    assert archive.bag_ids(known={"c-known", "c-gone", "notes.txt"}) == ["c-known", "c-loose"]
    rows = {r.url: r for r in seed_statuses(archive)}
    assert rows["https://a.example/known"].latest_bag == "c-known"
    assert rows["https://a.example/loose"].latest_bag == "c-loose"
    assert rows["https://a.example/loose"].bags[0].bagged == "2024-02-01"
    # a bag the ledger knows but that is gone from disk is nobody's latest bag
    assert rows.get("https://a.example/gone") is None
