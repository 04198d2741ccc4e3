"""Collection files: the shipped ones load, and every mistake names file, field and fix."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from strongroom.core.collection import Designation, load_collection
from strongroom.errors import UsageError

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / "collections"

VALID = """\
id = "test-coll"
title = "A test collection"

[curator]
name = "Curator"
email = "curator@example.org"

[[seeds]]
url = "https://www.rferl.org/a/Former_Uzbek_Spy_Seeks_Asylum/1195372.html"
title = "Former Uzbek Spy"
published = 2008-09-02
language = "en"

[capture]
depth = 0

[[designations]]
organization = "RFE/RL"
hosts = ["rferl.org"]
jurisdiction = "RU"
kind = "undesirable"
since = 2024-02-20
"""


def write(tmp_path: Path, text: str | bytes, name: str = "coll.toml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str | bytes) -> str:
    """Load a broken collection and return the message a user would see."""
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as info:
        load_collection(path)
    message = str(info.value)
    assert str(path) in message, f"the message must name the file: {message}"
    assert info.value.exit_code == 2
    return message


# --- the shipped collections -------------------------------------------------------


def test_andijan_collection_loads_with_both_articles_and_the_designation() -> None:
    c = load_collection(COLLECTIONS / "andijan-2005.toml")
    assert c.id == "andijan-2005"
    by_publisher = {s.publisher: s for s in c.seeds}
    gv = by_publisher["Global Voices"]
    rl = by_publisher["Radio Free Europe/Radio Liberty"]
    assert gv.url.startswith("https://globalvoices.org/2015/05/13/ten-years-on-from-andijan")
    assert gv.published == dt.date(2015, 5, 13)
    assert rl.url == "https://www.rferl.org/a/Former_Uzbek_Spy_Seeks_Asylum/1195372.html"
    assert rl.published == dt.date(2008, 9, 2)
    assert {s.language for s in c.seeds} == {"en"}
    assert c.curator.email
    # The RFE/RL article is designated in Russia; the Global Voices post is not.
    assert [d.label() for d in c.designations_for(rl.host)] == [
        "RFE/RL; RU; undesirable; since 2024-02-20"
    ]
    assert c.designations_for(gv.host) == []
    assert c.designations[0].source == "https://minjust.gov.ru/ru/documents/7756/"


def test_demo_collection_points_at_the_local_demo_site() -> None:
    c = load_collection(COLLECTIONS / "demo.toml")
    assert c.id == "demo"
    hosts = [s.host for s in c.seeds]
    assert hosts == ["127.0.0.1", "localhost"]
    assert all(":8737/" in s.url for s in c.seeds)
    assert c.capture.delay == 0 and c.capture.depth == 0 and c.capture.page_requisites
    rl = c.seeds[1]
    assert [d.organization for d in c.designations_for(rl.host)] == ["RFE/RL (demo)"]
    assert c.designations_for(c.seeds[0].host) == []


# --- designation host matching ---------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("rferl.org", True),
        ("www.rferl.org", True),
        ("WWW.RFERL.ORG.", True),  # case and a trailing dot do not hide a designated host
        ("m.svoboda.org", True),
        ("evilrferl.org", False),  # a suffix is not a subdomain
        ("rferl.org.evil.example", False),
        ("rferl.com", False),
        ("", False),
    ],
)
def test_designation_matches_hosts_and_subdomains_only(host: str, expected: bool) -> None:
    c = load_collection(COLLECTIONS / "andijan-2005.toml")
    d: Designation = c.designations[0]
    assert d.matches_host(host) is expected


# --- mistakes: each names the field and says what was expected --------------------------


def test_valid_base_loads(tmp_path: Path) -> None:
    assert load_collection(write(tmp_path, VALID)).id == "test-coll"


@pytest.mark.parametrize(
    ("old", "new", "field", "expected"),
    [
        ('id = "test-coll"\n', "", "'id'", "required"),
        ('id = "test-coll"', 'id = "Test Coll!"', "'id'", "lower-case"),
        ('id = "test-coll"', f'id = "{"a" * 5000}"', "'id'", "at most 64"),
        ('title = "A test collection"\n', "", "'title'", "required"),
        ('url = "https://www.rferl', 'url = "ftp://www.rferl', "'seeds[0].url'", "http://"),
        (
            'url = "https://www.rferl.org/a/Former_Uzbek_Spy_Seeks_Asylum/1195372.html"',
            'url = "javascript:alert(1)"',
            "'seeds[0].url'",
            "http://",
        ),
        (
            'url = "https://www.rferl.org/a/Former_Uzbek_Spy_Seeks_Asylum/1195372.html"',
            'url = "https://www.rferl.org/a\\u0000b"',
            "'seeds[0].url'",
            "http://",
        ),
        (
            'url = "https://www.rferl.org/a/Former_Uzbek_Spy_Seeks_Asylum/1195372.html"',
            'url = "https:///no-host"',
            "'seeds[0].url'",
            "http://",
        ),
        (
            "published = 2008-09-02",
            'published = "2 Sept 2008"',
            "'seeds[0].published'",
            "a date like 2024-02-20",
        ),
        (
            "published = 2008-09-02",
            'published = "2008-02-30"',
            "'seeds[0].published'",
            "a date like",
        ),
        ('language = "en"', 'language = "English"', "'seeds[0].language'", "BCP 47"),
        (
            'jurisdiction = "RU"',
            'jurisdiction = "Russia"',
            "'designations[0].jurisdiction'",
            "ISO 3166",
        ),
        ('hosts = ["rferl.org"]', "hosts = []", "'designations[0].hosts'", "non-empty list"),
        (
            'hosts = ["rferl.org"]',
            'hosts = ["https://rferl.org/"]',
            "'designations[0].hosts'",
            "host names",
        ),
        ('kind = "undesirable"', 'kind = "VERY BAD"', "'designations[0].kind'", "lower-case"),
        ('organization = "RFE/RL"\n', "", "'designations[0].organization'", "required"),
        ("since = 2024-02-20", "since = 20240220", "'designations[0].since'", "a date"),
        ('title = "A test collection"', 'titel = "A test collection"', "'titel'", "known fields"),
        ("depth = 0", "dealy = 1", "'capture.dealy'", "known fields"),
        ("depth = 0", 'depth = "0"', "'capture.depth'", "whole number"),
        ("depth = 0", "depth = -1", "'capture.depth'", "whole number from 0 to 10000"),
        ("depth = 0", "depth = true", "'capture.depth'", "whole number"),
        ("depth = 0", 'page_requisites = "yes"', "'capture.page_requisites'", "true or false"),
        ("depth = 0", 'scope = "everything"', "'capture.scope'", "one of page, prefix"),
        ("depth = 0", "concurrency = 0", "'capture.concurrency'", "from 1 to 64"),
        # absurd numbers are refused before any work starts (issue 11, finding 7)
        (
            "depth = 0",
            "concurrency = 99999999999999999999",
            "'capture.concurrency'",
            "from 1 to 64, got 99999999999999999999",
        ),
        ("depth = 0", "concurrency = 65", "'capture.concurrency'", "from 1 to 64"),
        ("depth = 0", "depth = 1000000", "'capture.depth'", "from 0 to 10000"),
        ("depth = 0", "delay = 1e9", "'capture.delay'", "from 0 to 3600"),
        ("depth = 0", "timeout = 1e300", "'capture.timeout'", "from 0.1 to 3600"),
        ("depth = 0", "retries = 1000", "'capture.retries'", "from 0 to 20"),
        ("depth = 0", "max_bytes = 1099511627777", "'capture.max_bytes'", "from 1 to"),
        ("depth = 0", "max_pages_per_host = 0", "'capture.max_pages_per_host'", "from 1 to"),
        ("depth = 0", "max_url_length = 4", "'capture.max_url_length'", "from 16 to 65536"),
        ("depth = 0", "resource_time_limit = 1e7", "'capture.resource_time_limit'", "to 86400"),
        ("depth = 0", "delay = inf", "'capture.delay'", "a number from 0 to 3600"),
        ("depth = 0", "timeout = nan", "'capture.timeout'", "a number from 0.1 to 3600"),
        ("depth = 0", "delay = -1.5", "'capture.delay'", "a number from 0 to 3600"),
        ('email = "curator@example.org"', 'email = "curator"', "'curator.email'", "e-mail address"),
        (
            'title = "A test collection"',
            'title = "A"\naccess = "secret"',
            "'access'",
            "public, restricted, dark",
        ),
        ('title = "A test collection"', 'title = "A"\nwatch = 3', "'watch'", "a table"),
    ],
)
def test_mistake_names_file_field_and_expectation(
    tmp_path: Path, old: str, new: str, field: str, expected: str
) -> None:
    assert old in VALID
    message = error_for(tmp_path, VALID.replace(old, new, 1))
    assert f"field {field}" in message
    assert expected in message


def test_no_seeds_is_refused(tmp_path: Path) -> None:
    text = 'id = "x"\ntitle = "No seeds"\n'
    message = error_for(tmp_path, text)
    assert "field 'seeds'" in message and "at least one [[seeds]]" in message


def test_a_top_level_field_after_a_table_is_reported_where_toml_put_it(tmp_path: Path) -> None:
    # A classic TOML slip: `access` written after [curator] belongs to [curator].
    text = VALID.replace(
        'email = "curator@example.org"', 'email = "c@example.org"\naccess = "dark"'
    )
    message = error_for(tmp_path, text)
    assert "field 'curator.access'" in message


def test_not_utf8_is_refused(tmp_path: Path) -> None:
    raw = VALID.replace("A test collection", "Andijan \u00e9t\u00e9").encode("latin-1")
    assert "not UTF-8" in error_for(tmp_path, raw)


def test_utf16_with_bom_is_refused(tmp_path: Path) -> None:
    assert "not UTF-8" in error_for(tmp_path, VALID.encode("utf-16"))


def test_invalid_toml_is_refused_with_the_position(tmp_path: Path) -> None:
    message = error_for(tmp_path, VALID.replace('title = "A test collection"', "title = "))
    assert "invalid TOML" in message and "line 2" in message


def test_binary_garbage_is_refused(tmp_path: Path) -> None:
    message = error_for(tmp_path, b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4)
    assert "not UTF-8" in message or "invalid TOML" in message


def test_missing_file_and_folder_are_clear(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        load_collection(tmp_path / "nope.toml")
    with pytest.raises(UsageError, match="cannot read"):
        load_collection(tmp_path)


def test_huge_values_do_not_crash_the_loader(tmp_path: Path) -> None:
    # A 2 MB title and 2,000 seeds load (they are data, not a reason to crash) ...
    seeds = "".join(f'[[seeds]]\nurl = "https://example.org/{i}"\n' for i in range(2000))
    text = f'id = "big"\ntitle = "{"x" * 2_000_000}"\n' + seeds
    c = load_collection(write(tmp_path, text))
    assert len(c.seeds) == 2000


def test_seeds_that_are_not_tables_are_refused(tmp_path: Path) -> None:
    message = error_for(tmp_path, 'id = "x"\ntitle = "t"\nseeds = ["https://example.org/"]\n')
    assert "field 'seeds'" in message and "[[seeds]]" in message


def test_deeply_nested_value_is_refused_clearly(tmp_path: Path) -> None:
    nested = "[" * 5000 + "]" * 5000
    message = error_for(tmp_path, VALID.replace("depth = 0", f"depth = {nested}"))
    assert "capture.depth" in message or "invalid TOML" in message


@pytest.mark.parametrize(
    ("toml", "field", "expected"),
    [
        ("[replication]\nmin_copies = 99999999999999999999", "replication.min_copies", "1 to 100"),
        ("[replication]\nmin_jurisdictions = 0", "replication.min_jurisdictions", "1 to 100"),
        ("[receive]\nmax_files = 1000000000000", "receive.max_files", "from 1 to"),
        ("[receive]\nmax_name_length = 8", "receive.max_name_length", "from 16 to"),
        ('[receive]\nmax_bytes = "' + "9" * 400 + '"', "receive.max_bytes", "a size"),
        ('[receive]\nmax_bytes = "5000TB"', "receive.max_bytes", "1 byte to 1 PiB"),
        ("[receive]\nmax_bytes = 0", "receive.max_bytes", "1 byte to 1 PiB"),
    ],
)
def test_absurd_numbers_in_the_archive_config_are_refused(
    tmp_path: Path, toml: str, field: str, expected: str
) -> None:
    from strongroom.core.archive import load_config

    path = tmp_path / "config.toml"
    path.write_text(toml + "\n")
    with pytest.raises(UsageError) as info:
        load_config(path)
    message = str(info.value)
    assert f"field '{field}'" in message and expected in message, message


def test_absurd_collection_number_stops_the_capture_before_any_work(
    cli, tmp_path: Path, archive_dir: Path
) -> None:
    text = VALID.replace("depth = 0", "concurrency = 99999999999999999999", 1)
    res = cli("capture", "-c", write(tmp_path, text))
    assert res.exit_code == 2 and "'capture.concurrency'" in res.stderr
    assert not archive_dir.exists()  # nothing was created, nothing fetched
    res = cli("capture", "http://127.0.0.1:9/", "--depth", "100000")
    assert res.exit_code == 2 and "depth must be from 0 to 10000" in res.stderr
    assert not archive_dir.exists()
