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

What protects the log is anchored outside it: the ledger keeps each log's head
(last sequence number, line hash and byte span), updated with every append. An
append reads only the head's line, so it costs the same at ten entries or a
million; a log cut short, emptied, deleted or replaced no longer reaches its
head, and ``check_custody`` says so. The ledger also remembers the last entry
whose signature a verify checked, so a nightly verify checks only new entries
(``check_since``) and ``--deep`` the whole chain.

``record_event`` is the one way to record an event about a bag: the custody
line and the ledger's event row, together.
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
from strongroom.core.fsutil import fsync_dir, os_problem
from strongroom.core.ledger import Ledger, open_ledger, utcnow
from strongroom.core.rows import CustodyHead
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
    flags = os.O_RDWR | os.O_CREAT | os.O_APPEND
    try:
        try:
            fd = os.open(path, flags, 0o644)
        except FileNotFoundError:  # its folder first (not a mkdir per append)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, flags, 0o644)
    except OSError as exc:
        raise os_problem(f"cannot open custody log {path}", exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def _ledger_for(archive: Archive, ledger: Ledger | None) -> Iterator[Ledger]:
    """The caller's open ledger, or the archive's for the length of one call."""
    if ledger is not None:
        yield ledger
        return
    with open_ledger(archive.root) as own:
        yield own


def _read_log(fd: int, size: int) -> tuple[bytes | None, int, int]:
    """The last complete line, the count of complete lines, and their byte length.

    A line without its newline is a write that never finished (a crash mid-append);
    it is not an entry. Used only when the ledger has no usable head for this log
    (a log from before heads, a received log, or a damaged one)."""
    data = os.pread(fd, size, 0) if size else b""
    complete_len = data.rfind(b"\n") + 1
    lines = data[:complete_len].splitlines()
    return (lines[-1] if lines else None), len(lines), complete_len


@dataclass(frozen=True)
class _Tail:
    last: bytes | None  # the last complete line
    seq: int  # its sequence number (0 for an empty log)
    start: int  # where it starts
    end: int  # where the complete lines end
    anchored: bool  # the log still reaches the ledger's head
    size: int  # the log's size (a torn last line makes it more than ``end``)


def _tail(fd: int, head: CustodyHead | None) -> _Tail:
    """Find the log's end from the ledger's head, reading only what follows it.

    Lines a crash left after the head (written, but the ledger not yet told) are taken
    if they chain on. A log that no longer holds its head line is read in full, and
    reported as not anchored so the head is left as evidence."""
    size = os.fstat(fd).st_size
    if head is not None and head.end <= size:
        data = os.pread(fd, size - head.start, head.start)
        first_len = head.end - head.start
        line = data[: first_len - 1]
        if data[first_len - 1 : first_len] == b"\n" and line_hash(line) == head.hash:
            last, seq, start, pos = line, head.seq, head.start, first_len
            while True:
                nl = data.find(b"\n", pos)
                if nl < 0:
                    break
                raw = data[pos:nl]
                try:
                    entry = json.loads(raw)
                except (ValueError, UnicodeDecodeError):
                    break
                if not isinstance(entry, dict) or entry.get("prev") != line_hash(last):
                    break
                last, seq, start, pos = raw, seq + 1, head.start + pos, nl + 1
            return _Tail(last, seq, start, head.start + pos, True, size)
    final, count, complete_len = _read_log(fd, size)
    start = complete_len - len(final) - 1 if final is not None else 0
    return _Tail(final, count, start, complete_len, head is None, size)


def append(
    archive: Archive,
    bag_id: str,
    action: str,
    *,
    outcome: str,
    inputs: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
    actor: str | None = None,
    ledger: Ledger | None = None,
    key: Any = None,
    durable: bool = True,
    prepared: PreparedLine | None = None,
) -> dict[str, Any]:
    """Append one signed, chained entry to a bag's custody log and return it.

    The append is one ``write`` under an exclusive lock followed by fsync, so concurrent
    writers never interleave and a crash leaves at most an unterminated tail, which is
    set aside (``.torn``) before the next append. Then the ledger's head moves to the
    new entry. Prefer ``record_event``, which also writes the ledger's event row.
    ``key``: the archive's signing key, when the caller loaded it already (a run over
    many bags); ``durable=False``: the caller makes the log durable itself (one
    ``syncfs`` for many logs) before it commits the ledger's new heads. ``prepared``:
    this entry signed ahead, written if the log still ends where its builder saw it
    end; else the entry is built and signed afresh."""
    path = archive.custody_path(bag_id)
    bag_dir = archive.bag_dir(bag_id)
    key = key if key is not None else load_private_key(archive.keys)
    with _ledger_for(archive, ledger) as led, _locked(path) as fd:
        try:
            entry, span = _append_locked(
                archive,
                path,
                fd,
                bag_dir,
                led.custody_head(bag_id),
                key,
                prepared,
                action=action,
                outcome=outcome,
                inputs=inputs,
                detail=detail,
                actor=actor,
            )
            line, tail, anchored = span
            os.write(fd, line)
            if durable:
                os.fsync(fd)
        except OSError as exc:
            raise os_problem(f"cannot append to custody log {path}", exc) from None
        if anchored:
            led.set_custody_head(
                bag_id,
                seq=entry["seq"],
                hash=line_hash(line[:-1]),
                start=tail,
                end=tail + len(line),
            )
    try:
        if durable:
            fsync_dir(path.parent)
    except OSError as exc:
        raise os_problem(f"cannot sync {path.parent}", exc) from None
    return entry


def _append_locked(
    archive: Archive,
    path: Path,
    fd: int,
    bag_dir: Path,
    head: CustodyHead | None,
    key: Any,
    prepared: PreparedLine | None,
    **fields: Any,
) -> tuple[dict[str, Any], tuple[bytes, int, bool]]:
    """Build the next entry after the log's tail; set a torn tail aside first."""
    tail = _tail(fd, head)  # under the lock: no other writer changes the size meanwhile
    size = tail.size
    if tail.end != size:
        torn = os.pread(fd, size - tail.end, tail.end)
        with open(path.with_name(path.name + ".torn"), "ab") as fh:
            fh.write(torn + b"\n")
        os.ftruncate(fd, tail.end)
    prev = line_hash(tail.last) if tail.last is not None else genesis_for(bag_dir)
    if prepared and tail.last is not None and prepared.follows(tail.seq, tail.end, prev):
        entry = prepared.entry if prepared.entry is not None else json.loads(prepared.line)
        return entry, (prepared.line + b"\n", tail.end, tail.anchored)
    entry, line = _new_entry(archive, tail.seq + 1, prev, key, fields)
    return entry, (line + b"\n", tail.end, tail.anchored)


def _new_entry(
    archive: Archive, seq: int, prev: str, key: Any, fields: dict[str, Any]
) -> tuple[dict[str, Any], bytes]:
    """The entry ``seq`` after the line hashing to ``prev``, signed; (entry, its line)."""
    entry: dict[str, Any] = {
        "seq": seq,
        "time": utcnow(),
        "actor": fields["actor"] or archive.config.operator or SOFTWARE,
        "action": fields["action"],
        "inputs": fields["inputs"] or {},
        "outcome": fields["outcome"],
        "detail": fields["detail"] or {},
        "software": SOFTWARE,
        "prev": prev,
        "key": _fingerprint(key) if key else None,
    }
    if not key:
        entry["sig"] = None
        return entry, canonical(entry)
    unsigned = canonical(entry)
    entry["sig"] = sig = base64.b64encode(sign_bytes(key, unsigned)).decode()
    # one encoding: sorted, "sig" goes right before "software" (only "time" follows)
    at = unsigned.rindex(b',"software":')
    return entry, b'%s,"sig":"%s"%s' % (unsigned[:at], sig.encode(), unsigned[at:])


@dataclass(frozen=True)
class PreparedLine:
    """A line built and signed ahead (``custody_ahead``) for a log whose last entry was
    ``after_seq``, hashing to ``prev``, ending at ``after_end``."""

    after_seq: int
    after_end: int
    prev: str
    line: bytes  # the canonical entry, without its newline
    entry: dict[str, Any] | None  # the same, as a dict (None: parsed from the line if needed)

    def follows(self, seq: int, end: int, prev: str) -> bool:
        """Whether the log still ends where this line's builder saw it end."""
        return (self.after_seq, self.after_end, self.prev) == (seq, end, prev)


_FINGERPRINTS: dict[int, tuple[Any, str]] = {}


def _fingerprint(key: Any) -> str:
    """The signing key's fingerprint, worked out once per key (the key is kept, so its
    id is never reused for another)."""
    known = _FINGERPRINTS.get(id(key))
    if known is None or known[0] is not key:
        known = _FINGERPRINTS[id(key)] = (key, fingerprint(key.public_key()))
    return known[1]


def record_event(
    archive: Archive,
    bag_id: str | None,
    action: str,
    *,
    outcome: str,
    inputs: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
    actor: str | None = None,
    ledger: Ledger | None = None,
    time: str | None = None,
    ledger_detail: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Record one event: the bag's custody line, then the ledger's event row.

    Without a bag (a refused receive, a watch of an unbagged seed) only the
    ledger row is written. The ledger row's detail is ``inputs | detail``
    unless ``ledger_detail`` is given. Returns the custody entry, if any.
    """
    with _ledger_for(archive, ledger) as led:
        entry = None
        if bag_id is not None:
            entry = append(
                archive,
                bag_id,
                action,
                outcome=outcome,
                inputs=inputs,
                detail=detail,
                actor=actor,
                ledger=led,
            )
        who = entry["actor"] if entry else (actor or archive.config.operator or SOFTWARE)
        led.record_event(
            action,
            outcome,
            bag_id=bag_id,
            actor=who,
            detail=ledger_detail if ledger_detail is not None else (inputs or {}) | (detail or {}),
            time=time,
        )
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
    """The result of checking a custody log (or its entries since a verified head)."""

    ok: bool = True
    entries: int = 0
    problems: list[str] = field(default_factory=list)
    signed: int = 0
    last_seq: int = 0  # the last entry checked, to remember as verified
    last_hash: str | None = None
    last_start: int = 0
    last_end: int = 0
    # the bytes of the log this check read, from ``read_from`` on (not kept in output)
    read: bytes | None = field(default=None, repr=False, compare=False)
    read_from: int = 0

    def forget_bytes(self) -> None:
        """Drop the bytes read (before the report travels between processes)."""
        self.read = None

    def fail(self, message: str) -> None:
        self.ok = False
        self.problems.append(message)


@dataclass
class _Walk:
    """State while walking a log's lines: where we are and what came before."""

    name: str
    keyring: Keyring | None
    number: int  # the sequence number the next line must carry
    offset: int  # the byte offset of the next line
    prev_line: bytes | None = None
    seen_signed: bool = False


def _walk(report: ChainReport, lines: list[bytes], w: _Walk, genesis: str | None) -> None:
    """Check each line's JSON, sequence number, chain link and signature."""
    for raw in lines:
        number, where = w.number, f"{w.name} line {w.number}"
        start, w.number, w.offset = w.offset, w.number + 1, w.offset + len(raw) + 1
        report.last_seq, report.last_hash = number, line_hash(raw)
        report.last_start, report.last_end = start, w.offset
        entry = _entry(report, raw, where)
        first, w.prev_line = w.prev_line, raw
        if entry is None:
            continue
        report.entries += 1
        if entry.get("seq") != number:
            report.fail(f"{where}: sequence number {entry.get('seq')!r}, expected {number}")
        if first is None:
            if genesis is not None and entry.get("prev") != genesis:
                report.fail(f"{where}: first entry does not belong to this bag's tag manifest")
        elif entry.get("prev") != line_hash(first):
            report.fail(f"{where}: hash chain broken (line {number - 1} was edited or removed)")
        _check_signature(report, entry, w, where)


def _entry(report: ChainReport, raw: bytes, where: str) -> dict[str, Any] | None:
    if len(raw) > MAX_LINE:
        report.fail(f"{where}: entry is too long ({len(raw)} bytes)")
        return None
    try:
        entry = json.loads(raw)
        if not isinstance(entry, dict):
            raise ValueError("not an object")
    except (ValueError, UnicodeDecodeError):
        report.fail(f"{where}: not a JSON object (edited or damaged)")
        return None
    return entry


def _check_signature(report: ChainReport, entry: dict[str, Any], w: _Walk, where: str) -> None:
    sig = entry.get("sig")
    if not sig:
        if w.seen_signed:
            report.fail(f"{where}: unsigned entry after signed ones")
        return
    w.seen_signed = True
    report.signed += 1
    if w.keyring is None:
        return
    unsigned = {k: v for k, v in entry.items() if k != "sig"}
    try:
        signature = base64.b64decode(sig, validate=True)
    except ValueError:
        signature = b""
    check = w.keyring.verify_bytes(canonical(unsigned), signature, entry.get("key"))
    if not check.ok:
        report.fail(f"{where}: bad signature ({check.reason})")


def _split(report: ChainReport, data: bytes, name: str, first_number: int) -> list[bytes]:
    """Complete lines of ``data``; an unterminated last line is a problem."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        last = first_number + len(lines) - 1
        report.fail(f"{name} line {last}: incomplete entry (a write that never finished)")
        lines.pop()
    return lines


def _read(path: Path, offset: int = 0) -> bytes:
    """The log from ``offset`` to its end (one read of the size fstat gives, as a rule)."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            want = max(os.fstat(fd).st_size - offset, 0)
            data = os.pread(fd, want + 1, offset)
            if len(data) == want:
                return data
            parts, at = [data], offset + len(data)
            while part := os.pread(fd, 1 << 20, at):
                parts.append(part)
                at += len(part)
            return b"".join(parts)
        finally:
            os.close(fd)
    except OSError as exc:
        raise UsageError(f"cannot read custody log {path}: {exc.strerror}") from None


def verify_chain(
    path: Path, keyring: Keyring | None = None, tagmanifest: Path | None = None
) -> ChainReport:
    """Check the hash chain (and signatures, given a keyring) of a whole custody log.

    Every problem names the line. ``tagmanifest``, when given, must hash to the
    first entry's ``prev``: a log moved onto another bag is caught."""
    report = ChainReport()
    if not path.exists():
        return report
    data = _read(path)
    report.read, report.read_from = data, 0
    genesis = genesis_for(tagmanifest.parent) if tagmanifest else None
    _walk(report, _split(report, data, path.name, 1), _Walk(path.name, keyring, 1, 0), genesis)
    return report


def check_since(path: Path, head: CustodyHead, keyring: Keyring | None = None) -> ChainReport:
    """Check only the entries after the head's last verified entry.

    The verified entry itself must still be in place (same bytes at the same offset),
    and every later line must chain on from it; only their signatures are checked.
    ``report.entries`` counts the lines checked."""
    report = ChainReport()
    if head.verified_hash is None:
        return verify_chain(path, keyring)
    data = _read(path, head.verified_start)
    report.read, report.read_from = data, head.verified_start
    lines = _split(report, data, path.name, head.verified_seq)
    if not lines or line_hash(lines[0]) != head.verified_hash:
        report.fail(
            f"{path.name} line {head.verified_seq}: no longer the entry verified before"
            " (the log was cut short, edited or replaced)"
        )
        return report
    w = _Walk(path.name, keyring, head.verified_seq + 1, head.verified_end, lines[0])
    if len(lines) > 1:  # whether it was signed matters only to the lines after it
        with contextlib.suppress(ValueError, UnicodeDecodeError, AttributeError):
            w.seen_signed = bool(json.loads(lines[0]).get("sig"))
    report.last_seq, report.last_hash = head.verified_seq, head.verified_hash
    report.last_start, report.last_end = head.verified_start, head.verified_end
    _walk(report, lines[1:], w, None)
    return report


def _against_head(report: ChainReport, path: Path, head: CustodyHead) -> None:
    """The log must still reach the head the ledger anchored."""
    if report.last_seq < head.seq:
        report.fail(
            f"{path.name}: ends at entry {report.last_seq}, but the ledger anchored"
            f" {head.seq} entries (the log was cut short or replaced)"
        )
        return
    seen = report.read
    if seen is not None and report.read_from <= head.start:
        # the log's bytes as this check read them: the same bytes the chain was checked on
        line = seen[head.start - report.read_from : head.end - report.read_from]
    else:
        try:
            with open(path, "rb") as fh:
                fh.seek(head.start)
                line = fh.read(head.end - head.start)
        except OSError as exc:
            raise UsageError(f"cannot read custody log {path}: {exc.strerror}") from None
    if line[-1:] != b"\n" or line_hash(line[:-1]) != head.hash:
        report.fail(
            f"{path.name} line {head.seq}: differs from the entry the ledger anchored"
            " (the log was edited or replaced)"
        )


def check_custody(
    archive: Archive,
    bag_id: str,
    keyring: Keyring | None = None,
    *,
    deep: bool = False,
    ledger: Ledger | None = None,
) -> ChainReport:
    """Check a bag's custody log against the head the ledger anchored.

    A nightly check reads only the entries since the last verified one; ``deep``
    re-checks the whole chain. A log that is gone, cut short or replaced is a problem;
    so is a signed bag without a log. All well, the last entry is remembered as verified."""
    with _ledger_for(archive, ledger) as led:
        head = led.custody_head(bag_id)
        report = check_log(archive, bag_id, head, keyring, deep=deep)
        if keyring is not None:
            remember_check(led, bag_id, head, report)
    return report


def check_log(
    archive: Archive,
    bag_id: str,
    head: CustodyHead | None,
    keyring: Keyring | None = None,
    *,
    deep: bool = False,
    path: Path | None = None,
) -> ChainReport:
    """``check_custody`` against a head the caller read from the ledger; writes nothing.

    A run over many bags reads the heads in its own process and checks the logs
    in worker processes, which never touch the ledger (``verify/pool.py``).
    ``path``: the log (``archive.custody_path``), when the caller has it."""
    path = archive.custody_path(bag_id) if path is None else path
    if not os.path.exists(path):
        report = ChainReport()
        if head is not None:
            report.fail(
                f"{path.name} is missing, but the ledger anchored {head.seq} entries"
                " (the log was deleted)"
            )
        elif (archive.bag_dir(bag_id) / (TAGMANIFEST + ".sig")).exists():
            report.fail(f"{path.name} is missing, although the bag is signed")
        return report
    if deep or head is None or head.verified_hash is None:
        report = verify_chain(path, keyring, archive.bag_dir(bag_id) / TAGMANIFEST)
    else:
        report = check_since(path, head, keyring)
    if head is not None:
        _against_head(report, path, head)
    return report


def remember_check(led: Ledger, bag_id: str, head: CustodyHead | None, report: ChainReport) -> None:
    """After a good check of the signatures too (``check_log`` with a keyring): anchor
    a log that had no head, and remember its last entry as verified, so that the next
    check starts there."""
    if not (report.ok and report.last_hash):
        return
    if head is None:  # a log from before heads, or received: anchor it now
        led.set_custody_head(
            bag_id,
            seq=report.last_seq,
            hash=report.last_hash,
            start=report.last_start,
            end=report.last_end,
        )
    led.mark_custody_verified(
        bag_id,
        seq=report.last_seq,
        hash=report.last_hash,
        start=report.last_start,
        end=report.last_end,
    )


# --- the head that travels with a shared bag ---------------------------------------
HEAD_FORMAT = "strongroom-custody-head/1"


def signed_head(archive: Archive, bag_id: str) -> dict[str, Any]:
    """The log's head as the sender vouches for it, signed with the archive's key.

    The receiver checks it with ``check_signed_head``: a log shortened in
    transit (or by the sender's disk) no longer reaches it."""
    path = archive.custody_path(bag_id)
    report = verify_chain(path)
    doc: dict[str, Any] = {
        "format": HEAD_FORMAT,
        "bag_id": bag_id,
        "seq": report.last_seq,
        "hash": report.last_hash,
        "size": report.last_end,
        "time": utcnow(),
        "key": None,
        "sig": None,
    }
    key = load_private_key(archive.keys)
    if key is not None:
        doc["key"] = fingerprint(key.public_key())
        body = canonical({k: v for k, v in doc.items() if k != "sig"})
        doc["sig"] = base64.b64encode(sign_bytes(key, body)).decode()
    return doc


def check_signed_head(doc: Any, log: Path, keyring: Keyring, bag_id: str) -> list[str]:
    """Problems of a received log against the head its sender signed (empty = fine)."""
    if not isinstance(doc, dict) or doc.get("format") != HEAD_FORMAT:
        return ["the custody head is not a strongroom custody head"]
    if doc.get("bag_id") != bag_id:
        return [f"the custody head names bag {str(doc.get('bag_id'))[:80]!r}, not {bag_id}"]
    sig = doc.get("sig")
    if not isinstance(sig, str):
        return ["the custody head is not signed"]
    try:
        signature = base64.b64decode(sig, validate=True)
    except ValueError:
        signature = b""
    body = canonical({k: v for k, v in doc.items() if k != "sig"})
    check = keyring.verify_bytes(body, signature, doc.get("key"))
    if not check.ok:
        return [f"the custody head's signature is not valid ({check.reason})"]
    if not isinstance(doc.get("seq"), int) or doc["seq"] < 0:
        return ["the custody head's sequence number is not a number"]
    report = verify_chain(log) if log.exists() else ChainReport()
    if report.last_seq < doc["seq"]:
        return [
            f"the custody log ends at entry {report.last_seq}, but its sender signed a head"
            f" of {doc['seq']} entries (the log was cut short)"
        ]
    if doc["seq"] and _line_hash_at(log, doc["seq"]) != doc.get("hash"):
        return [f"custody log entry {doc['seq']} differs from the one its sender signed"]
    return []


def _line_hash_at(path: Path, seq: int) -> str | None:
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if number == seq:
                return line_hash(raw.rstrip(b"\n"))
    return None
