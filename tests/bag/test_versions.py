"""A re-capture of an unchanged page makes no new bag; a changed one a new version."""

from __future__ import annotations

import json
import os
from pathlib import Path

from replaykit import needs_chromium
from warcio.archiveiterator import ArchiveIterator

from strongroom.bag import custody, versions
from strongroom.bag.baginfo import first, read_bag_info
from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger
from strongroom.demo import GLOBALVOICES_PATH
from strongroom.demosite import Override, SiteServer


def _collection(tmp_path: Path, site: SiteServer, dedup: str = "capture") -> Path:
    path = tmp_path / "one.toml"
    path.write_text(
        'id = "one"\ntitle = "One article"\n'
        f'[capture]\nscope = "page"\nretries = 0\ndedup = "{dedup}"\n'
        f'[[seeds]]\nurl = "{site.url.rstrip("/")}{GLOBALVOICES_PATH}"\n',
        "utf-8",
    )
    return path


def _archive(cli, coll: Path, tmp_path: Path, *extra: str) -> dict:
    r = cli(
        "archive", "-c", coll, "--manifests", tmp_path / "m", "--no-screenshot", "--json", *extra
    )
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_unchanged_recapture_makes_no_bag_and_says_so(cli, site, archive_dir, tmp_path) -> None:
    coll = _collection(tmp_path, site)
    first_bag = _archive(cli, coll, tmp_path)["bags"][0]
    r = cli("archive", "-c", coll, "--manifests", tmp_path / "m", "--no-screenshot")
    assert r.exit_code == 0, r.output
    assert f"unchanged since {first_bag}" in r.output
    archive = Archive(archive_dir)
    assert archive.bag_ids() == [first_bag]
    log = custody.read_entries(archive.custody_path(first_bag))
    assert log[-1]["action"] == "recapture"
    assert log[-1]["detail"]["result"] == f"unchanged since {first_bag}"
    with open_ledger(archive.root) as ledger:
        events = [e for e in ledger.events(first_bag) if e["outcome"] == "unchanged"]
    assert events and events[0]["detail"]["result"] == f"unchanged since {first_bag}"
    doc = _archive(cli, coll, tmp_path)
    assert doc["bags"] == [] and doc["seeds"][0]["unchanged_since"] == first_bag


def test_force_makes_a_bag_anyway_as_a_new_version(cli, site, archive_dir, tmp_path) -> None:
    coll = _collection(tmp_path, site)
    first_bag = _archive(cli, coll, tmp_path)["bags"][0]
    forced = _archive(cli, coll, tmp_path, "--force")["bags"]
    assert len(forced) == 1 and forced[0] != first_bag
    info = read_bag_info(Archive(archive_dir).bag_dir(forced[0]))
    assert first(info, "Is-Version-Of") == first_bag
    assert (
        versions.latest_bag(Archive(archive_dir), "one", site.url + GLOBALVOICES_PATH[1:])
        == (forced[0])
    )


def test_a_changed_page_gets_a_new_bag_with_is_version_of(cli, site, archive_dir, tmp_path):
    coll = _collection(tmp_path, site)
    first_bag = _archive(cli, coll, tmp_path)["bags"][0]
    site.set_override(
        GLOBALVOICES_PATH,
        Override(
            headers={"Content-Type": "text/html; charset=utf-8"},
            body=b"<!doctype html><title>Edited</title><p>The article was edited.</p>",
        ),
    )
    doc = _archive(cli, coll, tmp_path)
    assert len(doc["bags"]) == 1 and doc["seeds"][0]["unchanged_since"] == ""
    info = read_bag_info(Archive(archive_dir).bag_dir(doc["bags"][0]))
    assert first(info, "Is-Version-Of") == first_bag


def test_unchanged_holds_under_archive_dedup_too(cli, site, archive_dir, tmp_path) -> None:
    coll = _collection(tmp_path, site, dedup="archive")
    first_bag = _archive(cli, coll, tmp_path)["bags"][0]
    doc = _archive(cli, coll, tmp_path)
    assert doc["bags"] == [] and doc["seeds"][0]["unchanged_since"] == first_bag


@needs_chromium
def test_a_damaged_earlier_bag_is_named_as_the_cause_and_exits_1(cli, site, archive_dir, tmp_path):
    """dedup = "archive": the page's payload is in the first bag, and that bag is damaged."""
    coll = _collection(tmp_path, site, dedup="archive")
    first_bag = _archive(cli, coll, tmp_path)["bags"][0]
    warc = next((archive_dir / "bags" / first_bag / "data" / "warc").glob("*.warc.gz"))
    os.chmod(warc, 0o644)
    with open(warc, "rb") as fh:
        it = ArchiveIterator(fh)
        at = next(
            it.offset
            for rec in it
            if rec.rec_type == "response"
            and rec.rec_headers.get_header("WARC-Target-URI").endswith(GLOBALVOICES_PATH)
        )
    data = bytearray(warc.read_bytes())
    data[at + 40 : at + 104] = b"\x00" * 64  # inside the page's gzip member
    warc.write_bytes(bytes(data))
    r = cli("archive", "-c", coll, "--manifests", tmp_path / "m")
    assert r.exit_code == 1, r.output
    assert "cannot be read" in r.stderr and first_bag in r.stderr
    assert "no captured HTML page" not in r.output
