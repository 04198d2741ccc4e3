"""The ledger's intents: a bag's publication (or a received bag's ingestion), recorded
before its folder is renamed into ``bags/`` and closed once it is fully recorded.

Part of the ledger (``Ledger`` mixes these in). An intent is an event whose
latest outcome for its bag is ``pending``; ``bag.publish`` and ``share.ingest``
open and close them, and ``verify.inflight`` asks which are open, so that a bag
caught between its rename and its records is not mistaken for a stranger.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

# The latest event of each bag of these types, where it is still pending (the
# events_type_bag index serves it: no history is read whole).
_OPEN = (
    "SELECT bag_id FROM events WHERE id IN (SELECT MAX(id) FROM events"
    " WHERE event_type IN ('publication', 'ingestion') AND bag_id IS NOT NULL"
    " GROUP BY event_type, bag_id) AND outcome = 'pending'"
)


class IntentRecords:
    """Ledger methods for publication and ingestion intents (see the module docstring)."""

    record_event: Callable[..., int]  # provided by Ledger
    dialect: str

    @property
    def shared(self) -> bool:
        """Whether several nodes may share this ledger (PostgreSQL): then each intent
        is its own node's to finish (``bag.publish.owned``). A SQLite ledger is one
        archive's."""
        return self.dialect != "sqlite"

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:  # provided by Ledger
        raise NotImplementedError

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

    def pending_ingestions(self) -> list[dict[str, Any]]:
        """The intent of every received bag whose latest ``ingestion`` event is ``pending``,
        in the order the bags were first received.

        One query over the events_type_bag index: the history of closed ingestions,
        which grows with every received bag, is never read row by row.
        """
        rows = self.query(
            "SELECT e.detail FROM events e JOIN (SELECT MAX(id) AS last, MIN(id) AS first"
            " FROM events WHERE event_type = 'ingestion' AND bag_id IS NOT NULL"
            " AND bag_id <> '' GROUP BY bag_id) m ON e.id = m.last"
            " WHERE e.outcome = 'pending' ORDER BY m.first"
        )
        return [json.loads(r["detail"]) for r in rows]

    def open_intents(self) -> set[str]:
        """Bag ids whose publication or ingestion is still open (pending)."""
        return {str(row["bag_id"]) for row in self.query(_OPEN)}
