"""The inventory anchors bags outside themselves; the custody log chains their history."""

from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path

import pytest
from bagkit import CAPTURE_ID, make_capture

from strongroom.bag import custody, inventory
from strongroom.bag import make as bagging
from strongroom.core.archive import Archive
from strongroom.errors import UsageError

BAG_ID = f"andijan-2005-{CAPTURE_ID}"


def test_inventory_entry_is_deterministic_and_complete(cli, archive_dir, tmp_path):
    make_capture(archive_dir)
    cli("keys", "init")
    assert cli("bag", CAPTURE_ID, "--manifests", tmp_path / "m").exit_code == 0
    path = tmp_path / "m" / "andijan-2005" / f"{BAG_ID}.json"  # one small file per bag
    text = path.read_text()
    data = json.loads(text)
    assert text == json.dumps(data, sort_keys=True, indent=2) + "\n"
    assert data.pop("format") == "strongroom-inventory-entry/1"
    entry = data
    assert set(entry) == {
        "bag_id",
        "created",
        "payload_oxum",
        "tagmanifests",
        "signing_key",
        "seeds",
        "access",
        "is_version_of",
    }
    assert entry["signing_key"].startswith("SHA256:") and entry["access"] == "restricted"
    assert set(entry["tagmanifests"]) == {"tagmanifest-sha512.txt"}

    # Re-recording the same entry changes nothing: clean git diffs.
    inventory.record_bag(tmp_path / "m", "andijan-2005", entry)
    assert path.read_text() == text

    make_capture(archive_dir, "cap-2")
    assert cli("bag", "cap-2", "--manifests", tmp_path / "m").exit_code == 0
    assert path.read_text() == text  # adding a bag leaves the others' files alone
    after = inventory.load_inventory(tmp_path / "m" / "andijan-2005")
    assert sorted(after["bags"]) == [BAG_ID, "andijan-2005-cap-2"]


def test_swapped_self_consistent_bag_fails_the_inventory(cli, archive_dir, tmp_path):
    make_capture(archive_dir)
    assert cli("bag", CAPTURE_ID, "--manifests", tmp_path / "real").exit_code == 0
    bag = archive_dir / "bags" / BAG_ID
    inv = tmp_path / "real" / "andijan-2005"
    assert inventory.check_bag(inv, bag) == []

    # A forger bags different content under the same capture id elsewhere: a
    # perfectly valid bag, which then replaces the real one wholesale.
    fake_archive = tmp_path / "fake"
    make_capture(fake_archive, derivatives={"forged.txt": b"they never said that"})
    fake = bagging.bag_capture(Archive(fake_archive), CAPTURE_ID, manifests_dir=tmp_path / "x")
    import bagit

    bagit.Bag(str(fake.path)).validate()  # self-consistent
    shutil.rmtree(bag, ignore_errors=True)
    shutil.copytree(fake.path, bag)
    problems = inventory.check_bag(inv, bag)
    assert problems and "tagmanifest-sha512.txt no longer hashes" in problems[0]

    assert inventory.check_bag(inv, tmp_path / "other-bag") == [
        f"bag other-bag is missing from the inventory {inv}"
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not json", "not a JSON inventory"),
        ("[]", "expected an object"),
        ('{"bags": {}, "format": "other/9"}', "unknown inventory format"),
        (
            '{"bags": {"b": {"bag_id": "c", "tagmanifests": {}}},'
            ' "format": "strongroom-inventory/1"}',
            "malformed",
        ),
        (
            '{"bags": {"b": {"bag_id": "b", "tagmanifests": {"t": "zz"}}},'
            ' "format": "strongroom-inventory/1"}',
            "malformed",
        ),
    ],
)
def test_hostile_inventory_file(tmp_path, content, expected):
    path = tmp_path / "c.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=expected):
        inventory.load_inventory(path)
    with pytest.raises(UsageError):
        inventory.check_bag(path, tmp_path / "b")


def _record(args: tuple[str, int]) -> None:
    folder, i = args
    for j in range(20):
        inventory.record_bag(
            Path(folder),
            "coll",
            {"bag_id": f"coll-{i}-{j}", "tagmanifests": {}, "seeds": [], "access": "public"},
        )


