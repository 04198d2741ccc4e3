"""Crash-safe file system helpers: write to a temporary name, fsync, rename.

Every file or folder strongroom publishes (WARCs, bags, manifests, inventory)
goes through these helpers so that a crash, Ctrl-C or a full disk never leaves
something half-written under a name that looks complete. Temporary names start
with ``.tmp-`` so that listings can ignore them and ``clean_stale_temps`` can
remove leftovers of a killed run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from strongroom.errors import UsageError

TMP_PREFIX = ".tmp-"

_OS_REASONS = {
    errno.ENOSPC: "the disk is full; free space and run the command again",
    errno.EDQUOT: "the disk quota is exhausted; free space and run the command again",
    errno.EROFS: "the file system is read-only; remount it read-write and run the command again",
    errno.EACCES: "permission denied (run as the archive's owner, or fix its permissions)",
    errno.EPERM: "operation not permitted (run as the archive's owner)",
    errno.EIO: "input/output error: the disk may be failing; check it before going on",
}


# Below this much free space a write that failed without an errno (SQLite's "disk
# I/O error" when its WAL index cannot grow) was the full disk.
_NEARLY_FULL = 1 << 20


def os_problem(what: str, exc: OSError) -> UsageError:
    """A UsageError (exit 2) for an OS error, saying what failed and what to do."""
    reason = _OS_REASONS.get(exc.errno or 0) or exc.strerror or str(exc)
    return UsageError(f"{what}: {reason}")


def translated(what: str, exc: OSError) -> Exception:
    """A full disk, a read-only file system and the like become a UsageError (exit 2)
    saying what to do next; any other OS error is returned as it is."""
    return os_problem(what, exc) if exc.errno in _OS_REASONS else exc


def read_only_fs(path: Path) -> bool:
    """True when ``path`` is on a file system mounted read-only."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def file_system_reason(path: Path) -> str | None:
    """Why writing below ``path`` fails, when its file system is read-only or (nearly)
    full; None otherwise. For engines that report either without an errno (SQLite)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    if st.f_flag & os.ST_RDONLY:
        return _OS_REASONS[errno.EROFS]
    if st.f_bavail * st.f_frsize < _NEARLY_FULL:
        return _OS_REASONS[errno.ENOSPC]
    return None


def fsync_dir(path: Path) -> None:
    """fsync a directory so that a rename inside it survives a power cut."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def tmp_name(final: Path) -> Path:
    """A unique temporary sibling of ``final`` on the same file system."""
    # os.urandom is what secrets.token_hex reads (secrets imports hmac at start-up)
    return final.with_name(f"{TMP_PREFIX}{final.name}-{os.urandom(4).hex()}")


@contextlib.contextmanager
def atomic_writer(final: Path, mode: int | None = None) -> Iterator[IO[bytes]]:
    """Open a temporary sibling of ``final`` for binary writing; publish it on success.

    On any exception the temporary file is removed and ``final`` is untouched.
    """
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = tmp_name(final)
        fh = open(tmp, "xb")  # noqa: SIM115 - closed below on every path
    except OSError as exc:
        raise translated(f"cannot write {final}", exc) from None
    try:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, final)
        fsync_dir(final.parent)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            fh.close()
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and exc.errno in _OS_REASONS:
            raise os_problem(f"cannot write {final}", exc) from None
        raise


def atomic_write_bytes(final: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``final`` atomically and durably."""
    with atomic_writer(final, mode=mode) as fh:
        fh.write(data)


def atomic_write_text(final: Path, text: str, mode: int | None = None) -> None:
    """Write UTF-8 ``text`` to ``final`` atomically and durably (LF line endings kept)."""
    atomic_write_bytes(final, text.encode("utf-8"), mode=mode)


def fsync_tree(root: Path) -> None:
    """fsync every regular file and folder below ``root`` (symlinks are not followed)."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            p = os.path.join(dirpath, name)
            if os.path.islink(p):
                continue
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))


@functools.cache
def _syncfs() -> Any:
    """libc's ``syncfs``, looked up once (``find_library`` runs a subprocess), or None."""
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None


def durable_tree(root: Path) -> None:
    """Make every file and folder below ``root`` durable, in as few calls as we can.

    One ``syncfs(2)`` on the file system that holds ``root`` flushes all of it
    (and whatever else is dirty there) in one go: 10,000 small files cost one
    call instead of 20,000 fsyncs. Where syncfs is not available (not Linux)
    every file and folder is fsynced one by one.
    """
    import ctypes

    syncfs = _syncfs()
    if syncfs is None:
        fsync_tree(root)
        return
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(root))
    finally:
        os.close(fd)


@contextlib.contextmanager
def staging_dir(final: Path) -> Iterator[Path]:
    """Build a folder under a temporary name beside ``final``; publish it on success.

    The caller fills the yielded folder. On success it is fsynced and renamed to
    ``final`` (which must not exist); on any exception it is removed, so nothing
    half-made is ever visible under ``final``.
    """
    final = Path(final)
    tmp = tmp_name(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            raise UsageError(f"{final} already exists; refusing to overwrite it")
        tmp.mkdir()
    except OSError as exc:
        raise translated(f"cannot write {final}", exc) from None
    try:
        yield tmp
        fsync_tree(tmp)
        publish_dir(tmp, final)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno in _OS_REASONS:
            # a full disk while the caller filled the folder: nothing is left of it
            raise os_problem(f"cannot write {final}", exc) from None
        raise


def publish_dir(tmp: Path, final: Path) -> None:
    """Rename a finished folder into place without ever replacing an existing one."""
    if final.exists():
        raise UsageError(f"{final} already exists; refusing to overwrite it")
    os.rename(tmp, final)
    fsync_dir(final.parent)


def clean_stale_temps(folder: Path) -> list[Path]:
    """Remove ``.tmp-*`` leftovers of killed runs in ``folder``; return what was removed."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for child in folder.iterdir():
        if child.name.startswith(TMP_PREFIX):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    child.unlink()
            removed.append(child)
    return removed


def is_within(root: Path, candidate: Path) -> bool:
    """True when ``candidate`` (after resolving symlinks) stays inside ``root``."""
    try:
        candidate.resolve(strict=False).relative_to(root.resolve(strict=False))
    except ValueError:
        return False
    return True


def safe_relpath(rel: str) -> bool:
    """True when a relative path from a manifest, tar or partner is harmless.

    Refuses absolute paths, ``..`` components, ``~`` expansion, NUL bytes and
    Windows drive letters, before anything is opened.
    """
    if not rel or "\x00" in rel:
        return False
    if rel.startswith(("/", "\\", "~")) or (len(rel) > 1 and rel[1] == ":"):
        return False
    parts = rel.replace("\\", "/").split("/")
    return all(part not in ("..",) for part in parts)


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[bool]:
    """Try to take a non-blocking exclusive lock; yield whether it was taken.

    The lock is an ``flock`` on ``path``, released by the kernel when the
    process dies, so a crashed cron run never leaves a stale lock behind.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise os_problem(f"cannot open lock file {path}", exc) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                yield False
                return
            raise os_problem(f"cannot lock {path}", exc) from None
        try:
            # the pid is only a hint for a person; a full disk must not stop the job
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise os_problem(f"cannot write lock file {path}", exc) from None
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
