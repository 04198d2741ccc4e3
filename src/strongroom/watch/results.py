"""Watch results: what changed since the last check, and recording it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from strongroom import SOFTWARE
from strongroom.bag import custody
from strongroom.core.archive import Archive
from strongroom.core.ledger import Ledger
from strongroom.core.rows import WatchCheck, WatchRow
from strongroom.watch.statuses import EDITED, OK, TAKEDOWN


@dataclass(frozen=True)
class WatchResult(WatchCheck):
    """One seed's watch result: the check (core.rows.WatchCheck, the fields its ledger
    row stores too), whether it is news, and the bag a recapture made."""

    changed: bool = False
    recaptured_as: str | None = None

    @property
    def takedown(self) -> bool:
        return self.status in TAKEDOWN

    def check(self) -> dict[str, Any]:
        """The fields of the check alone, as WatchRow takes them."""
        return {f.name: getattr(self, f.name) for f in fields(WatchCheck)}

    def as_dict(self) -> dict[str, Any]:
        return self.check() | {"changed": self.changed, "recaptured_as": self.recaptured_as}


def previous(ledger: Ledger, url: str) -> dict[str, Any] | None:
    """The last watch result of a URL, if it was ever watched."""
    return ledger.last_watch(url)


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


def _detail(result: WatchResult) -> dict[str, Any]:
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
    return detail


def record(archive: Archive, ledger: Ledger, results: Sequence[WatchResult]) -> None:
    """Record a batch of results: each in its bag's custody log, then all in the ledger.

    This is ``custody.record_event`` for a batch. The custody lines come first,
    as there; then the batch's ``watch_results`` rows and their ``watch``
    events land in one ledger transaction (one commit per batch, not two per
    seed). A crash between the two leaves custody entries that the ledger has
    no row for, which a later watch does not depend on.
    """
    actor = archive.config.operator or SOFTWARE
    rows = [WatchRow(**r.check(), actor=actor, detail=_detail(r)) for r in results]
    for row in rows:
        if row.bag_id:
            custody.append(
                archive,
                row.bag_id,
                "watch",
                outcome=row.status,
                inputs={"url": row.url, "vantage": row.vantage},
                detail=row.detail,
                actor=actor,
                ledger=ledger,
            )
    ledger.record_watch_results(rows)
