"""The ledger's methods for an archive shared by several nodes: holdings, leases, copying.

Part of the ledger (``Ledger`` mixes these in), kept apart so that each file
stays readable. Nightly work is shared through *leases*: before a node checks
a bag (or a seed), it claims that item's lease row with ``SELECT ... FOR
UPDATE SKIP LOCKED`` on PostgreSQL (a node that meets a row another node is
claiming at that instant skips it instead of waiting), or inside ``BEGIN
IMMEDIATE`` on SQLite, which serialises writers anyway.

A lease is free when nobody ever claimed it, when its claim expired without
being finished (its node died), when this node claimed it in an earlier run
that did not finish, or when it was finished before this round began. So in
one round no item is handled twice, and an item a dead node held is handled
once its lease expires, by another node or by the next run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from strongroom.errors import UsageError

if TYPE_CHECKING:
    from strongroom.core.rows import Lease

# Tables in the order a copy writes them; the two summaries last, since the
# triggers fill them while their base tables are copied.
TABLES = (
    "payload_digests",
    "captures",
    "bags",
    "fixity_runs",
    "watch_results",
    "copies",
    "events",
    "custody_heads",
    "holdings",
    "leases",
    "fixity_latest",
    "watch_latest",
)
_KEYS = {
    "payload_digests": ("digest",),
    "captures": ("capture_id",),
    "bags": ("bag_id",),
    "fixity_runs": ("id",),
    "watch_results": ("id",),
    "copies": ("id",),
    "events": ("id",),
    "custody_heads": ("bag_id",),
    "holdings": ("bag_id", "node"),
    "leases": ("kind", "item"),
    "fixity_latest": ("bag_id",),
    "watch_latest": ("url",),
}
_IDENTITY = ("fixity_runs", "watch_results", "copies", "events")


def precise_now() -> str:
    """UTC time with microseconds: leases compare claims made within one second."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def later(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )


