"""The ledger's watch records: every watch result and each URL's latest status.

Part of the ledger (``Ledger`` mixes these in), kept apart so that each file
stays readable; the SQL is written once for both engines, as in ``ledger.py``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from strongroom.core.rows import WatchLatest, WatchRow


class WatchRecords:
    """Ledger methods for watch results (see the module docstring)."""

    def transaction(self) -> contextlib.AbstractContextManager[Any]:  # provided by Ledger
        raise NotImplementedError

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:  # provided by Ledger
        raise NotImplementedError

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
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
            return int(cur.fetchone()[0])

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
        from strongroom.core.rows import WatchLatest

        sql = "SELECT url, result_id, status, since, checked_at, http_status FROM watch_latest"
        rows = self.query(sql + " WHERE url = ?", (url,)) if url else self.query(sql)
        return {r[0]: WatchLatest._make(r) for r in rows}

    def latest_watch_rows(self) -> dict[str, dict[str, Any]]:
        """url -> status, checked_at and http_status of its latest watch row (one row
        per URL, from the summary table)."""
        return {
            url: {"status": w.status, "checked_at": w.checked_at, "http_status": w.http_status}
            for url, w in self.watch_latest().items()
        }

    def status_changes(self, statuses: Iterable[str], limit: int = 500) -> list[dict[str, Any]]:
        """The latest ``limit`` watch rows that entered one of ``statuses``, oldest first."""
        wanted = sorted(set(statuses))
        rows = self.query(
            "SELECT * FROM (SELECT * FROM watch_results WHERE status IN ("
            + ",".join("?" * len(wanted))
            + ") AND (previous_status IS NULL OR previous_status != status)"
            " ORDER BY checked_at DESC, id DESC LIMIT ?) AS latest ORDER BY checked_at, id",
            (*wanted, int(limit)),
        )
        return [dict(r) for r in rows]

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
