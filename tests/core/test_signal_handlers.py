"""core/signals.py: handlers for the length of a block, then the process's own again."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from strongroom.core.signals import handling, sigterm_as_interrupt


def test_sigterm_stops_the_block_like_ctrl_c_and_the_old_handler_returns() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) == before


def test_every_signal_is_put_back_even_when_the_block_fails() -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(RuntimeError), handling(signal.SIG_IGN, signal.SIGINT, signal.SIGTERM):
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        raise RuntimeError("the block fails")
    assert {s: signal.getsignal(s) for s in before} == before


def test_off_the_main_thread_nothing_is_installed() -> None:
    before = signal.getsignal(signal.SIGTERM)
    seen: list[object] = []

    def body() -> None:
        with handling(signal.SIG_IGN, signal.SIGTERM):
            seen.append(signal.getsignal(signal.SIGTERM))

    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert seen == [before]
