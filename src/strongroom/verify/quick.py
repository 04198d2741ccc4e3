"""A lean path for ``verify --fast`` of a plain, intact archive bag.

``verify --all --fast`` over 10,000 bags spends its time in Python per bag: the
careful checks (``validate.validate_bag``, ``fixity.outside_checks``) build a
report, a tree, manifests and findings for every bag, although nearly every bag
is one strongroom made and nothing is wrong with it. ``check`` reads such a bag
once, with one pass over each small tag file and few objects, and can answer only
"valid, with nothing to say" (no problem, no warning, no note), as a small tuple
that crosses from a worker process cheaply. Anything it does not expect (every
finding, and anything unusual: a symbolic link, a device, a byte-order mark, CR
line ends, a percent-encoded or dotted path, a non-ASCII name, fetch.txt, a
timestamp token, a file too large to read whole, an error of any kind) makes it
answer None, and the careful path checks the bag again from the start and says
what it finds. The two paths can differ in speed only, never in a verdict or a
message.

Every check of a fast run stays: bagit.txt, bag-info.txt and its Payload-Oxum,
the manifests and tag manifests against the files (sizes, no hashing), the names,
the signature of the tag manifest, the custody chain from the ledger's head, the
ledger's row, the collection and the inventory entry, the timestamp settings.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time
from pathlib import Path
from typing import Any

from strongroom.bag.custody import ChainReport, PreparedLine, check_log, line_hash
from strongroom.bag.timestamp import TOKEN
from strongroom.core.archive import Archive
from strongroom.core.fsutil import safe_relpath
from strongroom.core.ledger import utcnow
from strongroom.verify.anchors import MAX_SIGNATURE, SIGNATURE, TAGMANIFEST, find_inventory
from strongroom.verify.context import RunContext
from strongroom.verify.findings import BagReport
from strongroom.verify.manifests import (
    _HEX,
    _MANIFEST_LINE,
    _MANIFEST_NAME,
    MAX_READ_WHOLE,
    digest_length,
    hashlib_name,
)
from strongroom.verify.record import fixity_event
from strongroom.verify.runs import BagRun, Target
from strongroom.verify.tagfiles import _CONTROL_IN_INFO, MAX_LINE, MAX_SMALL_TAG, quick_read
from strongroom.verify.tree import JUNK_NAMES

# bagit.txt exactly as strongroom (1.0) and bagit-python (0.97) write it, and the
# version it declares; any other form (CRLF, a BOM, extra spaces, another version
# or encoding) is read by the careful path
PLAIN_BAGIT = {
    f"BagIt-Version: {v}\nTag-File-Character-Encoding: UTF-8\n".encode(): v for v in ("1.0", "0.97")
}
_LONGEST_BAGIT = max(map(len, PLAIN_BAGIT))
ENCODING = "UTF-8"
# top-level names the careful path gives a meaning of their own (fetch.txt, the
# RFC 3161 token, the older bag-info name): a bag that has one is read carefully
_CAREFUL_NAMES = frozenset({"fetch.txt", TOKEN, "package-info.txt"})
_OXUM = re.compile(r"^(\d+)\.(\d+)$")

# What a worker sends for a bag found valid: (started, ended, seconds, version, files,
# bytes, algorithms, oxum, chain, prepared); chain = (last_seq, last_hash, last_start,
# last_end, entries, signed); prepared = (after_seq, after_end, prev, line) or None.
Found = tuple[
    str, str, float, str, int, int, list[str], Any, tuple[Any, ...], tuple[Any, ...] | None
]


class _Careful(Exception):
    """Raised where the bag is not plain: the careful path reads it."""


def applies(mode: str, target: Target, inventory: Path | None, profile: Path | None) -> bool:
    """Whether a bag may take the lean path (an archive bag, a fast check, no options
    that bring checks of their own)."""
    return mode == "fast" and target.bag_id is not None and inventory is None and profile is None


def check(archive: Archive, target: Target, ctx: RunContext) -> Found | None:
    """Every fast check of an archive bag, when the bag is plain and intact: its
    compact result (``Found``); None sends the bag to the careful path."""
    started = utcnow()
    t0 = time.monotonic()
    assert target.bag_id is not None
    try:
        version, files, nbytes, algorithms, oxum, chain = _check(
            archive, target, target.bag_id, ctx
        )
    except Exception:  # anything at all: the careful path finds it again and names it
        return None
    seconds = time.monotonic() - t0
    ended = utcnow()
    prepared = None
    if ctx.presign:
        prepared = _prepare(archive, ctx, chain, started, ended, files, nbytes, algorithms)
    kept = (chain.last_seq, chain.last_hash, chain.last_start, chain.last_end)
    return (started, ended, seconds, version, files, nbytes, algorithms, oxum,
            (*kept, chain.entries, chain.signed), prepared)  # fmt: skip


def _check(
    archive: Archive, target: Target, bag_id: str, ctx: RunContext
) -> tuple[str, int, int, list[str], tuple[int, int] | None, ChainReport]:
    keyring = ctx.keyring()
    stamps = ctx.stamps()
    if keyring is None or ctx.keyring_error or stamps.error:
        raise _Careful
    if stamps.settings is not None and bag_id in stamps.pending:
        raise _Careful  # the run shows "timestamp pending"
    root = os.fspath(target.path)
    version = PLAIN_BAGIT.get(quick_read(f"{root}/bagit.txt", _LONGEST_BAGIT) or b"")
    if version is None:
        raise _Careful
    info = _bag_info(quick_read(f"{root}/bag-info.txt", MAX_SMALL_TAG))
    tops, tags, payload = _scan(root)
    tag_bytes, algorithms = _manifests(root, tops, tags, payload)
    files, nbytes = len(payload), sum(payload.values())
    oxum = [v for k, v in info if k.lower() == "payload-oxum"]
    if len(oxum) > 1:
        raise _Careful
    declared = None
    if oxum:
        m = _OXUM.match(oxum[0])
        declared = (int(m.group(1)), int(m.group(2))) if m else None
        if declared != (nbytes, files):
            raise _Careful
    _signature(root, tops, tag_bytes, keyring)
    chain = _custody(archive, bag_id, ctx, keyring)
    group = [v for k, v in info if k.lower() == "bag-group-identifier"]
    _anchors(archive, target.path, bag_id, (group or [""])[0].strip() or None, tops,
             tag_bytes, ctx)  # fmt: skip
    return version, files, nbytes, algorithms, declared, chain


def _bag_info(data: bytes | None) -> list[tuple[str, str]]:
    """bag-info.txt's (label, value) pairs, read as the careful path reads a UTF-8 file
    with nothing to report: no BOM, no CR, no control character, no folded line."""
    if data is None or data.startswith(b"\xef\xbb\xbf"):
        raise _Careful
    text = data.decode("utf-8")  # strict: an error goes to the careful path
    if "\r" in text or _CONTROL_IN_INFO.search(text):
        raise _Careful
    entries = []
    for line in text.split("\n"):
        if not line.strip():
            continue
        label, sep, value = line.partition(":")
        if line[0] in " \t" or not sep or not label.strip() or label != label.strip():
            raise _Careful
        entries.append((label, value.strip()))
    return entries


def _scan(root: str) -> tuple[set[str], set[str], dict[str, int]]:
    """(top-level files, every tag file, payload sizes), listed with lstat only; a
    symbolic link, a device or FIFO, a missing data/ or a name the careful path reads
    in a way of its own sends the bag there (a folder of tag files has a plain name,
    never one of a tag file's: no '.')."""
    tops: set[str] = set()
    tags: set[str] = set()
    payload: dict[str, int] = {}
    stack = [""]
    has_data = False
    while stack:
        rel_dir = stack.pop()
        with os.scandir(f"{root}/{rel_dir}" if rel_dir else root) as entries:
            for e in entries:
                rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
                # not following links, a symbolic link is neither a file nor a folder
                if e.is_file(follow_symlinks=False):
                    if rel.startswith("data/"):
                        payload[rel] = e.stat(follow_symlinks=False).st_size
                    else:
                        tags.add(rel)
                        if not rel_dir:
                            tops.add(rel)
                elif e.is_dir(follow_symlinks=False):
                    if not rel_dir and "." in rel:
                        raise _Careful
                    stack.append(rel)
                    has_data = has_data or rel == "data"
                else:  # a symbolic link, a device, a FIFO, a socket
                    raise _Careful
    if not has_data or tops & _CAREFUL_NAMES:
        raise _Careful
    _names(tags, payload)
    return tops, tags, payload


def _names(tags: set[str], payload: dict[str, int]) -> None:
    """No junk file and no names that clash: in ASCII, NFC is the name itself and
    casefold is lower; a name beyond printable ASCII is left to the careful path."""
    lowered = set()
    for rel in (*payload, *tags):
        if not rel.isascii() or not rel.isprintable():
            raise _Careful
        low = rel.lower()
        if low.rsplit("/", 1)[-1] in JUNK_NAMES:
            raise _Careful
        lowered.add(low)
    if len(lowered) != len(payload) + len(tags):
        raise _Careful


def _manifests(
    root: str, tops: set[str], tags: set[str], payload: dict[str, int]
) -> tuple[dict[str, bytes], list[str]]:
    """Read every manifest once; each payload manifest lists exactly the payload, each
    tag manifest only files that are there. (tag-manifest bytes, payload algorithms)"""
    tag_bytes: dict[str, bytes] = {}
    algorithms = set()
    for name in sorted(tags):
        m = _MANIFEST_NAME.match(name) if name in tops else None
        if not m:
            if name.startswith(("manifest-", "tagmanifest-")) and name != SIGNATURE:
                raise _Careful  # a name the careful path may read or hash as a manifest
            continue
        tag, algorithm = bool(m.group(1)), m.group(2)
        data = quick_read(f"{root}/{name}", MAX_READ_WHOLE)
        entries = _manifest_lines(data, algorithm, tag)
        if tag:
            tag_bytes[name] = data  # type: ignore[assignment]  # read: not None
            if any(rel not in tags and rel not in payload for rel in entries):
                raise _Careful
        else:
            if entries.keys() != payload.keys():
                raise _Careful
            algorithms.add(algorithm)
    if not algorithms:
        raise _Careful  # no payload manifest
    return tag_bytes, sorted(algorithms)


def _manifest_lines(data: bytes | None, algorithm: str, tag: bool) -> dict[str, str]:
    """rel -> digest of one manifest, when every line is plain 'CHECKSUM PATH'."""
    hl = hashlib_name(algorithm)
    if data is None or hl is None:
        raise _Careful
    length = digest_length(hl)
    text = data.decode("utf-8")
    if "\r" in text or "%" in text or text.startswith("\ufeff"):
        raise _Careful
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if len(text) >= MAX_LINE and max(map(len, lines)) >= MAX_LINE:
        raise _Careful
    entries: dict[str, str] = {}
    for line in lines:
        m = _MANIFEST_LINE.match(line)
        if not m:
            raise _Careful  # a blank or malformed line
        digest, rel = m.group(1).lower(), m.group(2)
        if rel.startswith(("*", "./", "~")) or rel in entries or not safe_relpath(rel):
            raise _Careful
        if not _HEX.match(digest) or (length is not None and len(digest) != length):
            raise _Careful
        if not tag and not rel.startswith("data/"):
            raise _Careful
        entries[rel] = digest
    return entries


def _signature(root: str, tops: set[str], tag_bytes: dict[str, bytes], keyring: Any) -> None:
    """The detached signature over the tag manifest's bytes as they were parsed."""
    if SIGNATURE not in tops:
        return  # whether the bag must have one: the inventory and the ledger say
    data = tag_bytes.get(TAGMANIFEST)
    signature = quick_read(f"{root}/{SIGNATURE}", MAX_SIGNATURE)
    if data is None or signature is None or not keyring.verify_bytes(data, signature).ok:
        raise _Careful


def _custody(archive: Archive, bag_id: str, ctx: RunContext, keyring: Any) -> ChainReport:
    """The custody log: a regular, non-empty file whose chain reaches the ledger's head."""
    log = archive.custody_path(bag_id)
    head = ctx.head(bag_id)
    chain = _unchanged_since_verified(os.fspath(log), head)
    if chain is None:  # entries since the last check (or no head): check them
        st = os.lstat(log)
        if not stat.S_ISREG(st.st_mode) or st.st_size <= 0:
            raise _Careful
        chain = check_log(archive, bag_id, head, keyring, deep=False, path=log)
        chain.forget_bytes()
    if chain.problems or not chain.ok:
        raise _Careful
    return chain


def _unchanged_since_verified(log: str, head: Any) -> ChainReport | None:
    """The chain check of a log that ends with the entry the last verify checked, the
    head the ledger anchored (the nightly case): one line read, at the head's place.
    None: there is more to check (``custody.check_log`` does it)."""
    if head is None or head.verified_hash is None or head.hash != head.verified_hash:
        return None
    span = (head.seq, head.start, head.end)
    if span != (head.verified_seq, head.verified_start, head.verified_end):
        return None
    fd = os.open(log, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size != head.end or head.end <= head.start:
            return None
        line = os.pread(fd, head.end - head.start + 1, head.start)
    finally:
        os.close(fd)
    if len(line) != head.end - head.start or b"\n" in line[:-1] or line[-1:] != b"\n":
        return None
    if line_hash(line[:-1]) != head.hash:
        return None
    return ChainReport(True, 0, [], 0, head.seq, head.hash, head.start, head.end)


def _anchors(
    archive: Archive,
    bag: Path,
    bag_id: str,
    declared: str | None,
    tops: set[str],
    tag_bytes: dict[str, bytes],
    ctx: RunContext,
) -> None:
    """The ledger's row, its collection, and the inventory entry (tag-manifest hashes,
    and whether the bag was signed at bagging)."""
    from strongroom.bag.inventory import check_entry

    row = ctx.bags().get(bag_id)
    if row is None or declared != row.collection_id:
        raise _Careful
    key = (row.collection_id, row.inventory)
    if key not in ctx.found:
        ctx.found[key] = find_inventory(archive, row.collection_id, row.inventory)
    path = ctx.found[key]
    if path is None:
        raise _Careful
    entry = ctx.entry(path, bag_id)
    hashes = {n: hashlib.sha256(tag_bytes[n]).hexdigest() for n in sorted(tag_bytes)}
    if entry is None or check_entry(path, bag, entry, hashes):
        raise _Careful
    if (entry.get("signing_key") or row.signed) and SIGNATURE not in tops:
        raise _Careful


def _prepare(
    archive: Archive,
    ctx: RunContext,
    chain: ChainReport,
    started: str,
    ended: str,
    files: int,
    nbytes: int,
    algorithms: list[str],
) -> tuple[Any, ...] | None:
    """The bag's ``fixity check`` custody line, signed ahead (``custody_ahead``)."""
    from strongroom.bag.custody_ahead import prepare_line

    event = fixity_event(
        result="valid", mode="fast", files=files, nbytes=nbytes, algorithms=algorithms,
        started=started, ended=ended, failures=[],
    )  # fmt: skip
    line = prepare_line(archive, chain, ctx.signing_key(), action="fixity check", **event)
    return None if line is None else (line.after_seq, line.after_end, line.prev, line.line)


def as_run(found: Found, target: Target, head: Any, mode: str = "fast") -> BagRun:
    """The ``BagRun`` of a bag ``check`` found valid, as the careful path would make it;
    ``head``: the custody head it was checked against (``RunContext.head``)."""
    started, ended, seconds, version, files, nbytes, algorithms, oxum, chain, prepared = found
    report = BagReport(path=target.path, mode=mode, version=version, encoding=ENCODING,
                       algorithms=algorithms, files=files, bytes=nbytes, oxum=oxum)  # fmt: skip
    run = BagRun(target, mode, started, ended, seconds, report)
    last_seq, last_hash, last_start, last_end, entries, signed = chain
    checked = ChainReport(True, entries, [], signed, last_seq, last_hash, last_start, last_end)
    run.custody = (head, checked)
    if prepared is not None:
        after_seq, after_end, prev, line = prepared
        run.prepared = PreparedLine(after_seq, after_end, prev, line, None)
    return run
