"""Every bag stands alone by default; with dedup = "archive" its closure is declared, honoured."""

from __future__ import annotations

import io
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from replaykit import GV, make_bag
from waczkit import replay_alone
from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter

from strongroom.bag import closure
from strongroom.bag.baginfo import read_bag_info, values
from strongroom.core.archive import Archive
from strongroom.demosite import SiteServer
from strongroom.errors import PolicyRefused, ProblemFound
from strongroom.replay import wacz


@pytest.fixture(scope="module")
def bags(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Three captures of one page: the first, a default re-capture, an archive-dedup one."""
    archive = Archive(tmp_path_factory.mktemp("closure") / "archive")
    site = SiteServer().start()
    try:
        first = make_bag(archive, site, [GV])
        alone = make_bag(archive, site, [GV])
        dependent = make_bag(archive, site, [GV], dedup="archive")
    finally:
        site.stop()
    yield {"archive": archive, "first": first, "alone": alone, "dependent": dependent}


def _revisits(bag_dir: Path) -> list[Any]:
    out = []
    for w in closure.bag_warcs(bag_dir):
        with open(w, "rb") as fh:
            out += [r.rec_headers for r in ArchiveIterator(fh) if r.rec_type == "revisit"]
    return out


def test_a_default_recapture_is_self_contained_and_verifies_deep(cli, bags) -> None:
    archive = bags["archive"]
    bag_dir = archive.bag_dir(bags["alone"])
    assert closure.closure(archive, bags["alone"]) == []
    assert not values(read_bag_info(bag_dir), "Depends-On")
    assert closure.dangling(closure.bag_warcs(bag_dir)) == []
    r = cli("verify", bags["alone"], "--deep", "--archive", archive.root)
    assert r.exit_code == 0, r.output


def test_the_wacz_of_a_recapture_replays_alone_in_pywb(cli, bags, tmp_path) -> None:
    out = tmp_path / "second.wacz"
    r = cli("export", bags["alone"], "--wacz", "-o", out, "--archive", bags["archive"].root)
    assert r.exit_code == 0, r.output
    statuses = replay_alone(out, tmp_path)
    assert len(statuses) >= 5, statuses  # the page, its stylesheet, font, images, script
    assert all(code == 200 for code in statuses.values()), statuses


def test_archive_dedup_declares_its_dependency_with_the_tag_manifest_digest(bags) -> None:
    archive = bags["archive"]
    bag_dir = archive.bag_dir(bags["dependent"])
    assert _revisits(bag_dir), "dedup = archive stores revisits"
    deps = values(read_bag_info(bag_dir), "Depends-On")
    # the revisits point at the first payloads the archive saw: the first bag's
    expected = closure.tagmanifest_digest(archive.bag_dir(bags["first"]))
    assert deps == [f"{bags['first']} {expected}"]
    assert closure.closure(archive, bags["dependent"]) == [bags["first"]]
    assert closure.dangling(closure.bag_warcs(bag_dir)), "alone, its revisits dangle"
    first_warcs = closure.bag_warcs(archive.bag_dir(bags["first"]))
    assert closure.dangling(closure.bag_warcs(bag_dir), first_warcs) == []


def test_verify_deep_accepts_the_dependent_bag_within_its_closure(cli, bags) -> None:
    r = cli("verify", bags["dependent"], "--deep", "--archive", bags["archive"].root)
    assert r.exit_code == 0, r.output


def test_export_of_a_dependent_bag_carries_its_closure_and_replays_alone(cli, bags, tmp_path):
    out = tmp_path / "dependent.wacz"
    archive = bags["archive"]
    r = cli("export", bags["dependent"], "--wacz", "-o", out, "--archive", archive.root)
    assert r.exit_code == 0, r.output
    assert f"with the records of {bags['first']}" in r.stdout
    with zipfile.ZipFile(out) as z:
        warcs = [n for n in z.namelist() if n.startswith("archive/")]
    own = closure.bag_warcs(archive.bag_dir(bags["dependent"]))
    first = closure.bag_warcs(archive.bag_dir(bags["first"]))
    assert len(warcs) == len(own) + len(first), warcs  # its own WARCs and the first bag's
    statuses = replay_alone(out, tmp_path)
    assert statuses and all(code == 200 for code in statuses.values()), statuses


def test_a_more_closed_dependency_refuses_the_export(bags, tmp_path) -> None:
    from strongroom.bag.access import set_access

    archive = bags["archive"]
    set_access(archive, bags["first"], "restricted", reason="test")
    try:
        with pytest.raises(PolicyRefused, match=r"depends on .* which is restricted"):
            wacz.export_wacz(archive, bags["dependent"], tmp_path / "x.wacz")
        assert not (tmp_path / "x.wacz").exists()
    finally:
        set_access(archive, bags["first"], "public", reason="test done")


def test_a_missing_dependency_is_reported_by_verify_deep_and_refused_by_export(
    cli, bags, tmp_path
) -> None:
    src = bags["archive"]
    copy = Archive(tmp_path / "copy").ensure()
    shutil.copytree(src.bag_dir(bags["dependent"]), copy.bag_dir(bags["dependent"]))
    r = cli("verify", bags["dependent"], "--deep", "--archive", copy.root)
    assert r.exit_code == 1
    assert f"depends on {bags['first']}, which is not in" in r.output
    assert "neither in this bag nor in its declared closure" in r.output
    with pytest.raises(ProblemFound, match=r"closure .* is incomplete"):
        wacz.export_wacz(copy, bags["dependent"], tmp_path / "x.wacz")
    # a dependency re-made under the same id no longer matches its pinned digest
    shutil.copytree(src.bag_dir(bags["alone"]), copy.bag_dir(bags["first"]))
    r = cli("verify", bags["dependent"], "--deep", "--archive", copy.root)
    assert r.exit_code == 1
    assert "tag-manifest digest" in r.output


def _revisit_warc(target: str) -> bytes:
    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=True)
    rec = w.create_revisit_record(
        target, "sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", target, "2020-01-01T00:00:00Z"
    )
    w.write_record(rec)
    return buf.getvalue()


def test_verify_deep_reports_a_revisit_that_resolves_nowhere(cli, tmp_path) -> None:
    from bagkit import make_capture

    from strongroom.bag.make import bag_capture

    archive = Archive(tmp_path / "archive").ensure()
    url = "http://example.test/gone.css"
    make_capture(archive.root, warcs={"x-00000.warc.gz": _revisit_warc(url)}, seeds=[url])
    bag = bag_capture(archive, "20240220T101500Z-ab12cd", manifests_dir=tmp_path / "m")
    r = cli("verify", bag.bag_id, "--deep", "--archive", archive.root)
    assert r.exit_code == 1
    assert "revisit refers to" in r.output and "gone.css" in r.output
