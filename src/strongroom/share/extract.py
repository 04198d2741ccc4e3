"""Unpacking what a partner sends, with every byte treated as hostile.

A tar is never handed to ``tarfile.extractall``: we iterate its members and
refuse absolute or ``..`` names, links, devices, duplicates and over-long
names. A folder source is copied with the same checks and never through a
symlink.

The work is bounded before it is done, not after:

- files and bytes against ``[receive]`` in config.toml, counting declared
  sizes *and* the bytes actually written, so a lying header stops at the limit;
- bytes against the bag's own declaration: once ``bag-info.txt`` has been read,
  the bag may hold its ``Payload-Oxum`` plus a margin for tag files, no more;
- bytes against the free space of the archive's file system (an environment
  error, exit 2, not a verdict on the bag);
- the decompression ratio: a compressed tar that expands more than
  ``max_ratio`` times what was read of it is a bomb, refused after writing
  little.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from strongroom.core.archive import ReceiveLimits
from strongroom.core.fsutil import os_problem
from strongroom.errors import UsageError
from strongroom.share.transfer import head_name

BLOCK = 1024 * 1024
# Tag files (manifests, bag-info, provenance, capture record, signature, custody
# log) beside the payload that Payload-Oxum counts: a generous allowance.
TAG_MARGIN_BYTES = 8 * 1024 * 1024
TAG_MARGIN_FILES = 1000
RATIO_SLACK = 1024 * 1024  # the first MiB may expand freely (headers, small tars)
FREE_RESERVE = 16 * 1024 * 1024  # never fill the archive's disk to the last byte
MAX_BAG_INFO = 1024 * 1024
MAX_HEAD = 64 * 1024  # a signed custody head is a few hundred bytes
_OXUM_RE = re.compile(rb"^Payload-Oxum[ \t]*:[ \t]*(\d{1,20})\.(\d{1,12})[ \t]*\r?$", re.M)
# OS errors that say the environment, not the bag, is at fault
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


class Refused(Exception):
    """A step refused the bag; ``stage`` says which."""

    def __init__(self, stage: str, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.stage = stage
        self.problems = problems


def show(text: str) -> str:
    """A name from a hostile source, safe to print (control characters escaped)."""
    return re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda m: f"\\x{ord(m.group()):02x}", text)


def environment_error(exc: OSError, where: Path | str) -> UsageError:
    """A clear message (exit 2) for a full, read-only or failing file system."""
    return os_problem(f"cannot write {where}", exc)


def free_bytes(folder: Path) -> int:
    """Bytes this process may still write under ``folder``, less a reserve."""
    return max(0, shutil.disk_usage(folder).free - FREE_RESERVE)


class Budget:
    """Counts files and bytes against the receive limits, the declaration and the disk."""

    def __init__(self, limits: ReceiveLimits, dest: Path) -> None:
        self.limits = limits
        self.dest = dest
        self.files = 0
        self.dirs = 0
        self.bytes = 0
        self.names: set[str] = set()
        self.free = free_bytes(dest)
        self.max_bytes = limits.max_bytes
        self.max_files = limits.max_files
        self.why = "max_bytes in config.toml [receive]"
        self.compressed: Callable[[], int] | None = None  # bytes read of a compressed source

    def name(self, rel: str) -> list[str]:
        """Check one member name; return its parts (leading ``./`` removed)."""
        shown = show(rel[:200])
        if len(rel.encode("utf-8", "surrogateescape")) > self.limits.max_name_length:
            raise Refused("extract", [f"{shown}…: name longer than {self.limits.max_name_length}"])
        if "\x00" in rel or "\\" in rel:
            raise Refused("extract", [f"{shown}: NUL or backslash in a name"])
        if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":"):
            raise Refused("extract", [f"{shown}: absolute path; refusing to write outside"])
        while rel.startswith("./"):
            rel = rel[2:]
        parts = rel.rstrip("/").split("/")
        if ".." in parts:
            raise Refused("extract", [f"{shown}: '..' in the path (tar-slip); refusing"])
        if any(p in ("", ".") for p in parts) or rel.startswith("~"):
            raise Refused("extract", [f"{shown}: empty, '.' or '~' path component"])
        key = "/".join(parts)
        if key in self.names:
            raise Refused("extract", [f"{shown}: appears twice (a later copy could replace it)"])
        self.names.add(key)
        return parts

    def declare(self, data: bytes) -> None:
        """Bound the rest by the Payload-Oxum that ``bag-info.txt`` declares."""
        m = _OXUM_RE.search(data)
        if not m:
            return
        octets, count = int(m.group(1)), int(m.group(2))
        if octets + TAG_MARGIN_BYTES < self.max_bytes:
            self.max_bytes = octets + TAG_MARGIN_BYTES
            self.why = f"its Payload-Oxum declares {octets} bytes"
        self.max_files = min(self.max_files, count + TAG_MARGIN_FILES)
        if octets > self.free:
            raise UsageError(
                f"the bag declares {octets} bytes but only {self.free} bytes are free in"
                f" {self.dest}; free some space and retry"
            )

    def file(self, declared: int) -> None:
        self.files += 1
        if self.files > self.max_files:
            raise Refused("extract", [f"more than {self.max_files} files (max_files)"])
        if declared < 0 or self.bytes + declared > self.max_bytes:
            raise Refused("extract", [f"more than {self.max_bytes} bytes ({self.why})"])
        self._room(declared)

    def folder(self) -> None:
        self.dirs += 1
        if self.dirs > self.limits.max_files:
            raise Refused("extract", [f"more than {self.limits.max_files} folders"])

    def _room(self, more: int) -> None:
        if self.bytes + more > self.free:
            raise UsageError(
                f"not enough free space in {self.dest} for this bag ({self.free} bytes free);"
                " free some space and retry"
            )

    def _count(self, n: int, shown: str) -> None:
        self.bytes += n
        if self.bytes > self.max_bytes:
            raise Refused("extract", [f"{shown}: more than {self.max_bytes} bytes ({self.why})"])
        self._room(0)
        if self.compressed is not None:
            read = self.compressed()
            if self.bytes > self.limits.max_ratio * read + RATIO_SLACK:
                raise Refused(
                    "extract",
                    [
                        f"{shown}: {self.bytes} bytes from {read} compressed bytes is more than"
                        f" {self.limits.max_ratio} times (max_ratio): a decompression bomb"
                    ],
                )

    def write(self, fin: IO[bytes], target: Path, shown: str) -> None:
        """Copy a stream to a new file, counting the bytes really written."""
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as out:
            while chunk := fin.read(BLOCK):
                self._count(len(chunk), shown)
                out.write(chunk)


def _layout(top: dict[str, bool]) -> str:
    """The bag id from the top-level entries: one folder, optionally its custody log."""
    folders = [n for n, is_dir in top.items() if is_dir]
    others = [n for n, is_dir in top.items() if not is_dir]
    if len(folders) != 1:
        raise Refused(
            "extract", [f"expected one bag folder at the top, found {len(folders)} folders"]
        )
    bag_id = folders[0]
    allowed = (f"{bag_id}.custody.jsonl", head_name(bag_id))
    unexpected = [n for n in others if n not in allowed]
    if unexpected:
        raise Refused("extract", [f"{show(unexpected[0])}: unexpected file beside the bag"])
    return bag_id


def _member_kind(member: tarfile.TarInfo) -> None:
    """Refuse every member that is not a plain file or folder."""
    shown = show(member.name[:200])
    if member.issym():
        raise Refused("extract", [f"{shown}: symbolic link (-> {show(member.linkname)})"])
    if member.islnk():
        raise Refused("extract", [f"{shown}: hard link (-> {show(member.linkname)})"])
    if member.ischr() or member.isblk() or member.isfifo():
        raise Refused("extract", [f"{shown}: device or FIFO"])
    if member.issparse() or not (member.isreg() or member.isdir()):
        raise Refused("extract", [f"{shown}: unsupported tar member type"])


def _extract_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path, budget: Budget, bag_info: bool
) -> None:
    shown = show(member.name[:200])
    if member.isdir():
        budget.folder()
        target.mkdir(parents=True, exist_ok=True)
        return
    budget.file(member.size)
    target.parent.mkdir(parents=True, exist_ok=True)
    fin = tar.extractfile(member)
    if fin is None:
        raise Refused("extract", [f"{shown}: unreadable member"])
    budget.write(fin, target, shown)
    if bag_info and member.size <= MAX_BAG_INFO:
        budget.declare(target.read_bytes())


def _next(tar: tarfile.TarFile, name: str) -> tarfile.TarInfo | None:
    try:
        return tar.next()
    except (tarfile.TarError, EOFError, ValueError) as exc:
        raise Refused("extract", [f"{name}: damaged tar ({exc})"]) from None
    except OSError as exc:
        if exc.errno in ENVIRONMENT_ERRNOS:
            raise
        raise Refused("extract", [f"{name}: damaged tar ({exc})"]) from None


def extract_tar(src: Path, dest: Path, limits: ReceiveLimits) -> str:
    """Unpack an untrusted tar (optionally compressed) into ``dest``; return the bag id."""
    budget = Budget(limits, dest)
    top: dict[str, bool] = {}
    try:
        raw = open(src, "rb")  # noqa: SIM115 - closed in the finally below
    except OSError as exc:
        raise Refused("extract", [f"{src.name}: cannot read ({exc.strerror})"]) from None
    try:
        tar = tarfile.open(fileobj=raw, mode="r:*")  # noqa: SIM115 - closed below
    except (tarfile.TarError, OSError, EOFError) as exc:
        raw.close()
        raise Refused("extract", [f"{src.name}: not a readable tar file ({exc})"]) from None
    if tar.fileobj is not raw:  # compressed: bound the expansion by what was read
        budget.compressed = raw.tell
    try:
        while (member := _next(tar, src.name)) is not None:
            _member_kind(member)
            parts = budget.name(member.name)
            if len(parts) == 1:
                if parts[0] in top:
                    raise Refused("extract", [f"{show(member.name[:200])}: appears twice"])
                top[parts[0]] = member.isdir()
            bag_info = len(parts) == 2 and parts[1] == "bag-info.txt"
            try:
                _extract_member(tar, member, dest.joinpath(*parts), budget, bag_info)
            except (OSError, tarfile.TarError, EOFError) as exc:
                if isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS:
                    raise environment_error(exc, dest) from None
                why = getattr(exc, "strerror", None) or str(exc)
                raise Refused(
                    "extract", [f"{show(member.name[:200])}: cannot unpack ({why})"]
                ) from None
    finally:
        tar.close()
        raw.close()
    return _layout(top)


def copy_dir(src: Path, dest: Path, limits: ReceiveLimits) -> str:
    """Copy an untrusted bag folder (and the custody log and head beside it) into ``dest``."""
    if src.is_symlink():
        raise Refused("extract", [f"{src}: is a symbolic link; give the real folder"])
    budget = Budget(limits, dest)
    bag_id = src.name
    budget.name(bag_id)
    try:
        (dest / bag_id).mkdir()
        _copy_tree(src, bag_id, dest, budget)
        log = src.parent / f"{bag_id}.custody.jsonl"
        if log.is_symlink():
            raise Refused("extract", [f"{log.name}: symbolic link; not followed"])
        if log.is_file():
            budget.file(log.stat().st_size)
            _copy_nofollow(log, dest / log.name, budget, log.name)
        head = src.parent / head_name(bag_id)
        if head.is_file() and not head.is_symlink() and head.stat().st_size <= MAX_HEAD:
            budget.file(head.stat().st_size)
            _copy_nofollow(head, dest / head.name, budget, head.name)
    except OSError as exc:
        if exc.errno in ENVIRONMENT_ERRNOS:
            raise environment_error(exc, dest) from None
        raise
    return bag_id


def _copy_tree(folder: Path, rel: str, dest: Path, budget: Budget) -> None:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise Refused("extract", [f"{folder}: cannot list ({exc.strerror})"]) from None
    for entry in entries:
        child_rel = f"{rel}/{entry.name}"
        shown = show(child_rel)
        parts = budget.name(child_rel)
        if entry.is_symlink():
            raise Refused("extract", [f"{shown}: symbolic link; not followed"])
        target = dest.joinpath(*parts)
        if entry.is_dir(follow_symlinks=False):
            budget.folder()
            target.mkdir()
            _copy_tree(Path(entry.path), child_rel, dest, budget)
        elif entry.is_file(follow_symlinks=False):
            st = entry.stat(follow_symlinks=False)
            if st.st_nlink > 1:
                # a hard link could make us read a file outside the bag
                raise Refused("extract", [f"{shown}: hard link ({st.st_nlink} names)"])
            budget.file(st.st_size)
            _copy_nofollow(Path(entry.path), target, budget, shown)
            if len(parts) == 2 and parts[1] == "bag-info.txt" and st.st_size <= MAX_BAG_INFO:
                budget.declare(target.read_bytes())
        else:
            raise Refused("extract", [f"{shown}: device, FIFO or socket"])


def _copy_nofollow(src: Path, target: Path, budget: Budget, shown: str) -> None:
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise Refused("extract", [f"{shown}: cannot read ({exc.strerror})"]) from None
    with os.fdopen(fd, "rb") as fin:
        budget.write(fin, target, shown)
