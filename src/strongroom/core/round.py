"""One node's share of a nightly round: claim an item, hold it while working, finish it.

``verify --due`` and ``watch --all`` run the same way on one machine and on
many: before each bag (or seed) the node claims its lease in the ledger (see
``core/shared.py``), works on it while a background thread keeps the lease
alive, and marks it done. An item another node holds is skipped and listed.
A node killed mid-item stops renewing; when its lease expires, any node, or
its own next run, takes the item.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from strongroom.core.archive import Archive
from strongroom.core.ledger import Ledger, open_ledger
from strongroom.core.shared import precise_now


@dataclass
class Round:
    """The leases of one kind of work (``verify``, ``watch``) for this node, this run."""

    archive: Archive
    kind: str
    node: str = ""
    ttl: float | None = None  # seconds a claim lasts unrenewed; default [node] lease_seconds
    started: str = field(default_factory=precise_now)
    elsewhere: list[str] = field(default_factory=list)  # items another node held

    @property
    def lease_seconds(self) -> float:
        return float(self.ttl or self.archive.config.node.lease_seconds)

    def __post_init__(self) -> None:
        cfg = self.archive.config.node
        self.node = self.node or cfg.name
        self.ttl = float(cfg.lease_seconds) if self.ttl is None else self.ttl

    def record_holdings(self, bag_ids: list[str]) -> None:
        """Tell the ledger which bags this node holds (its own disk is the truth)."""
        with open_ledger(self.archive.root) as led:
            led.record_holdings(self.node, self.archive.config.node.jurisdiction, bag_ids)

    def claim(self, item: str) -> bool:
        """Claim a short item (no renewal); False, and listed, if another node has it."""
        with open_ledger(self.archive.root) as led:
            got = led.claim(
                self.kind, item, self.node, round_start=self.started, ttl=self.lease_seconds
            )
        if not got:
            self.elsewhere.append(item)
        return got

    def finish(self, items: list[str]) -> None:
        """Mark claimed items done, once their results are recorded."""
        with open_ledger(self.archive.root) as led:
            for item in items:
                led.finish(self.kind, item, self.node)

    @contextlib.contextmanager
    def item(self, item: str) -> Iterator[bool]:
        """Claim ``item``; yield whether this node got it; finish it when the block ends.

        An exception inside the block releases the item instead, so that the
        next run (or another node) does it.
        """
        with open_ledger(self.archive.root) as led:
            got = led.claim(
                self.kind, item, self.node, round_start=self.started, ttl=self.lease_seconds
            )
        if not got:
            self.elsewhere.append(item)
            yield False
            return
        stop = threading.Event()
        keeper = threading.Thread(target=self._keep, args=(item, stop), daemon=True)
        keeper.start()
        try:
            yield True
        except BaseException:
            stop.set()
            keeper.join()
            with contextlib.suppress(Exception), open_ledger(self.archive.root) as led:
                led.release(self.kind, item, self.node)
            raise
        stop.set()
        keeper.join()
        with open_ledger(self.archive.root) as led:
            led.finish(self.kind, item, self.node)

    def _keep(self, item: str, stop: threading.Event) -> None:
        """Renew the lease every third of its life until the work is done."""
        led: Ledger | None = None
        try:
            while not stop.wait(self.lease_seconds / 3):
                led = led or open_ledger(self.archive.root)
                led.renew(self.kind, item, self.node, self.lease_seconds)
        except Exception:  # a lost renewal only risks a second check, never a wrong one
            pass
        finally:
            if led is not None:
                led.close()
