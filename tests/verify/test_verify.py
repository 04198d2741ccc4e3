"""Verify archive bags: signature, custody chain, inventory, ledger history, --due, lock."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import bagit
import pytest
from test_validate import flip_bit, write_warc
from verifykit import COLLECTION, make_archive_bag

from strongroom.bag import custody, signing
from strongroom.core.archive import Archive
from strongroom.core.fsutil import exclusive_lock
from strongroom.core.ledger import open_ledger


def runs(archive: Archive, bag_id: str) -> list[dict]:
    with open_ledger(archive.root) as ledger:
        return [
            dict(r) for r in ledger.query("SELECT * FROM fixity_runs WHERE bag_id=?", (bag_id,))
        ]


def test_verify_bag_id_records_ledger_and_custody(cli, archive: Archive, bags: list[str]) -> None:
    r = cli("verify", bags[0])
    assert r.exit_code == 0, r.output
    assert f"valid    {bags[0]}" in r.stdout
    [row] = runs(archive, bags[0])
    assert row["result"] == "valid" and row["mode"] == "full" and row["files"] == 1
    entries = custody.read_entries(archive.custody_path(bags[0]))
    assert [e["action"] for e in entries] == ["bagging", "fixity check"]
    assert entries[-1]["outcome"] == "success" and entries[-1]["detail"]["files"] == 1
    chain = custody.verify_chain(
        archive.custody_path(bags[0]),
        signing.Keyring.load(archive),
        archive.bag_dir(bags[0]) / "tagmanifest-sha512.txt",
    )
    assert chain.ok, chain.problems


def test_swapped_bag_is_caught_by_the_inventory(
    cli, archive: Archive, bags: list[str], manifests: Path, tmp_path: Path
) -> None:
    # replace the bag wholesale by a self-consistent one, and drop its signature and log
    fake = tmp_path / "fake"
    (fake / "warc").mkdir(parents=True)
    write_warc(fake / "warc" / f"{bags[0]}-00000.warc.gz", {"http://127.0.0.1/x": b"lies"})
    bagit.make_bag(str(fake), bag_info={"Bag-Group-Identifier": COLLECTION}, checksums=["sha512"])
    shutil.rmtree(archive.bag_dir(bags[0]))
    shutil.move(fake, archive.bag_dir(bags[0]))
    archive.custody_path(bags[0]).unlink()
    assert (
        cli("verify", str(archive.bag_dir(bags[0])), "--inventory", "/nonexistent").exit_code == 2
    )
    r = cli("verify", bags[0], "--inventory", str(manifests / f"{COLLECTION}.json"))
    assert r.exit_code == 1, r.output
    assert "tagmanifest-sha512.txt" in r.stderr and "demo-coll.json" in r.stderr
    assert "replaced" in r.stderr
    # the default: where bagging wrote it (the bag's own file in manifests/demo-coll/)
    r = cli("verify", bags[0])
    assert r.exit_code == 1 and f"{COLLECTION}/{bags[0]}.json" in r.stderr


def test_edited_custody_entry(cli, archive: Archive, bags: list[str]) -> None:
    log = archive.custody_path(bags[0])
    custody.append(archive, bags[0], "watch", outcome="success")
    lines = log.read_bytes().splitlines(keepends=True)
    lines[0] = lines[0].replace(b'"outcome":"success"', b'"outcome":"failure"')
    log.write_bytes(b"".join(lines))
    r = cli("verify", bags[0])
    assert r.exit_code == 1, r.output
    assert f"{bags[0]}.custody.jsonl line" in r.stderr


def test_bad_signature(cli, archive: Archive, bags: list[str]) -> None:
    flip_bit(archive.bag_dir(bags[1]) / "tagmanifest-sha512.txt.sig", 5)
    r = cli("verify", bags[1])
    assert r.exit_code == 1, r.output
    assert "tagmanifest-sha512.txt.sig" in r.stderr


def test_all_records_every_bag_and_reports_damage(cli, archive: Archive, bags: list[str]) -> None:
    wa = archive.bag_dir(bags[1]) / "data" / "warc" / f"{bags[1]}-00000.warc.gz"
    flip_bit(wa, 100)
    r = cli("verify", "--all")
    assert r.exit_code == 1, r.output
    assert f"valid    {bags[0]}" in r.stdout and f"INVALID  {bags[1]}" in r.stdout
    assert f"data/warc/{bags[1]}-00000.warc.gz" in r.stderr
    assert runs(archive, bags[1])[0]["result"] == "invalid"
    failures = json.loads(runs(archive, bags[1])[0]["failures"])
    assert any("checksum does not match" in f for f in failures)
    last = custody.read_entries(archive.custody_path(bags[1]))[-1]
    assert last["action"] == "fixity check" and last["outcome"] == "failure"


def test_quiet_prints_nothing_on_success(cli, archive: Archive, bags: list[str]) -> None:
    r = cli("verify", "--all", "--quiet")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")


def test_due_with_budget_checks_only_what_is_due(
    cli, archive: Archive, bags: list[str], manifests: Path
) -> None:
    third = "demo-coll-20240103T000000Z-cccccc"
    make_archive_bag(archive, third, manifests, {"http://127.0.0.1/c": b"c" * 5000})
    # bags[0] was checked yesterday (good), bags[1] 40 days ago, the third never
    with open_ledger(archive.root) as ledger, ledger.transaction() as c:
        for bag_id, when in ((bags[0], "-1 day"), (bags[1], "-40 days")):
            c.execute(
                "INSERT INTO fixity_runs (bag_id, started, ended, mode, result, files, bytes,"
                " failures) VALUES (?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?),"
                " strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?), 'full', 'valid', 1, 1, '[]')",
                (bag_id, when, when),
            )
    one_bag = max(
        int(bagit.Bag(str(archive.bag_dir(b))).info["Payload-Oxum"].split(".")[0])
        for b in (bags[1], third)
    )
    r = cli("verify", "--due", "--interval", "30d", "--budget", f"{one_bag}B", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [b["bag"] for b in doc["bags"]] == [third]  # never-checked first
    assert doc["deferred"] == [bags[1]]
    r = cli("verify", "--due", "--budget", f"{one_bag}B")
    assert r.exit_code == 0, r.output
    assert bags[1] in r.stdout and third not in r.stdout
    r = cli("verify", "--due", "--budget", "1h")
    assert r.exit_code == 0 and "no bags are due" in r.stdout
    assert len(runs(archive, bags[0])) == 1  # the recently checked bag was never touched
    r = cli("verify", "--due", "--interval", "0s", "--budget", "1h", "--json")
    assert sorted(b["bag"] for b in json.loads(r.stdout)["bags"]) == sorted([*bags, third])


def test_second_cron_run_exits_0_when_locked(cli, archive: Archive, bags: list[str]) -> None:
    with exclusive_lock(archive.locks / "verify.lock") as got:
        assert got
        r = cli("verify", "--due")
        assert r.exit_code == 0, r.output
        assert "another strongroom verify" in r.stderr
        r = cli("verify", "--due", "--quiet")
        assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    assert runs(archive, bags[0]) == []
    assert cli("verify", "--due", "--quiet").exit_code == 0
    assert len(runs(archive, bags[0])) == 1


def test_history_shows_every_run(cli, archive: Archive, bags: list[str]) -> None:
    assert cli("verify", bags[0], "--fast").exit_code == 0
    (archive.bag_dir(bags[0]) / "data" / "planted.txt").write_text("x")
    assert cli("verify", bags[0]).exit_code == 1
    r = cli("history", bags[0])
    assert r.exit_code == 0, r.output
    assert "fast" in r.stdout and "full" in r.stdout
    assert "valid" in r.stdout and "invalid" in r.stdout and "planted.txt" in r.stdout
    doc = json.loads(cli("history", bags[0], "--json").stdout)
    assert [(x["mode"], x["result"]) for x in doc["runs"]] == [
        ("fast", "valid"),
        ("full", "invalid"),
    ]
    assert "no fixity checks recorded" in cli("history", bags[1]).stdout
    assert cli("history", "no-such-bag").exit_code == 2


def test_outside_bag_leaves_no_trace(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "loose"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    bagit.make_bag(str(folder))
    monkeypatch.setenv("STRONGROOM_ARCHIVE", str(tmp_path / "no-archive"))
    r = cli("verify", str(folder))
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "no-archive").exists()


def test_usage_errors(cli, archive: Archive, bags: list[str]) -> None:
    assert cli("verify").exit_code == 2
    assert cli("verify", bags[0], "--all").exit_code == 2
    assert cli("verify", bags[0], "--budget", "1h").exit_code == 2
    r = cli("verify", "--due", "--budget", "lots")
    assert r.exit_code == 2 and "not a budget" in r.stderr
    r = cli("verify", "--due", "--interval", "soon")
    assert r.exit_code == 2 and "not a duration" in r.stderr


def test_due_budget_never_starts_a_bag_that_cannot_finish(tmp_path: Path) -> None:
    """Issue #16: the estimate (size / measured throughput) decides before each bag."""
    from strongroom.verify.fixity import Budget, BudgetPlanner, Target

    planner = BudgetPlanner(Budget(seconds=10), workers=1)
    planner._ceiling = 1000.0  # bytes/s, as if measured: 10 s of budget = 10,000 bytes
    big, small = Target(tmp_path / "big", "big"), Target(tmp_path / "small", "small")
    assert planner.admit(big, 20_000, first=False) is None  # would overrun: left for later
    assert planner.admit(small, 5_000, first=False) == ""  # fits
    note = planner.admit(big, 20_000, first=True)
    assert note and "most overdue" in note and "estimated 20 s" in note


