"""Custody lines built and signed ahead (by verify's workers), and batched heads: a
prepared line is written only where its builder saw the log end, a batch never moves a
head back, and a batch dropped after its lines were written leaves a consistent log."""

from __future__ import annotations

from bagkit import CAPTURE_ID

from strongroom.bag import custody
from strongroom.bag.custody_ahead import prepare_line
from strongroom.bag.signing import Keyring, load_private_key
from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger
from strongroom.verify import fixity
from strongroom.verify.context import RunContext

BAG_ID = f"andijan-2005-{CAPTURE_ID}"


def _prepared(archive: Archive) -> custody.PreparedLine:
    """The next line as a worker builds it: after a check of the log as it is now."""
    with open_ledger(archive.root) as ledger:
        head = ledger.custody_head(BAG_ID)
    seen = custody.check_log(archive, BAG_ID, head, Keyring.load(archive))
    assert seen.ok, seen.problems
    line = prepare_line(
        archive,
        seen,
        load_private_key(archive.keys),
        action="fixity check",
        outcome="success",
        detail={"result": "valid"},
    )
    assert line is not None
    return line


def _last_line(archive: Archive) -> bytes:
    return archive.custody_path(BAG_ID).read_bytes().splitlines()[-1]


def _deep_ok(archive: Archive) -> None:
    report = custody.check_custody(archive, BAG_ID, Keyring.load(archive), deep=True)
    assert report.ok, report.problems


def test_a_prepared_line_is_written_as_signed_where_the_log_still_ends(bagged):
    line = _prepared(bagged)
    entry = custody.append(bagged, BAG_ID, "fixity check", outcome="success", prepared=line)
    assert _last_line(bagged) == line.line and entry["seq"] == 4
    with open_ledger(bagged.root) as ledger:
        head = ledger.custody_head(BAG_ID)
    assert head is not None and head.seq == 4
    _deep_ok(bagged)


def test_a_prepared_line_is_signed_afresh_when_another_writer_came_first(bagged):
    line = _prepared(bagged)
    custody.record_event(bagged, BAG_ID, "watch", outcome="ok")  # after the worker read
    entry = custody.append(
        bagged,
        BAG_ID,
        "fixity check",
        outcome="success",
        detail={"result": "valid"},
        prepared=line,
    )
    assert _last_line(bagged) != line.line
    assert entry["seq"] == 5 and entry["detail"] == {"result": "valid"}
    _deep_ok(bagged)


def test_a_prepared_line_follows_a_torn_write_set_aside(bagged):
    line = _prepared(bagged)
    log = bagged.custody_path(BAG_ID)
    with open(log, "ab") as fh:  # another writer died mid-line
        fh.write(b'{"seq": 4, "half')
    custody.append(bagged, BAG_ID, "fixity check", outcome="success", prepared=line)
    assert _last_line(bagged) == line.line
    assert log.with_name(log.name + ".torn").read_bytes().startswith(b'{"seq": 4')
    _deep_ok(bagged)


def test_a_prepared_line_never_lands_on_a_log_cut_short_meanwhile(bagged):
    line = _prepared(bagged)
    log = bagged.custody_path(BAG_ID)
    log.write_bytes(b"".join(log.read_bytes().splitlines(keepends=True)[:1]))
    custody.append(bagged, BAG_ID, "fixity check", outcome="success", prepared=line)
    assert line.line not in log.read_bytes()
    with open_ledger(bagged.root) as ledger:
        head = ledger.custody_head(BAG_ID)
    assert head is not None and head.seq == 3  # left as the evidence
    report = custody.check_custody(bagged, BAG_ID, Keyring.load(bagged))
    assert not report.ok


def _record_in_batch(archive: Archive) -> RunContext:
    """One bag checked and recorded as verify --all --fast does, its batch not flushed."""
    ctx = RunContext(archive, batch=True)
    ctx.prepare()
    ctx.presign = True  # as in a worker
    target = fixity.Target(archive.bag_dir(BAG_ID), BAG_ID)
    run = fixity.check_bag(archive, target, "fast", None, None, None, None, ctx)
    assert run.result == "valid" and run.prepared is not None
    line = run.prepared.line
    fixity.record_run(archive, run, ctx)
    assert _last_line(archive) == line  # the worker's line, as it signed it
    return ctx


def test_a_batch_never_moves_a_head_back(bagged):
    ctx = _record_in_batch(bagged)  # entry 4 written, its head waits for the flush
    custody.record_event(bagged, BAG_ID, "watch", outcome="ok")  # entry 5, committed first
    ctx.flush()
    ctx.close()
    with open_ledger(bagged.root) as ledger:
        head = ledger.custody_head(BAG_ID)
        runs = ledger.fixity_history(BAG_ID)
    assert head is not None and head.seq == 5 and head.verified_seq == 3
    assert runs[-1]["mode"] == "fast" and runs[-1]["result"] == "valid"
    _deep_ok(bagged)


def test_a_batch_dropped_after_its_lines_were_written_leaves_a_consistent_log(cli, bagged):
    ctx = _record_in_batch(bagged)
    ctx.close()  # as a crash before the flush: the line is in the log, the ledger knows nothing
    with open_ledger(bagged.root) as ledger:
        head = ledger.custody_head(BAG_ID)
        assert head is not None and head.seq == 3
        assert not [r for r in ledger.fixity_history(BAG_ID) if r["mode"] == "fast"]
    r = cli("verify", "--all", "--fast", "--quiet")
    assert (r.exit_code, r.output) == (0, "")
    with open_ledger(bagged.root) as ledger:
        head = ledger.custody_head(BAG_ID)
    assert head is not None and head.seq == 5  # the dropped line was taken up, then one more
    _deep_ok(bagged)
