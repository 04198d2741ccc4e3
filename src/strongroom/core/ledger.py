"""The archive's SQLite ledger: one database for every record that is not a bag.

It holds the payload-digest index used for WARC deduplication, the history of
every fixity check, every watch result, every known copy of every bag, and a
general event table. Each write is one transaction, so a crash never leaves a
row that looks complete but is not. WAL mode lets a nightly verify read while a
capture writes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from strongroom.errors import UsageError

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS payload_digests (
    digest        TEXT PRIMARY KEY,          -- 'sha256:<base32>' as in WARC-Payload-Digest
    target_uri    TEXT NOT NULL,
    warc_date     TEXT NOT NULL,
    record_id     TEXT NOT NULL,             -- '<urn:uuid:...>'
    capture_id    TEXT NOT NULL,
    warc_file     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS captures (
    capture_id    TEXT PRIMARY KEY,
    collection_id TEXT NOT NULL,
    started       TEXT NOT NULL,
    ended         TEXT,
    seeds         TEXT NOT NULL,             -- JSON list of seed URLs
    fetched       INTEGER NOT NULL DEFAULT 0,
    failed        INTEGER NOT NULL DEFAULT 0,
    deduplicated  INTEGER NOT NULL DEFAULT 0,
    bytes         INTEGER NOT NULL DEFAULT 0,
    status        TEXT NOT NULL              -- complete | interrupted
);
CREATE TABLE IF NOT EXISTS bags (
    bag_id        TEXT PRIMARY KEY,
    collection_id TEXT NOT NULL,
    capture_id    TEXT,
    created       TEXT NOT NULL,
    access        TEXT NOT NULL,
    seeds         TEXT NOT NULL,             -- JSON list of seed URLs
    is_version_of TEXT,
    origin        TEXT NOT NULL DEFAULT 'local'  -- local | received:<partner>
);
CREATE TABLE IF NOT EXISTS fixity_runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    bag_id        TEXT NOT NULL,
    started       TEXT NOT NULL,
    ended         TEXT NOT NULL,
    mode          TEXT NOT NULL,             -- fast | full | deep
    result        TEXT NOT NULL,             -- valid | invalid | error
    files         INTEGER NOT NULL,
    bytes         INTEGER NOT NULL,
    failures      TEXT NOT NULL              -- JSON list of problem strings
);
CREATE INDEX IF NOT EXISTS fixity_runs_bag ON fixity_runs (bag_id, started);
CREATE TABLE IF NOT EXISTS watch_results (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    url           TEXT NOT NULL,
    collection_id TEXT,
    bag_id        TEXT,
    status        TEXT NOT NULL,
    previous_status TEXT,
    http_status   INTEGER,
    final_url     TEXT,
    similarity    REAL,
    vantage       TEXT NOT NULL,
    evidence      TEXT NOT NULL,             -- JSON
    checked_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS watch_results_url ON watch_results (url, checked_at);
CREATE TABLE IF NOT EXISTS copies (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    bag_id        TEXT NOT NULL,
    partner       TEXT NOT NULL,
    location      TEXT NOT NULL,
    jurisdiction  TEXT NOT NULL,
    verified_at   TEXT NOT NULL,
    status        TEXT NOT NULL,             -- ok | damaged | missing
    UNIQUE (bag_id, partner)
);
CREATE TABLE IF NOT EXISTS events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    time          TEXT NOT NULL,
    bag_id        TEXT,
    event_type    TEXT NOT NULL,             -- PREMIS event type, e.g. 'fixity check'
    outcome       TEXT NOT NULL,
    actor         TEXT NOT NULL,
    detail        TEXT NOT NULL              -- JSON
);
CREATE INDEX IF NOT EXISTS events_bag ON events (bag_id, time);
"""


def utcnow() -> str:
    """Current UTC time as ISO 8601 with a Z suffix and second precision."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Ledger:
    """A connection to ``<archive>/ledger.sqlite``, created on first use."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise UsageError(f"cannot open ledger {self.path}: {exc}") from None
        self.conn.row_factory = sqlite3.Row
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            # The ledger is opened for every dedup lookup and event; create the
            # tables only when this file has not been set up at this version.
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                with self.conn:
                    self.conn.executescript(SCHEMA)
                    self.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"ledger {self.path} is not a usable SQLite database: {exc}") from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic transaction: all rows land, or none do."""
        with self.conn:
            yield self.conn

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return list(self.conn.execute(sql, params))

    # --- bags -------------------------------------------------------------
    def record_bag(
        self,
        bag_id: str,
        *,
        collection_id: str,
        capture_id: str | None,
        created: str,
        access: str,
        seeds: list[str],
        is_version_of: str | None = None,
        origin: str = "local",
    ) -> None:
        """Add (or refresh) a bag's row: made here (``local``) or ``received:<partner>``."""
        with self.transaction() as c:
            c.execute(
                "INSERT OR REPLACE INTO bags (bag_id, collection_id, capture_id, created, access,"
                " seeds, is_version_of, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    bag_id,
                    collection_id,
                    capture_id,
                    created,
                    access,
                    json.dumps(seeds),
                    is_version_of,
                    origin,
                ),
            )

    # --- generic events ---------------------------------------------------
    def record_event(
        self,
        event_type: str,
        outcome: str,
        *,
        bag_id: str | None = None,
        actor: str = "strongroom",
        detail: dict[str, Any] | None = None,
        time: str | None = None,
    ) -> int:
        """Add a row to the event table; return its id."""
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO events (time, bag_id, event_type, outcome, actor, detail)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    time or utcnow(),
                    bag_id,
                    event_type,
                    outcome,
                    actor,
                    json.dumps(detail or {}, sort_keys=True),
                ),
            )
            return int(cur.lastrowid or 0)

    def events(self, bag_id: str | None = None) -> list[dict[str, Any]]:
        rows = (
            self.query("SELECT * FROM events WHERE bag_id = ? ORDER BY id", (bag_id,))
            if bag_id
            else self.query("SELECT * FROM events ORDER BY id")
        )
        return [dict(r) | {"detail": json.loads(r["detail"])} for r in rows]


def open_ledger(archive_root: Path) -> Ledger:
    """Open the ledger of an archive rooted at ``archive_root``."""
    return Ledger(Path(archive_root) / "ledger.sqlite")
