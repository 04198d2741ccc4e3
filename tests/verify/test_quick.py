"""The lean path of ``verify --fast`` (verify/quick.py): it says "valid" only where the
careful path has nothing to say, and every unusual or damaged bag goes to the careful
path, so the verdict, the findings and their messages are the same either way."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_validate import PAGES_A
from verifykit import COLLECTION, make_archive_bag

from strongroom.bag import custody
from strongroom.bag.timestamp import TOKEN
from strongroom.core.archive import Archive
from strongroom.verify import fixity, quick
from strongroom.verify.context import RunContext
from strongroom.verify.runs import Target

BAG = f"{COLLECTION}-20240101T000000Z-aaaaaa"
WARC = f"data/warc/{BAG}-00000.warc.gz"


def _checked(archive: Archive, bag_id: str = BAG) -> tuple[Any, dict, dict]:
    """(the lean path's answer, the run as check_bag makes it, the careful path's run)."""
    ctx = RunContext(archive)
    try:
        target = Target(archive.bag_dir(bag_id), bag_id)
        found = quick.check(archive, target, ctx)
        lean = fixity.check_bag(archive, target, "fast", None, None, None, None, ctx)
        careful = fixity.careful_check(archive, target, "fast", None, None, None, None, ctx)
    finally:
        ctx.close()
    return found, _comparable(lean), _comparable(careful)


def _comparable(run: fixity.BagRun) -> dict:
    out = run.to_dict()
    for key in ("started", "ended", "seconds"):
        del out[key]
    out["warnings"] = [w.message for w in run.report.warnings] if run.report else []
    return out


@pytest.fixture
def bag(archive: Archive, manifests: Path) -> Path:
    return make_archive_bag(archive, BAG, manifests, PAGES_A)


def test_a_plain_bag_takes_the_lean_path_with_the_careful_verdict(
    archive: Archive, bag: Path
) -> None:
    found, lean, careful = _checked(archive)
    assert found is not None
    assert lean == careful and lean["result"] == "valid" and lean["files"] == 1
    assert lean["version"] == "0.97" and lean["algorithms"] == ["sha256", "sha512"]


def test_the_lean_path_checks_a_log_verified_before_from_its_head(
    cli, archive: Archive, bag: Path
) -> None:
    assert cli("verify", "--fast", BAG).exit_code == 0  # remembers the head as verified
    found, lean, careful = _checked(archive)
    assert found is not None and lean == careful and lean["result"] == "valid"
    custody.append(archive, BAG, "watch", outcome="ok")  # a signed entry since
    found, lean, careful = _checked(archive)
    assert found is not None and lean == careful and lean["result"] == "valid"
    log = archive.custody_path(BAG)
    log.write_bytes(log.read_bytes().replace(b'"watch"', b'"wotch"'))  # edited since
    found, lean, careful = _checked(archive)
    assert found is None and lean == careful and lean["result"] == "invalid"


def _write(rel: str, data: bytes) -> Callable[[Path], None]:
    def change(bag: Path) -> None:
        (bag / rel).parent.mkdir(parents=True, exist_ok=True)
        (bag / rel).write_bytes(data)

    return change


def _edit(rel: str, old: bytes, new: bytes) -> Callable[[Path], None]:
    def change(bag: Path) -> None:
        data = (bag / rel).read_bytes()
        assert old in data, (rel, old)
        (bag / rel).write_bytes(data.replace(old, new, 1))

    return change


def _append(rel: str, data: bytes) -> Callable[[Path], None]:
    def change(bag: Path) -> None:
        with open(bag / rel, "ab") as fh:
            fh.write(data)

    return change


def _symlink_tag(bag: Path) -> None:
    shutil.copyfile(bag / "bag-info.txt", bag / "info-copy.txt")
    (bag / "bag-info.txt").unlink()
    (bag / "bag-info.txt").symlink_to("info-copy.txt")


def _listed(bag: Path, rel: str, data: bytes) -> None:
    """A payload file added and listed in both payload manifests (a valid bag still)."""
    import hashlib

    (bag / rel).parent.mkdir(parents=True, exist_ok=True)
    (bag / rel).write_bytes(data)
    for alg in ("sha256", "sha512"):
        line = f"{hashlib.new(alg, data).hexdigest()}  {rel.replace('%', '%25')}\n"
        with open(bag / f"manifest-{alg}.txt", "a", encoding="utf-8") as fh:
            fh.write(line)
    info = (bag / "bag-info.txt").read_text()
    octets, count = next(
        line.split(": ")[1] for line in info.splitlines() if line.startswith("Payload-Oxum")
    ).split(".")
    new = f"Payload-Oxum: {int(octets) + len(data)}.{int(count) + 1}"
    (bag / "bag-info.txt").write_text(info.replace(f"Payload-Oxum: {octets}.{count}", new))


def _manifest_lines(alg: str, edit: Callable[[str], str]) -> Callable[[Path], None]:
    def change(bag: Path) -> None:
        path = bag / f"manifest-{alg}.txt"
        path.write_text("".join(edit(line) + "\n" for line in path.read_text().splitlines()))

    return change


def _replace_with_dir(rel: str) -> Callable[[Path], None]:
    def change(bag: Path) -> None:
        if (bag / rel).exists():
            (bag / rel).unlink()
        (bag / rel).mkdir()
        (bag / rel / "inside").write_bytes(b"x")

    return change


# Each case makes the bag unusual or damaged; the lean path must hand every one of
# them to the careful path (which may still find some of them valid).
HOSTILE: dict[str, Callable[[Path], None]] = {
    "symlink inside the bag": lambda b: (b / "data" / "link").symlink_to(
        f"warc/{BAG}-00000.warc.gz"
    ),
    "symlink out of the bag": lambda b: (b / "data" / "out").symlink_to("/etc/passwd"),
    "tag file that is a symlink": _symlink_tag,
    "FIFO in the payload": lambda b: os.mkfifo(b / "data" / "fifo"),
    "bagit.txt with CRLF": _edit("bagit.txt", b"\n", b"\r\n"),
    "bagit.txt with a BOM": lambda b: _write(
        "bagit.txt", b"\xef\xbb\xbf" + (b / "bagit.txt").read_bytes()
    )(b),
    "bagit.txt in Latin-1": _edit("bagit.txt", b"UTF-8", b"ISO-8859-1"),
    "bagit.txt of an unknown version": _edit("bagit.txt", b"0.97", b"0.99"),
    "bag-info with CRLF": _edit("bag-info.txt", b"\n", b"\r\n"),
    "bag-info with a BOM": lambda b: _write(
        "bag-info.txt", b"\xef\xbb\xbf" + (b / "bag-info.txt").read_bytes()
    )(b),
    "bag-info with a folded line": _append("bag-info.txt", b"Contact-Name: A\n  B\n"),
    "bag-info with a NUL": _append("bag-info.txt", b"Contact-Name: A\x00B\n"),
    "bag-info not UTF-8": _append("bag-info.txt", b"Contact-Name: caf\xe9\n"),
    "bag-info label before a space": _append("bag-info.txt", b"Contact-Name : A\n"),
    "bag-info line without a colon": _append("bag-info.txt", b"just words\n"),
    "bag-info missing": lambda b: (b / "bag-info.txt").unlink(),
    "Payload-Oxum wrong": _edit("bag-info.txt", b"Payload-Oxum: ", b"Payload-Oxum: 1"),
    "Payload-Oxum twice": _append("bag-info.txt", b"Payload-Oxum: 1.1\n"),
    "Payload-Oxum malformed": _edit("bag-info.txt", b"Payload-Oxum: ", b"Payload-Oxum: x"),
    "Bag-Group-Identifier changed": _edit("bag-info.txt", COLLECTION.encode(), b"other-coll"),
    "manifest with CRLF": _edit("manifest-sha256.txt", b"\n", b"\r\n"),
    "manifest with a BOM": lambda b: _write(
        "manifest-sha256.txt", b"\xef\xbb\xbf" + (b / "manifest-sha256.txt").read_bytes()
    )(b),
    "manifest with a ./ path": _edit("manifest-sha256.txt", b" data/", b" ./data/"),
    "manifest with a * path": _edit("manifest-sha256.txt", b" data/", b" *data/"),
    "manifest with a blank line": _append("manifest-sha256.txt", b"\n\n"),
    "manifest line listed twice": lambda b: _append(
        "manifest-sha256.txt", (b / "manifest-sha256.txt").read_bytes()
    )(b),
    "manifest digest too short": _manifest_lines("sha256", lambda line: line[:10] + line[64:]),
    "manifest line malformed": _append("manifest-sha256.txt", b"nonsense\n"),
    "manifest path with '..'": _append("manifest-sha256.txt", b"0" * 64 + b"  data/../../x\n"),
    "manifest over 1 MiB (streamed)": _append("manifest-sha256.txt", b"\n" * (1024 * 1024 + 1)),
    "manifest line over 64 KiB": _append(
        "manifest-sha256.txt", b"0" * 64 + b"  data/" + b"x" * 70000 + b"\n"
    ),
    "manifest of an unknown algorithm": _write("manifest-foo.txt", b""),
    "manifest that is a folder": _replace_with_dir("manifest-md5.txt"),
    "no payload manifest": lambda b: [
        (b / f"manifest-{a}.txt").unlink() for a in ("sha256", "sha512")
    ],
    "tag manifest lists a missing file": _append(
        "tagmanifest-sha256.txt", b"0" * 64 + b"  gone.txt\n"
    ),
    "percent-encoded name (valid)": lambda b: _listed(b, "data/100%.txt", b"x"),
    "non-ASCII name (valid)": lambda b: _listed(b, "data/caf\u00e9.txt", b"x"),
    "names that differ by case": lambda b: (
        _listed(b, "data/A.txt", b"x"),
        _listed(b, "data/a.txt", b"y"),
    ),
    "desktop junk file": lambda b: _listed(b, "data/.DS_Store", b"x"),
    "file not listed": _write("data/extra.bin", b"x"),
    "listed file missing": lambda b: (b / WARC).unlink(),
    "data is a file": lambda b: (shutil.rmtree(b / "data"), (b / "data").write_bytes(b"x")),
    "fetch.txt": _write("fetch.txt", b"http://x/y 1 data/y\n"),
    "package-info.txt (valid)": _write("package-info.txt", b"A: b\n"),
    "timestamp token": _write(TOKEN, b"not a token"),
    "timestamp token that is a folder": _replace_with_dir(TOKEN),
    "tag folder named like a file (valid)": _write("tags.d/notes.txt", b"x"),
    "tag folder named like a manifest": _write("tagmanifest-x/y.txt", b"x"),
    "signature altered": lambda b: _write("tagmanifest-sha512.txt.sig", bytes(64))(b),
    "signature too large": lambda b: _write("tagmanifest-sha512.txt.sig", bytes(2000))(b),
    "signature missing": lambda b: (b / "tagmanifest-sha512.txt.sig").unlink(),
    "signature that is a folder": _replace_with_dir("tagmanifest-sha512.txt.sig"),
}


@pytest.mark.parametrize("change", list(HOSTILE), ids=list(HOSTILE))
def test_an_unusual_bag_is_read_carefully_with_the_same_findings(
    archive: Archive, bag: Path, change: str
) -> None:
    HOSTILE[change](bag)
    found, lean, careful = _checked(archive)
    assert found is None, change
    assert lean == careful


def _log(archive: Archive) -> Path:
    return archive.custody_path(BAG)


ANCHORS: dict[str, Callable[[Archive, Path], Any]] = {
    "custody log cut short": lambda a, m: _log(a).write_bytes(_log(a).read_bytes()[:-5]),
    "custody log empty": lambda a, m: _log(a).write_bytes(b""),
    "custody log missing": lambda a, m: _log(a).unlink(),
    "custody log a symlink": lambda a, m: (
        shutil.copyfile(_log(a), a.root / "copy.jsonl"),
        _log(a).unlink(),
        _log(a).symlink_to(a.root / "copy.jsonl"),
    ),
    "inventory entry missing": lambda a, m: (m / COLLECTION / f"{BAG}.json").unlink(),
    "inventory entry not JSON": lambda a, m: (m / COLLECTION / f"{BAG}.json").write_text("{"),
    "untrusted keyring": lambda a, m: (a.keys / "trusted" / "bad.pub").write_text("nonsense"),
}


@pytest.mark.parametrize("change", list(ANCHORS), ids=list(ANCHORS))
def test_a_broken_anchor_is_read_carefully_with_the_same_findings(
    archive: Archive, manifests: Path, bag: Path, change: str
) -> None:
    ANCHORS[change](archive, manifests)
    found, lean, careful = _checked(archive)
    assert found is None, change
    assert lean == careful and lean["result"] != "valid"


def test_a_bag_the_ledger_does_not_know_is_read_carefully(archive: Archive, bag: Path) -> None:
    other = f"{COLLECTION}-20240103T000000Z-cccccc"
    shutil.copytree(bag, archive.bag_dir(other))
    shutil.copyfile(archive.custody_path(BAG), archive.custody_path(other))
    found, lean, careful = _checked(archive, other)
    assert found is None and lean == careful
    assert any("the ledger does not know" in p["message"] for p in lean["problems"])


def test_a_signed_custody_line_is_the_canonical_form_of_its_entry(archive: Archive) -> None:
    """The line is put together from the signed bytes (one encoding, not two): it must
    be exactly ``canonical`` of the entry, whatever the entry holds."""
    from strongroom.bag.signing import load_private_key

    key = load_private_key(archive.keys)
    tricky = {"software": ',"software":"x"', "z": ['"software"', "caf\u00e9\n"], "sig": 1}
    for detail in ({}, tricky):
        fields = {"actor": None, "action": "watch", "inputs": {"software": 2},
                  "outcome": "ok", "detail": detail}  # fmt: skip
        entry, line = custody._new_entry(archive, 7, custody.GENESIS, key, fields)
        assert line == custody.canonical(entry) and entry["sig"]


def test_a_bag_strongroom_made_takes_the_lean_path(cli, archive_dir: Path, tmp_path: Path) -> None:
    """A BagIt 1.0 bag as ``strongroom bag`` makes it (tag files under tags/, signed)."""
    from bagkit import CAPTURE_ID, make_capture

    make_capture(archive_dir)
    assert cli("keys", "init").exit_code == 0
    assert cli("bag", CAPTURE_ID, "--manifests", tmp_path / "m").exit_code == 0
    archive = Archive(archive_dir)
    (bag_id,) = archive.bag_ids()
    assert (archive.bag_dir(bag_id) / "tags").is_dir()
    found, lean, careful = _checked(archive, bag_id)
    assert found is not None and lean == careful and lean["version"] == "1.0"
    assert lean["result"] == "valid"
    # and with one of its tag files gone, the careful path names it
    tag = next((archive.bag_dir(bag_id) / "tags").iterdir())
    tag.unlink()
    found, lean, careful = _checked(archive, bag_id)
    assert found is None and lean == careful
    assert any(f"tags/{tag.name}" in p["message"] for p in lean["problems"])
