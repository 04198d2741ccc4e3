"""Signal handlers set for the length of a ``with`` block, then put back.

Python runs handlers on the main thread only, and refuses to set them elsewhere;
every helper here does nothing off the main thread, so library callers on a
worker thread keep the process's own handling.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

Handler = Callable[[int, Any], Any] | int | signal.Handlers


@contextlib.contextmanager
def handling(handler: Handler, *signums: int) -> Iterator[None]:
    """Handle ``signums`` with ``handler`` inside the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = [(s, signal.signal(s, handler)) for s in signums]
    try:
        yield
    finally:
        for s, previous in reversed(old):
            signal.signal(s, previous)


def _raise_interrupt(_sig: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def sigterm_as_interrupt() -> contextlib.AbstractContextManager[None]:
    """SIGTERM (kill, systemd, timeout) stops the block the way Ctrl-C does."""
    return handling(_raise_interrupt, signal.SIGTERM)
