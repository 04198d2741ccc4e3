"""What one verify run reads once, and how it records its checks in batches.

A run over 10,000 bags must not pay per bag for what is the same for all of
them: opening the ledger, loading the trusted keys and the signing key,
reading the timestamp settings, finding which bags the ledger knows and
where their inventory is. ``RunContext`` reads each of these once, keeps one
ledger connection for the run, and reads each inventory entry file once.

Recording: each checked bag adds a ``fixity_runs`` row, a custody line and the
custody head's new place. With ``batch`` (``verify --all --fast``), custody
lines are written without an fsync each, and the ledger's rows wait for one
commit: ``flush`` first makes every log durable (one ``syncfs``), then commits
the ledger, so a head never points past what is on disk. A crash before the
commit leaves log lines the ledger does not know yet, which the next append
takes up (they chain on from the head); the check is then simply not in the
history. A batch is flushed when it is a second old, and before the command
reports anything about its bags. Its rows wait in ``PendingRows`` (which
stands in for the ledger while the bags are recorded) and are written at the
flush with one statement per kind of row.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strongroom.core.archive import Archive
from strongroom.core.ledger import Ledger, open_ledger, utcnow
from strongroom.core.rows import CustodyHead, FixityRow, LogSpan

BATCH_SECONDS = 1.0  # a batch holds the ledger's write lock: keep it short
BATCH_BAGS = 1000


@dataclass(frozen=True)
class LedgerBag:
    """What the ledger recorded about a bag when it was made or received."""

    bag_id: str
    collection_id: str
    inventory: Path | None = None  # where bagging wrote the inventory entry
    signed: bool = False  # signed at bagging, as the creation event records


@dataclass
class PendingRows:
    """A batch's ledger rows until its flush; the ledger's stand-in for the three
    methods recording calls (``custody.append``, ``custody.remember_check``).

    ``known``: where each custody head was when the run read it (None: ask the
    ledger). A head that moved on since is still in its log, and ``append``
    reads on from it to the log's end, so the line it writes chains on right.
    """

    ledger: Callable[[], Ledger]
    known: dict[str, CustodyHead] | None = None
    heads: dict[str, LogSpan] = field(default_factory=dict)
    verified: list[LogSpan] = field(default_factory=list)
    runs: list[FixityRow] = field(default_factory=list)

    def custody_head(self, bag_id: str) -> CustodyHead | None:
        span = self.heads.get(bag_id)
        if span is not None:
            return CustodyHead(bag_id, span.seq, span.hash, span.start, span.end)
        if self.known is not None:
            return self.known.get(bag_id)
        return self.ledger().custody_head(bag_id)

    def set_custody_head(self, bag_id: str, *, seq: int, hash: str, start: int, end: int) -> None:
        self.heads[bag_id] = LogSpan(bag_id, seq, hash, start, end)

    def mark_custody_verified(
        self, bag_id: str, *, seq: int, hash: str, start: int, end: int
    ) -> None:
        self.verified.append(LogSpan(bag_id, seq, hash, start, end))

    def record_fixity_run(self, bag_id: str, **row: Any) -> None:
        self.runs.append(FixityRow(bag_id, **row))

    def write(self) -> None:
        """Write the rows into the ledger's open batch (committed by the caller)."""
        if self.heads or self.verified or self.runs:
            heads = list(self.heads.values())
            self.ledger().record_checks(self.runs, heads, self.verified, utcnow())
        # ``known`` stays as it was read: a later append to the same log reads on from
        # there through the lines written here
        self.heads, self.verified, self.runs = {}, [], []


