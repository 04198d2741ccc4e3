"""receive: hostile tars and folders are quarantined; good bags from partners are ingested."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest
from sharekit import (
    BAG,
    make_pair,
    write_head,
)

from strongroom.bag import custody
from strongroom.bag.inventory import load_inventory
from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger


@pytest.fixture
def pair(sender_template: Path, archive_dir: Path, tmp_path: Path) -> tuple[Archive, Archive]:
    """(sender in DE with one bag, receiver in UA that trusts the sender's key)."""
    (tmp_path / "outbox").mkdir()
    limits = '[receive]\nmax_files = 20\nmax_bytes = "1MB"\nmax_name_length = 200\n'
    return make_pair(sender_template, tmp_path / "berlin", archive_dir, tmp_path / "outbox", limits)


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` except the quarantine, the ledger and the lock files."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if "/quarantine" in f"/{rel}" or "ledger.sqlite" in rel or "/locks" in f"/{rel}":
            continue
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


def bag_tar(
    bag_dir: Path,
    out: Path,
    *,
    custody_log: Path | None = None,
    extra: list[tuple[tarfile.TarInfo, bytes | None]] = (),  # type: ignore[assignment]
    mode: str = "w",
) -> Path:
    """A tar of a bag folder, with hand-made extra members."""
    with tarfile.open(out, mode) as tar:
        tar.add(bag_dir, arcname=bag_dir.name)
        if custody_log is not None:
            tar.add(custody_log, arcname=f"{bag_dir.name}.custody.jsonl")
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = ""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, (data if kind == tarfile.REGTYPE else None)


def editable_copy(sender: Archive, into: Path) -> tuple[Path, Path]:
    """A copy of the sender's bag and custody log that a test may tamper with."""
    into.mkdir()
    bag = into / BAG
    shutil.copytree(sender.bag_dir(BAG), bag)
    log = into / f"{BAG}.custody.jsonl"
    shutil.copyfile(sender.custody_path(BAG), log)
    write_head(sender, BAG, into)
    return bag, log


def test_exported_tar_from_partner_is_ingested(cli, pair, tmp_path) -> None:
    sender, receiver = pair
    tar = tmp_path / "andijan.tar"
    assert cli("share", "--export", BAG, "-o", tar, "--archive", sender.root).exit_code == 0
    manifests = tmp_path / "manifests"
    r = cli(
        "receive", tar, "--from", "berlin", "--manifests", manifests, "--archive", receiver.root
    )
    assert r.exit_code == 0, r.output
    assert f"Received {BAG} from berlin" in r.stdout and "good signature" in r.stdout
    assert (receiver.bag_dir(BAG) / "bagit.txt").is_file()
    entries = custody.read_entries(receiver.custody_path(BAG))
    assert entries[-1]["action"] == "ingestion" and entries[-1]["inputs"]["source"] == str(tar)
    assert entries[0]["action"] == "creation"  # the sender's history came along
    with open_ledger(receiver.root) as ledger:
        row = ledger.query("SELECT origin FROM bags WHERE bag_id = ?", (BAG,))
    assert row[0]["origin"] == "received:berlin"
    assert BAG in load_inventory(manifests / "andijan")["bags"]
    assert [p.name for p in receiver.quarantine.iterdir()] == []
    assert cli("verify", BAG, "--archive", receiver.root).exit_code == 0


def test_partner_folder_is_received(cli, pair, tmp_path) -> None:
    sender, receiver = pair
    r = cli("receive", sender.bag_dir(BAG), "--from", "berlin", "--archive", receiver.root)
    assert r.exit_code == 0, r.output
    assert (receiver.bag_dir(BAG) / "data").is_dir()
    # default: the archive's own manifests/, never the current folder
    assert (receiver.root / "manifests" / "andijan" / f"{BAG}.json").is_file()
    assert not (tmp_path / "manifests").exists()
    again = cli("receive", sender.bag_dir(BAG), "--from", "berlin", "--archive", receiver.root)
    assert again.exit_code == 0 and "Already held" in again.stdout  # confirmed as a copy


HOSTILE = {
    "tar-slip": ([member("../../../evil.txt", data=b"pwned")], "'..' in the path (tar-slip)"),
    "absolute": ([member("/tmp/strongroom-evil-abs.txt", data=b"pwned")], "absolute path"),
    "symlink": (
        [member(f"{BAG}/data/passwd", tarfile.SYMTYPE, link="/etc/passwd")],
        "symbolic link",
    ),
    "hardlink": (
        [member(f"{BAG}/data/passwd", tarfile.LNKTYPE, link="/etc/passwd")],
        "hard link",
    ),
    "fifo": ([member(f"{BAG}/data/fifo", tarfile.FIFOTYPE)], "device or FIFO"),
    "duplicate": ([member(f"{BAG}/bagit.txt", data=b"BagIt-Version: 1.0\n")], "appears twice"),
    "too-many-files": (
        [member(f"{BAG}/data/f{i}.txt", data=b"x") for i in range(30)],
        "more than 20 files (max_files)",
    ),
    "long-name": ([member(f"{BAG}/data/{'n' * 250}", data=b"x")], "name longer than 200"),
    "stray-file": ([member("README", data=b"hi")], "unexpected file beside the bag"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_tar_is_quarantined_and_nothing_escapes(cli, pair, tmp_path, case) -> None:
    sender, receiver = pair
    extra, message = HOSTILE[case]
    tar = bag_tar(sender.bag_dir(BAG), tmp_path / "in.tar", extra=extra)
    before = snapshot(tmp_path)
    r = cli("receive", tar, "--from", "berlin", "--archive", receiver.root)
    assert r.exit_code == 1, r.output
    assert message in r.stderr
    assert "nothing was ingested" in r.stderr and "quarantined in" in r.stderr
    assert snapshot(tmp_path) == before
    assert not Path("/tmp/strongroom-evil-abs.txt").exists()
    assert receiver.bag_ids() == []
    (folder,) = [p for p in receiver.quarantine.iterdir()]
    report = json.loads((folder / "report.json").read_text())
    assert report["stage"] == "extract" and not report["accepted"]


def test_gzip_bomb_stops_at_the_byte_limit(cli, pair, tmp_path) -> None:
    sender, receiver = pair
    bomb = member(f"{BAG}/data/zeros.bin", data=b"\0" * (4 * 1024 * 1024))
    tar = bag_tar(sender.bag_dir(BAG), tmp_path / "bomb.tar.gz", extra=[bomb], mode="w:gz")
    assert tar.stat().st_size < 64 * 1024
    r = cli("receive", tar, "--from", "berlin", "--archive", receiver.root)
    assert r.exit_code == 1 and "more than 1000000 bytes" in r.stderr
    assert receiver.bag_ids() == []


def test_bad_signature_is_refused(cli, pair, tmp_path) -> None:
    sender, receiver = pair
    bag, log = editable_copy(sender, tmp_path / "work")
    (bag / "tagmanifest-sha512.txt.sig").write_bytes(os.urandom(64))
    tar = bag_tar(bag, tmp_path / "badsig.tar", custody_log=log)
    before = snapshot(tmp_path)
    r = cli("receive", tar, "--from", "berlin", "--json", "--archive", receiver.root)
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["stage"] == "signature" and "does not match" in doc["problems"][0]
    assert snapshot(tmp_path) == before and receiver.bag_ids() == []
    assert (Path(doc["quarantine"]) / "report.json").is_file()


def test_unsigned_bag_from_partner_is_refused(cli, pair, tmp_path) -> None:
    sender, receiver = pair
    bag, _ = editable_copy(sender, tmp_path / "work")
    (bag / "tagmanifest-sha512.txt.sig").unlink()
    r = cli("receive", bag, "--from", "berlin", "--archive", receiver.root)
    assert r.exit_code == 1 and "unsigned bag" in r.stderr
    assert receiver.bag_ids() == []


def test_edited_custody_chain_is_refused(cli, pair, tmp_path) -> None:
    sender, receiver = pair
    custody.append(sender, BAG, "fixity check", outcome="success")
    bag, log = editable_copy(sender, tmp_path / "work")
    lines = log.read_bytes().splitlines(keepends=True)
    first = json.loads(lines[0])
    first["actor"] = "someone-else"
    lines[0] = custody.canonical(first) + b"\n"
    log.write_bytes(b"".join(lines))
    tar = bag_tar(bag, tmp_path / "edited.tar", custody_log=log)
    before = snapshot(tmp_path)
    r = cli("receive", tar, "--from", "berlin", "--archive", receiver.root)
    assert r.exit_code == 1
    assert "refused at the custody step" in r.stderr and "hash chain broken" in r.stderr
    assert snapshot(tmp_path) == before and receiver.bag_ids() == []


def test_tampered_export_does_not_match_its_signed_checksum(cli, pair, tmp_path) -> None:
    sender, receiver = pair
    tar = tmp_path / "a.tar"
    assert cli("share", "--export", BAG, "-o", tar, "--archive", sender.root).exit_code == 0
    with open(tar, "ab") as fh:
        fh.write(b"\0" * 512)
    r = cli("receive", tar, "--from", "berlin", "--archive", receiver.root)
    assert r.exit_code == 1 and "does not match the signed a.tar.sha512" in r.stderr


def test_folder_with_symlink_is_refused_without_following_it(cli, pair, tmp_path) -> None:
    sender, receiver = pair
    bag, _ = editable_copy(sender, tmp_path / "work")
    os.symlink("/etc/passwd", bag / "data" / "passwd")
    r = cli("receive", bag, "--archive", receiver.root)
    assert r.exit_code == 1 and "symbolic link; not followed" in r.stderr
    assert receiver.bag_ids() == []
    assert not list(receiver.quarantine.rglob("passwd"))


def test_not_a_tar_is_refused_clearly(cli, pair, tmp_path) -> None:
    _, receiver = pair
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"\x89PNG not a tar at all" * 50)
    r = cli("receive", junk, "--archive", receiver.root)
    assert r.exit_code == 1 and "not a readable tar file" in r.stderr
    missing = cli("receive", tmp_path / "nope.tar", "--archive", receiver.root)
    assert missing.exit_code == 2 and "no such file or folder" in missing.stderr
