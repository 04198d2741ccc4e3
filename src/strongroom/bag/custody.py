"""The custody log: an append-only, hash-chained, signed record of a bag's life.

Everything that happens to a bag after it is made (fixity checks, watches,
shares, repairs, access changes) is appended to ``<bag-id>.custody.jsonl``
beside the bag. It is deliberately not a tag file: adding an event must never
change the bag. Each line is one JSON object::

    {"seq": 3, "time": "...Z", "actor": "...", "action": "fixity check",
     "inputs": {...}, "outcome": "success", "detail": {...},
     "prev": "sha256:<hex of the previous line's bytes>", "key": "SHA256:...",
     "sig": "<base64 Ed25519 signature of the line without 'sig'>"}

The first line's ``prev`` is the sha256 of the bag's ``tagmanifest-sha512.txt``,
which binds the log to the bag it describes. Editing, removing or reordering a
line breaks the chain at a line the checker names.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strongroom import SOFTWARE
from strongroom.bag.signing import Keyring, fingerprint, load_private_key, sign_bytes
from strongroom.core.fsutil import fsync_dir
from strongroom.core.ledger import utcnow
from strongroom.errors import UsageError

if TYPE_CHECKING:
    from strongroom.core.archive import Archive

GENESIS = "sha256:" + "0" * 64
TAGMANIFEST = "tagmanifest-sha512.txt"
MAX_LINE = 1024 * 1024  # a custody entry is small; a huge line is hostile


def canonical(entry: dict[str, Any]) -> bytes:
    """The bytes that are hashed and signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def line_hash(line: bytes) -> str:
    return "sha256:" + hashlib.sha256(line).hexdigest()


def genesis_for(bag_dir: Path | None) -> str:
    """The ``prev`` of a first entry: the hash of the bag's tag manifest, if it has one."""
    if bag_dir is not None:
        tm = bag_dir / TAGMANIFEST
        if tm.is_file():
            return "sha256:" + hashlib.sha256(tm.read_bytes()).hexdigest()
    return GENESIS


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


def _read_log(fd: int) -> tuple[bytes | None, int, int]:
    """The last complete line, the count of complete lines, and their byte length.

    A line without its newline is a write that never finished (a crash
    mid-append); it is not an entry. The log is read once per append.
    """
    size = os.fstat(fd).st_size
    data = os.pread(fd, size, 0) if size else b""
    complete_len = data.rfind(b"\n") + 1
    lines = data[:complete_len].splitlines()
    return (lines[-1] if lines else None), len(lines), complete_len


def append(
    archive: Archive,
    bag_id: str,
    action: str,
    *,
    outcome: str,
    inputs: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """Append one signed, chained entry to a bag's custody log and return it.

    The append is one ``write`` under an exclusive lock followed by fsync, so
    concurrent writers never interleave and a crash leaves at most an
    unterminated tail, which is set aside (``.torn``) before the next append.
    """
    path = archive.custody_path(bag_id)
    bag_dir = archive.bag_dir(bag_id)
    key = load_private_key(archive.keys)
    with _locked(path) as fd:
        size = os.fstat(fd).st_size
        last, count, complete_len = _read_log(fd)
        if complete_len != size:
            torn = os.pread(fd, size - complete_len, complete_len)
            with open(path.with_name(path.name + ".torn"), "ab") as fh:
                fh.write(torn + b"\n")
            os.ftruncate(fd, complete_len)
        entry: dict[str, Any] = {
            "seq": count + 1,
            "time": utcnow(),
            "actor": actor or archive.config.operator or SOFTWARE,
            "action": action,
            "inputs": inputs or {},
            "outcome": outcome,
            "detail": detail or {},
            "software": SOFTWARE,
            "prev": line_hash(last) if last is not None else genesis_for(bag_dir),
            "key": fingerprint(key.public_key()) if key else None,
        }
        entry["sig"] = base64.b64encode(sign_bytes(key, canonical(entry))).decode() if key else None
        os.write(fd, canonical(entry) + b"\n")
        os.fsync(fd)
    fsync_dir(path.parent)
    return entry


def read_entries(path: Path) -> list[dict[str, Any]]:
    """Every complete entry of a custody log (a torn last line is skipped)."""
    if not path.exists():
        return []
    out = []
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n") or len(raw) > MAX_LINE:
                break
            try:
                out.append(json.loads(raw))
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
    return out


@dataclass
class ChainReport:
    """The result of checking a custody log."""

    ok: bool = True
    entries: int = 0
    problems: list[str] = field(default_factory=list)
    signed: int = 0

    def fail(self, message: str) -> None:
        self.ok = False
        self.problems.append(message)


def verify_chain(
    path: Path, keyring: Keyring | None = None, tagmanifest: Path | None = None
) -> ChainReport:
    """Check the hash chain (and signatures, given a keyring) of a custody log.

    Every problem names the line. ``tagmanifest``, when given, must hash to the
    first entry's ``prev``: a log moved onto another bag is caught.
    """
    report = ChainReport()
    if not path.exists():
        return report
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read custody log {path}: {exc.strerror}") from None
    name = path.name
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        report.fail(f"{name} line {len(lines)}: incomplete entry (a write that never finished)")
        lines.pop()
    prev_line: bytes | None = None
    seen_signed = False
    for number, raw in enumerate(lines, start=1):
        where = f"{name} line {number}"
        if len(raw) > MAX_LINE:
            report.fail(f"{where}: entry is too long ({len(raw)} bytes)")
            prev_line = raw
            continue
        try:
            entry = json.loads(raw)
            if not isinstance(entry, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError):
            report.fail(f"{where}: not a JSON object (edited or damaged)")
            prev_line = raw
            continue
        report.entries += 1
        if entry.get("seq") != number:
            report.fail(f"{where}: sequence number {entry.get('seq')!r}, expected {number}")
        if prev_line is None:
            expected = genesis_for(tagmanifest.parent) if tagmanifest else None
            if expected is not None and entry.get("prev") != expected:
                report.fail(f"{where}: first entry does not belong to this bag's tag manifest")
        elif entry.get("prev") != line_hash(prev_line):
            report.fail(f"{where}: hash chain broken (line {number - 1} was edited or removed)")
        sig = entry.get("sig")
        if sig:
            seen_signed = True
            report.signed += 1
            if keyring is not None:
                unsigned = {k: v for k, v in entry.items() if k != "sig"}
                try:
                    signature = base64.b64decode(sig, validate=True)
                except ValueError:
                    signature = b""
                check = keyring.verify_bytes(canonical(unsigned), signature, entry.get("key"))
                if not check.ok:
                    report.fail(f"{where}: bad signature ({check.reason})")
        elif seen_signed:
            report.fail(f"{where}: unsigned entry after signed ones")
        prev_line = raw
    return report
