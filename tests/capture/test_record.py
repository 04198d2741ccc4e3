"""The capture record (capture.json): round trip, atomic write, hostile input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from strongroom.capture import record as rec
from strongroom.capture.record import (
    CaptureRecord,
    CaptureRecordError,
    CollectionRef,
    DesignationRef,
    FailureRef,
    PageRef,
    SeedRef,
    WarcRef,
    collection_file_ref,
)
from strongroom.errors import UsageError

CID = "20240220T101500Z-ab12cd"


def full_record() -> CaptureRecord:
    return CaptureRecord(
        capture_id=CID,
        collection=CollectionRef(
            id="andijan-2005",
            title="Andijan 2005",
            access="restricted",
            embargo_until="2030-01-01",
            designations=(DesignationRef("RFE/RL", ("rferl.org",), "RU", "undesirable"),),
            file="collections/andijan.toml",
        ),
        seeds=(SeedRef("http://127.0.0.1:1/a", title="A", published="2015-05-13"),),
        settings={"depth": 1, "delay": 0.5, "obey_robots": True, "proxy": ""},
        software="strongroom/0.1.0",
        operator="night-owl",
        started="2024-02-20T10:15:00Z",
        ended="2024-02-20T10:16:00Z",
        status="interrupted",
        warcs=(WarcRef(f"{CID}-00000.warc.gz", size=1234, records=7, seeds=("http://x/",)),),
        stats={"fetched": 3, "bytes": 1234},
        failures=(FailureRef("http://127.0.0.1:1/b", "HTTP 404 Not Found", "http://x/"),),
        pages=(PageRef("http://127.0.0.1:1/a", "http://127.0.0.1:1/a", 200, "A"),),
    )


def write_doc(tmp_path: Path, doc: object) -> Path:
    p = tmp_path / "capture.json"
    p.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return p


def test_round_trip_keeps_every_field(tmp_path):
    r = full_record()
    path = r.write(tmp_path)
    assert path == tmp_path / "capture.json"
    assert CaptureRecord.load(tmp_path) == r
    doc = json.loads(path.read_text())
    assert doc["version"] == rec.VERSION and doc["collection"]["file"] == "collections/andijan.toml"
    assert not list(tmp_path.glob(".tmp-*"))


def test_record_without_version_is_version_1_and_bare_seed_urls_are_read(tmp_path):
    p = write_doc(tmp_path, {"capture_id": CID, "seeds": ["http://a/"], "collection": {}})
    r = CaptureRecord.load(p)
    assert r.seed_urls == ["http://a/"] and r.collection.id == "adhoc" and r.version == 1


def test_unknown_fields_are_ignored(tmp_path):
    p = write_doc(tmp_path, {"capture_id": CID, "future_field": {"x": 1}})
    assert CaptureRecord.load(p).capture_id == CID


def test_failed_write_leaves_the_old_record_and_no_temp(tmp_path, monkeypatch):
    full_record().write(tmp_path)
    before = (tmp_path / "capture.json").read_bytes()

    def no_space(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(UsageError, match="disk is full"):
        CaptureRecord(capture_id=CID, status="complete").write(tmp_path)
    assert (tmp_path / "capture.json").read_bytes() == before
    assert not list(tmp_path.glob(".tmp-*"))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("\xff\xfe", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"stats": {"fetched": NaN}}', "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
        ({"version": 2}, "version 2 is not one this strongroom reads"),
        ({"version": "1"}, "field 'version'"),
        ({"version": True}, "field 'version'"),
        ({"capture_id": "../../etc"}, "field 'capture_id'"),
        ({"capture_id": 7}, "field 'capture_id': expected a string"),
        ({"status": "done"}, "field 'status'"),
        ({"collection": "x"}, "field 'collection': expected an object"),
        ({"collection": {"id": "../../evil"}}, "field 'collection.id'"),
        ({"collection": {"embargo_until": "soon"}}, "field 'collection.embargo_until'"),
        ({"collection": {"designations": [{"hosts": ["a"]}]}}, "organization"),
        ({"collection": {"designations": [{"organization": "X", "hosts": [5]}]}}, "hosts[0]"),
        ({"seeds": [{"no": "url"}]}, "field 'seeds[0].url' is missing"),
        ({"seeds": "http://a/"}, "field 'seeds': expected a list"),
        ({"seeds": [{"url": "x" * 70_000}]}, "field 'seeds[0].url'"),
        ({"seeds": [{"url": "a\x00b"}]}, "without NUL"),
        ({"stats": {"fetched": 99999999999999999999}}, "field 'stats.fetched'"),
        ({"stats": {"fetched": -1}}, "field 'stats.fetched'"),
        ({"stats": {"fetched": 1.5}}, "field 'stats.fetched'"),
        ({"stats": {"fetched": True}}, "field 'stats.fetched'"),
        ({"warcs": [{"name": "../x.warc.gz"}]}, "field 'warcs[0].name'"),
        ({"warcs": [{"name": "a.warc.gz", "size": 1e300}]}, "field 'warcs[0].size'"),
        ({"pages": [{"url": "http://a/", "status": 100000}]}, "field 'pages[0].status'"),
        ({"started": "yesterday"}, "field 'started'"),
        ({"settings": {"depth": [1, 2]}}, "field 'settings'"),
    ],
)
def test_hostile_records_are_refused_naming_the_field(tmp_path, content, expected):
    p = write_doc(tmp_path, content)
    with pytest.raises(CaptureRecordError) as exc:
        CaptureRecord.load(p)
    assert expected in str(exc.value) and str(p) in str(exc.value)


def test_symlink_missing_and_oversized_records_are_refused(tmp_path, monkeypatch):
    with pytest.raises(CaptureRecordError, match="no capture record"):
        CaptureRecord.load(tmp_path)
    real = write_doc(tmp_path, {"capture_id": CID})
    link = tmp_path / "link"
    link.mkdir()
    (link / "capture.json").symlink_to(real)
    with pytest.raises(CaptureRecordError, match="symlink"):
        CaptureRecord.load(link)
    monkeypatch.setattr(rec, "MAX_BYTES", 10)
    with pytest.raises(CaptureRecordError, match="too large"):
        CaptureRecord.load(real)


def test_collection_file_is_relative_or_absent(tmp_path):
    archive = tmp_path / "proj" / "archive"
    inside = tmp_path / "proj" / "collections" / "x.toml"
    assert collection_file_ref(inside, archive) == "collections/x.toml"
    assert collection_file_ref(Path("/somewhere/else/x.toml"), archive) is None
    assert collection_file_ref(None, archive) is None
