"""The ledger's per-bag facts: what status and the report show of every bag, in one query.

Part of the ledger (``Ledger`` mixes these in). Each bag's row joins its
capture (start and end), the summary of its fixity runs (its latest run, kept
per bag by a trigger, so the history's length never matters) and what its
latest ``creation`` event says (payload size, signature flag, whether it
depends on another bag), which a trigger on the events keeps in
``bag_creation`` (schema v6), so that no event row is visited, no detail is
decoded and no bag-info is read from disk. The query reads no history table:
``test_status_and_report_read_no_history_table_whole`` pins it on SQLite's
query plan.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from strongroom.core.rows import BagFacts

FACTS_SQL = """
SELECT b.bag_id, b.collection_id, b.created, b.access, b.seeds, b.is_version_of,
       b.designations, b.origin, c.started, c.ended,
       f.result, f.ended, f.started, f.mode, f.last_good, f.runs,
       k.payload_oxum, k.signed, k.alone
FROM bags b
LEFT JOIN captures c ON c.capture_id = b.capture_id
LEFT JOIN fixity_latest f ON f.bag_id = b.bag_id
LEFT JOIN bag_creation k ON k.bag_id = b.bag_id
"""


def _lists(texts: list[str | None]) -> list[list[Any] | None]:
    """Each JSON list column value decoded (None stays None; a bad value is []).

    All of them in one parse of one document: json.loads costs more per call
    than per byte, and this runs for every bag of the archive.
    """
    joined = ",".join("null" if t is None else t for t in texts)
    try:
        values = json.loads(f"[{joined}]")
        if len(values) != len(texts):
            raise ValueError("a value held more than one")
    except ValueError:  # one malformed value: decode them one at a time
        values = [None if t is None else _decode(t) for t in texts]
    return [v if v is None or isinstance(v, list) else [] for v in values]


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return []


def _flag(value: object) -> bool | None:
    """A JSON boolean as either engine hands it out (1/0 or 'true'/'false'), or None."""
    if value is None:
        return None
    return value in (1, True, "true")


class BagFactsQueries:
    """Ledger methods for per-bag facts (see the module docstring)."""

    dialect: str

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:  # provided by Ledger
        raise NotImplementedError

    def bag_facts(self) -> dict[str, BagFacts]:
        """bag id -> what status and the report show of it, for every bag the ledger knows."""
        from strongroom.core.rows import BagFacts

        rows = self.query(FACTS_SQL)
        seeds = _lists([r[4] or "[]" for r in rows])
        labels = _lists([r[6] for r in rows])
        out: dict[str, BagFacts] = {}
        for r, urls, frozen in zip(rows, seeds, labels, strict=True):
            size = r[16]
            out[r[0]] = BagFacts(
                r[0],
                str(r[1]),
                str(r[2] or ""),
                str(r[3]),
                [str(u) for u in urls or ()],
                str(r[5] or ""),
                None if frozen is None else [str(x) for x in frozen],
                str(r[7] or "local"),
                r[8],
                r[9],
                r[10],
                r[11],
                r[12],
                r[13],
                r[14],
                int(r[15] or 0),
                size if isinstance(size, str) else None,
                _flag(r[17]),
                bool(r[18]),
            )
        return out
