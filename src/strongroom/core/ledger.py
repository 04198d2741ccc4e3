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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from strongroom.core.ledger_schema import MIGRATE_1_2, MIGRATE_2_3, SCHEMA, SCHEMA_VERSION
from strongroom.errors import UsageError

__all__ = ["SCHEMA_VERSION", "CustodyHead", "FixityLatest", "Ledger", "WatchLatest", "open_ledger"]


def utcnow() -> str:
    """Current UTC time as ISO 8601 with a Z suffix and second precision."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class CustodyHead:
    """Where a custody log ended (and was last verified), as the ledger remembers it."""

    bag_id: str
    seq: int
    hash: str
    start: int
    end: int
    verified_seq: int = 0
    verified_hash: str | None = None
    verified_start: int = 0
    verified_end: int = 0


@dataclass(frozen=True)
class FixityLatest:
    """The latest fixity run of a bag, and the start of its latest good full/deep check."""

    result: str
    ended: str
    last_good: str | None
    runs: int


@dataclass(frozen=True)
class WatchLatest:
    """A URL's latest watch status, since when it holds, and when it was last checked."""

    url: str
    result_id: int
    status: str
    since: str
    checked_at: str


PayloadRow = tuple[str, str, str, str, str, str]  # digest, uri, date, record id, capture, warc


def _sqlite_problem(path: Path, exc: sqlite3.Error) -> UsageError:
    """A person's message for a failed ledger write: full disk, read-only, locked."""
    text = str(exc)
    if "full" in text:
        hint = "the disk is full; free space and run the command again"
    elif "readonly" in text or "read-only" in text:
        hint = "the ledger cannot be written (read-only file or file system)"
    elif "locked" in text:
        hint = "another strongroom process holds the ledger; try again"
    else:
        hint = text
    return UsageError(f"cannot write ledger {path}: {hint}")


@dataclass(frozen=True)
class WatchRow:
    """One watch result as the ledger stores it (see ``watch_results``)."""

    url: str
    collection_id: str
    bag_id: str | None
    status: str
    previous_status: str | None
    http_status: int | None
    final_url: str | None
    similarity: float | None
    vantage: str
    evidence: dict[str, Any]
    checked_at: str
    actor: str
    detail: dict[str, Any]