class SharedRounds:
    """Ledger methods for nodes and leases (see the module docstring)."""

    conn: Any
    dialect: str

    def transaction(self) -> contextlib.AbstractContextManager[Any]:  # provided by Ledger
        raise NotImplementedError

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:  # provided by Ledger
        raise NotImplementedError

    # --- holdings ---------------------------------------------------------
    def record_holdings(self, node: str, jurisdiction: str, bag_ids: Iterable[str]) -> None:
        """This node holds exactly ``bag_ids`` now (rows for bags it lost are removed)."""
        now = precise_now()
        held = sorted(set(bag_ids))
        with self.transaction() as c:
            c.executemany(
                "INSERT INTO holdings (bag_id, node, jurisdiction, since, seen)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (bag_id, node) DO UPDATE SET"
                " jurisdiction = excluded.jurisdiction, seen = excluded.seen",
                [(b, node, jurisdiction, now, now) for b in held],
            )
            c.execute("DELETE FROM holdings WHERE node = ? AND seen != ?", (node, now))

    def nodes(self) -> dict[str, dict[str, Any]]:
        """node -> its jurisdiction, how many bags it holds, and when it last reported."""
        rows = self.query(
            "SELECT node, MAX(jurisdiction) AS jurisdiction, COUNT(*) AS bags,"
            " MAX(seen) AS seen FROM holdings GROUP BY node ORDER BY node"
        )
        return {r["node"]: dict(r) for r in rows}

    def holders(self, bag_id: str) -> list[str]:
        return [r[0] for r in self.query("SELECT node FROM holdings WHERE bag_id = ?", (bag_id,))]

    # --- leases -----------------------------------------------------------
    @contextlib.contextmanager
    def _claiming(self) -> Iterator[Any]:
        with self._lease_transaction() as c:
            if self.dialect == "sqlite":
                # Take the write lock first, so the read below and the claim are one step.
                c.execute("BEGIN IMMEDIATE")
            yield c

    @contextlib.contextmanager
    def _lease_transaction(self) -> Iterator[Any]:
        """A transaction for lease rows, which need no fsync of their own.

        A lease lost in a server crash only expires early or late; the work it
        covered is recorded durably elsewhere (fixity runs, watch results). So
        PostgreSQL may acknowledge these commits before they reach the disk.
        """
        with self.transaction() as c:
            if self.dialect == "postgresql":
                c.execute("SET LOCAL synchronous_commit TO OFF")
            yield c

    def claim(self, kind: str, item: str, node: str, *, round_start: str, ttl: float) -> bool:
        """Claim ``item`` for ``node`` until now + ``ttl`` seconds; False if another has it."""
        lock = " FOR UPDATE SKIP LOCKED" if self.dialect == "postgresql" else ""
        with self._claiming() as c:
            c.execute(
                "INSERT INTO leases (kind, item) VALUES (?, ?) ON CONFLICT (kind, item) DO NOTHING",
                (kind, item),
            )
            row = c.execute(
                "SELECT node, expires, done_at FROM leases WHERE kind = ? AND item = ?" + lock,
                (kind, item),
            ).fetchone()
            if row is None:  # another node holds the row lock this instant
                return False
            holder, expires, done_at = row[0], row[1], row[2]
            now = precise_now()
            free = (
                not holder
                or (done_at is None and (holder == node or expires < now))
                or (done_at is not None and done_at < round_start)
            )
            if not free:
                return False
            c.execute(
                "UPDATE leases SET node = ?, claimed_at = ?, expires = ?, done_at = NULL"
                " WHERE kind = ? AND item = ?",
                (node, now, later(ttl), kind, item),
            )
            return True

    def renew(self, kind: str, item: str, node: str, ttl: float) -> None:
        """Push a held lease's expiry on while the work goes on."""
        with self._lease_transaction() as c:
            c.execute(
                "UPDATE leases SET expires = ? WHERE kind = ? AND item = ? AND node = ?"
                " AND done_at IS NULL",
                (later(ttl), kind, item, node),
            )

    def finish(self, kind: str, item: str, node: str) -> None:
        """Mark a held lease done: no node takes the item again this round."""
        with self._lease_transaction() as c:
            c.execute(
                "UPDATE leases SET done_at = ? WHERE kind = ? AND item = ? AND node = ?",
                (precise_now(), kind, item, node),
            )

    def release(self, kind: str, item: str, node: str) -> None:
        """Give a lease back unfinished (the item was skipped), so another node may take it."""
        with self._lease_transaction() as c:
            c.execute(
                "UPDATE leases SET expires = '' WHERE kind = ? AND item = ? AND node = ?"
                " AND done_at IS NULL",
                (kind, item, node),
            )

    def leases(self, kind: str) -> list[Lease]:
        from strongroom.core.rows import Lease

        rows = self.query(
            "SELECT kind, item, node, expires FROM leases WHERE kind = ? ORDER BY item", (kind,)
        )
        return [Lease(*tuple(r)) for r in rows]

    # --- copying a ledger -------------------------------------------------
    def table_rows(self, table: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """(columns, rows) of one of ``TABLES``, in key order."""
        if table not in _KEYS:
            raise ValueError(table)
        rows = self.query(f"SELECT * FROM {table} ORDER BY {', '.join(_KEYS[table])}")
        columns = list(rows[0].keys()) if rows else []
        return columns, [tuple(r) for r in rows]

    def count(self, table: str) -> int:
        if table not in _KEYS:
            raise ValueError(table)
        return int(self.query(f"SELECT COUNT(*) FROM {table}")[0][0])

    def load_rows(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        """Write copied rows as they were (ids included); summaries overwrite the triggers'."""
        if not rows:
            return
        quoted = [f'"{c}"' for c in columns]
        keys = _KEYS[table]
        update = ", ".join(
            f"{q} = excluded.{q}" for c, q in zip(columns, quoted, strict=True) if c not in keys
        )
        sql = (
            f"INSERT INTO {table} ({', '.join(quoted)}) VALUES ({', '.join('?' * len(columns))})"
            f" ON CONFLICT ({', '.join(keys)}) DO "
            + (f"UPDATE SET {update}" if update else "NOTHING")
        )
        with self.transaction() as c:
            c.executemany(sql, rows)
            if self.dialect == "postgresql" and table in _IDENTITY:
                # Explicit ids do not move the identity; new rows must number after them.
                c.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" (SELECT MAX(id) FROM {table}))"
                )

    def is_empty(self) -> bool:
        """True when no table holds a row (a copy goes only into an empty ledger)."""
        return all(self.count(t) == 0 for t in TABLES)


def require_empty(target: SharedRounds, where: str) -> None:
    if not target.is_empty():
        raise UsageError(
            f"{where} already holds rows: `ledger copy` writes only into an empty ledger,"
            " so that nothing of two archives is mixed"
        )


class CopyReport:
    """What ``ledger copy`` moved, and whether the target agrees with the source."""

    # A plain class: every ledger imports this module, and defining a dataclass
    # costs each command about half a millisecond of start-up.
    __slots__ = ("counts", "heads_equal")

    def __init__(self, counts: dict[str, tuple[int, int]], heads_equal: bool) -> None:
        self.counts = counts  # table -> (source rows, target rows)
        self.heads_equal = heads_equal

    @property
    def ok(self) -> bool:
        return self.heads_equal and all(a == b for a, b in self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "custody_heads_equal": self.heads_equal,
            "tables": {t: {"source": a, "target": b} for t, (a, b) in self.counts.items()},
        }


def copy_ledger(source: SharedRounds, target: SharedRounds, where: str) -> CopyReport:
    """Copy every row of ``source`` into the empty ``target``, then compare them.

    The source is only read. Counts are compared table by table, and the
    custody heads (the anchors of every bag's log) row by row.
    """
    require_empty(target, where)
    for table in TABLES:
        columns, rows = source.table_rows(table)
        target.load_rows(table, columns, rows)
    counts = {t: (source.count(t), target.count(t)) for t in TABLES}
    heads_equal = source.table_rows("custody_heads")[1] == target.table_rows("custody_heads")[1]
    return CopyReport(counts, heads_equal)
