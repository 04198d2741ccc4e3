"""How much of a ``verify --due`` budget a bag needs, decided before it starts.

Part of the verify room's fixity runs (``verify/fixity.py``), kept apart so that
each file stays readable.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from strongroom.core.archive import parse_size
from strongroom.errors import UsageError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|day|days|w|week|weeks)\s*$")
_UNIT_SECONDS = {
    "s": 1,
    "sec": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "hr": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}


def parse_duration(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` -> seconds."""
    m = _DURATION.match(str(text).lower())
    if not m:
        raise UsageError(f"{text!r} is not a duration; use e.g. 30d, 12h, 90m or 45s")
    return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]


@dataclass(frozen=True)
class Budget:
    """How much one run may spend: wall-clock seconds or payload bytes (or no limit)."""

    seconds: float | None = None
    bytes: int | None = None

    @classmethod
    def parse(cls, text: str | None) -> Budget:
        """``1h`` / ``90m`` is time; ``500GB`` / ``2GiB`` is bytes (a bare ``m`` is minutes)."""
        if not text:
            return cls()
        if _DURATION.match(str(text).lower()):
            return cls(seconds=parse_duration(text))
        try:
            return cls(bytes=parse_size(text))
        except UsageError:
            raise UsageError(
                f"{text!r} is not a budget; use a time (1h, 90m) or a size (500GB, 2GiB)"
            ) from None

    def describe(self) -> str:
        if self.seconds is not None:
            return f"{self.seconds:g} s"
        if self.bytes is not None:
            return f"{self.bytes} bytes"
        return "unlimited"


class BudgetPlanner:
    """Decides, before each bag, whether it can finish within what is left of the budget.

    The time a bag needs is estimated from its Payload-Oxum size and the throughput
    measured on the bags checked so far in this run; before the first bag, from the
    hash ceiling of this machine measured in memory (an optimistic bound, so a bag
    it refuses could never have fitted). A bag that cannot finish is not started and
    is left for the next run, except the most overdue one (the first in the queue):
    it always starts, so that no bag is put off for ever, and the run says so.
    """

    def __init__(self, budget: Budget, workers: int | None) -> None:
        self.budget = budget
        self.workers = workers
        self.t0 = time.monotonic()
        self.bytes_done = 0
        self.seconds_done = 0.0
        self.bags_done = 0
        self._ceiling: float | None = None

    def admit(self, target: Any, size: int, *, first: bool) -> str | None:
        """None: leave it for the next run; a note: start it, and say why; "": start it."""
        if self.budget.bytes is not None:
            fits = self.bytes_done + size <= self.budget.bytes
            need = f"{size} bytes of the {self.budget.bytes - self.bytes_done} left"
        elif self.budget.seconds is not None:
            left = self.budget.seconds - (time.monotonic() - self.t0)
            estimate = self.estimate(size)
            fits = estimate <= left
            need = f"an estimated {estimate:.0f} s of the {max(left, 0):.0f} s left"
        else:
            return ""
        if fits:
            return ""
        if first:
            return (
                f"{target.name} is the most overdue bag, so it was checked although it needs"
                f" {need} of the budget ({self.budget.describe()})"
            )
        return None

    def estimate(self, size: int) -> float:
        """Seconds that checking ``size`` payload bytes should take."""
        if self.bags_done and self.bytes_done >= 64 * 1024 * 1024:
            return size * self.seconds_done / self.bytes_done
        if self.bags_done and not self.bytes_done:
            return self.seconds_done / self.bags_done
        return size / self.ceiling()

    def ceiling(self) -> float:
        """Bytes/s of sha512 over in-memory data on every hashing thread (measured once)."""
        if self._ceiling is None:
            self._ceiling = measure_hash_ceiling(self.workers)
        return self._ceiling

    def spent(self, run: Any) -> None:
        self.bags_done += 1
        self.bytes_done += run.report.bytes if run.report else 0
        self.seconds_done += run.seconds


def measure_hash_ceiling(workers: int | None = None, seconds: float = 0.05) -> float:
    """Bytes per second that sha512 reaches over in-memory blocks on ``workers`` threads."""
    import concurrent.futures as cf
    import hashlib
    import os

    n = max(1, workers or os.cpu_count() or 1)
    block = bytes(1024 * 1024)

    def spin() -> int:
        h, done, end = hashlib.sha512(), 0, time.monotonic() + seconds
        while time.monotonic() < end:
            h.update(block)
            done += len(block)
        return done

    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(n) as pool:
        total = sum(pool.map(lambda _i: spin(), range(n)))
    return total / max(time.monotonic() - t0, 1e-6)
