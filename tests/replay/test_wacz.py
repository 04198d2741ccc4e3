"""WACZ export: valid packages, dark bags refused unless overridden and logged."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from replaykit import GV, NOTICE, make_bag

from strongroom.bag import custody
from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger
from strongroom.demosite import SiteServer
from strongroom.replay import wacz


@pytest.fixture(scope="module")
def bags(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    archive = Archive(tmp_path_factory.mktemp("wacz") / "archive")
    site = SiteServer().start()
    try:
        public = make_bag(archive, site, [GV])
        dark = make_bag(archive, site, [NOTICE], access="dark")
    finally:
        site.stop()
    yield {"archive": archive, "public": public, "dark": dark, "url": site.url + GV}


def test_export_writes_a_wacz_that_validates(cli, bags, tmp_path) -> None:
    out = tmp_path / "andijan.wacz"
    r = cli("export", bags["public"], "--wacz", "-o", out, "--archive", bags["archive"].root)
    assert r.exit_code == 0, r.output
    assert str(out) in r.stdout
    ok, messages = wacz.validate_wacz(out)
    assert ok, messages
    assert "1.1.1" in messages
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        assert "datapackage.json" in names
        pages = z.read("pages/pages.jsonl").decode().splitlines()
    assert any(json.loads(p).get("url") == bags["url"] for p in pages[1:])
    assert not list(tmp_path.glob(".tmp-*")), "temporary files are cleaned up"


def test_dark_bag_is_refused_and_nothing_is_written(cli, bags, tmp_path) -> None:
    out = tmp_path / "dark.wacz"
    r = cli("export", bags["dark"], "--wacz", "-o", out, "--archive", bags["archive"].root)
    assert r.exit_code == 1
    assert "is dark" in r.stderr and "--override" in r.stderr
    assert not out.exists()
    r = cli(
        "export", bags["dark"], "--wacz", "-o", out, "--override", "--archive", bags["archive"].root
    )
    assert r.exit_code == 2
    assert "--reason" in r.stderr
    assert not out.exists()


def test_override_with_reason_exports_and_is_logged(cli, bags, tmp_path) -> None:
    archive = bags["archive"]
    out = tmp_path / "court.wacz"
    r = cli(
        "export",
        bags["dark"],
        "--wacz",
        "-o",
        out,
        "--override",
        "--reason",
        "court order 12/2025",
        "--archive",
        archive.root,
        "--json",
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["override"] is True and doc["access"] == "dark"
    assert wacz.validate_wacz(out)[0]
    entries = custody.read_entries(archive.custody_path(bags["dark"]))
    assert entries[-1]["action"] == "export"
    assert entries[-1]["inputs"]["reason"] == "court order 12/2025"
    with open_ledger(archive.root) as ledger:
        events = [e for e in ledger.events(bags["dark"]) if e["event_type"] == "export"]
    assert events and events[-1]["detail"]["override"] is True


def test_export_refuses_bad_output_names_and_unknown_bags(cli, bags, tmp_path) -> None:
    root = bags["archive"].root
    r = cli("export", bags["public"], "--wacz", "-o", tmp_path / "x.zip", "--archive", root)
    assert r.exit_code == 2 and ".wacz" in r.stderr
    r = cli("export", "../../etc", "--wacz", "-o", tmp_path / "x.wacz", "--archive", root)
    assert r.exit_code == 2 and "no bag" in r.stderr
    assert "Traceback" not in r.output
