"""The typed rows the ledger hands out, so that its callers need no SQL and no dicts.

The ledger imports them only in the methods that make them: a capture, which
records payload digests and one capture row, never defines them (each frozen
dataclass costs start-up about a millisecond to define).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple


@dataclass(frozen=True)
class CustodyHead:
    """Where a custody log ended (and was last verified), as the ledger remembers it."""

    bag_id: str
    seq: int
    hash: str
    start: int
    end: int
    verified_seq: int = 0
    verified_hash: str | None = None
    verified_start: int = 0
    verified_end: int = 0


@dataclass(frozen=True)
class FixityLatest:
    """The latest fixity run of a bag, and the start of its latest good full/deep check."""

    result: str
    ended: str
    last_good: str | None
    runs: int


class WatchLatest(NamedTuple):
    """A URL's latest watch status, since when it holds, and when it was last checked.

    A named tuple, not a frozen dataclass: status and the report make one per URL
    (10,000 and more), and a frozen dataclass sets each field through a call.
    """

    url: str
    result_id: int
    status: str
    since: str
    checked_at: str
    http_status: int | None = None  # of the latest row (None: recorded none, or before v5)


_OXUM = re.compile(r"\s*(\d{1,18})\.(\d{1,12})\s*")  # BagIt's Payload-Oxum: bytes.files
PayloadRow = tuple[str, str, str, str, str, str]  # digest, uri, date, record id, capture, warc


def oxum(value: object) -> tuple[int, int] | None:
    """(payload bytes, payload files) from a Payload-Oxum value, or None."""
    m = _OXUM.fullmatch(value) if isinstance(value, str) else None
    return (int(m.group(1)), int(m.group(2))) if m else None


@dataclass(frozen=True)
class WatchCheck:
    """What one live check of a URL found: the fields a watch result and its ledger
    row share (watch.results.WatchResult adds the news, WatchRow who recorded it)."""

    url: str
    collection_id: str
    bag_id: str | None
    status: str
    previous_status: str | None
    http_status: int | None
    final_url: str | None
    similarity: float | None
    vantage: str
    evidence: dict[str, Any]
    checked_at: str


@dataclass(frozen=True)
class WatchRow(WatchCheck):
    """One watch result as the ledger stores it (see ``watch_results``)."""

    actor: str
    detail: dict[str, Any]


class BagFacts(NamedTuple):
    """What status and the report show of one bag, from one row of the ledger's facts.

    ``designations`` None: recorded before the ledger kept them (read its
    bag-info). ``payload``: (bytes, files) from the creation event's
    Payload-Oxum, and ``signed``: whether it was signed, both None when no
    creation event says so (a received bag, an older one). ``alone``: the
    ledger recorded at bagging that it depends on no other bag.
    """

    bag_id: str
    collection_id: str
    created: str
    access: str
    seeds: list[str]
    is_version_of: str
    designations: list[str] | None
    origin: str
    crawl_start: str | None  # its capture's start and end (None: no capture row)
    crawl_end: str | None
    fixity: str | None  # its latest fixity run: valid | invalid | error | None (never)
    fixity_at: str | None  # when that run ended
    fixity_started: str | None
    fixity_mode: str | None
    last_good: str | None  # start of its latest valid full or deep check
    runs: int
    payload_oxum: str | None
    signed: bool | None
    alone: bool

    @property
    def payload(self) -> tuple[int, int] | None:
        """(payload bytes, payload files) from the Payload-Oxum, or None."""
        return oxum(self.payload_oxum)


@dataclass(frozen=True)
class LogSpan:
    """One line of a bag's custody log: its sequence number, hash and byte span."""

    bag_id: str
    seq: int
    hash: str
    start: int
    end: int


@dataclass(frozen=True)
class FixityRow:
    """One ``fixity_runs`` row (``mode`` fast|full|deep, ``result`` valid|invalid|error)."""

    bag_id: str
    started: str
    ended: str
    mode: str
    result: str
    files: int
    nbytes: int
    failures: list[str]


@dataclass(frozen=True)
class Lease:
    """One item of a nightly round: the node that claimed it, and until when."""

    kind: str
    item: str
    node: str
    expires: str
