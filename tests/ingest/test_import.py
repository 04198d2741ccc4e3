"""`strongroom import`: other tools' WARCs and WACZs become bags that verify, replay, export."""

from __future__ import annotations

import gzip
import hashlib
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import foreignkit as fk
import pytest
from waczkit import replay_alone

from strongroom.bag import custody
from strongroom.bag.baginfo import read_bag_info, values

FIXTURES: dict[str, Callable[[Path], Path]] = {
    "wget": fk.wget_warc,
    "heritrix": fk.heritrix_warc,
    "warcio": fk.warcio_warc,
    "plain": fk.plain_warc,
    "wacz": fk.wacz_file,
}


def _import(cli, archive: Path, *args: object) -> dict:
    r = cli("import", *args, "--archive", archive, "--manifests", archive / "m", "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _nothing_made(archive: Path) -> None:
    for folder in ("bags", "captures"):
        left = list((archive / folder).iterdir()) if (archive / folder).exists() else []
        assert left == [], f"half-made files left in {folder}/: {left}"


def _capture_json(archive: Path, bag_id: str) -> dict:
    return json.loads((archive / "bags" / bag_id / "tags" / "capture.json").read_text())


@pytest.mark.parametrize("style", sorted(FIXTURES))
def test_import_verifies_deep_replays_and_exports_again(cli, tmp_path, style) -> None:
    src = FIXTURES[style](tmp_path)
    archive = tmp_path / "archive"
    doc = _import(cli, archive, src)
    assert len(doc["bags"]) == 1
    bag_id = doc["bags"][0]
    r = cli("verify", bag_id, "--deep", "--archive", archive)
    assert r.exit_code == 0, r.output
    meta = _capture_json(archive, bag_id)
    assert meta["seeds"][0]["url"] == fk.PAGE
    assert meta["ingest"]["seeds_from"] == ("pages.jsonl" if style == "wacz" else "html-responses")
    out = tmp_path / "again.wacz"
    r = cli("export", bag_id, "--wacz", "-o", out, "--archive", archive)
    assert r.exit_code == 0, r.output
    statuses = replay_alone(out, tmp_path)
    assert set(statuses) >= {fk.PAGE, fk.CSS, fk.PNG}, statuses
    assert all(code == 200 for code in statuses.values()), statuses


def test_files_keep_their_bytes_and_provenance_names_the_source(cli, tmp_path) -> None:
    src = fk.wget_warc(tmp_path)
    archive = tmp_path / "archive"
    bag_id = _import(cli, archive, src)["bags"][0]
    bag = archive / "bags" / bag_id
    assert (bag / "data" / "warc" / src.name).read_bytes() == src.read_bytes()
    meta = _capture_json(archive, bag_id)["ingest"]
    assert meta["source_tool"] == "Wget/1.21.3 (linux-gnu)"
    assert meta["received"] == [
        {
            "name": src.name,
            "sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
            "size": src.stat().st_size,
        }
    ]
    assert meta["files"][0]["warc_versions"] == ["WARC/1.0"]
    from lxml import etree  # PREMIS 3.0 XML (tests/bag/test_provenance.py)

    ns = {"p": "http://www.loc.gov/premis/v3"}
    premis = etree.parse(str(bag / "tags" / "premis.xml"))
    ingestion = premis.xpath(
        "//p:event[p:eventType='ingestion']//p:eventDetail/text()", namespaces=ns
    )
    assert ingestion and "Wget/1.21.3" in ingestion[0] and src.name in ingestion[0]
    log = custody.read_entries(archive / "bags" / f"{bag_id}.custody.jsonl")
    assert [e["action"] for e in log] == ["creation", "ingestion"]
    assert str(tmp_path) not in (bag / "tags" / "capture.json").read_text()  # no local paths


def test_payload_digest_conventions_are_noted(cli, tmp_path) -> None:
    archive = tmp_path / "archive"
    bag_id = _import(cli, archive, fk.warcio_warc(tmp_path))["bags"][0]
    files = _capture_json(archive, bag_id)["ingest"]["files"]
    assert files[0]["payload_digest_convention"] == "raw-chunked"


def test_a_wacz_keeps_its_datapackage_as_tag_files(cli, tmp_path) -> None:
    archive = tmp_path / "archive"
    bag_id = _import(cli, archive, fk.wacz_file(tmp_path))["bags"][0]
    tags = archive / "bags" / bag_id / "tags" / "source"
    assert json.loads((tags / "datapackage.json").read_text())["profile"] == "data-package"
    assert (tags / "datapackage-digest.json").is_file()
    manifest = (archive / "bags" / bag_id / "tagmanifest-sha512.txt").read_text()
    assert "tags/source/datapackage.json" in manifest


def test_loose_warcs_make_one_bag_and_a_wacz_its_own(cli, tmp_path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    doc = _import(
        cli,
        tmp_path / "archive",
        fk.wget_warc(tmp_path / "a"),
        fk.plain_warc(tmp_path / "b"),
        fk.wacz_file(tmp_path),
    )
    assert len(doc["bags"]) == 2


def test_a_revisit_pointing_outside_is_reported_and_marked(cli, tmp_path) -> None:
    head, _ = fk.http_response("text/css", fk.CSS_BODY)
    outside = fk.record(
        "WARC/1.0",
        [
            ("WARC-Type", "revisit"),
            ("WARC-Record-ID", "<urn:uuid:00000000-0000-0000-0000-000000000001>"),
            ("WARC-Date", "2024-05-14T10:00:00Z"),
            ("WARC-Target-URI", fk.SITE + "/static/other.css"),
            ("WARC-Refers-To", "<urn:uuid:00000000-0000-0000-0000-0000000000ff>"),
            ("Content-Type", "application/http; msgtype=response"),
            ("WARC-Payload-Digest", fk.b32("sha1", b"elsewhere")),
        ],
        head,
    )
    recs = [fk.warcinfo("WARC/1.0", "Heritrix/3.4.0")]
    recs += [*fk.site_records("WARC/1.0", "2024-05-14T10:00:00Z"), outside]
    src = fk.write(tmp_path / "partial.warc.gz", recs)
    archive = tmp_path / "archive"
    r = cli("import", src, "--archive", archive, "--manifests", archive / "m")
    assert r.exit_code == 0, r.output
    assert "depends on an external archive" in r.stderr and "other.css" in r.stderr
    bag_id = next(p.name for p in (archive / "bags").iterdir() if p.is_dir())
    assert values(read_bag_info(archive / "bags" / bag_id), "Depends-On-External")
    r = cli("verify", bag_id, "--deep", "--archive", archive, "--json")
    assert r.exit_code == 0, r.output  # declared, so a warning, not a failure
    assert "revisit refers to" in r.stdout
    r = cli("export", bag_id, "--wacz", "-o", tmp_path / "p.wacz", "--archive", archive)
    assert r.exit_code == 0, r.output
    assert "depends on an external archive" in r.stderr


def _damaged_plain(tmp_path: Path) -> Path:
    src = fk.plain_warc(tmp_path)
    data = src.read_bytes()
    src.write_bytes(data.replace(b"font-family: serif", b"font-family: sans!"))
    return src


def test_damage_is_reported_and_refused_unless_accepted_with_a_reason(cli, tmp_path) -> None:
    src = _damaged_plain(tmp_path)
    archive = tmp_path / "archive"
    r = cli("import", src, "--archive", archive, "--manifests", archive / "m")
    assert r.exit_code == 1
    assert src.name in r.stderr and "offset" in r.stderr and fk.CSS in r.stderr
    assert "--accept-damaged" in r.stderr
    _nothing_made(archive)
    r = cli("import", src, "--accept-damaged", "--archive", archive)
    assert r.exit_code == 2 and "--reason" in r.stderr
    doc = _import(cli, archive, src, "--accept-damaged", "--reason", "only copy left")
    bag_id = doc["bags"][0]
    log = custody.read_entries(archive / "bags" / f"{bag_id}.custody.jsonl")
    assert log[-1]["inputs"] == {"reason": "only copy left"}
    assert _capture_json(archive, bag_id)["ingest"]["accepted_damage_reason"] == "only copy left"


def _zip(path: Path, entries: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return path


def _hostile(tmp_path: Path, kind: str) -> Path:
    good = fk.wget_warc(tmp_path).read_bytes()
    dp = json.dumps(
        {"profile": "data-package", "resources": [{"path": "archive/x.warc.gz", "hash": ""}]}
    ).encode()
    if kind == "zip-slip":
        return _zip(
            tmp_path / "slip.wacz", {"datapackage.json": dp, "archive/../../evil.warc.gz": good}
        )
    if kind == "zip-bomb":
        return _zip(
            tmp_path / "bomb.wacz",
            {"datapackage.json": dp, "archive/x.warc.gz": b"\0" * (64 * 1024 * 1024)},
            zipfile.ZIP_DEFLATED,
        )
    if kind == "not-a-warc":
        path = tmp_path / "notes.warc.gz"
        path.write_bytes(gzip.compress(b"<html>this is not a WARC</html>"))
        return path
    if kind == "truncated-gzip":
        path = tmp_path / "cut.warc.gz"
        path.write_bytes(good[: len(good) - 40])
        return path
    assert kind == "huge-header"
    path = tmp_path / "huge.warc"
    filler = b"X-Filler: " + b"a" * (10 * 1024 * 1024) + b"\r\n"
    path.write_bytes(b"WARC/1.0\r\nWARC-Type: resource\r\n" + filler + b"Content-Length: 0\r\n\r\n")
    return path


@pytest.mark.parametrize(
    "kind", ["zip-slip", "zip-bomb", "not-a-warc", "truncated-gzip", "huge-header"]
)
def test_hostile_input_is_refused_clearly_and_nothing_is_left(cli, tmp_path, kind) -> None:
    src = _hostile(tmp_path, kind)
    archive = tmp_path / "archive"
    r = cli("import", src, "--archive", archive, "--manifests", archive / "m")
    assert r.exit_code in (1, 2), r.output
    assert "Traceback" not in r.output
    assert src.name in r.stderr
    expected = {
        "zip-slip": "zip-slip",
        "zip-bomb": "zip bomb",
        "not-a-warc": "not a WARC",
        "truncated-gzip": "truncated gzip",
        "huge-header": "header block larger",
    }[kind]
    assert expected in r.stderr, r.stderr
    _nothing_made(archive)
    assert not (tmp_path / "evil.warc.gz").exists()


def test_import_with_a_collection_takes_its_id_designations_and_access(cli, tmp_path) -> None:
    coll = tmp_path / "collections" / "andijan.toml"
    coll.parent.mkdir()
    coll.write_text(
        'id = "andijan"\ntitle = "Andijan"\naccess = "public"\n'
        '[[designations]]\norganization = "News Example"\nhosts = ["news.example.test"]\n'
        'jurisdiction = "RU"\nkind = "undesirable"\n'
        f'[[seeds]]\nurl = "{fk.PAGE}"\n',
        "utf-8",
    )
    archive = tmp_path / "archive"
    r = cli("import", fk.wget_warc(tmp_path), "-c", coll, "--archive", archive, "--json")
    assert r.exit_code == 0, r.output
    bag_id = json.loads(r.stdout)["bags"][0]
    assert bag_id.startswith("andijan-")
    info = read_bag_info(archive / "bags" / bag_id)
    assert values(info, "Access") == ["restricted"]  # a designated publisher
    assert values(info, "Designation")
    assert (tmp_path / "manifests" / "andijan" / f"{bag_id}.json").is_file()


def test_help_has_an_example(cli) -> None:
    r = cli("import", "--help")
    assert r.exit_code == 0 and "Example" in r.stdout


def test_a_file_named_for_the_wrong_compression_is_bagged_under_the_right_name(cli, tmp_path):
    src = fk.plain_warc(tmp_path)
    misnamed = src.rename(tmp_path / "archivebox.warc.gz")  # uncompressed, despite the name
    archive = tmp_path / "archive"
    bag_id = _import(cli, archive, misnamed)["bags"][0]
    bag = archive / "bags" / bag_id
    assert (bag / "data" / "warc" / "archivebox.warc").read_bytes() == misnamed.read_bytes()
    assert cli("verify", bag_id, "--deep", "--archive", archive).exit_code == 0


def test_a_failure_while_bagging_leaves_nothing_and_a_rerun_imports(
    cli, tmp_path, monkeypatch
) -> None:
    from strongroom.bag import make

    src = fk.wget_warc(tmp_path)
    archive = tmp_path / "archive"

    def broken(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(make, "bag_capture", broken)
    with pytest.raises(OSError):
        from strongroom.core.archive import Archive
        from strongroom.ingest.run import ImportOptions, import_files

        import_files(Archive(archive), [src], ImportOptions(manifests_dir=archive / "m"))
    _nothing_made(archive)
    monkeypatch.undo()
    assert len(_import(cli, archive, src)["bags"]) == 1


def test_a_whole_file_gzip_is_refused_with_the_way_out(cli, tmp_path) -> None:
    plain = fk.plain_warc(tmp_path)
    whole = tmp_path / "whole.warc.gz"
    whole.write_bytes(gzip.compress(plain.read_bytes()))
    archive = tmp_path / "archive"
    r = cli("import", whole, "--archive", archive, "--manifests", archive / "m")
    assert r.exit_code == 2
    assert "share one gzip member" in r.stderr and "warcio recompress" in r.stderr
    _nothing_made(archive)
