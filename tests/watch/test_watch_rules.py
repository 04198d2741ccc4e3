"""The small rules behind watch's classification, each with a hostile case beside it."""

from __future__ import annotations

from strongroom.watch.baseline import BagRef, latest_bag
from strongroom.watch.classify import home_redirect_reason, parse_blocked_by, probe_url
from strongroom.watch.live import vantage_name
from strongroom.watch.text import decode_body, legal_labels, similarity, title_error_phrase

SEED = "https://www.rferl.org/a/former-uzbek-spy/1195372.html"


def test_home_and_section_redirects():
    assert home_redirect_reason(SEED, "https://rferl.org/") is not None
    assert home_redirect_reason(SEED, "https://www.rferl.org/index.html") is not None
    assert "section" in home_redirect_reason(SEED, "https://www.rferl.org/a/")
    assert "section" in home_redirect_reason(SEED, "https://www.rferl.org/a")
    # moved article, another site, or a look-alike prefix are not home redirects
    assert home_redirect_reason(SEED, "https://www.rferl.org/a/former-uzbek-spy/new.html") is None
    assert home_redirect_reason(SEED, "https://evil.example/") is None
    assert home_redirect_reason(SEED, "https://www.rferl.org/a/former") is None


def test_blocked_by_link_header_and_hostile_values():
    assert parse_blocked_by('<https://isp.example/>; rel="blocked-by"') == "https://isp.example/"
    assert (
        parse_blocked_by('<https://a/>; rel="next", <https://b/>; rel=blocked-by') == "https://b/"
    )
    assert parse_blocked_by("") is None
    assert parse_blocked_by("<<<;;;rel=\x00") is None
    huge = '<https://x/>; rel="blocked-by", <' + "A" * 100_000 + ">"
    assert parse_blocked_by(huge) == "https://x/"


def test_mixed_encodings_decode_to_the_same_text():
    text = "Страница о событиях в Андижане"
    html = f"<meta charset='windows-1251'><p>{text}</p>".encode("cp1251")
    assert text in decode_body(html)
    assert text in decode_body(text.encode("cp1251"), "text/html; charset=windows-1251")
    assert text in decode_body(text.encode("utf-8"), "text/html")
    # an unknown charset label falls back instead of crashing
    assert text in decode_body(text.encode("utf-8"), "text/html; charset=x-no-such-thing")
    assert isinstance(decode_body(b"\xff\xfe\x00garbage\x80\x81", "text/html"), str)


def test_legal_labels_and_error_titles():
    assert legal_labels("НАСТОЯЩИЙ МАТЕРИАЛ ... ИНОСТРАННЫЙ  АГЕНТ") == ["иностранный агент"]
    assert "undesirable organization" in legal_labels("an Undesirable\nOrganization")
    assert legal_labels("an agent of change from abroad") == []
    assert title_error_phrase("Страница не найдена — Новости") == "страница не найдена"
    assert title_error_phrase("Error 404") == "404"
    assert title_error_phrase("Andijan: what happened") is None


def test_similarity_is_word_based():
    assert similarity("a b  c", "a b c") == 1.0
    assert 0 < similarity("a b c d", "a b d") < 1
    assert similarity("", "") == 1.0


def test_latest_bag_follows_is_version_of_before_dates():
    old = BagRef("c-20240101T000000Z-aaaaaa", "c", "2024-01-01", "", [])
    new = BagRef("c-20230101T000000Z-bbbbbb", "c", "2024-01-01", old.bag_id, [])
    assert latest_bag([old, new]) is new
    later = BagRef("c-20250101T000000Z-cccccc", "c", "2025-01-01", "", [])
    assert latest_bag([old, later]) is later
    assert latest_bag([]) is None
    # a cycle of versions (hostile labels) still gives an answer
    a = BagRef("a", "c", "2024", "b", [])
    b = BagRef("b", "c", "2024", "a", [])
    assert latest_bag([a, b]) in (a, b)


def test_probe_url_and_vantage_names():
    p = probe_url(SEED)
    assert p.startswith("https://www.rferl.org/a/former-uzbek-spy/strongroom-probe-")
    assert probe_url(SEED) != p
    assert vantage_name(None) == "direct"
    assert vantage_name("socks5h://user:secret@10.0.0.1:9050") == "proxy:10.0.0.1:9050"


def test_every_watch_area_command_has_help_with_an_example(cli):
    for name in ("watch", "status", "access"):
        r = cli(name, "--help")
        assert r.exit_code == 0
        assert "Example:" in r.stdout
        assert f"strongroom {name}" in r.stdout
