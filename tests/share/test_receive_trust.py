"""receive trusts only what is proven: signed by a trusted key, named as it says, not a copy.

Issue 11 #5 and #6, issue 15 #3.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
import tarfile
from pathlib import Path

import bagit
import pytest
from sharekit import (
    BAG,
    dir_partner,
    make_archive,
    make_bag,
    make_pair,
    write_head,
    write_partners,
)

from strongroom.bag import custody, signing
from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger


@pytest.fixture
def pair(sender_template: Path, archive_dir: Path, tmp_path: Path) -> tuple[Archive, Archive]:
    """(sender in DE with one bag, receiver in UA that trusts the sender's key)."""
    return make_pair(sender_template, tmp_path / "berlin", archive_dir, tmp_path / "outbox")


def stripped_copy(sender: Archive, into: Path) -> Path:
    """The sender's bag with its signature file removed."""
    into.mkdir()
    bag = into / BAG
    shutil.copytree(sender.bag_dir(BAG), bag)
    shutil.copyfile(sender.custody_path(BAG), into / f"{BAG}.custody.jsonl")
    (bag / "tagmanifest-sha512.txt.sig").unlink()
    return bag


def test_stripped_signature_is_refused_even_without_from(cli, pair, tmp_path) -> None:
    sender, receiver = pair
    bag = stripped_copy(sender, tmp_path / "work")
    r = cli("receive", bag, "--archive", receiver.root)
    assert r.exit_code == 1, r.output
    assert "unsigned bag" in r.stderr and "--allow-unsigned" in r.stderr
    assert receiver.bag_ids() == []


def test_allow_unsigned_needs_a_reason_and_is_logged(cli, pair, tmp_path) -> None:
    sender, receiver = pair
    bag = stripped_copy(sender, tmp_path / "work")
    no_reason = cli("receive", bag, "--allow-unsigned", "--archive", receiver.root)
    assert no_reason.exit_code == 2 and "--reason" in no_reason.stderr
    r = cli(
        "receive",
        bag,
        "--allow-unsigned",
        "--reason",
        "made before keys existed",
        "--archive",
        receiver.root,
    )
    assert r.exit_code == 0, r.output
    assert "not signed" in r.stderr
    entries = custody.read_entries(receiver.custody_path(BAG))
    override = [e for e in entries if e["action"] == "policy override"]
    assert override and override[-1]["inputs"]["reason"] == "made before keys existed"
    with open_ledger(receiver.root) as ledger:
        events = [e["event_type"] for e in ledger.events(BAG)]
    assert "policy override" in events


def test_no_trusted_key_names_keys_trust(cli, tmp_path, archive_dir) -> None:
    sender = make_archive(tmp_path / "berlin", "DE")
    make_bag(sender, BAG)
    stranger = make_archive(archive_dir, "UA")  # trusts nobody but itself
    r = cli("receive", sender.bag_dir(BAG), "--archive", stranger.root)
    assert r.exit_code == 1
    assert "strongroom keys trust" in r.stderr


def test_renamed_bag_is_refused_by_its_external_identifier(cli, pair, tmp_path) -> None:
    sender, receiver = pair
    (tmp_path / "work").mkdir()
    renamed = tmp_path / "work" / "andijan-2005-20240501T101500Z-ffffff"
    shutil.copytree(sender.bag_dir(BAG), renamed)
    r = cli("receive", renamed, "--archive", receiver.root)
    assert r.exit_code == 1, r.output
    assert "External-Identifier" in r.stderr and BAG in r.stderr
    assert receiver.bag_ids() == []


def test_a_bag_already_held_is_confirmed_as_a_copy(cli, pair) -> None:
    sender, receiver = pair
    assert cli("receive", sender.bag_dir(BAG), "--archive", receiver.root).exit_code == 0
    before = receiver.custody_path(BAG).read_bytes()
    again = cli("receive", sender.bag_dir(BAG), "--json", "--archive", receiver.root)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["already_held"] is True
    assert receiver.custody_path(BAG).read_bytes() == before  # nothing changed
    assert [p.name for p in receiver.quarantine.iterdir()] == []


def test_a_copy_under_another_name_is_refused_by_its_tag_manifest(cli, pair, tmp_path) -> None:
    """A bag without External-Identifier, already held, comes again under a new name."""
    sender, receiver = pair
    plain = tmp_path / "work" / "plain-a"
    (plain / "data").mkdir(parents=True)
    (plain / "data" / "note.txt").write_text("a note\n")
    bagit.make_bag(str(plain), {"Source-Organization": "Archive DE"}, checksums=["sha512"])
    key = signing.load_private_key(sender.keys)
    assert key is not None
    signing.write_signature(plain / custody.TAGMANIFEST, key)
    write_head(sender, "plain-a", plain.parent)  # the sender vouches: no custody entries
    assert cli("receive", plain, "--archive", receiver.root).exit_code == 0
    renamed = plain.with_name("plain-b")
    shutil.copytree(plain, renamed)
    r = cli("receive", renamed, "--archive", receiver.root)
    assert r.exit_code == 1, r.output
    assert "same tag manifests as plain-a" in r.stderr
    assert receiver.bag_ids() == ["plain-a"]


class _Zeros(io.RawIOBase):
    """``size`` zero bytes, streamed: a bomb is never held in memory."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


def _bomb(sender: Archive, out: Path, size: int) -> Path:
    """A tar.gz of the sender's bag plus a payload file of ``size`` zero bytes."""
    with gzip.open(out, "wb", compresslevel=6) as gz, tarfile.open(fileobj=gz, mode="w|") as tar:
        tar.add(sender.bag_dir(BAG), arcname=BAG)
        info = tarfile.TarInfo(f"{BAG}/data/zeros.bin")
        info.size = size
        tar.addfile(info, io.BufferedReader(_Zeros(size)))
    return out


def test_tar_gz_bomb_is_refused_after_writing_little(cli, pair, tmp_path) -> None:
    sender, receiver = pair
    size = 64 * 1024 * 1024
    tar = _bomb(sender, tmp_path / "bomb.tar.gz", size)
    assert tar.stat().st_size < size // 500
    r = cli("receive", tar, "--from", "berlin", "--json", "--archive", receiver.root)
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    assert doc["stage"] == "extract"
    (problem,) = doc["problems"]
    assert "Payload-Oxum" in problem or "max_ratio" in problem
    written = int(re.search(r"(\d+) bytes", problem).group(1))  # type: ignore[union-attr]
    assert written < 10 * 1024 * 1024  # stopped early, not at the 64 MiB the bomb holds
    # the quarantine keeps the report, not the bytes
    folder = Path(doc["quarantine"])
    assert [p.name for p in folder.iterdir()] == ["report.json"]
    assert receiver.bag_ids() == []


def test_bomb_without_a_declaration_is_stopped_by_the_ratio(cli, pair, tmp_path) -> None:
    _, receiver = pair
    size = 64 * 1024 * 1024
    out = tmp_path / "early.tar.gz"
    with gzip.open(out, "wb") as gz, tarfile.open(fileobj=gz, mode="w|") as tar:
        info = tarfile.TarInfo(f"{BAG}/data/zeros.bin")  # before bag-info.txt
        info.size = size
        tar.addfile(info, io.BufferedReader(_Zeros(size)))
    r = cli("receive", out, "--json", "--archive", receiver.root)
    assert r.exit_code == 1, r.output
    (problem,) = json.loads(r.stdout)["problems"]
    assert "max_ratio" in problem and "decompression bomb" in problem
    assert int(problem.split(": ")[1].split()[0]) <= 8 * 1024 * 1024


def test_a_custody_log_cut_short_or_missing_is_refused(cli, pair, tmp_path) -> None:
    """Issue 11 #2: the sender signs the head of the log it sends; the receiver checks it."""
    sender, receiver = pair
    custody.append(sender, BAG, "fixity check", outcome="success")
    custody.append(sender, BAG, "access change", outcome="success", inputs={"to": "public"})
    for case in ("short", "missing", "no-head"):
        work = tmp_path / case
        work.mkdir()
        shutil.copytree(sender.bag_dir(BAG), work / BAG)
        log = work / f"{BAG}.custody.jsonl"
        shutil.copyfile(sender.custody_path(BAG), log)
        write_head(sender, BAG, work)
        if case == "short":  # the last entry removed, the rest intact and chained
            log.write_bytes(b"".join(log.read_bytes().splitlines(keepends=True)[:-1]))
        elif case == "missing":
            log.unlink()
        else:
            (work / f"{BAG}.custody-head.json").unlink()
        r = cli("receive", work / BAG, "--json", "--archive", receiver.root)
        assert r.exit_code == 1, (case, r.output)
        doc = json.loads(r.stdout)
        assert doc["stage"] == "custody", case
        assert receiver.bag_ids() == []


def test_share_ships_the_signed_head_and_the_partner_accepts_it(cli, pair, tmp_path) -> None:
    sender, receiver = pair
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    write_partners(sender, dir_partner("kyiv", "UA", outbox))
    assert cli("share", BAG, "--to", "kyiv", "--archive", sender.root).exit_code == 0
    assert (outbox / f"{BAG}.custody-head.json").is_file()
    r = cli("receive", outbox / BAG, "--from", "berlin", "--archive", receiver.root)
    assert r.exit_code == 0, r.output