@dataclass
class RunContext:
    """The things a verify run reads once (see the module docstring)."""

    archive: Archive
    batch: bool = False
    ledger: Ledger | None = None
    _keyring: Any = None
    keyring_error: str | None = None
    _key: Any = None
    _bags: dict[str, LedgerBag] | None = None
    _stamps: Any = None
    _entries: dict[tuple[Path, str], dict[str, Any] | None] = field(default_factory=dict)
    _folders: dict[Path, Path | None] = field(default_factory=dict)
    heads: dict[str, Any] | None = None  # every custody head, read at once (``load_heads``)
    _has_ledger: bool | None = None
    found: dict[tuple[str, Path | None], Path | None] = field(default_factory=dict)  # inventories
    _waiting: list[Callable[[], None]] = field(default_factory=list)
    _since: float = 0.0
    _logs_written: bool = False
    _pending: PendingRows | None = None
    presign: bool = False  # a worker: build and sign each bag's custody line ahead

    # --- the ledger -----------------------------------------------------------
    def open(self) -> Ledger:
        """The run's ledger connection (opened, or created, at first use)."""
        if self.ledger is None:
            self.ledger = open_ledger(self.archive.root)
        return self.ledger

    def close(self) -> None:
        """Close the connection; a batch not flushed is dropped (nothing was reported)."""
        if self.ledger is not None:
            self.ledger.close()
            self.ledger = None

    def has_ledger(self) -> bool:
        """Whether the archive has a ledger (asked of the disk once)."""
        if self.ledger is not None:
            return True
        if self._has_ledger is None:
            self._has_ledger = self.archive.has_ledger()
        return self._has_ledger

    def head(self, bag_id: str) -> Any:
        """A bag's anchored custody head (``core.ledger.CustodyHead``), or None."""
        if self.heads is not None:
            return self.heads.get(bag_id)
        return self.open().custody_head(bag_id) if self.has_ledger() else None

    def load_heads(self) -> None:
        """Read every custody head in one query, for checks that cannot ask the ledger
        (forked workers). A head that moves on meanwhile is still in the log, so a
        check against the one read here stays sound; the recording reads it afresh."""
        self.heads = self.open().custody_heads() if self.has_ledger() else {}

    def bags(self) -> dict[str, LedgerBag]:
        """Every bag the ledger knows, with where bagging wrote its inventory (two queries)."""
        if self._bags is None:
            self._bags = {}
            if self.has_ledger():
                led = self.open()
                created = led.creation_details()
                places: dict[str, Path] = {}  # the bags of a collection share one
                for bag_id, collection_id in led.bag_collections().items():
                    detail = created.get(bag_id) or {}
                    where = detail.get("inventory")
                    if isinstance(where, str) and where and where not in places:
                        places[where] = Path(where)
                    self._bags[bag_id] = LedgerBag(
                        bag_id,
                        str(collection_id),
                        places[where] if isinstance(where, str) and where else None,
                        bool(detail.get("signed")),
                    )
        return self._bags

    def prepare(self) -> None:
        """Read now what the checks would read lazily: keys, the ledger's bags, custody
        heads and timestamp settings (before forking workers, which cannot ask)."""
        self.keyring()
        self.signing_key()
        self.bags()
        self.stamps()
        self.load_heads()

    # --- keys, settings, inventory ----------------------------------------------
    def keyring(self) -> Any:
        """The trusted keyring (None, with ``keyring_error``, when it cannot be loaded)."""
        if self._keyring is None and self.keyring_error is None:
            from strongroom.errors import UsageError
            from strongroom.share.partners import trusted_keyring

            try:
                self._keyring = trusted_keyring(self.archive)
            except UsageError as exc:
                self.keyring_error = exc.message
        return self._keyring

    def signing_key(self) -> Any:
        """The archive's private key for custody lines (None: the archive signs nothing)."""
        if self._key is None:
            from strongroom.bag.signing import load_private_key

            self._key = load_private_key(self.archive.keys) or False
        return self._key or None

    def stamps(self) -> Any:
        """Timestamp settings and pending timestamps (``bag.timestamp.StampContext``)."""
        if self._stamps is None:
            from strongroom.bag.timestamp import stamp_context

            has = self.ledger is not None or self.archive.has_ledger()
            self._stamps = stamp_context(self.archive, self.open() if has else None)
        return self._stamps

    def entry(self, inventory: Path, bag_id: str) -> dict[str, Any] | None:
        """A bag's inventory entry, read once per run."""
        from strongroom.bag.inventory import find_entry, read_entry

        key = (inventory, bag_id)
        if key not in self._entries:
            folder = self.folder(inventory)
            self._entries[key] = (
                read_entry(folder, bag_id) if folder else find_entry(Path(inventory), bag_id)
            )
        return self._entries[key]

    def folder(self, inventory: Path) -> Path | None:
        """The collection folder an inventory path names (None: a one-file inventory);
        asked of the disk once per inventory in a run."""
        if inventory not in self._folders:
            from strongroom.bag.inventory import current

            here = current(Path(inventory))
            self._folders[inventory] = here if here.is_dir() else None
        return self._folders[inventory]

    # --- recording ----------------------------------------------------------------
    def logs_written(self) -> None:
        """A custody line was written without its fsync: ``flush`` syncs before it commits."""
        self._logs_written = True

    def recorded(self, done: Callable[[], None]) -> None:
        """One bag's rows are written: report it (``done``) once they are durable."""
        if not self.batch:
            done()
            return
        if not self._waiting:
            self._since = time.monotonic()
        self._waiting.append(done)
        if len(self._waiting) >= BATCH_BAGS or time.monotonic() - self._since >= BATCH_SECONDS:
            self.flush()

    def begin(self) -> None:
        """Before a bag's writes: they join the open batch (``batch`` runs only)."""
        if self.batch:
            self.open().begin_batch()

    def writer(self) -> Any:
        """Where a bag's rows go: the batch's ``PendingRows``, or the ledger itself."""
        if not self.batch:
            return self.open()
        if self._pending is None:
            self._pending = PendingRows(self.open, self.heads)
        return self._pending

    def flush(self) -> None:
        """Make the batch's custody lines durable, commit its rows, then report its bags."""
        if self._logs_written:
            from strongroom.core.fsutil import durable_tree

            durable_tree(self.archive.bags)
            self._logs_written = False
        if self._pending is not None:
            self._pending.write()
        if self.ledger is not None:
            self.ledger.commit_batch()
        waiting, self._waiting = self._waiting, []
        for done in waiting:
            done()
