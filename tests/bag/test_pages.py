"""WACZ pages carry the page's <title> and its text, so ReplayWeb.page can search them."""

from __future__ import annotations

import json
import zipfile

from bagkit import CAPTURE_ID, GV, RFERL, make_capture, warc_bytes

from strongroom.bag import make as bagging
from strongroom.bag.pages import html_text, html_title, page_entries
from strongroom.core.archive import Archive

WARC = f"{CAPTURE_ID}-00000.warc.gz"


def test_wacz_pages_have_titles_and_searchable_text(cli, archive_dir, tmp_path):
    pages = {
        RFERL: b"<html><head><title>Andijan, ten years on &amp; after</title></head>"
        b"<body><script>var x = 1;</script><p>Witnesses recall the square.</p></body></html>",
        GV: b"<html><title>Voices from Uzbekistan</title><body>Bloggers wrote.</body></html>",
    }
    event = {
        "premis:eventDateTime": "2024-02-20T10:17:00Z",
        "source": {"warc_file": WARC, "target_uri": RFERL},
        "derivatives": [{"file": "r.png"}, {"file": "r.txt"}],
    }
    make_capture(
        archive_dir,
        warcs={WARC: warc_bytes(pages)},
        derivatives={
            "r.png": b"\x89PNG",
            "r.txt": b"Rendered: witnesses recall the square",
            "r.json": json.dumps(event).encode(),
        },
        collection={"id": "andijan-2005", "title": "Andijan 2005", "access": "public"},
    )
    bag = bagging.bag_capture(Archive(archive_dir), CAPTURE_ID, manifests_dir=tmp_path / "m")
    out = tmp_path / "a.wacz"
    res = cli("export", bag.bag_id, "--wacz", "-o", out)
    assert res.exit_code == 0, res.output
    with zipfile.ZipFile(out) as z:
        rows = [json.loads(line) for line in z.read("pages/pages.jsonl").decode().splitlines()]
    by_url = {r["url"]: r for r in rows[1:]}
    assert by_url[RFERL]["title"] == "Andijan, ten years on & after"
    assert by_url[RFERL]["text"] == "Rendered: witnesses recall the square"  # the rendered text
    assert by_url[GV]["title"] == "Voices from Uzbekistan"
    assert by_url[GV]["text"] == "Bloggers wrote."  # from the HTML, title and scripts left out


def test_hostile_pages_keep_their_url_as_title(archive_dir, tmp_path):
    assert html_title(b"<title>" + b"A" * 10_000 + b"</title>") == "A" * 500
    assert html_title(b"no title here") == ""
    assert html_text(b"") == ""
    assert html_text(b"\x00\xff<<>>") is not None
    make_capture(archive_dir, warcs={WARC: warc_bytes({RFERL: b"\xff\xfe<title"})})
    bag = archive_dir / "bags" / "x"
    rows = page_entries(bag, [archive_dir / "captures" / CAPTURE_ID / WARC], [RFERL, GV])
    assert [r["title"] for r in rows] == [RFERL, GV]
    broken = tmp_path / "broken.warc.gz"
    broken.write_bytes(b"\x1f\x8b not a warc")
    assert page_entries(bag, [broken], [RFERL]) == [{"url": RFERL, "title": RFERL}]
