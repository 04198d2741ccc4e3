"""The two database engines behind the ledger: embedded SQLite, or a shared PostgreSQL.

The ledger's SQL is written once, in the dialect both engines share (``?``
placeholders, ``INSERT ... ON CONFLICT``, ``RETURNING``). What differs is kept
here and small: how to connect, how a placeholder is spelled, the schema's
column types and triggers (``core/schema.py``), and where the schema version
lives. A PostgreSQL connection is wrapped so that it answers like a
``sqlite3.Connection`` for the few calls the ledger makes: ``execute``,
``executemany``, ``executescript``, ``with conn:`` as a transaction, and rows
that can be read by name or by position.

Secrets: a ledger URL never carries a password. libpq reads it from a
``.pgpass`` file (``~/.pgpass`` or ``PGPASSFILE``, mode 0600), or from
``PGPASSWORD``; a URL with a password is refused, so it cannot end up in
``config.toml``, a shell history, a process list or a message.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from strongroom.core.fsutil import file_system_reason
from strongroom.errors import UsageError

LEDGER_ENV = "STRONGROOM_LEDGER"


class LedgerLocation:
    """Where a ledger lives: a SQLite file, or a PostgreSQL database."""

    # A plain class, not a dataclass: every command that opens the ledger imports
    # it, and defining a frozen dataclass costs about a millisecond of start-up.
    __slots__ = ("dialect", "path", "url")

    def __init__(self, dialect: str, path: Path | None = None, url: str = "") -> None:
        self.dialect = dialect  # "sqlite" | "postgresql"
        self.path = path
        self.url = url

    def __str__(self) -> str:
        return str(self.path) if self.dialect == "sqlite" else redact(self.url)


def redact(url: str) -> str:
    """A PostgreSQL URL fit to print: scheme, user, host, port and database only."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def parse_ledger_url(url: str, where: str) -> LedgerLocation:
    """Check a ``postgresql://`` ledger URL from ``where`` (config file or environment)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"{where}: not a usable ledger URL ({exc})") from None
    if parts.scheme not in ("postgresql", "postgres"):
        raise UsageError(
            f"{where}: expected a postgresql://user@host:port/database URL, got {parts.scheme!r}"
        )
    if parts.password:
        raise UsageError(
            f"{where}: the ledger URL must not hold a password; put it in a .pgpass file"
            " (mode 0600, or name it with PGPASSFILE) or in PGPASSWORD"
        )
    if not parts.hostname or not parts.path.strip("/"):
        raise UsageError(f"{where}: the ledger URL needs a host and a database name")
    if port is not None and not 0 < port < 65536:
        raise UsageError(f"{where}: port {port} is out of range")
    if not re.fullmatch(r"/[A-Za-z0-9_.-]{1,63}", parts.path):
        raise UsageError(f"{where}: database name {parts.path[1:]!r} is not a plain name")
    return LedgerLocation("postgresql", url=url.strip())


def locate(archive_root: Path, configured_url: str = "") -> LedgerLocation:
    """The archive's ledger: ``STRONGROOM_LEDGER``, else ``[ledger] url``, else SQLite."""
    env = os.environ.get(LEDGER_ENV, "").strip()
    if env:
        return parse_ledger_url(env, LEDGER_ENV)
    if configured_url:
        return parse_ledger_url(configured_url, f"{archive_root / 'config.toml'}: [ledger] url")
    return LedgerLocation("sqlite", path=Path(archive_root) / "ledger.sqlite")


class Row(tuple[Any, ...]):
    """A PostgreSQL row that reads like ``sqlite3.Row``: by position or by column name."""

    _names: tuple[str, ...]

    def __new__(cls, names: tuple[str, ...], values: Sequence[Any]) -> Row:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def keys(self) -> list[str]:
        return list(self._names)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._names.index(key))
            except ValueError:
                raise IndexError(f"no column {key!r}") from None
        return tuple.__getitem__(self, key)


def _row_factory(cursor: Any) -> Any:
    names = tuple(d.name for d in (cursor.description or ()))

    def make(values: Sequence[Any]) -> Row:
        return Row(names, values)

    return make


def pg_sql(sql: str) -> str:
    """The ledger's SQL as psycopg wants it: ``%s`` placeholders, literal ``%`` doubled.

    The ledger's statements hold no ``?`` inside string literals, which a test
    guards, so the swap is safe.
    """
    return sql.replace("%", "%%").replace("?", "%s")


class _PgCursor:
    def __init__(self, cur: Any) -> None:
        self._cur = cur

    def fetchone(self) -> Any:
        return self._cur.fetchone() if self._cur.description else None

    def fetchall(self) -> list[Any]:
        return list(self._cur.fetchall()) if self._cur.description else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)


