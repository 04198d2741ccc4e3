"""Custody lines built and signed ahead of their append (``custody.PreparedLine``).

A verify worker builds the ``fixity check`` line of the bag it checked, after
the last entry its chain check read, so that the one process that writes every
log spends no signature on it; ``custody.append`` writes it only if the log
still ends there (``append_prepared`` writes it in a batch with less work).
"""

from __future__ import annotations

import fcntl
import os
from typing import Any

from strongroom.bag.custody import ChainReport, PreparedLine, _new_entry, _tail, line_hash
from strongroom.core.archive import Archive
from strongroom.core.fsutil import os_problem


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


def append_prepared(archive: Archive, bag_id: str, prepared: PreparedLine, ledger: Any) -> bool:
    """``append`` of a line signed ahead, in a batch (no fsync: the caller syncs every
    log it wrote before it commits the ledger's new heads). Written only when the log
    ends where the line's builder saw it end, with nothing torn after it; False:
    nothing was written, and ``append`` (which sets a torn tail aside and signs a
    line afresh) should be called instead. One open, lock, fstat, read and write."""
    path = f"{os.fspath(archive.bags)}/{bag_id}.custody.jsonl"
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND)
    except OSError:
        return False  # append says what is wrong, or makes the log's folder
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        tail = _tail(fd, ledger.custody_head(bag_id))
        if tail.end != tail.size or tail.last is None:
            return False
        if not prepared.follows(tail.seq, tail.end, line_hash(tail.last)):
            return False
        line = prepared.line + b"\n"
        os.write(fd, line)
    except OSError as exc:
        raise os_problem(f"cannot append to custody log {path}", exc) from None
    finally:
        os.close(fd)
    if tail.anchored:
        ledger.set_custody_head(bag_id, seq=tail.seq + 1, hash=line_hash(prepared.line),
                                start=tail.end, end=tail.end + len(line))  # fmt: skip
    return True
