"""The main job, `strongroom archive -c COLLECTION`, as an archivist runs it."""

from __future__ import annotations

import json
from pathlib import Path

import bagit

from strongroom.bag.inventory import load_inventory
from strongroom.demo import RFERL_PATH, load_demo_collection
from strongroom.demosite import Override, SiteServer


def demo_collection_file(tmp_path: Path, site: SiteServer) -> Path:
    """collections/demo.toml with its seeds moved onto the running test site."""
    text = (Path(__file__).parent.parent / "collections" / "demo.toml").read_text("utf-8")
    path = tmp_path / "demo.toml"
    path.write_text(text.replace(":8737/", f":{site.port}/"), "utf-8")
    return path


def test_archive_makes_one_verified_bag_per_seed(cli, site, archive_dir, tmp_path) -> None:
    coll = demo_collection_file(tmp_path, site)
    manifests = tmp_path / "manifests"
    r = cli("archive", "-c", coll, "--manifests", manifests, "--no-screenshot", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [s["verify_result"] for s in doc["seeds"]] == ["valid", "valid"]
    assert [s["access"] for s in doc["seeds"]] == ["public", "restricted"]  # RFE/RL designated
    for bag_id in doc["bags"]:
        bagit.Bag(str(archive_dir / "bags" / bag_id)).validate()
    inventory = load_inventory(manifests / "demo")
    assert sorted(inventory["bags"]) == sorted(doc["bags"])
    history = cli("history", doc["bags"][0], "--json")
    assert json.loads(history.stdout)["runs"][0]["result"] == "valid"  # first check recorded


def test_archive_still_bags_a_partial_capture_and_exits_1(cli, site, archive_dir, tmp_path):
    site.set_override(RFERL_PATH, Override(status=404, body=b"<title>Not Found</title>"))
    coll = demo_collection_file(tmp_path, site)
    r = cli(
        "archive", "-c", coll, "--manifests", tmp_path / "m", "--no-screenshot", "--retries", "0"
    )
    assert r.exit_code == 1
    assert "1195372.html" in r.stderr and "404" in r.stderr
    assert len(list((archive_dir / "bags").glob("*/bagit.txt"))) == 2  # the evidence is kept


def test_archive_refuses_a_broken_collection_before_fetching(cli, site, archive_dir, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('id = "x"\ntitle = "t"\n[[seeds]]\nurl = "javascript:alert(1)"\n', "utf-8")
    r = cli("archive", "-c", bad)
    assert r.exit_code == 2
    assert "bad.toml" in r.stderr and "seeds[0].url" in r.stderr
    assert not archive_dir.exists()
    assert load_demo_collection().id == "demo"


def test_inventory_lands_beside_collections_and_embargo_is_kept(cli, site, archive_dir, tmp_path):
    # Run from anywhere: manifests/ goes beside the collections/ folder of the file.
    repo = tmp_path / "repo"
    (repo / "collections").mkdir(parents=True)
    text = demo_collection_file(tmp_path, site).read_text("utf-8")
    text = text.replace('access = "public"', 'access = "public"\nembargo_until = 2030-01-01', 1)
    coll = repo / "collections" / "demo.toml"
    coll.write_text(text, "utf-8")
    r = cli("archive", "-c", coll, "--no-screenshot", "--json")
    assert r.exit_code == 0, r.output
    assert (repo / "manifests" / "demo").is_dir()
    bag = archive_dir / "bags" / json.loads(r.stdout)["bags"][0]
    assert "Embargo-Until: 2030-01-01" in (bag / "bag-info.txt").read_text("utf-8")
