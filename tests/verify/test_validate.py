"""Strict BagIt validation: the corruption matrix and the valid edge cases, run through the CLI."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import unicodedata
from pathlib import Path

import bagit
import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

# --- building real bags -------------------------------------------------------------


def write_warc(path: Path, pages: dict[str, bytes], gzip: bool = True) -> None:
    """A real WARC of response records (warcio computes block and payload digests)."""
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=gzip)
        for uri, body in pages.items():
            headers = StatusAndHeaders(
                "200 OK",
                [("Content-Type", "text/html"), ("Content-Length", str(len(body)))],
                protocol="HTTP/1.1",
            )
            rec = writer.create_warc_record(
                uri, "response", payload=io.BytesIO(body), http_headers=headers
            )
            writer.write_record(rec)


PAGES_A = {
    f"http://127.0.0.1:8000/story-{i}.html": (f"<html><p>story {i}</p>" + "x" * 3000).encode()
    for i in range(3)
}
PAGES_B = {"http://127.0.0.1:8000/index.html": b"<html><h1>front page</h1></html>" * 50}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bag like ours, made by bagit-python: two WARCs, a subfolder, sha256 + sha512."""
    root = tmp_path_factory.mktemp("pristine") / "bag"
    (root / "warc").mkdir(parents=True)
    (root / "derivatives" / "text").mkdir(parents=True)
    write_warc(root / "warc" / "a.warc.gz", PAGES_A)
    write_warc(root / "warc" / "b.warc.gz", PAGES_B)
    (root / "derivatives" / "text" / "story-1.txt").write_text("story 1\n")
    bagit.make_bag(
        str(root),
        bag_info={"Bag-Group-Identifier": "test-collection", "Source-Organization": "t"},
        checksums=["sha256", "sha512"],
    )
    return root


