"""Custody logs: one call records an event; the ledger anchors each log's head."""

from __future__ import annotations

from bagkit import CAPTURE_ID

from strongroom.bag import custody
from strongroom.bag.signing import Keyring, init_keys
from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger

BAG_ID = f"andijan-2005-{CAPTURE_ID}"


def _check(archive: Archive, deep: bool = False) -> custody.ChainReport:
    return custody.check_custody(archive, BAG_ID, Keyring.load(archive), deep=deep)


def test_one_call_writes_the_custody_line_and_the_ledger_row(bagged):
    entry = custody.record_event(
        bagged, BAG_ID, "access change", outcome="success", inputs={"to": "dark"}
    )
    assert entry is not None and entry["seq"] == 4
    last = custody.read_entries(bagged.custody_path(BAG_ID))[-1]
    assert last["action"] == "access change" and last["inputs"] == {"to": "dark"}
    with open_ledger(bagged.root) as ledger:
        row = ledger.events(BAG_ID)[-1]
        head = ledger.custody_head(BAG_ID)
    assert row["event_type"] == "access change" and row["detail"] == {"to": "dark"}
    assert row["actor"] == entry["actor"]
    assert head is not None and head.seq == 4
    assert head.end == bagged.custody_path(BAG_ID).stat().st_size


def test_an_event_without_a_bag_goes_to_the_ledger_only(bagged):
    assert custody.record_event(bagged, None, "ingestion", outcome="failure") is None
    with open_ledger(bagged.root) as ledger:
        assert ledger.events()[-1]["event_type"] == "ingestion"


def test_append_reads_only_the_head_not_the_whole_log(bagged, monkeypatch):
    log = bagged.custody_path(BAG_ID)
    size = log.stat().st_size
    reads: list[int] = []
    real = custody.os.pread

    def pread(fd: int, n: int, offset: int) -> bytes:
        reads.append(offset)
        return real(fd, n, offset)

    monkeypatch.setattr(custody.os, "pread", pread)
    custody.append(bagged, BAG_ID, "watch", outcome="ok")
    assert reads and min(reads) > 0 and min(reads) < size  # never from byte 0
    assert _check(bagged, deep=True).ok


def test_a_clean_log_verifies_and_is_marked_verified(bagged):
    report = _check(bagged)
    assert report.ok, report.problems
    with open_ledger(bagged.root) as ledger:
        head = ledger.custody_head(BAG_ID)
    assert head is not None and head.verified_seq == head.seq == 3


def test_truncation_is_caught_by_the_ledger_head(bagged):
    log = bagged.custody_path(BAG_ID)
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:2]))  # a valid chain, one entry shorter
    assert custody.verify_chain(log, Keyring.load(bagged)).ok  # the log alone looks fine
    report = _check(bagged, deep=True)
    assert not report.ok
    assert any("ends at entry 2, but the ledger anchored 3" in p for p in report.problems)


def test_deletion_and_emptying_are_caught(bagged):
    log = bagged.custody_path(BAG_ID)
    log.write_bytes(b"")
    assert not _check(bagged).ok
    log.unlink()
    report = _check(bagged)
    assert any("is missing, but the ledger anchored 3 entries" in p for p in report.problems)


def test_replacement_by_a_forged_chain_is_caught(bagged, tmp_path):
    """A forger rewrites the log with their own key: a valid chain, not the anchored one."""
    log = bagged.custody_path(BAG_ID)
    entries = custody.read_entries(log)
    forged_keys = tmp_path / "forger"
    init_keys(forged_keys)
    from strongroom.bag.signing import load_private_key

    key = load_private_key(forged_keys)
    assert key is not None
    prev = custody.genesis_for(bagged.bag_dir(BAG_ID))
    out = b""
    for e in entries:
        e = {k: v for k, v in e.items() if k != "sig"} | {"prev": prev, "outcome": "success"}
        e["key"] = None
        line = custody.canonical(e | {"sig": None})
        out += line + b"\n"
        prev = custody.line_hash(line)
    log.write_bytes(out)
    report = _check(bagged, deep=True)
    assert any("differs from the entry the ledger anchored" in p for p in report.problems)


def test_a_nightly_check_reads_only_new_entries_and_deep_reads_all(bagged):
    assert _check(bagged).ok  # marks entry 3 verified
    custody.append(bagged, BAG_ID, "watch", outcome="ok")
    log = bagged.custody_path(BAG_ID)
    lines = log.read_bytes().splitlines(keepends=True)
    # damage an entry verified last night: only a deep check re-reads it
    lines[0] = lines[0].replace(b'"outcome":"success"', b'"outcome":"failure"')
    log.write_bytes(b"".join(lines))
    fast = _check(bagged)
    assert fast.ok and fast.entries == 1  # only entry 4 was checked
    deep = _check(bagged, deep=True)
    assert any("line 1: bad signature" in p for p in deep.problems)


def test_an_append_after_a_crash_before_the_ledger_update_adopts_the_line(bagged):
    log = bagged.custody_path(BAG_ID)
    last = custody.read_entries(log)[-1]
    extra = {k: v for k, v in last.items() if k != "sig"}
    extra |= {"seq": 4, "prev": custody.line_hash(log.read_bytes().splitlines()[-1]), "key": None}
    with open(log, "ab") as fh:  # written, but the process died before the ledger knew
        fh.write(custody.canonical(extra | {"sig": None}) + b"\n")
    entry = custody.append(bagged, BAG_ID, "watch", outcome="ok")
    assert entry["seq"] == 5
    with open_ledger(bagged.root) as ledger:
        head = ledger.custody_head(BAG_ID)
    assert head is not None and head.seq == 5


def test_an_append_to_a_truncated_log_leaves_the_evidence(bagged):
    log = bagged.custody_path(BAG_ID)
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:1]))
    custody.append(bagged, BAG_ID, "watch", outcome="ok")
    report = _check(bagged)
    assert not report.ok  # the head still says 3 entries ended elsewhere


def test_a_log_without_a_head_is_anchored_at_its_first_clean_check(bagged):
    with open_ledger(bagged.root) as ledger, ledger.transaction() as c:
        c.execute("DELETE FROM custody_heads")
    assert _check(bagged).ok
    with open_ledger(bagged.root) as ledger:
        head = ledger.custody_head(BAG_ID)
    assert head is not None and head.seq == 3


def test_a_signed_bag_without_a_log_and_head_is_a_problem(bagged):
    with open_ledger(bagged.root) as ledger, ledger.transaction() as c:
        c.execute("DELETE FROM custody_heads")
    bagged.custody_path(BAG_ID).unlink()
    report = _check(bagged)
    assert any("missing, although the bag is signed" in p for p in report.problems)


def test_signed_head_travels_and_catches_a_shortened_log(bagged, tmp_path):
    doc = custody.signed_head(bagged, BAG_ID)
    log = bagged.custody_path(BAG_ID)
    ring = Keyring.load(bagged)
    assert custody.check_signed_head(doc, log, ring, BAG_ID) == []
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(b"".join(log.read_bytes().splitlines(keepends=True)[:2]))
    problems = custody.check_signed_head(doc, copy, ring, BAG_ID)
    assert problems and "cut short" in problems[0]
    forged = dict(doc, seq=2)
    assert "signature is not valid" in custody.check_signed_head(forged, copy, ring, BAG_ID)[0]
    assert custody.check_signed_head(doc, log, ring, "other-bag")
    assert "not signed" in custody.check_signed_head(dict(doc, sig=None), log, ring, BAG_ID)[0]
