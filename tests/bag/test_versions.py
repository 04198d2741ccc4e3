"""A re-capture of an unchanged page makes no new bag; a changed one a new version."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
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


# Every test starts from an archive after the first `archive` run of the one-article
# collection: that run is made once per dedup mode (read-only templates), and each
# test works on its own copy, served by one site for the module.
@pytest.fixture(scope="module")
def vsite() -> Iterator[SiteServer]:
    server = SiteServer().start()
    try:
        yield server
    finally:
        server.stop()


def _first_run(cli, root: Path, site: SiteServer, dedup: str) -> tuple[Path, str]:
    coll = _collection(root, site, dedup)
    doc = _archive(cli, coll, root, "--archive", str(root / "archive"))
    return root, doc["bags"][0]


@pytest.fixture(scope="module")
def after_capture_dedup(cli_runner, vsite, tmp_path_factory) -> tuple[Path, str]:
    return _first_run(cli_runner, tmp_path_factory.mktemp("versions"), vsite, "capture")


@pytest.fixture(scope="module")
def after_archive_dedup(cli_runner, vsite, tmp_path_factory) -> tuple[Path, str]:
    return _first_run(cli_runner, tmp_path_factory.mktemp("versions"), vsite, "archive")


def _copy(template: tuple[Path, str], tmp_path: Path, archive_dir: Path) -> tuple[Path, str]:
    """The template's archive, inventory and collection file, as this test's own."""
    root, first_bag = template
    # cp -a keeps the hard links between a capture's WARCs and its bag's payload
    subprocess.run(["cp", "-a", str(root / "archive"), str(archive_dir)], check=True)
    shutil.copytree(root / "m", tmp_path / "m", symlinks=True)
    config = archive_dir / "config.toml"  # [inventory] path is fixed, absolute
    config.write_text(config.read_text().replace(str(root / "m"), str(tmp_path / "m")))
    shutil.copyfile(root / "one.toml", tmp_path / "one.toml")
    return tmp_path / "one.toml", first_bag


def test_unchanged_recapture_makes_no_bag_and_says_so(
    cli, after_capture_dedup, archive_dir, tmp_path
) -> None:
    coll, first_bag = _copy(after_capture_dedup, tmp_path, archive_dir)
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


def test_force_makes_a_bag_anyway_as_a_new_version(
    cli, vsite, after_capture_dedup, archive_dir, tmp_path
) -> None:
    site = vsite
    coll, first_bag = _copy(after_capture_dedup, tmp_path, archive_dir)
    forced = _archive(cli, coll, tmp_path, "--force")["bags"]
    assert len(forced) == 1 and forced[0] != first_bag
    info = read_bag_info(Archive(archive_dir).bag_dir(forced[0]))
    assert first(info, "Is-Version-Of") == first_bag
    assert (
        versions.latest_bag(Archive(archive_dir), "one", site.url + GLOBALVOICES_PATH[1:])
        == (forced[0])
    )


def test_a_changed_page_gets_a_new_bag_with_is_version_of(
    cli, vsite, after_capture_dedup, archive_dir, tmp_path
):
    coll, first_bag = _copy(after_capture_dedup, tmp_path, archive_dir)
    vsite.set_override(
        GLOBALVOICES_PATH,
        Override(
            headers={"Content-Type": "text/html; charset=utf-8"},
            body=b"<!doctype html><title>Edited</title><p>The article was edited.</p>",
        ),
    )
    try:
        doc = _archive(cli, coll, tmp_path)
    finally:
        vsite.set_override(GLOBALVOICES_PATH, None)  # the module's other tests see the original
    assert len(doc["bags"]) == 1 and doc["seeds"][0]["unchanged_since"] == ""
    info = read_bag_info(Archive(archive_dir).bag_dir(doc["bags"][0]))
    assert first(info, "Is-Version-Of") == first_bag


def test_unchanged_holds_under_archive_dedup_too(
    cli, after_archive_dedup, archive_dir, tmp_path
) -> None:
    coll, first_bag = _copy(after_archive_dedup, tmp_path, archive_dir)
    doc = _archive(cli, coll, tmp_path)
    assert doc["bags"] == [] and doc["seeds"][0]["unchanged_since"] == first_bag


@needs_chromium
def test_a_damaged_earlier_bag_is_named_as_the_cause_and_exits_1(
    cli, after_archive_dedup, archive_dir, tmp_path
):
    """dedup = "archive": the page's payload is in the first bag, and that bag is damaged."""
    coll, first_bag = _copy(after_archive_dedup, tmp_path, archive_dir)
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
