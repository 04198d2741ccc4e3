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


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C (only possible from the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(_sig: int, _frm: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@contextlib.contextmanager
def no_interrupts() -> Iterator[None]:
    """Ignore Ctrl-C/SIGTERM while the last records and capture.json are written."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


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

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        old_int = signal.signal(signal.SIGINT, self._handle)
        old_term = signal.signal(signal.SIGTERM, self._handle)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)

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
