"""Exporting a bag as a deterministic, signed tar.

The tar holds ``<bag-id>/...`` and ``<bag-id>.custody.jsonl``: names sorted,
mtime the Bagging-Date, uid/gid 0, no owner names, modes 0644/0755, GNU format
(long names without pax timestamps), so the same bag gives the same bytes on
every run. Ed25519 signs the whole message, which would mean reading a large
tar into memory; instead we write ``FILE.tar.sha512`` (``sha512sum -c``
format, hashed while streaming) and sign its exact bytes into ``FILE.tar.sig``.
A recipient checks the signature on the small file, then the tar against it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from strongroom.core.archive import Archive
from strongroom.core.fsutil import atomic_write_bytes, atomic_writer
from strongroom.core.ledger import open_ledger
from strongroom.errors import ProblemFound, UsageError
from strongroom.share.partners import get_partner
from strongroom.share.policy import Exit, check_exit, require_bag, validate_or_refuse

EXPORT = "export"


@dataclass
class ExportResult:
    bag_id: str
    tar: str
    sha512: str
    checksum_file: str
    signature: str
    bytes: int
    files: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _HashingWriter:
    """A write-only file wrapper that hashes (and counts) what passes through.

    tarfile streams members into it, so a large bag is never held in memory.
    """

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.hash = hashlib.sha512()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.fh.write(data)

    def tell(self) -> int:
        return self.size


def bag_mtime(bag_dir: Path) -> int:
    """The fixed mtime of export members: the bag's Bagging-Date (midnight UTC), else 0."""
    from strongroom.bag.baginfo import first, read_bag_info

    raw = first(read_bag_info(bag_dir), "Bagging-Date")
    try:
        day = dt.date.fromisoformat(raw[:10])
    except ValueError:
        return 0
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


def _tar_members(bag_dir: Path, bag_id: str) -> list[tuple[str, Path]]:
    """(archive name, file) for every folder and file of the bag, sorted by name."""
    out: list[tuple[str, Path]] = [(bag_id, bag_dir)]
    for dirpath, dirnames, filenames in os.walk(bag_dir):
        base = Path(dirpath)
        for name in dirnames + filenames:
            p = base / name
            if p.is_symlink() or not (p.is_dir() or p.is_file()):
                raise ProblemFound(f"{p}: not a regular file or folder; refusing to export")
            out.append((f"{bag_id}/{p.relative_to(bag_dir).as_posix()}", p))
    return sorted(out)


def _write_tar(archive: Archive, bag_dir: Path, output: Path) -> tuple[str, int, int]:
    """Stream the tar to ``output`` (atomically); return (sha512, bytes, files)."""
    bag_id = bag_dir.name
    mtime = bag_mtime(bag_dir)
    members = _tar_members(bag_dir, bag_id)
    custody_log = archive.custody_path(bag_id)
    files = 0
    with atomic_writer(output, mode=0o644) as raw:
        hw = _HashingWriter(raw)
        with tarfile.open(fileobj=hw, mode="w|", format=tarfile.GNU_FORMAT) as tar:  # type: ignore[call-overload]
            for name, path in members:
                _add(tar, name, path, mtime)
                files += path.is_file()
            if custody_log.is_file():
                _add(tar, f"{bag_id}.custody.jsonl", custody_log, mtime)
                files += 1
    return hw.hash.hexdigest(), hw.size, files


def export_bag(
    archive: Archive,
    bag_id: str,
    output: Path,
    *,
    override: bool = False,
    reason: str | None = None,
    partner_name: str | None = None,
) -> ExportResult:
    """Write a deterministic, signed tar of a bag and its custody log.

    With ``partner_name`` the exit policy for that partner applies; without,
    the tar may go anywhere, so only public bags go without an override. The
    export is logged in the ledger only: appending it to the custody log would
    change the next export's bytes.
    """
    from strongroom.bag.signing import load_private_key, sign_bytes

    archive.require()
    bag_dir = require_bag(archive, bag_id)
    key = load_private_key(archive.keys)
    if key is None:
        raise UsageError(
            f"no signing key in {archive.keys}; run `strongroom keys init` so exports are signed"
        )
    output = Path(output).absolute()
    if output.is_dir():
        raise UsageError(f"{output} is a folder; give a file name such as {bag_id}.tar")
    way = Exit.partner(get_partner(archive, partner_name), EXPORT) if partner_name else Exit(EXPORT)
    check_exit(archive, bag_id, way, override=override, reason=reason)
    validate_or_refuse(bag_dir, "not exported")
    digest, size, files = _write_tar(archive, bag_dir, output)
    sums = output.with_name(output.name + ".sha512")
    text = f"{digest}  {output.name}\n".encode()
    atomic_write_bytes(sums, text, mode=0o644)
    sig = output.with_name(output.name + ".sig")
    atomic_write_bytes(sig, sign_bytes(key, text), mode=0o644)
    with open_ledger(archive.root) as ledger:
        ledger.record_event(
            EXPORT,
            "success",
            bag_id=bag_id,
            actor=archive.config.operator,
            detail={"tar": str(output), "sha512": digest, "bytes": size},
        )
    return ExportResult(bag_id, str(output), digest, str(sums), str(sig), size, files)


def _add(tar: tarfile.TarFile, name: str, path: Path, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if path.is_dir():
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
        return
    info.type = tarfile.REGTYPE
    info.mode = 0o644
    info.size = path.stat().st_size
    with open(path, "rb") as fh:
        tar.addfile(info, fh)
