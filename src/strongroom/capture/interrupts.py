"""Ctrl-C and SIGTERM during a capture: never in the middle of a record.

A threaded crawl writes records on worker threads only, and Python delivers
signals to the main thread, so an interrupt can never cut a record there. A
``--concurrency 1`` static crawl fetches on the main thread itself (see
``_Crawl._run_inline``): there :class:`DeferredInterrupts` holds an interrupt
that arrives while a record is being written until the record is whole, and
raises it at once anywhere else (a fetch waiting on a slow server is dropped,
as a worker's is).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from strongroom.core.signals import handling, sigterm_as_interrupt

__all__ = ["DeferredInterrupts", "no_interrupts", "sigterm_as_interrupt"]


def no_interrupts() -> contextlib.AbstractContextManager[None]:
    """Ignore Ctrl-C/SIGTERM while the last records and capture.json are written."""
    return handling(signal.SIG_IGN, signal.SIGINT, signal.SIGTERM)


class DeferredInterrupts:
    """Ctrl-C/SIGTERM as KeyboardInterrupt, except inside :meth:`critical`, where it waits.

    ``installed()`` sets the handlers (main thread only; elsewhere nothing is
    installed and ``critical`` just runs). ``stop`` is set as soon as the
    signal arrives, so a fetch checking it ends early.
    """

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.depth = 0
        self.pending = False

    def _handle(self, _sig: int, _frm: Any) -> None:
        self.stop.set()
        if self.depth:
            self.pending = True  # raised when the record is whole
            return
        raise KeyboardInterrupt

    def installed(self) -> contextlib.AbstractContextManager[None]:
        return handling(self._handle, signal.SIGINT, signal.SIGTERM)

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """A section an interrupt must not cut (writing one exchange's records)."""
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if self.pending and not self.depth:
            self.pending = False
            raise KeyboardInterrupt
