"""The ledger's per-bag facts: what status and the report show of every bag, in two queries.

Part of the ledger (``Ledger`` mixes these in). Each bag's row joins its
capture (start and end) and the summary of its fixity runs (its latest run,
kept per bag by a trigger, so the history's length never matters); a second
query reads each bag's latest ``creation`` event by the
events' type index, with the engine's own JSON functions picking the payload
size, the signature flag and the declared dependencies out of its detail, so
that no detail is decoded in Python and no bag-info is read from disk. Neither
query reads a history table whole: ``test_the_facts_queries_use_indices`` pins
it on SQLite's query plan.
"""

from __future__ import annotations

import json
from typing import Any

from strongroom.core.rows import _OXUM, BagFacts

FACTS_SQL = """
SELECT b.bag_id, b.collection_id, b.created, b.access, b.seeds, b.is_version_of,
       b.designations, b.origin, c.started, c.ended,
       f.result, f.ended, f.started, f.mode, f.last_good, f.runs
FROM bags b
LEFT JOIN captures c ON c.capture_id = b.capture_id
LEFT JOIN fixity_latest f ON f.bag_id = b.bag_id
"""
# The latest creation event of each bag (one per bag; a re-run of a publication
# may add one), by the index on (event_type, id).
_LATEST_CREATION = (
    "FROM events WHERE id IN (SELECT MAX(id) FROM events"
    " WHERE event_type = 'creation' AND bag_id IS NOT NULL GROUP BY bag_id)"
)
CREATION_SQL = {
    "sqlite": "SELECT bag_id, json_extract(detail, '$.payload_oxum'),"
    " json_extract(detail, '$.signed'), json_extract(detail, '$.depends_on') = '[]' "
    + _LATEST_CREATION
    + " AND json_valid(detail)",
    "postgresql": "SELECT bag_id, detail::jsonb ->> 'payload_oxum',"
    " detail::jsonb ->> 'signed', (detail::jsonb -> 'depends_on') = '[]'::jsonb "
    + _LATEST_CREATION,
}


def oxum(value: object) -> tuple[int, int] | None:
    """(payload bytes, payload files) from a Payload-Oxum value, or None."""
    m = _OXUM.fullmatch(value) if isinstance(value, str) else None
    return (int(m.group(1)), int(m.group(2))) if m else None


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
        created = {r[0]: (r[1], r[2], r[3]) for r in self.query(CREATION_SQL[self.dialect])}
        rows = self.query(FACTS_SQL)
        seeds = _lists([r[4] or "[]" for r in rows])
        labels = _lists([r[6] for r in rows])
        out: dict[str, BagFacts] = {}
        none = (None, None, None)
        for r, urls, frozen in zip(rows, seeds, labels, strict=True):
            bag_id = r[0]
            size, signed, alone = created.get(bag_id, none)
            out[bag_id] = BagFacts(
                bag_id,
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
                _flag(signed),
                bool(alone),
            )
        return out
