"""robots.txt as RFC 9309 reads it: groups, longest match, wildcards; hostile files bounded."""

from __future__ import annotations

import time

from strongroom.capture.robots import Robots
from strongroom.capture.workers import parse_robots

SITE = "https://news.example/"


def can(text: str, path: str, agent: str = "strongroom") -> bool:
    return Robots.parse(text).can_fetch(agent, SITE.rstrip("/") + path)


def test_the_longest_rule_wins_and_allow_wins_a_tie():
    text = "User-agent: *\nDisallow: /news/\nAllow: /news/public/\nDisallow: /news/public/x\n"
    assert not can(text, "/news/a.html")
    assert can(text, "/news/public/a.html")
    assert not can(text, "/news/public/x.html")
    assert can("User-agent: *\nDisallow: /a\nAllow: /a\n", "/a")
    assert can(text, "/other")


def test_wildcards_and_end_anchor():
    text = "User-agent: *\nDisallow: /*.pdf$\nDisallow: /print/*/full\n"
    assert not can(text, "/files/report.pdf")
    assert can(text, "/files/report.pdf?download=1")
    assert not can(text, "/print/2024/full/page")
    assert can(text, "/print/full")


def test_our_group_replaces_the_star_group_and_groups_merge():
    text = (
        "User-agent: *\nDisallow: /\n\n"
        "User-agent: Strongroom\nDisallow: /private/\n\n"
        "User-agent: other\nUser-agent: strongroom\nDisallow: /tmp/\n"
    )
    assert can(text, "/news/", "strongroom/1.0")
    assert not can(text, "/private/x", "strongroom/1.0")
    assert not can(text, "/tmp/x", "strongroom/1.0")
    assert not can(text, "/news/", "somebot")


def test_percent_encoding_compares_alike_and_robots_txt_is_always_allowed():
    text = "User-agent: *\nDisallow: /a%7Eb\nDisallow: /\n"
    assert not can(text, "/a~b/c")
    assert can(text, "/robots.txt")


def test_junk_lines_comments_bom_and_empty_disallow():
    text = "\ufeffUser-agent: * # all\nno colon here\nDisallow:\nCrawl-delay: 5\nAllow /x\n"
    assert can(text, "/anything")
    assert can("Disallow: /\n", "/x")  # a rule outside any group means nothing


def test_a_huge_hostile_file_is_bounded():
    text = "User-agent: *\n" + "Disallow: /*a*a*a*a*a*a*a*a*b\n" * 200_000
    started = time.monotonic()
    rules = Robots.parse(text)
    assert rules.can_fetch("strongroom", SITE + "a" * 2000)
    assert time.monotonic() - started < 10


def test_status_codes_decide_without_a_body():
    assert not parse_robots(403, b"", {}).can_fetch("strongroom", SITE)
    assert parse_robots(404, b"User-agent: *\nDisallow: /", {}).can_fetch("strongroom", SITE)
    assert not parse_robots(200, b"User-agent: *\nDisallow: /", {}).can_fetch("strongroom", SITE)