class Ledger:
    """A connection to ``<archive>/ledger.sqlite``, created on first use.

    Every statement the project runs against the ledger is a named method
    here; other modules never write SQL.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        existed = self.path.exists()
        try:
            if existed and self.path.stat().st_size == 0:
                raise UsageError(
                    f"ledger {self.path} is empty (0 bytes): the archive's history is lost;"
                    " restore it from a backup, or move it aside to start a new ledger"
                )
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        except OSError as exc:
            raise UsageError(f"cannot open ledger {self.path}: {exc.strerror or exc}") from None
        except sqlite3.Error as exc:
            raise UsageError(f"cannot open ledger {self.path}: {exc}") from None
        self.conn.row_factory = sqlite3.Row
        try:
            self._setup(existed)
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            if isinstance(exc, sqlite3.OperationalError):
                raise _sqlite_problem(self.path, exc) from None
            raise UsageError(f"ledger {self.path} is not a usable SQLite database: {exc}") from None
        except UsageError:
            self.conn.close()
            raise

    def _setup(self, existed: bool) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise UsageError(
                f"ledger {self.path} has schema version {version}, newer than this strongroom"
                f" knows ({SCHEMA_VERSION}); upgrade strongroom before using this archive"
            )
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
        # The ledger is opened for every dedup lookup and event; create the
        # tables only when this file has not been set up at this version.
        if version != SCHEMA_VERSION:
            with self.conn:
                script = SCHEMA + (MIGRATE_1_2 if version == 1 else "")
                columns = {r[1] for r in self.conn.execute("PRAGMA table_info(bags)")}
                script += MIGRATE_2_3 if columns and "designations" not in columns else ""
                self.conn.executescript("BEGIN;" + script)
                self.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic transaction: all rows land, or none do.

        A full disk or a read-only ledger becomes a UsageError (exit 2).
        """
        try:
            with self.conn:
                yield self.conn
        except sqlite3.OperationalError as exc:
            raise _sqlite_problem(self.path, exc) from None

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        """Internal: run one read. Outside this module, use the named methods."""
        try:
            return list(self.conn.execute(sql, params))
        except sqlite3.OperationalError as exc:
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
                "INSERT OR IGNORE INTO payload_digests"
                " (digest, target_uri, warc_date, record_id, capture_id, warc_file)"
                " VALUES (?, ?, ?, ?, ?, ?)",
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

        ``designations`` are the labels frozen in its bag-info (None: unknown).
        """
        with self.transaction() as c:
            c.execute(
                "INSERT OR REPLACE INTO bags (bag_id, collection_id, capture_id, created, access,"
                " seeds, is_version_of, origin, designations) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    bag_id,
                    collection_id,
                    capture_id,
                    created,
                    access,
                    json.dumps(seeds),
                    is_version_of,
                    origin,
                    None if designations is None else json.dumps(designations),
                ),
            )

    def set_access(self, bag_id: str, level: str) -> None:
        """Record a bag's new access level (its custody log holds the why)."""
        with self.transaction() as c:
            c.execute("UPDATE bags SET access = ? WHERE bag_id = ?", (level, bag_id))

    def bags(self) -> dict[str, dict[str, Any]]:
        """bag id -> its row (seeds decoded), for every bag the ledger knows."""
        rows = self.query("SELECT * FROM bags")
        return {
            r["bag_id"]: dict(r)
            | {
                "seeds": _json_list(r["seeds"]),
                "designations": None
                if r["designations"] is None
                else _json_list(r["designations"]),
            }
            for r in rows
        }

    def capture_ends(self) -> dict[str, str]:
        """capture id -> when it ended, for every recorded capture."""
        rows = self.query("SELECT capture_id, ended FROM captures WHERE ended IS NOT NULL")
        return {r[0]: r[1] for r in rows}

    def bag_collection(self, bag_id: str) -> str | None:
        """The collection the ledger recorded for a bag, or None if it does not know it."""
        rows = self.query("SELECT collection_id FROM bags WHERE bag_id = ?", (bag_id,))
        return str(rows[0][0]) if rows else None

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
                " failures) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (bag_id, started, ended, mode, result, files, nbytes, json.dumps(failures)),
            )
            return int(cur.lastrowid or 0)

    def last_good_checks(self) -> dict[str, str]:
        """bag id -> start of its latest valid full or deep check (one row per bag)."""
        rows = self.query("SELECT bag_id, last_good FROM fixity_latest WHERE last_good IS NOT NULL")
        return {r["bag_id"]: r["last_good"] for r in rows}

    def latest_fixity(self) -> dict[str, FixityLatest]:
        """bag id -> its latest fixity run, for every bag ever checked (one row per bag)."""
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

    # --- watch ------------------------------------------------------------
    def record_watch_result(
        self,
        url: str,
        *,
        collection_id: str | None,
        bag_id: str | None,
        status: str,
        previous_status: str | None,
        http_status: int | None,
        final_url: str | None,
        similarity: float | None,
        vantage: str,
        evidence: dict[str, Any],
        checked_at: str,
    ) -> int:
        """One ``watch_results`` row; the per-URL latest status follows by trigger."""
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO watch_results (url, collection_id, bag_id, status, previous_status,"
                " http_status, final_url, similarity, vantage, evidence, checked_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    url,
                    collection_id,
                    bag_id,
                    status,
                    previous_status,
                    http_status,
                    final_url,
                    similarity,
                    vantage,
                    json.dumps(evidence, sort_keys=True, default=str),
                    checked_at,
                ),
            )
            return int(cur.lastrowid or 0)

    def last_watch(self, url: str) -> dict[str, Any] | None:
        """The latest watch row of a URL (evidence decoded), or None if never watched."""
        rows = self.query(
            "SELECT * FROM watch_results WHERE url = ? ORDER BY id DESC LIMIT 1", (url,)
        )
        if not rows:
            return None
        row = dict(rows[0])
        try:
            row["evidence"] = json.loads(row["evidence"])
        except (TypeError, ValueError):
            row["evidence"] = {}
        return row

    def watch_latest(self, url: str | None = None) -> dict[str, WatchLatest]:
        """url -> latest status, since when, last checked (all URLs, or one)."""
        sql = "SELECT url, result_id, status, since, checked_at FROM watch_latest"
        rows = self.query(sql + " WHERE url = ?", (url,)) if url else self.query(sql)
        return {r["url"]: WatchLatest(*tuple(r)) for r in rows}

    def latest_watch_rows(self) -> dict[str, dict[str, Any]]:
        """url -> its whole latest ``watch_results`` row (one row per URL, by index)."""
        rows = self.query(
            "SELECT w.* FROM watch_latest l JOIN watch_results w ON w.id = l.result_id"
        )
        return {r["url"]: dict(r) for r in rows}

    def status_changes(self, statuses: Iterable[str], limit: int = 500) -> list[dict[str, Any]]:
        """The latest ``limit`` watch rows that entered one of ``statuses``, oldest first."""
        wanted = sorted(set(statuses))
        rows = self.query(
            "SELECT * FROM (SELECT * FROM watch_results WHERE status IN ("
            + ",".join("?" * len(wanted))
            + ") AND (previous_status IS NULL OR previous_status != status)"
            " ORDER BY checked_at DESC, id DESC LIMIT ?) ORDER BY checked_at, id",
            (*wanted, int(limit)),
        )
        return [dict(r) for r in rows]

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

    # --- watch ------------------------------------------------------------
    def record_watch_results(self, rows: Sequence[WatchRow]) -> None:
        """Add watch results and their ``watch`` events, all in one transaction.

        A watch run records its results in batches: one commit (one fsync) per
        batch instead of two per seed, with the same guarantee that a result
        and its event land together or not at all.
        """
        with self.transaction() as c:
            c.executemany(
                "INSERT INTO watch_results (url, collection_id, bag_id, status, previous_status,"
                " http_status, final_url, similarity, vantage, evidence, checked_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.url,
                        r.collection_id,
                        r.bag_id,
                        r.status,
                        r.previous_status,
                        r.http_status,
                        r.final_url,
                        r.similarity,
                        r.vantage,
                        json.dumps(r.evidence, sort_keys=True, default=str),
                        r.checked_at,
                    )
                    for r in rows
                ],
            )
            c.executemany(
                "INSERT INTO events (time, bag_id, event_type, outcome, actor, detail)"
                " VALUES (?, ?, 'watch', ?, ?, ?)",
                [
                    (
                        r.checked_at,
                        r.bag_id,
                        r.status,
                        r.actor,
                        json.dumps(r.detail, sort_keys=True, default=str),
                    )
                    for r in rows
                ],
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
        """Add a row to the event table; return its id.

        Use ``custody.record_event`` for an event about a bag, so that its
        custody log and the ledger always say the same thing.
        """
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
                    json.dumps(detail or {}, sort_keys=True, default=str),
                ),
            )
            return int(cur.lastrowid or 0)

    def bag_created(self, bag_id: str) -> str | None:
        """When a bag was made (or received), as recorded; None for an unknown bag."""
        rows = self.query("SELECT created FROM bags WHERE bag_id = ?", (bag_id,))
        return str(rows[0]["created"]) if rows else None

    # --- publications: a bag's intent, recorded before its folder is renamed ----
    def open_publication(self, bag_id: str, intent: dict[str, Any]) -> None:
        """Record the intent to publish ``bag_id`` (what is needed to record it)."""
        self.record_event("publication", "pending", bag_id=bag_id, detail=intent)

    def close_publication(self, bag_id: str, outcome: str) -> None:
        """Close a publication: ``complete``, ``abandoned`` or ``quarantined``."""
        self.record_event("publication", outcome, bag_id=bag_id)

    def pending_publications(self) -> list[tuple[str, dict[str, Any]]]:
        """(bag id, intent) of every publication whose latest event is ``pending``."""
        rows = self.query(
            "SELECT bag_id, outcome, detail FROM events WHERE id IN (SELECT MAX(id) FROM events"
            " WHERE event_type = 'publication' AND bag_id IS NOT NULL GROUP BY bag_id)"
            " ORDER BY id"
        )
        return [(r["bag_id"], json.loads(r["detail"])) for r in rows if r["outcome"] == "pending"]

    def pending_timestamps(self) -> list[str]:
        """Bags whose latest ``timestamp`` event is ``pending`` (no TSA answered yet)."""
        rows = self.query(
            "SELECT bag_id, outcome FROM events WHERE id IN (SELECT MAX(id) FROM events"
            " WHERE event_type = 'timestamp' AND bag_id IS NOT NULL GROUP BY bag_id)"
            " ORDER BY bag_id"
        )
        return [r["bag_id"] for r in rows if r["outcome"] == "pending"]

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
        rows = self.query(
            'SELECT bag_id, seq, hash, start, "end", verified_seq, verified_hash,'
            " verified_start, verified_end FROM custody_heads WHERE bag_id = ?",
            (bag_id,),
        )
        return CustodyHead(*tuple(rows[0])) if rows else None

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


def _json_list(text: str | None) -> list[Any]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def open_ledger(archive_root: Path) -> Ledger:
    """Open the ledger of an archive rooted at ``archive_root``."""
    return Ledger(Path(archive_root) / "ledger.sqlite")
