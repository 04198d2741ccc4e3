"""watch --recapture on real captures and bags: a new linked version, both verifiable."""

from __future__ import annotations

import json

import bagit
import pytest
from watchkit import REMOVED_SENTENCE, capture_and_bag, file_hashes, serve_article

from strongroom.bag import custody
from strongroom.bag.baginfo import first, read_bag_info
from strongroom.bag.signing import Keyring
from strongroom.core.archive import Archive

pytest.importorskip("strongroom.capture.crawl")
pytest.importorskip("strongroom.bag.make")


def test_recapture_makes_a_new_linked_bag_and_the_original_still_verifies(
    cli, site, archive_dir, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # the recapture's inventory goes to ./manifests
    assert cli("keys", "init").exit_code == 0
    url = serve_article(site)
    old_bag = capture_and_bag(cli, url, tmp_path / "manifests")
    archive = Archive(archive_dir)
    before = file_hashes(archive.bag_dir(old_bag))

    # the real capture pipeline's WARC is a usable baseline
    r = cli("watch", "--all", "--json", "--timeout", "3")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)[0]["status"] == "ok"

    serve_article(site, sentence="")
    r = cli(
        "watch",
        "--all",
        "--recapture",
        "--json",
        "--timeout",
        "3",
        "--manifests",
        str(tmp_path / "manifests"),
    )
    assert r.exit_code == 1, r.output
    [res] = json.loads(r.stdout)
    assert res["status"] == "edited"
    new_bag = res["recaptured_as"]
    assert new_bag and new_bag != old_bag

    info = read_bag_info(archive.bag_dir(new_bag))
    assert first(info, "Is-Version-Of") == old_bag
    assert url in [v for k, v in info if k == "Seed-URL"]
    # both bags verify; the old one is byte for byte what it was
    bagit.Bag(str(archive.bag_dir(old_bag))).validate()
    bagit.Bag(str(archive.bag_dir(new_bag))).validate()
    assert file_hashes(archive.bag_dir(old_bag)) == before
    # the old bag's custody log names its successor, and its chain verifies
    entries = custody.read_entries(archive.custody_path(old_bag))
    assert entries[-1]["detail"]["recaptured_as"] == new_bag
    assert custody.verify_chain(archive.custody_path(old_bag), Keyring.load(archive)).ok
    # strongroom's own strict verifier (signature, custody log, inventory) agrees
    r = cli("verify", old_bag, new_bag)
    assert r.exit_code == 0, r.output

    # the new version is the baseline now: the edited page is ok, and that is not news
    r = cli("watch", "--all", "--json", "--timeout", "3")
    [again] = json.loads(r.stdout)
    assert (r.exit_code, again["status"], again["bag_id"]) == (0, "ok", new_bag)

    # and the removed sentence is still provable from the old bag
    from strongroom.watch.baseline import load_baseline

    assert REMOVED_SENTENCE.strip() in load_baseline(archive, old_bag, url).text