def test_concurrent_writers_do_not_lose_entries(tmp_path):
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(_record, [(str(tmp_path), i) for i in range(4)])
    data = inventory.load_inventory(tmp_path / "coll")
    assert len(data["bags"]) == 80
    assert [p.name for p in tmp_path.iterdir()] == ["coll"]  # no lock or temp files
    assert all(p.suffix == ".json" for p in (tmp_path / "coll").iterdir())


def test_custody_chain_detects_an_edited_entry(cli, archive_dir, tmp_path):
    make_capture(archive_dir)
    cli("keys", "init")
    assert cli("bag", CAPTURE_ID, "--manifests", tmp_path).exit_code == 0
    archive = Archive(archive_dir)
    custody.append(archive, BAG_ID, "fixity check", outcome="success", detail={"files": 1})
    custody.append(archive, BAG_ID, "watch", outcome="success")
    log = archive.custody_path(BAG_ID)
    tm = archive.bag_dir(BAG_ID) / "tagmanifest-sha512.txt"
    from strongroom.bag.signing import Keyring

    ring = Keyring.load(archive)
    report = custody.verify_chain(log, ring, tm)
    assert report.ok and report.entries == 3 and report.signed == 3

    lines = log.read_bytes().split(b"\n")
    lines[0] = lines[0].replace(b'"outcome":"success"', b'"outcome":"failure"')
    log.write_bytes(b"\n".join(lines))
    report = custody.verify_chain(log, ring, tm)
    assert not report.ok
    assert any("line 2: hash chain broken (line 1 was edited" in p for p in report.problems)
    assert any("line 1: bad signature" in p for p in report.problems)


def test_a_one_file_inventory_is_migrated_to_one_file_per_bag(tmp_path):
    entries = {
        f"c-{i}": {"bag_id": f"c-{i}", "tagmanifests": {"t": "a" * 64}, "seeds": []}
        for i in range(3)
    }
    legacy = tmp_path / "c.json"
    legacy.write_text(
        json.dumps({"format": "strongroom-inventory/1", "collection_id": "c", "bags": entries})
    )
    # readers see the old file until the next write ...
    assert inventory.find_entry(tmp_path / "c", "c-1") is not None
    # ... which splits it, then adds the new bag
    inventory.record_bag(tmp_path, "c", {"bag_id": "c-9", "tagmanifests": {}, "seeds": []})
    assert not legacy.exists()
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        "c-0.json",
        "c-1.json",
        "c-2.json",
        "c-9.json",
    ]
    assert inventory.find_entry(tmp_path / "c", "c-1")["tagmanifests"] == {"t": "a" * 64}
    # a caller still naming the old file finds the folder
    assert inventory.find_entry(legacy, "c-2") is not None


def test_a_hostile_entry_file_is_refused(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "b.json").write_text(
        '{"format": "strongroom-inventory-entry/1", "bag_id": "x", "tagmanifests": {}}'
    )
    with pytest.raises(UsageError, match="names another bag"):
        inventory.find_entry(folder, "b")
    (folder / "b.json").write_text("[1, 2]")
    with pytest.raises(UsageError, match="not a strongroom inventory entry"):
        inventory.load_inventory(folder)
    with pytest.raises(UsageError, match="not a bag id"):
        inventory.find_entry(folder, "../etc/passwd")


def test_the_inventory_place_is_fixed_at_first_use(cli, archive_dir, tmp_path, monkeypatch):
    """Bagging from inside some git checkout never writes manifests/ into it, and
    verify from / finds the inventory through config.toml."""
    checkout = tmp_path / "checkout"
    (checkout / ".git").mkdir(parents=True)
    monkeypatch.chdir(checkout)
    make_capture(archive_dir)
    assert cli("bag", CAPTURE_ID).exit_code == 0
    assert not (checkout / "manifests").exists()
    archive = Archive(archive_dir)
    assert archive.configured_inventory() == archive_dir / "manifests"
    assert (archive_dir / "manifests" / "andijan-2005" / f"{BAG_ID}.json").is_file()
    # later runs keep it, whatever --manifests default the next caller would pick
    assert Archive(archive_dir).inventory_dir() == archive_dir / "manifests"
    monkeypatch.chdir("/")
    assert cli("verify", BAG_ID).exit_code == 0
    (archive_dir / "manifests" / "andijan-2005" / f"{BAG_ID}.json").unlink()
    r = cli("verify", BAG_ID)
    assert r.exit_code == 1 and "missing from the inventory" in r.stderr
