"""The ledger: named queries, bounded summaries, schema versions, and a clear error."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from strongroom.core.ledger import SCHEMA_VERSION, Ledger
from strongroom.errors import UsageError

SRC = Path(__file__).resolve().parents[2] / "src" / "strongroom"


def test_no_module_but_the_ledger_writes_sql():
    # The ledger's own modules: its methods, its schema, and the engines behind it.
    ledger_room = {"ledger.py", "shared.py", "schema.py", "backends.py"}
    offenders = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if not (p.parent.name == "core" and (p.name in ledger_room or p.name.startswith("ledger_")))
        and any(s in p.read_text() for s in (".execute(", ".executemany(", ".query("))
    ]
    assert offenders == []


def test_a_newer_schema_is_refused_with_exit_2(tmp_path):
    path = tmp_path / "ledger.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(UsageError, match="newer than this strongroom") as exc:
        Ledger(path)
    assert exc.value.exit_code == 2


@pytest.mark.parametrize("truncated", [True, False])
def test_an_empty_ledger_is_refused(tmp_path, truncated):
    path = tmp_path / "ledger.sqlite"
    if truncated:
        path.write_bytes(b"")  # cut to 0 bytes
    else:
        conn = sqlite3.connect(path)  # a database that holds no tables
        conn.execute("CREATE TABLE x (a)")
        conn.execute("DROP TABLE x")
        conn.commit()
        conn.close()
    with pytest.raises(UsageError, match="history is lost") as exc:
        Ledger(path)
    assert exc.value.exit_code == 2


def test_a_garbage_ledger_is_a_usage_error(tmp_path):
    path = tmp_path / "ledger.sqlite"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(UsageError, match="not a usable SQLite database"):
        Ledger(path)


def _v1(path: Path) -> None:
    """A version-1 ledger with history, as strongroom wrote it before heads."""
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE fixity_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, bag_id TEXT NOT NULL,
            started TEXT NOT NULL, ended TEXT NOT NULL, mode TEXT NOT NULL, result TEXT NOT NULL,
            files INTEGER NOT NULL, bytes INTEGER NOT NULL, failures TEXT NOT NULL);
        CREATE TABLE watch_results (id INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT NOT NULL,
            collection_id TEXT, bag_id TEXT, status TEXT NOT NULL, previous_status TEXT,
            http_status INTEGER, final_url TEXT, similarity REAL, vantage TEXT NOT NULL,
            evidence TEXT NOT NULL, checked_at TEXT NOT NULL);
        INSERT INTO fixity_runs VALUES (1, 'b', '2024-01-01T00:00:00Z', 'e1', 'full', 'valid', 1,
            1, '[]');
        INSERT INTO fixity_runs VALUES (2, 'b', '2024-02-01T00:00:00Z', 'e2', 'fast', 'invalid',
            1, 1, '[]');
        INSERT INTO watch_results VALUES (1, 'u', NULL, NULL, 'ok', NULL, 200, 'u', 1, 'local',
            '{}', 't1');
        INSERT INTO watch_results VALUES (2, 'u', NULL, NULL, 'not-found', 'ok', 404, 'u', 0,
            'local', '{}', 't2');
        INSERT INTO watch_results VALUES (3, 'u', NULL, NULL, 'not-found', 'not-found', 404,
            'u', 0, 'local', '{}', 't3');
        PRAGMA user_version=1;
        """
    )
    conn.close()


def test_a_version_1_ledger_is_upgraded_with_its_summaries(tmp_path):
    path = tmp_path / "ledger.sqlite"
    _v1(path)
    with Ledger(path) as ledger:
        latest = ledger.latest_fixity()["b"]
        assert (latest.result, latest.ended, latest.runs) == ("invalid", "e2", 2)
        assert ledger.last_good_checks() == {"b": "2024-01-01T00:00:00Z"}
        w = ledger.watch_latest("u")["u"]
        assert (w.status, w.since, w.checked_at) == ("not-found", "t2", "t3")


def test_latest_rows_follow_every_insert(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as ledger:
        for i, status in enumerate(["ok", "ok", "gone", "gone", "ok"]):
            ledger.record_watch_result(
                "u",
                collection_id=None,
                bag_id=None,
                status=status,
                previous_status=None,
                http_status=200,
                final_url="u",
                similarity=None,
                vantage="local",
                evidence={},
                checked_at=f"t{i}",
            )
            if i == 3:
                w = ledger.watch_latest("u")["u"]
                assert (w.status, w.since) == ("gone", "t2")
        w = ledger.watch_latest("u")["u"]
        assert (w.status, w.since, w.checked_at) == ("ok", "t4", "t4")
        assert ledger.latest_watch_rows()["u"]["checked_at"] == "t4"
        assert [r["checked_at"] for r in ledger.status_changes({"gone"})] == ["t2", "t3"]
        for mode, result, started in [("full", "valid", "s1"), ("fast", "valid", "s2")]:
            ledger.record_fixity_run(
                "b",
                started=started,
                ended="e",
                mode=mode,
                result=result,
                files=1,
                nbytes=1,
                failures=[],
            )
        assert ledger.last_good_checks() == {"b": "s1"}  # a fast check hashes nothing
        assert [r["started"] for r in ledger.fixity_history("b", limit=1)] == ["s2"]


def test_events_are_read_bounded_by_type_and_limit(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as ledger:
        for i in range(10):
            ledger.record_event("export" if i % 2 else "watch", "success", detail={"i": i})
        got = ledger.events(types=["export"], limit=2)
        assert [e["detail"]["i"] for e in got] == [7, 9]


@pytest.mark.parametrize("command", [["status"], ["report"], ["history", "some-bag"]])
def test_commands_on_a_newer_or_empty_ledger_exit_2_with_a_message(cli, archive_dir, command):
    (archive_dir / "bags").mkdir(parents=True)
    path = archive_dir / "ledger.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    r = cli(*command)
    assert r.exit_code == 2 and "newer than this strongroom" in r.stderr, r.output
    path.write_bytes(b"")
    r = cli(*command)
    assert r.exit_code == 2 and "history is lost" in r.stderr, r.output
    assert "Traceback" not in r.output
