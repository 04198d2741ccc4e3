"""The HTML tag scanner: a browser's idea of where tags are, on hostile markup too."""

from __future__ import annotations

import time

from strongroom.capture.extract import extract, extract_html
from strongroom.capture.htmlscan import attributes, start_tags

BASE = "http://news.test/dir/page.html"
ALL = frozenset({"img", "a", "script", "style", "title", "textarea", "link"})


def reqs(html: str) -> list[str]:
    return [u.rsplit("/", 1)[1] for u in extract_html(html, BASE).requisites]


def test_comments_hide_what_they_contain_as_a_browser_does():
    assert reqs('<img src="a.png"><!-- <img src="hidden.png"> --><img src=b.png>') == [
        "a.png",
        "b.png",
    ]
    assert reqs("<!-- x --!><img src=after-bang.png>") == ["after-bang.png"]
    # '<!-->' and '<!--->' are empty comments that close at once
    assert reqs("<!--><img src=e1.png><!---><img src=e2.png>") == ["e1.png", "e2.png"]
    # an unterminated comment runs to the end: nothing after it loads
    assert reqs("<img src=seen.png><!-- unterminated <img src=never.png>") == ["seen.png"]


def test_markup_inside_attribute_values_and_raw_text_is_not_a_tag():
    assert reqs('<div title="<img src=no.png>"><img src=yes.png></div>') == ["yes.png"]
    assert reqs("<p data-x='a > b <img src=no.png>'><img src=yes.png>") == ["yes.png"]
    assert reqs('<script>var s = "<img src=no.png>";</script><img src=yes.png>') == ["yes.png"]
    assert reqs("<textarea><img src=no.png></textarea><img src=yes.png>") == ["yes.png"]
    assert reqs("<ScRiPt>x</SCRIPT ><img src=after-mixed-case.png>") == ["after-mixed-case.png"]
    # a script never closed swallows the rest of the document
    assert reqs("<img src=first.png><script>if (a<b) { <img src=no.png>") == ["first.png"]
    # an end tag's quoted attribute can hold a '>' too
    assert reqs('</a title="<img src=no.png>"><img src=yes.png>') == ["yes.png"]


def test_a_tag_cut_off_by_the_end_of_the_document_is_dropped():
    assert reqs('<img src="ok.png"><img src="cut.png"') == ["ok.png"]
    # an unterminated quote holds everything after it, later tags included
    assert reqs('<img src=ok.png><img src="q.png" alt="open><img src=later.png>') == ["ok.png"]
    assert reqs("<img src=ok.png><img src='never-closed.png") == ["ok.png"]


def test_attribute_rules_names_case_duplicates_and_references():
    assert attributes(' SRC="A.png" src="b.png" Alt=x') == {"src": "A.png", "alt": "x"}
    assert attributes(" href='q?a=1&amp;b=2' title=&lt;") == {"href": "q?a=1&b=2", "title": "<"}
    assert attributes(' src = "spaced.png" disabled') == {"src": "spaced.png", "disabled": ""}
    assert attributes("/src=slash.png/") == {"src": "slash.png/"}  # unquoted runs to a space
    assert reqs("<img\tsrc=tab.png><img\nsrc=nl.png><img/src=s.png>") == [
        "tab.png",
        "nl.png",
        "s.png",
    ]
    # only HTML's five whitespace characters separate: U+00A0 is part of the name
    assert reqs("<img\u00a0src=nbsp.png>") == []
    assert reqs("< img src=not-a-tag.png><3 <img src=yes.png>") == ["yes.png"]


def test_doctype_processing_instructions_and_bogus_end_tags_are_skipped():
    html = '<!DOCTYPE html><?xml x="<img src=no.png>"?></ 3><img src=d.png></><img src=e.png>'
    assert reqs(html) == ["d.png", "e.png"]


def test_style_title_and_base_are_read_from_their_content():
    html = (
        '<base href="http://cdn.test/x/"><title>A &amp; B</title><title>second</title>'
        "<style>@import 'i.css'; .a{background:url(s.png)}</style>"
        '<p style="background:url(bg.png)">x</p><img src=rel.png>'
    )
    links = extract_html(html, BASE)
    assert links.title == "A & B"  # the document's title is its first
    assert links.requisites == [
        "http://cdn.test/x/i.css",
        "http://cdn.test/x/s.png",
        "http://cdn.test/x/bg.png",
        "http://cdn.test/x/rel.png",
    ]
    tags = [t for t, _, _ in start_tags("<b style=x><i>y</i>", ALL)]
    assert tags == ["b"]  # another tag is reported only for its style attribute


def test_mixed_encodings_and_control_bytes_still_yield_links():
    body = (
        "<title>Андижан</title>".encode("windows-1251")
        + b"<img src='\xff\xfe.png'>\x00<a href=/next.html>n</a>"
    )
    links = extract(body, "text/html; charset=windows-1251", "", BASE)
    assert links.title == "Андижан"
    assert links.outlinks == ["http://news.test/next.html"]
    assert len(links.requisites) == 1
    # bytes that are not UTF-8 in a page that claims UTF-8: decoded with replacement
    links = extract(b"<a href='x.html'>\xff\xfe</a>", "text/html; charset=utf-8", "", BASE)
    assert links.outlinks == ["http://news.test/dir/x.html"]


def test_hostile_sizes_stay_linear():
    # huge attributes, thousands of unclosed quotes, '<' runs, unclosed comments: a
    # pattern that backtracks would take minutes on these, not milliseconds
    hostile = [
        '<img src="a.png"' + " x" * 200_000 + ">",
        "<img " + 'a="' * 50_000 + ">",
        "<img " + "a=" * 100_000,
        "<" * 300_000,
        "<a " * 100_000,
        "<!--" * 100_000,
        '<img src="' + "y" * 1_000_000 + '">',
        "<p " + "'" * 200_000 + ">",
    ]
    started = time.monotonic()
    for html in hostile:
        extract_html(html, BASE)
    assert time.monotonic() - started < 20
    assert reqs('<img src="a.png"' + " x" * 200_000 + ">") == ["a.png"]
