"""`strongroom ledger` from the CLI: copy to PostgreSQL, migrate, and an unreachable ledger."""

from __future__ import annotations

import json

import pytest
from sharekit import make_archive, make_bag

from strongroom.core.backends import LedgerLocation
from strongroom.core.ledger import Ledger
from strongroom.core.shared import TABLES


def rows(led: Ledger) -> dict[str, list[tuple]]:
    return {t: led.table_rows(t)[1] for t in TABLES}


@pytest.mark.slow
def test_copy_a_real_sqlite_ledger_to_postgresql_and_verify_agrees(cli, tmp_path, pg_url):
    archive = make_archive(tmp_path / "a")
    for i in range(3):
        make_bag(archive, f"demo-20240501T10150{i}Z-aaaaaa")
    before = cli("verify", "--all", "--json", "--archive", archive.root)
    assert before.exit_code in (0, 1), before.output
    sqlite_file = archive.ledger_path.read_bytes()

    r = cli("ledger", "copy", "--to", pg_url, "--json", "--archive", archive.root)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["ok"] and doc["custody_heads_equal"]
    assert doc["tables"]["fixity_runs"] == {"source": 3, "target": 3}
    assert archive.ledger_path.read_bytes() == sqlite_file, "the SQLite ledger is untouched"
    with (
        Ledger(archive.ledger_path) as src,
        Ledger(LedgerLocation("postgresql", url=pg_url)) as dst,
    ):
        assert rows(src) == rows(dst)

    # The archive now uses PostgreSQL, and verify says what it said before.
    with open(archive.root / "config.toml", "a") as fh:
        fh.write(f'[ledger]\nurl = "{pg_url}"\n')
    after = cli("verify", "--all", "--json", "--archive", archive.root)
    assert after.exit_code == before.exit_code, after.output
    assert [(b["bag"], b["result"]) for b in json.loads(after.stdout)["bags"]] == [
        (b["bag"], b["result"]) for b in json.loads(before.stdout)["bags"]
    ]
    history = cli("history", "demo-20240501T101500Z-aaaaaa", "--json", "--archive", archive.root)
    assert len(json.loads(history.stdout)["runs"]) == 2  # the copied run and the new one

    # A second copy into the now non-empty database is refused.
    again = cli("ledger", "copy", "--to", pg_url, "--archive", archive.root)
    assert again.exit_code == 2
    assert "only into an empty ledger" in again.output


def test_migrate_names_what_it_did(cli, tmp_path, pg_url):
    archive = make_archive(tmp_path / "a", extra_config=f'[ledger]\nurl = "{pg_url}"\n')
    r = cli("status", "--archive", archive.root)
    assert r.exit_code == 2 and "strongroom ledger migrate" in r.output
    r = cli("ledger", "migrate", "--json", "--archive", archive.root)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["from"] == 0
    r = cli("ledger", "migrate", "--archive", archive.root)
    assert r.exit_code == 0 and "nothing to do" in r.output


def test_an_unreachable_ledger_stops_every_command_before_any_work(cli, tmp_path, monkeypatch):
    from strongroom.demosite import free_port

    archive = make_archive(tmp_path / "a")
    monkeypatch.setenv("STRONGROOM_LEDGER", f"postgresql://strongroom@127.0.0.1:{free_port()}/x")
    for args in (("capture", "http://127.0.0.1:9/x"), ("status",), ("ledger", "nodes")):
        r = cli(*args, "--archive", archive.root)
        assert r.exit_code == 2, (args, r.output)
        assert "cannot reach the ledger" in r.output
        assert "Traceback" not in r.output
    assert list((archive.root / "captures").iterdir()) == [], "no capture was started"


def test_a_password_in_the_ledger_url_is_refused_and_never_printed(cli, tmp_path):
    archive = make_archive(
        tmp_path / "a", extra_config='[ledger]\nurl = "postgresql://u:hunter2@127.0.0.1/db"\n'
    )
    r = cli("status", "--archive", archive.root)
    assert r.exit_code == 2
    assert ".pgpass" in r.output and "hunter2" not in r.output