@pytest.fixture
def bag(pristine: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "bag"
    shutil.copytree(pristine, dest, symlinks=True)
    return dest


def flip_bit(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def hand_bag(
    root: Path,
    files: dict[str, bytes],
    *,
    version: str = "1.0",
    encoding: str = "UTF-8",
    extra_manifest_lines: list[str] = (),  # type: ignore[assignment]
    bag_info: str | None = None,
    fetch: str | None = None,
    listed: dict[str, bytes] | None = None,
) -> Path:
    """A bag written by hand, so that encodings and odd names are exactly as wanted.

    ``files`` keys are on-disk names below data/; manifest names are percent-encoded
    as RFC 8493 says (%, CR, LF). ``listed`` adds manifest entries without files.
    """
    data = root / "data"
    data.mkdir(parents=True)
    lines = []
    octets = 0
    for name, content in files.items():
        p = data / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content)
        octets += len(content)
    for name, content in {**files, **(listed or {})}.items():
        enc = name.replace("%", "%25").replace("\n", "%0A").replace("\r", "%0D")
        lines.append(f"{hashlib.sha256(content).hexdigest()}  data/{enc}")
    lines.extend(extra_manifest_lines)
    count = len(files) + len(listed or {})
    octets += sum(len(c) for c in (listed or {}).values())
    (root / "bagit.txt").write_bytes(
        f"BagIt-Version: {version}\nTag-File-Character-Encoding: {encoding}\n".encode()
    )
    (root / "manifest-sha256.txt").write_bytes(("\n".join(lines) + "\n").encode(encoding))
    info = bag_info if bag_info is not None else f"Payload-Oxum: {octets}.{count}\n"
    (root / "bag-info.txt").write_bytes(info.encode(encoding))
    if fetch is not None:
        (root / "fetch.txt").write_bytes(fetch.encode(encoding))
    tags = [n for n in ("bagit.txt", "bag-info.txt", "manifest-sha256.txt", "fetch.txt")]
    tm = [
        f"{hashlib.sha256((root / n).read_bytes()).hexdigest()} {n}"
        for n in tags
        if (root / n).exists()
    ]
    (root / "tagmanifest-sha256.txt").write_bytes(("\n".join(tm) + "\n").encode(encoding))
    return root


def verify(cli, path: Path, *args: str):
    return cli("verify", str(path), *args)


def assert_invalid(cli, path: Path, *names: str, args: tuple[str, ...] = ()) -> str:
    r = verify(cli, path, *args)
    assert r.exit_code == 1, r.output
    assert "INVALID" in r.stdout
    for name in names:
        assert name in r.stderr, f"{name!r} not named in:\n{r.stderr}"
    return r.stderr


# --- the corruption matrix ---------------------------------------------------------------


def test_pristine_bag_is_valid(cli, bag: Path) -> None:
    r = verify(cli, bag)
    assert r.exit_code == 0, r.output
    assert "valid" in r.stdout and "full check" in r.stdout
    assert r.stderr == ""


def test_flipped_bit_in_warc(cli, bag: Path) -> None:
    flip_bit(bag / "data/warc/a.warc.gz", 200)
    err = assert_invalid(cli, bag, "data/warc/a.warc.gz", "manifest-sha256.txt", "sha512")
    assert "checksum does not match" in err


def test_flipped_bit_in_bag_info(cli, bag: Path) -> None:
    flip_bit(bag / "bag-info.txt", 3)
    assert_invalid(cli, bag, "bag-info.txt", "tagmanifest-sha256.txt")


def test_edited_manifest_line(cli, bag: Path) -> None:
    man = bag / "manifest-sha256.txt"
    lines = man.read_text().splitlines()
    target = next(line for line in lines if "story-1.txt" in line)
    edited = ("0" if target[0] != "0" else "1") + target[1:]
    man.write_text("\n".join(edited if line == target else line for line in lines) + "\n")
    err = assert_invalid(cli, bag, "data/derivatives/text/story-1.txt", "manifest-sha256.txt")
    # the edit itself is caught too: the tag manifest no longer matches the manifest
    assert "tagmanifest-sha256.txt" in err


def test_truncated_file(cli, bag: Path) -> None:
    p = bag / "data/warc/b.warc.gz"
    p.write_bytes(p.read_bytes()[:-10])
    err = assert_invalid(cli, bag, "data/warc/b.warc.gz")
    assert "Payload-Oxum" in err


def test_deleted_file(cli, bag: Path) -> None:
    (bag / "data/warc/a.warc.gz").unlink()
    err = assert_invalid(cli, bag, "data/warc/a.warc.gz", "manifest-sha512.txt")
    assert "missing from the bag" in err


def test_extra_file(cli, bag: Path) -> None:
    (bag / "data/warc/planted.warc.gz").write_bytes(b"not ours")
    err = assert_invalid(cli, bag, "data/warc/planted.warc.gz", "manifest-sha256.txt")
    assert "not listed" in err


def test_renamed_file(cli, bag: Path) -> None:
    (bag / "data/warc/a.warc.gz").rename(bag / "data/warc/a-renamed.warc.gz")
    assert_invalid(cli, bag, "data/warc/a.warc.gz", "data/warc/a-renamed.warc.gz")


def test_symlink_escaping_the_bag(cli, bag: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("outside")
    (bag / "data/derivatives/text/story-1.txt").unlink()
    os.symlink(secret, bag / "data/derivatives/text/story-1.txt")
    err = assert_invalid(cli, bag, "data/derivatives/text/story-1.txt")
    assert "outside the bag" in err
    assert "checksum" not in err  # never followed, so never hashed


def test_dotdot_path_in_manifest(cli, bag: Path, tmp_path: Path) -> None:
    (tmp_path / "etc-passwd").write_text("root:x:0:0")
    digest = hashlib.sha256(b"root:x:0:0").hexdigest()
    with open(bag / "manifest-sha256.txt", "a") as fh:
        fh.write(f"{digest}  data/../../etc-passwd\n{digest}  /etc/passwd\n{digest}  ~/x\n")
    r = verify(cli, bag, "--json")
    assert r.exit_code == 1
    report = json.loads(r.stdout)["bags"][0]
    unsafe = {p["file"] for p in report["problems"] if p["code"] == "unsafe-path"}
    assert unsafe == {"data/../../etc-passwd", "/etc/passwd", "~/x"}
    assert all("not opened" in p["message"] for p in report["problems"] if p["file"] in unsafe)
    assert_invalid(cli, bag, "data/../../etc-passwd", "manifest-sha256.txt")


def test_bom_in_bagit_txt(cli, bag: Path) -> None:
    p = bag / "bagit.txt"
    p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes())
    err = assert_invalid(cli, bag, "bagit.txt")
    assert "byte-order mark" in err


@pytest.mark.parametrize(
    "first_line",
    [b"BagIt-Version: 2.0", b"BagIt-Version:  1.0", b"BagIt-Version: 1.0 ", b"Bagit-Version: 1.0"],
)
def test_bad_version_line(cli, bag: Path, first_line: bytes) -> None:
    (bag / "bagit.txt").write_bytes(first_line + b"\nTag-File-Character-Encoding: UTF-8\n")
    assert_invalid(cli, bag, "bagit.txt line 1")


# --- hostile input beside every parser -----------------------------------------------------


def test_fifo_in_payload_is_reported_not_read(cli, bag: Path) -> None:
    os.mkfifo(bag / "data/pipe")
    err = assert_invalid(cli, bag, "data/pipe")
    assert "not a regular file" in err


def test_endless_manifest_line_and_bad_encoding(cli, bag: Path) -> None:
    (bag / "manifest-md5.txt").write_bytes(b"a" * 200_000)
    (bag / "manifest-sha1.txt").write_bytes(b"\xff\xfe\xfa not utf-8\n")
    err = assert_invalid(cli, bag, "manifest-md5.txt line 1", "manifest-sha1.txt")
    assert "not valid UTF-8" in err


def test_garbage_bag_info_and_fetch(cli, tmp_path: Path) -> None:
    root = hand_bag(
        tmp_path / "b",
        {"a.txt": b"a"},
        bag_info="Payload-Oxum: 1.1\nno colon here\n  \n",
        fetch="http://127.0.0.1/x 5 ../../outside\nnot-a-url 5 data/y\n",
    )
    err = assert_invalid(cli, root, "bag-info.txt line 2", "fetch.txt line 2", "../../outside")
    assert "not fetched or opened" in err


def test_terminal_escapes_in_names_are_neutralised(cli, tmp_path: Path) -> None:
    root = hand_bag(tmp_path / "b", {"a.txt": b"a"})
    (root / "data" / "evil\x1b[2Jname").write_bytes(b"x")
    err = assert_invalid(cli, root, "evil\\x1b[2Jname")
    assert "\x1b[2J" not in err


def test_not_a_bag_and_missing_path(cli, tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    assert_invalid(cli, tmp_path / "plain", "bagit.txt")
    r = verify(cli, tmp_path / "nope")
    assert r.exit_code == 2
    assert "not a bag id" in r.stderr and "Traceback" not in r.output


def test_unsupported_algorithm_is_a_warning(cli, bag: Path) -> None:
    listed = (bag / "manifest-sha256.txt").read_text().splitlines()
    (bag / "manifest-whirlpool42.txt").write_text(
        "".join(f"abc {line.split(None, 1)[1]}\n" for line in listed)
    )
    r = verify(cli, bag)
    assert r.exit_code == 0, r.output
    assert "whirlpool42" in r.stderr and "not supported" in r.stderr


# --- valid edge cases ----------------------------------------------------------------------


def test_encoded_names_percent_cr_lf_spaces(cli, tmp_path: Path) -> None:
    files = {
        "100% sure.txt": b"percent",
        "already %25 encoded.txt": b"literal",
        "line\nbreak.txt": b"lf",
        "carriage\rreturn.txt": b"cr",
        "with  two spaces .txt": b"spaces",
    }
    root = hand_bag(tmp_path / "b", files)
    manifest = (root / "manifest-sha256.txt").read_text()
    assert "%0A" in manifest and "%25 sure" in manifest
    r = verify(cli, root)
    assert r.exit_code == 0, r.output
    assert "5 files" in r.stdout


def test_manifest_whitespace_and_dot_slash(cli, tmp_path: Path) -> None:
    root = tmp_path / "b"
    hand_bag(root, {"a.txt": b"a", "b.txt": b"b"})
    a = hashlib.sha256(b"a").hexdigest()
    b = hashlib.sha256(b"b").hexdigest()
    (root / "manifest-sha256.txt").write_bytes(
        f"{a.upper()}\t./data/a.txt\r\n{b}      data/b.txt\r\n".encode()
    )
    (root / "tagmanifest-sha256.txt").unlink()
    r = verify(cli, root)
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("encoding", ["UTF-16", "ISO-8859-1"])
def test_tag_files_in_declared_encoding(cli, tmp_path: Path, encoding: str) -> None:
    root = hand_bag(tmp_path / "b", {"café.txt": b"coffee", "plain.txt": b"p"}, encoding=encoding)
    raw = (root / "manifest-sha256.txt").read_bytes()
    assert "café".encode() not in raw  # really written in the declared encoding
    r = verify(cli, root)
    assert r.exit_code == 0, r.output


def test_bag_inside_a_bag(cli, pristine: Path, tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    outer.mkdir()
    shutil.copytree(pristine, outer / "inner-bag")
    (outer / "readme.txt").write_text("a bag received from a partner, kept whole")
    bagit.make_bag(str(outer), checksums=["sha512"])
    r = verify(cli, outer)
    assert r.exit_code == 0, r.output
    r = verify(cli, outer / "data" / "inner-bag")
    assert r.exit_code == 0, r.output


def test_097_bag_duplicate_same_hash_is_a_warning(cli, tmp_path: Path) -> None:
    d = hashlib.sha256(b"a").hexdigest()
    root = hand_bag(
        tmp_path / "b", {"a.txt": b"a"}, version="0.97", extra_manifest_lines=[f"{d} data/a.txt"]
    )
    r = verify(cli, root)
    assert r.exit_code == 0, r.output
    assert "listed twice" in r.stderr and "warning" in r.stderr


def test_10_bag_duplicate_is_an_error(cli, tmp_path: Path) -> None:
    d = hashlib.sha256(b"a").hexdigest()
    root = hand_bag(tmp_path / "b", {"a.txt": b"a"}, extra_manifest_lines=[f"{d} data/a.txt"])
    err = assert_invalid(cli, root, "data/a.txt", "manifest-sha256.txt")
    assert "forbids" in err


def test_duplicate_with_different_hashes_is_an_error(cli, tmp_path: Path) -> None:
    other = hashlib.sha256(b"other").hexdigest()
    root = hand_bag(
        tmp_path / "b",
        {"a.txt": b"a"},
        version="0.97",
        extra_manifest_lines=[f"{other} data/a.txt"],
    )
    err = assert_invalid(cli, root, "data/a.txt")
    assert "different sha256 checksums" in err


def test_unicode_and_case_clashes_and_junk_are_warnings(cli, tmp_path: Path) -> None:
    nfc = unicodedata.normalize("NFC", "é.txt")
    nfd = unicodedata.normalize("NFD", "é.txt")
    files = {nfc: b"1", nfd: b"2", "Report.txt": b"3", "report.txt": b"4", ".DS_Store": b"j"}
    root = hand_bag(tmp_path / "b", files)
    r = verify(cli, root)
    assert r.exit_code == 0, r.output
    assert "Unicode normalization or case" in r.stderr
    assert "Report.txt" in r.stderr and ".DS_Store" in r.stderr
    quiet = cli("verify", str(root), "--quiet")  # cron: a valid bag's warnings do not mail
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")


def test_nfd_on_disk_nfc_in_manifest_is_a_warning(cli, tmp_path: Path) -> None:
    nfc = unicodedata.normalize("NFC", "ré.txt")
    root = hand_bag(tmp_path / "b", {nfc: b"x"})
    os.rename(root / "data" / nfc, root / "data" / unicodedata.normalize("NFD", nfc))
    r = verify(cli, root)
    assert r.exit_code == 0, r.output
    assert "Unicode normalization" in r.stderr


def test_holey_bag_is_incomplete_hence_invalid(cli, tmp_path: Path) -> None:
    """Issue #10: RFC 8493 3, a valid bag is complete; the missing files are named."""
    root = hand_bag(
        tmp_path / "b",
        {"here.txt": b"here"},
        listed={"remote/big.bin": b"12345", "remote/other.bin": b"67"},
        fetch="http://127.0.0.1:9/big.bin 5 data/remote/big.bin\n"
        "http://127.0.0.1:9/other.bin - data/remote/other.bin\n",
    )
    err = assert_invalid(cli, root, "data/remote/big.bin", "data/remote/other.bin")
    assert "incomplete" in err and "fetch.txt" in err
    r = verify(cli, root, "--json")
    bag = json.loads(r.stdout)["bags"][0]
    assert bag["fetch_pending"] == ["data/remote/big.bin", "data/remote/other.bin"]
    assert bag["complete"] is False and bag["result"] == "invalid"
    # once fetched, the same bag is valid
    (root / "data/remote").mkdir()
    (root / "data/remote/big.bin").write_bytes(b"12345")
    (root / "data/remote/other.bin").write_bytes(b"67")
    assert verify(cli, root).exit_code == 0


def test_fetched_file_of_the_wrong_size_is_named(cli, tmp_path: Path) -> None:
    root = hand_bag(
        tmp_path / "b",
        {"here.txt": b"here", "remote/big.bin": b"12345"},
        fetch="http://127.0.0.1:9/big.bin 9 data/remote/big.bin\n",
    )
    err = assert_invalid(cli, root, "data/remote/big.bin")
    assert "fetch.txt declares 9" in err


def test_nul_byte_in_bag_info_is_a_problem(cli, tmp_path: Path) -> None:
    root = hand_bag(
        tmp_path / "b", {"a.txt": b"a"}, bag_info="Payload-Oxum: 1.1\nSource-Organization: x\x00y\n"
    )
    err = assert_invalid(cli, root, "bag-info.txt")
    assert "NUL" in err and "line 2" in err


def test_097_label_space_colon_is_a_warning(cli, tmp_path: Path) -> None:
    """Issue #12: BagIt 0.97 allows 'Label : value'; 1.0 does not."""
    info = "Payload-Oxum : 1.1\nSource-Organization : Example Newsroom\n"
    root = hand_bag(tmp_path / "old", {"a.txt": b"a"}, version="0.97", bag_info=info)
    r = verify(cli, root, "--json")
    assert r.exit_code == 0, r.output
    bag = json.loads(r.stdout)["bags"][0]
    assert [w["code"] for w in bag["warnings"]] == ["label-space", "label-space"]
    r = verify(cli, root)
    assert "space before the colon" in r.stderr
    root = hand_bag(tmp_path / "new", {"a.txt": b"a"}, version="1.0", bag_info=info)
    assert_invalid(cli, root, "bag-info.txt")


def test_sparse_20_gib_file_is_refused_without_hashing(cli, bag: Path) -> None:
    """Issue #10: sizes and Payload-Oxum first; a sparse 20 GiB file is never read."""
    import time

    victim = bag / "data/derivatives/text/story-1.txt"
    with open(victim, "r+b") as fh:
        fh.truncate(20 * 1024**3)  # sparse: no blocks written
    t0 = time.monotonic()
    r = verify(cli, bag, "--json")
    seconds = time.monotonic() - t0
    assert r.exit_code == 1, r.output
    problems = json.loads(r.stdout)["bags"][0]["problems"]
    codes = {(p["code"], p["file"]) for p in problems}
    assert ("oxum", "bag-info.txt") in codes
    assert ("not-hashed", "data/derivatives/text/story-1.txt") in codes
    assert json.loads(r.stdout)["bags"][0]["hashed_bytes"] < 1024**2
    assert seconds < 20  # hashing 20 GiB takes a minute or more; the real bound is above


def test_old_package_info_bag(cli, tmp_path: Path) -> None:
    root = hand_bag(tmp_path / "b", {"a.txt": b"a"}, version="0.93")
    (root / "bag-info.txt").rename(root / "package-info.txt")
    (root / "tagmanifest-sha256.txt").unlink()
    assert verify(cli, root).exit_code == 0


# --- modes ------------------------------------------------------------------------------------


def test_fast_mode_checks_structure_and_oxum_without_hashing(cli, bag: Path) -> None:
    flip_bit(bag / "data/warc/a.warc.gz", 200)  # same size: only hashing can see it
    r = verify(cli, bag, "--fast", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["bags"][0]["hashed_files"] == 0
    p = bag / "data/warc/b.warc.gz"
    p.write_bytes(p.read_bytes() + b"x")
    assert_invalid(cli, bag, "Payload-Oxum", args=("--fast",))


def test_deep_mode_names_the_damaged_record(cli, tmp_path: Path) -> None:
    folder = tmp_path / "b"
    (folder / "warc").mkdir(parents=True)
    write_warc(folder / "warc" / "plain.warc", PAGES_A, gzip=False)
    write_warc(folder / "warc" / "ok.warc.gz", PAGES_B)
    # damage before bagging, so the manifests agree and only --deep can see it
    raw = (folder / "warc" / "plain.warc").read_bytes()
    target = b"<p>story 2</p>"
    raw = raw.replace(target, b"<p>story Z</p>")
    (folder / "warc" / "plain.warc").write_bytes(raw)
    bagit.make_bag(str(folder), checksums=["sha256"])
    assert verify(cli, folder).exit_code == 0
    r = verify(cli, folder, "--deep")
    assert r.exit_code == 1, r.output
    assert "data/warc/plain.warc" in r.stderr
    assert "http://127.0.0.1:8000/story-2.html" in r.stderr
    assert "record at offset" in r.stderr and "block digest" in r.stderr
    assert "story-1.html" not in r.stderr and "ok.warc.gz" not in r.stderr


def test_deep_mode_passes_good_warcs(cli, bag: Path) -> None:
    r = verify(cli, bag, "--deep")
    assert r.exit_code == 0, r.output
    assert "4 WARC records" in r.stdout or "WARC records" in r.stdout


def test_fast_and_deep_together_is_a_usage_error(cli, bag: Path) -> None:
    r = verify(cli, bag, "--fast", "--deep")
    assert r.exit_code == 2


def test_json_report_structure(cli, bag: Path) -> None:
    (bag / "data/warc/a.warc.gz").unlink()
    r = verify(cli, bag, "--json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["result"] == "invalid"
    missing = [p for p in doc["bags"][0]["problems"] if p["code"] == "missing"]
    assert {(p["file"], p["manifest"], p["algorithm"]) for p in missing} == {
        ("data/warc/a.warc.gz", "manifest-sha256.txt", "sha256"),
        ("data/warc/a.warc.gz", "manifest-sha512.txt", "sha512"),
    }


def test_every_finding_has_a_stable_unique_reference(cli, bag: Path) -> None:
    from strongroom.verify.findings import CODES, Problem

    refs = [c.ref for c in CODES.values()]
    assert len(set(refs)) == len(refs)
    with pytest.raises(ValueError):
        Problem("no-such-code", "a typo must not become a finding")
    (bag / "data/warc/a.warc.gz").unlink()
    doc = json.loads(verify(cli, bag, "--json").stdout)
    assert {p["ref"] for p in doc["bags"][0]["problems"]} >= {CODES["missing"].ref}


def test_deep_goes_into_a_warc_that_fails_its_checksum(cli, tmp_path: Path) -> None:
    """Issue #13: every damaged record is named (offset, URI), intact ones still checked."""
    import random

    rng = random.Random(7)  # incompressible bodies: a gzip member per record of ~20 kB
    pages = {f"http://127.0.0.1:8000/p{i}.html": rng.randbytes(20_000) for i in range(4)}
    folder = tmp_path / "b"
    (folder / "warc").mkdir(parents=True)
    write_warc(folder / "warc" / "a.warc.gz", pages)
    bagit.make_bag(str(folder), checksums=["sha256"])
    warc = folder / "data/warc/a.warc.gz"
    flip_bit(warc, 10_000)  # inside the first record's body
    flip_bit(warc, 50_000)  # inside the third
    r = verify(cli, folder, "--deep", "--json")
    assert r.exit_code == 1, r.output
    found = json.loads(r.stdout)["bags"][0]["problems"]
    damaged = [p for p in found if p["code"] == "warc-damaged"]
    assert [p["target_uri"] for p in damaged] == [
        "http://127.0.0.1:8000/p0.html",
        "http://127.0.0.1:8000/p2.html",
    ]
    assert damaged[0]["offset"] == 0 and damaged[1]["offset"] > 40_000
    assert any(p["code"] == "checksum" for p in found)
    assert json.loads(r.stdout)["bags"][0]["warc_records"] == 2  # p1 and p3, intact
    r = verify(cli, folder, "--deep")
    assert "record at offset 0 (http://127.0.0.1:8000/p0.html)" in r.stderr
    assert "Error -3" not in r.stdout  # warcio's own stderr noise is not passed on
