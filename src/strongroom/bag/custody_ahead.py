"""Custody lines built and signed ahead of their append (``custody.PreparedLine``).

A verify worker builds the ``fixity check`` line of the bag it checked, after
the last entry its chain check read, so that the one process that writes every
log spends no signature on it; ``custody.append`` writes it only if the log
still ends there.
"""

from __future__ import annotations

from typing import Any

from strongroom.bag.custody import ChainReport, PreparedLine, _new_entry
from strongroom.core.archive import Archive


def prepare_line(
    archive: Archive,
    after: ChainReport,
    key: Any,
    *,
    action: str,
    outcome: str,
    inputs: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
    actor: str | None = None,
) -> PreparedLine | None:
    """The signed entry that would follow the last entry ``after`` (a clean chain check
    of the whole log, or of its entries since the verified one) read; None when
    there is nothing to gain (no key, a log with problems or without entries)."""
    if key is None or not after.ok or after.last_hash is None or not after.last_seq:
        return None
    fields = {"action": action, "outcome": outcome, "inputs": inputs, "detail": detail}
    entry, line = _new_entry(
        archive, after.last_seq + 1, after.last_hash, key, fields | {"actor": actor}
    )
    return PreparedLine(after.last_seq, after.last_end, after.last_hash, line, entry)
