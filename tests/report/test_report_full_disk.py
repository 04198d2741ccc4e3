"""``strongroom report`` onto a full or read-only disk: exit 2 with the next step, and
the previous report whole (its index parses and lists its bags, its pages are its
own), with no new pages folder or temp file beside it.

Real small tmpfs mounts (root only; the tests skip otherwise), see tests/kits/diskkit.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from diskkit import broken, leftovers, says, small_fs
from replaykit import GV, RFERL, make_bag

from strongroom.core.archive import Archive
from strongroom.demosite import SiteServer


@pytest.fixture(scope="module")
def two_bags(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    archive = Archive(tmp_path_factory.mktemp("report-disk") / "archive")
    site = SiteServer().start()
    try:
        bags = [make_bag(archive, site, [GV]), make_bag(archive, site, [RFERL])]
    finally:
        site.stop()
    yield archive.root, bags


class _Links(HTMLParser):
    """Every link of a page; an HTML parse a reader's browser would make."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [v for k, v in attrs if k == "href" and v]


def _site(index: Path) -> dict[str, str]:
    """The report as a reader sees it: the index and each page it links, by name."""
    parser = _Links()
    parser.feed(index.read_text("utf-8"))
    parser.close()
    pages = [link for link in parser.links if re.fullmatch(r"[^/:]+-pages-[^/]+/[^/]+\.html", link)]
    assert pages, "the index links no collection page"
    return {"index": index.read_text("utf-8")} | {
        p: (index.parent / p).read_text("utf-8") for p in pages
    }


@pytest.mark.parametrize("how", ["full", "ro"])
def test_report_onto_a_full_or_read_only_disk_keeps_the_previous_report(
    cli, two_bags, tmp_path, how
):
    source, bags = two_bags
    with small_fs(tmp_path / "fs", "1m") as fs:
        index = fs / "report.html"
        first = cli("report", "--archive", source, "-o", index, "--quiet")
        assert first.exit_code == 0, first.output
        before = _site(index)
        assert all(b in "".join(before.values()) for b in bags)
        folders = sorted(p.name for p in fs.iterdir())
        with broken(fs, how):
            r = cli("report", "--archive", source, "-o", index)
            assert r.exit_code == 2, r.output
            assert "Traceback" not in r.output
            assert says(how) in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
            # while the disk is still full: the old report, pages and all, and nothing else
            assert _site(index) == before
            assert sorted(p.name for p in fs.iterdir() if p.name != "filler") == folders
            assert leftovers(fs) == []
        again = cli("report", "--archive", source, "-o", index, "--quiet")
        assert again.exit_code == 0, again.output
        after = _site(index)
        assert after != before and all(b in "".join(after.values()) for b in bags)
        assert len([p for p in fs.iterdir() if "-pages-" in p.name]) == 1  # the old one went