def test_due_budget_most_overdue_bag_runs_and_says_so(
    cli, archive: Archive, bags: list[str]
) -> None:
    r = cli("verify", "--due", "--budget", "10B", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert len(doc["bags"]) == 1  # the most overdue bag only
    assert "most overdue" in doc["notes"][0] and doc["bags"][0]["bag"] in doc["notes"][0]
    assert len(doc["deferred"]) == 1 and doc["deferred_bytes"] > 0
    r = cli("verify", "--due", "--interval", "0s", "--budget", "10B")
    assert "left for the next run" in r.stdout and "most overdue" in r.stdout


def test_a_fast_run_records_every_bag_in_one_batch(cli, archive: Archive, bags: list[str]) -> None:
    """verify --all --fast: one commit for the run, and every bag's check is in its
    history and its custody log (chained, signed, the ledger's head at its end)."""
    r = cli("verify", "--all", "--fast")
    assert r.exit_code == 0, r.output
    for bag_id in bags:
        assert [row["mode"] for row in runs(archive, bag_id)] == ["fast"]
        entries = custody.read_entries(archive.custody_path(bag_id))
        assert entries[-1]["action"] == "fixity check" and entries[-1]["sig"]
        with open_ledger(archive.root) as ledger:
            head = ledger.custody_head(bag_id)
        assert head is not None and head.seq == entries[-1]["seq"]
    r = cli("verify", "--all")  # the next night: the chain and the heads still agree
    assert r.exit_code == 0, r.output


def test_a_batch_lost_in_a_crash_leaves_log_lines_the_next_run_takes_up(
    archive: Archive, bags: list[str]
) -> None:
    """Killed after the custody lines were written but before the ledger's commit: the
    checks are not in the history, and the logs (longer than their heads) still verify."""
    from strongroom.verify.context import RunContext
    from strongroom.verify.fixity import Target, verify_one

    ctx = RunContext(archive, batch=True)
    for bag_id in bags:
        verify_one(archive, Target(archive.bag_dir(bag_id), bag_id), "fast", ctx=ctx)
    ctx.close()  # no flush: as if the process died here
    assert all(runs(archive, b) == [] for b in bags)
    for bag_id in bags:
        run = verify_one(archive, Target(archive.bag_dir(bag_id), bag_id), "full")
        assert run.result == "valid", run.problems
        actions = [e["action"] for e in custody.read_entries(archive.custody_path(bag_id))]
        assert actions[-2:] == ["fixity check", "fixity check"]
