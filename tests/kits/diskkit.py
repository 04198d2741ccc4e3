"""Real small file systems for the full-disk and read-only tests (no tests here).

A tmpfs of a few MiB is mounted (root only; the tests skip otherwise), filled
until only ``leave`` bytes are free, or remounted read-only, and unmounted at
the end. Nothing is injected: the kernel answers ENOSPC and EROFS itself.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_fs(where: Path, size: str = "4m") -> Iterator[Path]:
    """Mount a ``size`` tmpfs at ``where`` for the block; skip the test without root."""
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: Path, leave: int = 0) -> Path:
    """Take the free space of ``folder``'s file system until ``leave`` bytes are left;
    return the filler file (delete it to give the space back)."""
    filler = folder / "filler"
    with open(filler, "ab", buffering=0) as fh:
        try:
            while (st := os.statvfs(folder)).f_bavail * st.f_frsize > leave:
                fh.write(b"\0" * 4096)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def read_only(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)


def writable(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,rw", str(folder)], check=True)


@contextmanager
def broken(folder: Path, how: str, leave: int = 0) -> Iterator[None]:
    """Within the block ``folder``'s file system is full (``how="full"``) or read-only
    (``how="ro"``); after it, it is whole again (the filler gone, or remounted rw)."""
    if how == "full":
        filler = fill(folder, leave)
        try:
            yield
        finally:
            filler.unlink()
    else:
        read_only(folder)
        try:
            yield
        finally:
            writable(folder)


FULL = "the disk is full; free space and run the command again"
READ_ONLY = "the file system is read-only; remount it read-write and run the command again"


def says(how: str) -> str:
    """The next step a user is told for a full (``"full"``) or read-only (``"ro"``) disk."""
    return FULL if how == "full" else READ_ONLY


def leftovers(root: Path) -> list[str]:
    """Temporary files and folders anywhere below ``root`` (there must be none)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob(".tmp-*"))
