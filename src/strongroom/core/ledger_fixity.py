"""The ledger's record of many fixity checks at once (``verify --all --fast``).

Part of the ledger (``Ledger`` mixes these in), kept apart so that each file
stays readable; the SQL is written once for both engines, as in ``ledger.py``.
A run over 10,000 bags records three rows' worth per bag; one statement per
kind of row and batch costs a fraction of one statement per row.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from strongroom.core.rows import FixityRow, LogSpan


class FixityRecords:
    """Ledger methods for a batch of fixity checks (see the module docstring)."""

    def transaction(self) -> contextlib.AbstractContextManager[Any]:  # provided by Ledger
        raise NotImplementedError

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:  # provided by Ledger
        raise NotImplementedError

    def bag_collections(self) -> dict[str, str]:
        """bag id -> its collection, for every bag the ledger knows (what a verify run
        needs of each row, without decoding the rest)."""
        return {r[0]: r[1] for r in self.query("SELECT bag_id, collection_id FROM bags")}

    def record_checks(
        self,
        runs: Sequence[FixityRow],
        heads: Sequence[LogSpan],
        verified: Sequence[LogSpan],
        updated: str,
    ) -> None:
        """The rows of many checks in one transaction: new custody heads, the entries
        whose signatures were checked (``verified_*`` of each head), then the runs.

        A head only moves forward: a writer that appended to the same log after
        this batch's line (and committed first) keeps its later head. A head
        row that is absent is inserted (a log anchored at its first check).
        """
        with self.transaction() as c:
            if heads:
                c.executemany(
                    'INSERT INTO custody_heads (bag_id, seq, hash, start, "end", updated)'
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (bag_id) DO UPDATE SET"
                    " seq = excluded.seq, hash = excluded.hash, start = excluded.start,"
                    ' "end" = excluded."end", updated = excluded.updated'
                    " WHERE excluded.seq > custody_heads.seq",
                    [(h.bag_id, h.seq, h.hash, h.start, h.end, updated) for h in heads],
                )
            if verified:
                c.executemany(
                    "UPDATE custody_heads SET verified_seq = ?, verified_hash = ?,"
                    " verified_start = ?, verified_end = ? WHERE bag_id = ?",
                    [(v.seq, v.hash, v.start, v.end, v.bag_id) for v in verified],
                )
            if runs:
                c.executemany(
                    "INSERT INTO fixity_runs (bag_id, started, ended, mode, result, files, bytes,"
                    " failures) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            r.bag_id,
                            r.started,
                            r.ended,
                            r.mode,
                            r.result,
                            r.files,
                            r.nbytes,
                            json.dumps(r.failures),
                        )
                        for r in runs
                    ],
                )
