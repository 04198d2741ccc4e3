"""Screenshots and text rendered from the WARC, stored as bag derivatives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bagit
import pytest
from replaykit import CHROMIUM, GV, make_bag, needs_chromium
from warcio.archiveiterator import ArchiveIterator

from strongroom.capture import screenshot
from strongroom.core.archive import Archive
from strongroom.demosite import SiteServer
from strongroom.errors import ProblemFound

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shot_bag(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (sudo apt-get install chromium)")
    archive = Archive(tmp_path_factory.mktemp("shots") / "archive")
    site = SiteServer().start()
    try:
        bag_id = make_bag(archive, site, [GV], screenshots=True)
    finally:
        site.stop()
    yield {"archive": archive, "bag_id": bag_id, "url": site.url + GV, "port": site.port}


@needs_chromium
def test_screenshot_is_a_dated_png_listed_in_the_manifests_of_a_valid_bag(shot_bag) -> None:
    bag_dir = shot_bag["archive"].bag_dir(shot_bag["bag_id"])
    derived = bag_dir / "data" / "derivatives"
    pngs = sorted(derived.glob("*.png"))
    assert len(pngs) == 1
    data = pngs[0].read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = screenshot.png_size(data)
    assert width >= 1000 and height > 1500  # full page, not just the viewport
    assert len(data) > 10_000
    meta = screenshot.png_text(data)
    assert meta["URL"] == shot_bag["url"]
    assert meta["WARC-Date"].startswith("20") and meta["WARC-Record-ID"].startswith("<urn:uuid:")
    assert meta["Software"].startswith("strongroom/")
    text = pngs[0].with_suffix(".txt").read_text("utf-8")
    assert "Ten Years on from Andijan Massacre" in text
    manifest = (bag_dir / "manifest-sha512.txt").read_text()
    assert f"data/derivatives/{pngs[0].name}" in manifest
    assert f"data/derivatives/{pngs[0].with_suffix('.txt').name}" in manifest
    bagit.Bag(str(bag_dir)).validate()


@needs_chromium
def test_premis_event_links_each_derivative_to_its_source_record(shot_bag) -> None:
    bag_dir = shot_bag["archive"].bag_dir(shot_bag["bag_id"])
    event_file = next((bag_dir / "data" / "derivatives").glob("*.json"))
    event = json.loads(event_file.read_text())
    assert event["premis:eventType"] == "rendering"
    src = event["source"]
    assert src["target_uri"] == shot_bag["url"]
    assert (bag_dir / "data" / "warc" / src["warc_file"]).is_file()
    import hashlib

    for d in event["derivatives"]:
        body = (event_file.parent / d["file"]).read_bytes()
        assert d["sha256"] == hashlib.sha256(body).hexdigest()
        assert d["relationship"]["premis:relationshipType"] == "derivation"
    png = screenshot.png_text((event_file.parent / event["derivatives"][0]["file"]).read_bytes())
    assert png["WARC-Record-ID"] == src["record_id"]


def test_without_chromium_the_message_says_how_to_install_it(tmp_path: Path) -> None:
    (tmp_path / "x.warc.gz").write_bytes(b"")
    with pytest.raises(screenshot.ChromiumMissing) as exc:
        screenshot.make_derivatives(tmp_path, chromium="/nonexistent/chromium")
    assert "apt-get install chromium" in str(exc.value)
    assert not (tmp_path / "derivatives").exists()


@needs_chromium
def test_hostile_warc_gives_a_clear_problem(tmp_path: Path) -> None:
    (tmp_path / "bad-00000.warc.gz").write_bytes(b"\x1f\x8b\x08\x00garbage" * 50)
    with pytest.raises(ProblemFound) as exc:
        screenshot.make_derivatives(tmp_path, chromium=CHROMIUM)
    assert "bad-00000.warc.gz" in str(exc.value)


def test_png_text_round_trip_and_non_png_refused() -> None:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    raw = zlib.compress(b"\x00\x00\x00\x00")
    png = (
        screenshot.PNG_SIGNATURE
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", raw)
        + chunk(b"IEND", b"")
    )
    out = screenshot.add_png_text(png, {"URL": "http://example.test/ü", "WARC-Date": "2024"})
    assert screenshot.png_text(out) == {"URL": "http://example.test/ü", "WARC-Date": "2024"}
    assert screenshot.png_size(out) == (1, 1)
    with pytest.raises(ValueError):
        screenshot.png_size(b"GIF89a" + b"\x00" * 30)


def test_slugs_are_safe_file_names() -> None:
    slug = screenshot.slug_for("http://evil.test/../../etc/passwd?x=<script>")
    assert "/" not in slug and ".." not in slug and "<" not in slug
    assert screenshot.slug_for("http://a.test/x") != screenshot.slug_for("http://a.test/x?y")


@needs_chromium
def test_a_recapture_of_an_unchanged_page_still_gets_its_screenshot(tmp_path: Path) -> None:
    # With dedup = "archive" the second capture stores only revisit records; the page
    # is rendered from the earlier capture's payload, found through the ledger, and dated now.
    archive = Archive(tmp_path / "archive")
    site = SiteServer().start()
    try:
        make_bag(archive, site, [GV], screenshots=False)
        second = make_bag(archive, site, [GV], screenshots=True, dedup="archive")
    finally:
        site.stop()
    derived = archive.bag_dir(second) / "data" / "derivatives"
    pngs = sorted(derived.glob("*.png"))
    assert len(pngs) == 1
    meta = screenshot.png_text(pngs[0].read_bytes())
    revisits = {
        r.rec_headers.get_header("WARC-Record-ID")
        for w in (archive.bag_dir(second) / "data" / "warc").glob("*.warc.gz")
        for r in ArchiveIterator(w.open("rb"))
        if r.rec_type == "revisit"
    }
    assert meta["WARC-Record-ID"] in revisits  # cites this capture's own record
    assert "Ten Years on from Andijan Massacre" in pngs[0].with_suffix(".txt").read_text("utf-8")
