"""Watch results: what changed since the last check, and recording it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from strongroom import SOFTWARE
from strongroom.bag import custody
from strongroom.core.archive import Archive
from strongroom.core.ledger import Ledger
from strongroom.watch.statuses import EDITED, OK, TAKEDOWN


@dataclass
class WatchResult:
    url: str
    status: str
    previous_status: str | None
    http_status: int | None
    final_url: str | None
    similarity: float | None
    vantage: str
    evidence: dict[str, Any]
    checked_at: str
    bag_id: str | None
    collection_id: str
    changed: bool = False
    recaptured_as: str | None = None

    @property
    def takedown(self) -> bool:
        return self.status in TAKEDOWN

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "status": self.status,
            "previous_status": self.previous_status,
            "http_status": self.http_status,
            "final_url": self.final_url,
            "similarity": self.similarity,
            "vantage": self.vantage,
            "evidence": self.evidence,
            "checked_at": self.checked_at,
            "bag_id": self.bag_id,
            "collection_id": self.collection_id,
            "changed": self.changed,
            "recaptured_as": self.recaptured_as,
        }


def previous(ledger: Ledger, url: str) -> dict[str, Any] | None:
    """The last watch result of a URL, if it was ever watched."""
    rows = ledger.query(
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


def is_news(status: str, evidence: dict[str, Any], bag_id: str | None, prev: dict | None) -> bool:
    """Did the seed change state since the last watch?

    First watch: news unless ok. Later: a different status, or an edit whose
    text differs from the last edit seen. Going from ``edited`` to ``ok`` only
    because a recapture made a new baseline bag is not news.
    """
    if prev is None:
        return status != OK
    before = prev.get("status")
    if status == before:
        if status == EDITED:
            old_sha = (prev.get("evidence") or {}).get("text_sha256")
            return old_sha != evidence.get("text_sha256") and prev.get("bag_id") == bag_id
        return False
    return not (status == OK and before == EDITED and prev.get("bag_id") != bag_id)


def record(archive: Archive, ledger: Ledger, result: WatchResult) -> None:
    """Write the result to ``watch_results``, ``events`` and the bag's custody log."""
    detail = {
        "status": result.status,
        "previous_status": result.previous_status,
        "http_status": result.http_status,
        "final_url": result.final_url,
        "similarity": result.similarity,
        "vantage": result.vantage,
        "evidence": result.evidence,
        "url": result.url,
        "checked_at": result.checked_at,
    }
    if result.recaptured_as:
        detail["recaptured_as"] = result.recaptured_as
    with ledger.transaction() as c:
        c.execute(
            "INSERT INTO watch_results (url, collection_id, bag_id, status, previous_status,"
            " http_status, final_url, similarity, vantage, evidence, checked_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                result.url,
                result.collection_id,
                result.bag_id,
                result.status,
                result.previous_status,
                result.http_status,
                result.final_url,
                result.similarity,
                result.vantage,
                json.dumps(result.evidence, sort_keys=True, default=str),
                result.checked_at,
            ),
        )
    actor = archive.config.operator or SOFTWARE
    ledger.record_event(
        "watch",
        result.status,
        bag_id=result.bag_id,
        actor=actor,
        detail=detail,
        time=result.checked_at,
    )
    if result.bag_id:
        custody.append(
            archive,
            result.bag_id,
            "watch",
            outcome=result.status,
            inputs={"url": result.url, "vantage": result.vantage},
            detail=detail,
            actor=actor,
        )
