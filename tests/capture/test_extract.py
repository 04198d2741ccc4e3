"""Link and requisite extraction from HTML and CSS, including hostile input."""

from __future__ import annotations

import gzip
import zlib

from strongroom.capture.extract import (
    MAX_DECODED,
    clean_url,
    css_urls,
    decode_content,
    extract,
    parse_srcset,
    to_text,
)

BASE = "http://news.test/world/story.html"


def test_every_requisite_kind_found_and_resolved():
    html = """<html><head><base href="/assets/">
    <link rel="stylesheet" href="a.css"><link rel="icon" href="/fav.ico">
    <link rel="preload" href="font.woff2" as="font"><link rel="apple-touch-icon" href="t.png">
    <link rel="canonical" href="/not-a-requisite">
    <script src="app.js"></script><style>@import 'st.css'; .x{background:url(bg.png)}</style>
    </head><body>
    <img src="i.jpg" srcset="i-2x.jpg 2x, i-3x.jpg 3x">
    <picture><source srcset="p.webp 1x,p2.webp 2x"><img src="p.jpg"></picture>
    <video poster="poster.jpg" src="v.mp4"><source src="v.webm"></video><audio src="a.mp3"></audio>
    <iframe src="https://embed.test/frame"></iframe>
    <div style="background-image: url('inline.png')"></div>
    <a href="../other.html#comments">o</a><a href="mailto:x@y">m</a>
    <a href="javascript:void(0)">j</a>
    <img src="data:image/png;base64,AAAA"><a href="tel:123">t</a>
    </body></html>"""
    links = extract(html.encode(), "text/html; charset=utf-8", "", BASE)
    a = "http://news.test/assets/"
    expected = {
        a + "a.css", "http://news.test/fav.ico", a + "font.woff2", a + "t.png", a + "app.js",
        a + "st.css", a + "bg.png", a + "i.jpg", a + "i-2x.jpg", a + "i-3x.jpg", a + "p.webp",
        a + "p2.webp", a + "p.jpg", a + "poster.jpg", a + "v.mp4", a + "v.webm", a + "a.mp3",
        "https://embed.test/frame", a + "inline.png",
    }  # fmt: skip
    assert set(links.requisites) == expected
    assert links.outlinks == ["http://news.test/other.html"]  # fragment dropped, no mailto/js


def test_css_url_and_import_forms_after_gzip_decoding():
    css = b"""/* url(commented.png) */ @import "q.css"; @import url(u.css);
    @import 'single.css' screen; a{background:url( "dq.png" )} b{background:url('sq.png')}
    c{background:url(bare.png)} d{background:url(data:image/png;base64,AAA)}"""
    links = extract(gzip.compress(css), "text/css", "gzip", "http://h.test/css/main.css")
    names = [u.rsplit("/", 1)[1] for u in links.requisites]
    assert sorted(names) == sorted(["q.css", "u.css", "single.css", "dq.png", "sq.png", "bare.png"])


def test_windows_1251_page_decodes_and_links_found():
    html = '<meta charset="windows-1251"><title>Андижан</title><a href="/новости/">н</a>'
    body = html.encode("cp1251")
    links = extract(body, "text/html", "", "http://ru.test/")
    assert links.title == "Андижан"
    assert links.outlinks == ["http://ru.test/новости/"]
    # the header wins over <meta> when both are present
    assert to_text("ж".encode("koi8-r"), "text/html; charset=koi8-r") == "ж"


def test_unknown_or_lying_charset_falls_back_without_error():
    body = "café".encode("latin-1")
    assert to_text(body, "text/html; charset=no-such-charset") == "café"
    assert extract(b"<a href='x'>\xff\xfe</a>", "text/html; charset=utf-8", "", BASE).outlinks


def test_gzip_bomb_decoding_is_bounded():
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = c.compress(bytes(64 * 1024 * 1024)) + c.flush()  # 64 MiB inflated
    data, note = decode_content(bomb, "gzip", limit=1024 * 1024)
    assert len(data) == 1024 * 1024
    assert "bomb" in note
    assert MAX_DECODED <= 64 * 1024 * 1024


def test_corrupt_gzip_and_unknown_encoding_give_a_note_not_an_error():
    data, note = decode_content(b"\x1f\x8bnot gzip at all", "gzip")
    assert data == b"" and "could not decode" in note
    data, note = decode_content(b"x", "compress")
    assert data == b"" and "unknown content-encoding" in note


def test_broken_html_still_yields_links():
    html = "<html><img src=a.png <a href='b.html'>x</a><script>if(a<b){}</script><img src='c.png"
    links = extract(html.encode(), "text/html", "", "http://h.test/")
    assert "http://h.test/b.html" in links.outlinks or "http://h.test/a.png" in links.requisites


def test_clean_url_refuses_junk():
    assert clean_url("javascript:alert(1)", BASE) is None
    assert clean_url("ftp://x/y", BASE) is None
    assert clean_url("http://[bad", BASE) is None
    assert clean_url("http://h.test:99999/", BASE) is None
    assert clean_url("  /a b\n.html#x ", BASE) == "http://news.test/a b.html"
    assert clean_url("//cdn.test/x.js", BASE) == "http://cdn.test/x.js"


def test_srcset_with_commas_in_urls():
    assert parse_srcset("a.jpg 1x, b,c.jpg 2x") == ["a.jpg", "b,c.jpg"]
    assert parse_srcset("https://i.test/w_100,h_50/x.jpg 100w, y.jpg 200w") == [
        "https://i.test/w_100,h_50/x.jpg",
        "y.jpg",
    ]
    assert parse_srcset("") == []


def test_non_html_is_not_parsed():
    assert extract(b"<a href='x'>", "image/png", "", BASE).outlinks == []
    assert css_urls("no urls here") == []


def _resolved_the_long_way(raw: str, base: str) -> str | None:
    from urllib.parse import urljoin, urlsplit, urlunsplit

    raw = raw.strip().replace("\n", "").replace("\r", "").replace("\t", "")
    parts = urlsplit(urljoin(base, raw))
    try:
        _ = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def test_the_fast_path_for_absolute_paths_resolves_exactly_like_urljoin():
    import random

    from strongroom.capture.extract import clean_url

    bases = ["http://a.example/x/y.html", "HTTPS://u:p@B.example:8443/", "http://[::1]:80/a?b",
             "ftp://x/", "http://bad:port/", "http://h/a;p?q#f", "http://h:99999/"]  # fmt: skip
    pieces = ["/", "a", ".", "..", "?", "#", "%2e", "=", ";", "//", "\\", " ", "ü", "@", ":", "\t"]
    rnd = random.Random(7)
    for _ in range(1500):
        raw = rnd.choice(["/", " /", "/\t"]) + "".join(rnd.choices(pieces, k=rnd.randint(0, 7)))
        for base in bases:
            assert clean_url(raw, base) == _resolved_the_long_way(raw, base), (raw, base)


def test_a_page_with_twenty_thousand_links_stays_linear():
    import time

    from strongroom.capture.extract import extract

    body = "".join(f'<a href="/p/{i}">x</a><img src="/i/{i % 500}.png">' for i in range(20_000))
    started = time.monotonic()
    links = extract(body.encode(), "text/html", "", "http://news.example/")
    assert len(links.outlinks) == 20_000 and len(links.requisites) == 500
    assert time.monotonic() - started < 20
