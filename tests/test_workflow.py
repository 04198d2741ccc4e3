"""The main job, `strongroom archive -c COLLECTION`, as an archivist runs it."""

from __future__ import annotations

import json
from pathlib import Path

import bagit

from strongroom.bag.inventory import load_inventory
from strongroom.demo import GLOBALVOICES_PATH, RFERL_PATH, article_urls, load_demo_collection
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


def test_archive_of_a_plain_url_list_from_a_file_and_from_stdin(cli, site, archive_dir, tmp_path):
    urls = list(article_urls(site.port).values())
    listing = tmp_path / "urls.txt"
    listing.write_text(f"# two articles\n{urls[0]}\n\n{urls[1]}\n{urls[0]}\n", "utf-8")
    args = ("--manifests", tmp_path / "m", "--no-screenshot", "--json")
    r = cli("archive", "-i", listing, *args)
    assert r.exit_code == 0, r.output
    assert [s["url"] for s in json.loads(r.stdout)["seeds"]] == urls  # comment, blank, dup
    r = cli("archive", "-i", "-", *args, input=urls[1] + "\n")
    assert r.exit_code == 0, r.output
    assert [s["url"] for s in json.loads(r.stdout)["seeds"]] == [urls[1]]


def test_a_bad_line_in_a_url_list_is_named_before_anything_is_fetched(
    cli, site, archive_dir, tmp_path
):
    listing = tmp_path / "urls.txt"
    listing.write_text(f"{site.url}globalvoices/\nftp://example.org/file\n", "utf-8")
    r = cli("archive", "-i", listing)
    assert r.exit_code == 2
    assert "urls.txt, line 2" in r.stderr and "ftp:" in r.stderr
    assert site.hits("/globalvoices/") == 0
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00garbage")
    r = cli("capture", "-i", tmp_path / "bin.txt")
    assert r.exit_code == 2 and "not UTF-8" in r.stderr
    r = cli("capture", "-i", "-", input="# nothing here\n")
    assert r.exit_code == 2 and "no URLs" in r.stderr
    r = cli("archive", "-i", listing, "-c", listing)
    assert r.exit_code == 2 and "either -c" in r.stderr


def test_capture_reads_urls_from_stdin(cli, site, archive_dir):
    url = article_urls(site.port)["rferl"]
    r = cli("capture", "-i", "-", "--json", input=f"{url}\n")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["pages"][0]["url"] == url


def test_resume_continues_an_interrupted_run_and_skips_seeds_done(cli, site, archive_dir, tmp_path):
    coll = demo_collection_file(tmp_path, site)
    args = ("-c", coll, "--manifests", tmp_path / "m", "--no-screenshot")
    r = cli("archive", "--resume", *args)
    assert r.exit_code == 2
    assert "no earlier run" in r.stderr and f"strongroom archive -c {coll}" in r.stderr
    assert cli("archive", *args).exit_code == 0
    # As if the run had been stopped by Ctrl-C after the first seed.
    state_file = archive_dir / "runs" / "demo.json"
    state = json.loads(state_file.read_text("utf-8"))
    rferl = article_urls(site.port)["rferl"]
    del state["done"][rferl]
    state["finished"] = None
    state_file.write_text(json.dumps(state), "utf-8")
    gv_hits, rferl_hits = site.hits(GLOBALVOICES_PATH), site.hits(RFERL_PATH)
    r = cli("archive", "--resume", *args, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [s["skipped"] for s in doc["seeds"]] == [True, False]
    assert site.hits(GLOBALVOICES_PATH) == gv_hits  # the finished seed is not fetched again
    assert site.hits(RFERL_PATH) > rferl_hits  # the other one is
    assert doc["seeds"][1]["unchanged_since"] == state["done"].get(rferl, {}).get(
        "bag_id", doc["seeds"][1]["unchanged_since"]
    )
    assert json.loads(state_file.read_text("utf-8"))["finished"]
    r = cli("archive", "--resume", *args)  # a finished run: everything is skipped
    assert r.exit_code == 0 and r.stdout.count("skipping") == 2
    assert "(earlier run)" in r.stdout


def test_a_typo_in_config_toml_is_refused_before_the_first_fetch(cli, site, archive_dir, tmp_path):
    archive_dir.mkdir()
    (archive_dir / "config.toml").write_text('[organisation]\nname = "X"\n', "utf-8")
    coll = demo_collection_file(tmp_path, site)
    for args in (("archive", "-c", coll), ("capture", article_urls(site.port)["rferl"])):
        r = cli(*args)
        assert r.exit_code == 2, r.output
        assert "config.toml" in r.stderr and "organisation" in r.stderr
    assert site.hits(GLOBALVOICES_PATH) == site.hits(RFERL_PATH) == 0
    assert not list(archive_dir.glob("captures/*"))  # no orphan capture


def test_a_broken_partners_file_is_refused_before_the_first_fetch(cli, site, archive_dir, tmp_path):
    archive_dir.mkdir()
    (archive_dir / "partners.toml").write_text('[[partners]]\nname = "x"\nflavour = 1\n')
    r = cli("archive", "-c", demo_collection_file(tmp_path, site))
    assert r.exit_code == 2 and "partners.toml" in r.stderr
    assert site.hits(GLOBALVOICES_PATH) == 0


def test_archive_before_keys_init_warns_that_bags_are_unsigned(cli, site, archive_dir, tmp_path):
    coll = demo_collection_file(tmp_path, site)
    r = cli("archive", "-c", coll, "--manifests", tmp_path / "m", "--no-screenshot")
    assert r.exit_code == 0, r.output
    assert "unsigned" in r.stderr and "strongroom keys init" in r.stderr
    assert cli("keys", "init").exit_code == 0
    r = cli("archive", "-c", coll, "--manifests", tmp_path / "m", "--no-screenshot")
    assert r.exit_code == 0 and "unsigned" not in r.stderr
