"""The archive's ledger (SQLite, or a shared PostgreSQL): every record that is not a bag.

It holds the payload-digest index used for WARC deduplication, the history of
every fixity check, every watch result, every known copy of every bag, and a
general event table. Each write is one transaction, so a crash never leaves a
row that looks complete but is not. WAL mode lets a nightly verify read while a
capture writes.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strongroom.core.backends import (
    LedgerLocation,
    PgConnection,
    database_errors,
    is_operational,
    locate,
    open_sqlite_read_only,
    redact,
    write_problem,
)
from strongroom.core.fsutil import file_system_reason, os_problem, read_only_fs
from strongroom.core.ledger_facts import BagFactsQueries
from strongroom.core.ledger_fixity import FixityRecords
from strongroom.core.ledger_intents import IntentRecords
from strongroom.core.ledger_watch import WatchRecords
from strongroom.core.schema import SCHEMA_VERSION, upgrade
from strongroom.core.shared import SharedRounds
from strongroom.errors import UsageError

if TYPE_CHECKING:  # the rows are imported where they are made (see core/rows.py)
    from strongroom.core.rows import CustodyHead, FixityLatest, PayloadRow

__all__ = ["SCHEMA_VERSION", "Ledger", "ledger_location", "open_ledger", "utcnow"]


_NOW: list[Any] = [None, ""]  # the second last formatted, and its text


def utcnow() -> str:
    """Current UTC time as ISO 8601 with a Z suffix and second precision.

    Formatted once per second: a verify run asks three times per bag.
    """
    now = int(time.time())
    if now != _NOW[0]:
        _NOW[:] = [now, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))]
    return str(_NOW[1])


class Ledger(WatchRecords, BagFactsQueries, SharedRounds, FixityRecords, IntentRecords):
    """A connection to ``<archive>/ledger.sqlite``, created on first use.

    Every statement the project runs against the ledger is a named method
    here; other modules never write SQL.
    """

    def __init__(self, where: Path | LedgerLocation, *, migrate: bool = False) -> None:
        loc = where if isinstance(where, LedgerLocation) else LedgerLocation("sqlite", Path(where))
        self.location = loc
        self.dialect = loc.dialect
        self.migrated_from: int | None = None  # the version this open upgraded, if it did
        self._batched = False  # between begin_batch and commit_batch
        self.path: Path = loc.path if loc.path is not None else Path(redact(loc.url))
        self.conn: Any
        if loc.dialect == "postgresql":
            self.conn = PgConnection.get(loc.url)
            try:
                self._setup_postgres(migrate)
            except BaseException:
                self.conn.close()
                raise
            return
        self._open_sqlite()

    def _open_sqlite(self) -> None:
        existed = self.path.exists()
        try:
            if existed and self.path.stat().st_size == 0:
                raise UsageError(
                    f"ledger {self.path} is empty (0 bytes): the archive's history is lost;"
                    " restore it from a backup, or move it aside to start a new ledger"
                )
            if existed and read_only_fs(self.path.parent):
                self._open_read_only()
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        except OSError as exc:
            raise os_problem(f"cannot open ledger {self.path}", exc) from None
        except sqlite3.Error as exc:
            hint = file_system_reason(self.path.parent) or exc
            raise UsageError(f"cannot open ledger {self.path}: {hint}") from None
        self.conn.row_factory = sqlite3.Row
        try:
            self._setup(existed)
        except sqlite3.DatabaseError as exc:
            self._abandon(existed)
            if isinstance(exc, sqlite3.OperationalError):
                raise write_problem(self.path, exc) from None
            raise UsageError(f"ledger {self.path} is not a usable SQLite database: {exc}") from None
        except UsageError:
            self._abandon(existed)
            raise

    def _open_read_only(self) -> None:
        """Open a ledger on a read-only file system (see ``open_sqlite_read_only``)."""
        self.conn, version = open_sqlite_read_only(self.path)
        self.conn.row_factory = sqlite3.Row
        self._refuse_newer(version)
        if version != SCHEMA_VERSION:
            self.conn.close()
            raise UsageError(
                f"ledger {self.path} has schema version {version}, older than this"
                f" strongroom reads ({SCHEMA_VERSION}), and its file system is read-only:"
                " copy the archive to a writable place, or remount it read-write, and run"
                " strongroom ledger migrate there"
            )

    def _abandon(self, existed: bool) -> None:
        """Close after a failed set-up; a ledger this open created (on a full disk, say)
        holds nothing yet, so it goes, and the next run starts it again."""
        self.conn.close()
        if not existed:
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(OSError):
                    Path(f"{self.path}{suffix}").unlink()

    def _setup(self, existed: bool) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        self._refuse_newer(version)
        if existed and version == 0:
            tables = self.conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
            if tables == 0:
                raise UsageError(
                    f"ledger {self.path} holds no tables: the archive's history is lost;"
                    " restore it from a backup, or move it aside to start a new ledger"
                )
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        # The embedded ledger belongs to one machine and one program, so it is
        # brought to this version on open (``ledger migrate`` does the same).
        # The ledger is opened for every dedup lookup and event: only then.
        if version != SCHEMA_VERSION:
            self.migrated_from = version if existed else None
            self._upgrade_sqlite(version)

    def _upgrade_sqlite(self, before: int) -> None:
        """Bring the SQLite file to this version in one transaction (all steps or none)."""
        columns = {
            table: {str(r[1]) for r in self.conn.execute(f"PRAGMA table_info({table})")}
            for table in ("bags", "fixity_latest", "watch_latest")
        }
        with self.conn:
            self.conn.executescript("BEGIN;" + upgrade("sqlite", before, columns))
            self.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _refuse_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise UsageError(
                f"ledger {self.path} has schema version {version}, newer than this strongroom"
                f" knows ({SCHEMA_VERSION}); upgrade strongroom before using this archive"
            )

    def schema_version(self) -> int:
        """The schema version the ledger is at (0 for a new, empty PostgreSQL database)."""
        if self.dialect == "sqlite":
            return int(self.conn.execute("PRAGMA user_version").fetchone()[0])
        row = self.conn.execute(
            "SELECT value FROM strongroom_meta WHERE key = 'schema_version'"
        ).fetchone()
        return int(row[0]) if row else 0

    def _setup_postgres(self, migrate: bool) -> None:
        """Check the shared ledger's version; only ``migrate`` may change its schema.

        Several nodes share this database, so one node's upgrade must never
        change the schema under the others: that is ``strongroom ledger migrate``.
        """
        try:
            if not self.conn.meta_ready:  # once per connection; the version, at every open
                with self.conn:
                    self.conn.executescript(
                        "CREATE TABLE IF NOT EXISTS strongroom_meta"
                        " (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
                    )
                self.conn.meta_ready = True
            version = self.schema_version()
            self.conn.commit()
        except database_errors() as exc:
            raise UsageError(f"cannot read the ledger at {self.path}: {exc}") from None
        self._refuse_newer(version)
        if version == SCHEMA_VERSION:
            return
        if not migrate:
            raise UsageError(
                f"the ledger at {self.path} is at schema version {version}; this strongroom"
                f" needs {SCHEMA_VERSION}: run `strongroom ledger migrate` once (from one node)"
            )
        self.migrated_from = version
        self.migrate()

    def migrate(self) -> tuple[int, int]:
        """Bring the schema to this program's version; return (from, to)."""
        before = self.schema_version()
        self._refuse_newer(before)
        if before == SCHEMA_VERSION:
            return before, before
        if self.dialect == "sqlite":
            self._upgrade_sqlite(before)
            return before, SCHEMA_VERSION
        with self.conn:
            self.conn.executescript(upgrade("postgresql", before, {}))
            self.conn.execute(
                "INSERT INTO strongroom_meta (key, value) VALUES ('schema_version', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(SCHEMA_VERSION),),
            )
        return before, SCHEMA_VERSION

    def close(self) -> None:
        if self.dialect == "postgresql":
            self.conn.release()
        else:
            self.conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """One atomic transaction: all rows land, or none do.

        A full disk or a read-only ledger becomes a UsageError (exit 2).
        """
        try:
            if self._batched:
                yield self.conn  # committed with the rest of the batch (``commit_batch``)
            else:
                with self.conn:
                    yield self.conn
        except database_errors() as exc:
            if not is_operational(exc):
                raise
            raise write_problem(self.path, exc) from None

    def begin_batch(self) -> None:
        """Until ``commit_batch``, writes share one commit (one fsync) instead of one each.

        For many small writes in a row (``verify --all --fast`` records every bag).
        The ledger's write lock is held from the first write to the commit, so a
        batch must stay short; closing the ledger without committing drops it.
        """
        self._batched = True

    def commit_batch(self) -> None:
        """Commit the writes since ``begin_batch``: all of them land, or none."""
        if not self._batched:
            return
        self._batched = False
        try:
            self.conn.commit()
        except database_errors() as exc:
            with contextlib.suppress(*database_errors()):
                self.conn.rollback()
            if not is_operational(exc):
                raise
            raise write_problem(self.path, exc) from None

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Internal: run one read. Outside this module, use the named methods."""
        try:
            rows = list(self.conn.execute(sql, params))
            if self.dialect == "postgresql" and not self._batched:
                self.conn.commit()  # a read must not leave a transaction open on the server
            return rows
        except database_errors() as exc:
            if not is_operational(exc):
                raise
            raise UsageError(f"cannot read ledger {self.path}: {exc}") from None

    # --- payload digests (WARC deduplication) ------------------------------
    def prior_payload(self, digest: str) -> tuple[str, str, str] | None:
        """(record id, target URI, WARC date) of the first record with this payload."""
        rows = self.query(
            "SELECT record_id, target_uri, warc_date FROM payload_digests WHERE digest = ?",
            (digest,),
        )
        return (rows[0]["record_id"], rows[0]["target_uri"], rows[0]["warc_date"]) if rows else None

    def index_payloads(self, rows: Iterable[PayloadRow]) -> None:
        """Add (digest, target URI, WARC date, record id, capture id, WARC file) rows;
        the first record of a payload stays the one revisits point to."""
        with self.transaction() as c:
            c.executemany(
                "INSERT INTO payload_digests"
                " (digest, target_uri, warc_date, record_id, capture_id, warc_file)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING",
                list(rows),
            )

    def payload_locations(self, digest: str) -> list[tuple[str, str]]:
        """(capture id, WARC file name) of the records holding a payload."""
        rows = self.query(
            "SELECT capture_id, warc_file FROM payload_digests WHERE digest = ?", (digest,)
        )
        return [(r["capture_id"], r["warc_file"]) for r in rows]

    # --- captures ---------------------------------------------------------
    def record_capture(
        self,
        capture_id: str,
        *,
        collection_id: str,
        started: str,
        ended: str | None,
        seeds: list[str],
        stats: dict[str, int],
        status: str,
    ) -> None:
        """The row of one finished (``complete``) or ``interrupted`` capture."""
        with self.transaction() as c:
            c.execute(
                "INSERT INTO captures (capture_id, collection_id, started, ended, seeds,"
                " fetched, failed, deduplicated, bytes, status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    capture_id,
                    collection_id,
                    started,
                    ended,
                    json.dumps(seeds),
                    int(stats.get("fetched", 0)),
                    int(stats.get("failed", 0)),
                    int(stats.get("deduplicated", 0)),
                    int(stats.get("bytes", 0)),
                    status,
                ),
            )

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
        designations: list[str] | None = None,
    ) -> None:
        """Add (or refresh) a bag's row: made here (``local``) or ``received:<partner>``.

        ``designations``: the labels frozen in its bag-info (None: not known here).
        """
        labels = None if designations is None else json.dumps(designations)
        with self.transaction() as c:
            c.execute(
                "INSERT INTO bags (bag_id, collection_id, capture_id, created, access,"
                " seeds, is_version_of, origin, designations) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (bag_id) DO UPDATE SET collection_id = excluded.collection_id,"
                " capture_id = excluded.capture_id, created = excluded.created,"
                " access = excluded.access, seeds = excluded.seeds,"
                " is_version_of = excluded.is_version_of, origin = excluded.origin,"
                " designations = excluded.designations",
                (bag_id, collection_id, capture_id, created, access, json.dumps(seeds),
                 is_version_of, origin, labels),
            )  # fmt: skip

    def set_access(self, bag_id: str, level: str) -> None:
        """Record a bag's new access level (its custody log holds the why)."""
        with self.transaction() as c:
            c.execute("UPDATE bags SET access = ? WHERE bag_id = ?", (level, bag_id))

    def bags(self) -> dict[str, dict[str, Any]]:
        """bag id -> its row (seeds and designations decoded), for every bag the ledger
        knows (designations None: recorded before the ledger kept them)."""
        return {r["bag_id"]: _bag_row(r) for r in self.query("SELECT * FROM bags")}

    def bag(self, bag_id: str) -> dict[str, Any] | None:
        """One bag's row (as ``bags`` gives it), or None when the ledger does not know it."""
        rows = self.query("SELECT * FROM bags WHERE bag_id = ?", (bag_id,))
        return _bag_row(rows[0]) if rows else None

    def capture_ends(self) -> dict[str, str]:
        """capture id -> when it ended, for every recorded capture (one row each)."""
        rows = self.query("SELECT capture_id, ended FROM captures WHERE ended IS NOT NULL")
        return {r[0]: r[1] for r in rows}

    def bag_ids(self) -> set[str]:
        """Every bag id the ledger knows."""
        return {r[0] for r in self.query("SELECT bag_id FROM bags")}

    # --- fixity -----------------------------------------------------------
    def record_fixity_run(
        self,
        bag_id: str,
        *,
        started: str,
        ended: str,
        mode: str,
        result: str,
        files: int,
        nbytes: int,
        failures: list[str],
    ) -> int:
        """One ``fixity_runs`` row (``mode`` fast|full|deep, ``result`` valid|invalid|error)."""
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO fixity_runs (bag_id, started, ended, mode, result, files, bytes,"
                " failures) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (bag_id, started, ended, mode, result, files, nbytes, json.dumps(failures)),
            )
            return int(cur.fetchone()[0])

    def last_good_checks(self) -> dict[str, str]:
        """bag id -> start of its latest valid full or deep check (one row per bag)."""
        rows = self.query("SELECT bag_id, last_good FROM fixity_latest WHERE last_good IS NOT NULL")
        return {r["bag_id"]: r["last_good"] for r in rows}

    def latest_fixity(self) -> dict[str, FixityLatest]:
        """bag id -> its latest fixity run, for every bag ever checked (one row per bag)."""
        from strongroom.core.rows import FixityLatest

        rows = self.query("SELECT bag_id, result, ended, last_good, runs FROM fixity_latest")
        return {
            r["bag_id"]: FixityLatest(r["result"], r["ended"], r["last_good"], r["runs"])
            for r in rows
        }

    def last_fixity(self, bag_id: str) -> tuple[str | None, str | None]:
        """(result, ended) of a bag's latest fixity run, or (None, None)."""
        rows = self.query("SELECT result, ended FROM fixity_latest WHERE bag_id = ?", (bag_id,))
        return (rows[0]["result"], rows[0]["ended"]) if rows else (None, None)

    def fixity_history(self, bag_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        """A bag's fixity runs, oldest first (the latest ``limit`` when given)."""
        sql = "SELECT * FROM fixity_runs WHERE bag_id = ? ORDER BY id DESC"
        params: tuple[Any, ...] = (bag_id,)
        if limit is not None:
            sql += " LIMIT ?"
            params += (int(limit),)
        rows = self.query(sql, params)
        rows.reverse()
        return [dict(r) | {"failures": _json_list(r["failures"])} for r in rows]

    def recent_fixity(self, bag_id: str, limit: int) -> list[dict[str, Any]]:
        """A bag's latest ``limit`` runs, oldest first, without their failure lists."""
        rows = self.query(
            "SELECT started, ended, mode, result, files, bytes FROM fixity_runs"
            " WHERE bag_id = ? ORDER BY id DESC LIMIT ?",
            (bag_id, int(limit)),
        )
        return [dict(r) for r in reversed(rows)]

    # --- copies at partners -----------------------------------------------
    def record_copy(
        self,
        bag_id: str,
        *,
        partner: str,
        location: str,
        jurisdiction: str,
        status: str,
        verified_at: str | None = None,
    ) -> None:
        """Insert or update the row for the copy of ``bag_id`` at ``partner``."""
        with self.transaction() as c:
            c.execute(
                "INSERT INTO copies (bag_id, partner, location, jurisdiction, verified_at, status)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (bag_id, partner) DO UPDATE SET"
                " location = excluded.location, jurisdiction = excluded.jurisdiction,"
                " verified_at = excluded.verified_at, status = excluded.status",
                (bag_id, partner, location, jurisdiction, verified_at or utcnow(), status),
            )

    def copies(self, bag_id: str | None = None) -> list[dict[str, Any]]:
        """Rows of copies at partners (of one bag, or all), by bag and partner."""
        if bag_id is None:
            rows = self.query("SELECT * FROM copies ORDER BY bag_id, partner")
        else:
            rows = self.query("SELECT * FROM copies WHERE bag_id = ? ORDER BY partner", (bag_id,))
        return [dict(r) for r in rows]

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
        """Add a row to the event table; return its id.

        Use ``custody.record_event`` for an event about a bag, so that its
        custody log and the ledger always say the same thing.
        """
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO events (time, bag_id, event_type, outcome, actor, detail)"
                " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    time or utcnow(),
                    bag_id,
                    event_type,
                    outcome,
                    actor,
                    json.dumps(detail or {}, sort_keys=True, default=str),
                ),
            )
            return int(cur.fetchone()[0])

    def bag_created(self, bag_id: str) -> str | None:
        """When a bag was made (or received), as recorded; None for an unknown bag."""
        rows = self.query("SELECT created FROM bags WHERE bag_id = ?", (bag_id,))
        return str(rows[0]["created"]) if rows else None

    def creation_details(self) -> dict[str, dict[str, Any]]:
        """bag id -> the detail of its latest ``creation`` event (one row per bag)."""
        rows = self.query(
            "SELECT bag_id, detail FROM events WHERE id IN (SELECT MAX(id) FROM events"
            " WHERE event_type = 'creation' AND bag_id IS NOT NULL GROUP BY bag_id)"
        )
        found = {r["bag_id"]: json.loads(r["detail"]) for r in rows}
        return {b: d for b, d in found.items() if isinstance(d, dict)}

    def latest_timestamps(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """bag id -> (outcome, detail) of its latest ``timestamp`` event (one query)."""
        rows = self.query(
            "SELECT bag_id, outcome, detail FROM events WHERE id IN (SELECT MAX(id) FROM events"
            " WHERE event_type = 'timestamp' AND bag_id IS NOT NULL GROUP BY bag_id)"
        )
        return {r["bag_id"]: (r["outcome"], json.loads(r["detail"])) for r in rows}

    def pending_timestamps(self) -> list[str]:
        """Bags whose latest ``timestamp`` event is ``pending`` (no TSA answered yet)."""
        return sorted(b for b, (o, _d) in self.latest_timestamps().items() if o == "pending")

    def events(
        self,
        bag_id: str | None = None,
        *,
        types: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Events oldest first: of one bag and/or some types; the latest ``limit``."""
        where: list[str] = []
        params: list[Any] = []
        if bag_id:
            where.append("bag_id = ?")
            params.append(bag_id)
        if types is not None:
            wanted = sorted(set(types))
            where.append("event_type IN (" + ",".join("?" * len(wanted)) + ")")
            params += wanted
        sql = "SELECT * FROM events" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY id DESC" + (" LIMIT ?" if limit is not None else "")
        if limit is not None:
            params.append(int(limit))
        rows = self.query(sql, tuple(params))
        rows.reverse()
        return [dict(r) | {"detail": json.loads(r["detail"])} for r in rows]

    def count_events(self) -> int:
        return int(self.query("SELECT COUNT(*) FROM events")[0][0])

    # --- custody heads ----------------------------------------------------
    def custody_head(self, bag_id: str) -> CustodyHead | None:
        """The anchored head of a bag's custody log, or None if none was recorded."""
        from strongroom.core.rows import CustodyHead

        rows = self.query(
            'SELECT bag_id, seq, hash, start, "end", verified_seq, verified_hash,'
            " verified_start, verified_end FROM custody_heads WHERE bag_id = ?",
            (bag_id,),
        )
        return CustodyHead(*tuple(rows[0])) if rows else None

    def custody_heads(self) -> dict[str, CustodyHead]:
        """Every anchored head, by bag id (one query; ``verify`` reads them once a run)."""
        from strongroom.core.rows import CustodyHead

        rows = self.query(
            'SELECT bag_id, seq, hash, start, "end", verified_seq, verified_hash,'
            " verified_start, verified_end FROM custody_heads"
        )
        return {r[0]: CustodyHead(*tuple(r)) for r in rows}

    def custody_head_ids(self) -> set[str]:
        """Every bag whose custody log has an anchored head."""
        return {r[0] for r in self.query("SELECT bag_id FROM custody_heads")}

    def set_custody_head(self, bag_id: str, *, seq: int, hash: str, start: int, end: int) -> None:
        """Anchor the log's new last entry (the verified mark stays where it was)."""
        with self.transaction() as c:
            c.execute(
                'INSERT INTO custody_heads (bag_id, seq, hash, start, "end", updated)'
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (bag_id) DO UPDATE SET"
                " seq = excluded.seq, hash = excluded.hash, start = excluded.start,"
                ' "end" = excluded."end", updated = excluded.updated',
                (bag_id, seq, hash, start, end, utcnow()),
            )

    def mark_custody_verified(
        self, bag_id: str, *, seq: int, hash: str, start: int, end: int
    ) -> None:
        """Remember the last entry whose signature a verify checked."""
        with self.transaction() as c:
            c.execute(
                "UPDATE custody_heads SET verified_seq = ?, verified_hash = ?,"
                " verified_start = ?, verified_end = ? WHERE bag_id = ?",
                (seq, hash, start, end, bag_id),
            )


def _bag_row(r: Any) -> dict[str, Any]:
    labels = r["designations"]
    return dict(r) | {
        "seeds": _json_list(r["seeds"]),
        "designations": None if labels is None else _json_list(labels),
    }


def _json_list(text: str | None) -> list[Any]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def ledger_location(archive_root: Path) -> LedgerLocation:
    """Where the archive's ledger is: ``STRONGROOM_LEDGER``, ``[ledger] url``, or SQLite.

    Only ``[ledger] url`` is read here, with tomllib, so that the ledger stays
    below the archive in the import graph (the archive's full, checked reading
    of ``config.toml`` is ``core.archive.load_config``, which every command runs).
    """
    path = Path(archive_root) / "config.toml"
    url = ""
    if path.is_file() and not path.is_symlink():
        import tomllib  # only when there is a file to read: a capture's start-up

        try:
            table = tomllib.loads(path.read_text("utf-8")).get("ledger", {})
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"{path}: cannot be read as TOML ({exc})") from None
        value = table.get("url", "") if isinstance(table, dict) else ""
        if not isinstance(value, str):
            raise UsageError(f"{path}: [ledger] url must be a string")
        url = value
    return locate(Path(archive_root), url)


def open_ledger(archive_root: Path, *, migrate: bool = False) -> Ledger:
    """Open the ledger of an archive rooted at ``archive_root`` (SQLite or PostgreSQL)."""
    return Ledger(ledger_location(archive_root), migrate=migrate)
