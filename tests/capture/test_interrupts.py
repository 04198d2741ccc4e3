"""Ctrl-C during a -c 1 capture (fetched on the main thread) never cuts a record:
an interrupt that arrives while a record is written waits until it is whole."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from strongroom.capture.interrupts import DeferredInterrupts


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_a_record_is_raised_once_the_record_is_whole(sig):
    stop = threading.Event()
    guard = DeferredInterrupts(stop)
    written: list[str] = []
    with guard.installed():
        with pytest.raises(KeyboardInterrupt), guard.critical():
            written.append("head")
            os.kill(os.getpid(), sig)  # delivered here, on the main thread
            written.append("block")  # the rest of the record is still written
        assert written == ["head", "block"] and stop.is_set()
        with pytest.raises(KeyboardInterrupt):  # outside a record: at once
            os.kill(os.getpid(), sig)
    assert signal.getsignal(sig) != guard._handle  # the previous handlers are back