class PgConnection:
    """A psycopg 3 connection that answers the ledger like a ``sqlite3.Connection``.

    ``PgConnection.get`` hands out a kept connection: the ledger is opened and
    closed many times per command (once per dedup lookup, per event), and a
    new connection costs a TCP handshake and a SCRAM login each time.
    """

    dialect = "postgresql"
    _kept: ClassVar[dict[tuple[str, int], PgConnection]] = {}
    _kept_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def get(cls, url: str) -> PgConnection:
        """This thread's kept connection to ``url`` (a new one if none is usable)."""
        key = (url, threading.get_ident())
        with cls._kept_lock:
            conn = cls._kept.pop(key, None)
        if conn is not None and not conn._conn.closed and conn._idle():
            return conn
        return cls(url)

    def release(self) -> None:
        """Keep this connection for the thread's next ``get`` (or close it if unusable)."""
        if self._conn.closed or not self._idle():
            self.close()
            return
        key = (self.url, threading.get_ident())
        with self._kept_lock:
            old = self._kept.pop(key, None)
            self._kept[key] = self
        if old is not None and old is not self:
            old.close()

    def _idle(self) -> bool:
        from psycopg import pq

        return bool(self._conn.info.transaction_status == pq.TransactionStatus.IDLE)

    def __init__(self, url: str) -> None:
        import psycopg

        try:
            # connect_timeout: an unreachable server must fail in seconds, not hang cron.
            self._conn = psycopg.connect(url, connect_timeout=10, autocommit=False)
        except psycopg.Error as exc:
            raise UsageError(
                f"cannot reach the ledger at {redact(url)}: {_pg_reason(exc)};"
                " check that PostgreSQL runs and that this node may connect"
            ) from None
        self._conn.row_factory = _row_factory
        self.url = url
        self.meta_ready = False
        self._depth = 0

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _PgCursor:
        cur = self._conn.cursor()
        cur.execute(pg_sql(sql), tuple(params))
        return _PgCursor(cur)

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> None:
        with self._conn.cursor() as cur:
            cur.executemany(pg_sql(sql), [tuple(p) for p in seq])

    def executescript(self, script: str) -> None:
        """Run DDL that has no parameters (the schema), as one batch."""
        with self._conn.cursor() as cur:
            cur.execute(script.encode())

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> PgConnection:
        self._depth += 1
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._depth -= 1
        if self._depth:
            return  # an inner ``with``: the outermost one commits
        if exc_type is None:
            self._conn.commit()
        else:
            self._conn.rollback()


def _pg_reason(exc: BaseException) -> str:
    """The first line of a libpq error, without anything that could be a secret."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r"password=\S+", "password=…", text)[:300]


def is_operational(exc: BaseException) -> bool:
    """True for errors of the engine at work (disk full, read-only, lost connection)."""
    if isinstance(exc, sqlite3.OperationalError):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    return isinstance(exc, psycopg.OperationalError)


def database_errors() -> tuple[type[BaseException], ...]:
    """Exception classes that mean the ledger's engine failed (both engines)."""
    try:
        import psycopg

        return (sqlite3.Error, psycopg.Error)
    except ImportError:  # pragma: no cover
        return (sqlite3.Error,)


def open_sqlite_read_only(path: Path) -> tuple[sqlite3.Connection, int]:
    """A read-only connection to a SQLite ledger on a read-only file system (a mounted
    backup, an auditor's copy), and its schema version.

    Reads work as anywhere; a write fails as any write to a read-only ledger does.
    Nothing can change the file while its file system is read-only, so SQLite may
    read it as immutable: otherwise it would need to create the WAL index beside
    it, which it cannot. Commits still in a WAL file would be invisible that way,
    so such a ledger is read through its WAL, which SQLite can do only if the WAL's
    index (``-shm``) was left beside it; if not, the message says what to do.
    """
    wal = Path(f"{path}-wal")
    mode = "mode=ro" if wal.exists() and wal.stat().st_size > 0 else "mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(
            f"file:{quote(str(path))}?{mode}", uri=True, timeout=30, check_same_thread=False
        )
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.Error as exc:
        raise UsageError(
            f"cannot read ledger {path} on a read-only file system ({exc}): copy the"
            " archive to a writable place and run the command there"
        ) from None
    return conn, version


def write_problem(path: Path, exc: BaseException) -> UsageError:
    """A person's message for a failed ledger write: full disk, read-only, locked."""
    text = str(exc)
    # SQLite says "disk I/O error" or "unable to open database file" when a full or
    # read-only file system keeps it from growing its WAL index: ask the file system
    state = file_system_reason(path.parent) if isinstance(path, Path) else None
    if state is not None and "locked" not in text:
        hint = state
    elif "full" in text:
        hint = "the disk is full; free space and run the command again"
    elif "readonly" in text or "read-only" in text:
        hint = "the ledger cannot be written (read-only file or file system)"
    elif "locked" in text:
        hint = "another strongroom process holds the ledger; try again"
    else:
        hint = text
    return UsageError(f"cannot write ledger {path}: {hint}")
