"""Ending our own Chromium: by its throwaway profile, and on Ctrl-C/SIGTERM.

Playwright starts Chromium (and its renderers, zygote and GPU helpers) as
children of its driver. A signal that only reaches our process must still end
them, and a signal to the whole process group must not leave the job hanging
in Playwright's event loop (issue 11, finding 8).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def kill_profile_processes(profile: str) -> list[int]:
    """SIGKILL the Chromium processes started with ``--user-data-dir=<profile>``.

    Only our own throwaway profile matches, so no other browser is touched;
    the children (renderers, zygote) go with their browser process.
    """
    killed: list[int] = []
    needle = f"--user-data-dir={profile}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline.split(b"\0"):
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
    return killed


def kill_driver() -> list[int]:
    """SIGKILL the Playwright driver processes that are our own children.

    On SIGTERM/SIGINT the driver closes its browsers "gracefully", and while a
    launch is still under way that waits for the launch timeout (a minute).
    Without the driver, every pending Playwright call fails at once.
    """
    killed: list[int] = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == me and b"playwright" in cmdline:
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
    return killed


def end_all(profiles: list[str]) -> None:
    """End our Chromium and its driver at once (an interrupted job).

    The driver's pending futures then fail; asyncio would print them as
    "Future exception was never retrieved" noise, so its logger is quietened.
    """
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    for p in profiles:
        kill_profile_processes(p)
    kill_driver()


@contextlib.contextmanager
def interruptible(profile: list[str]) -> Iterator[threading.Event]:
    """Ctrl-C/SIGTERM while Chromium renders: end Chromium at once and remember it.

    The capture's last phase ignores both signals (so capture.json is never
    half-written), and Chromium started in that phase would inherit that.
    Raising inside Playwright's event loop would leave it in a broken state,
    so the handler only kills our own Chromium (by profile) and sets a flag;
    the Playwright call then fails, and the caller raises KeyboardInterrupt.
    """
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(_sig: int, _frame: Any) -> None:
        flag.set()
        end_all(profile)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, h in old.items():
            signal.signal(s, h)
