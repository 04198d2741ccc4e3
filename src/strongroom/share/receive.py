"""Receiving a bag from a partner: hostile-safe extraction, full checks, ingest.

Whatever a partner sends is untrusted. A tar is never handed to
``tarfile.extractall``: we iterate its members and refuse absolute or ``..``
names, links, devices, duplicates, over-long names, and more files or bytes
than ``[receive]`` in config.toml allows (declared sizes *and* bytes actually
written, so a lying header or a gzip bomb stops at the limit). A folder source
is copied with the same checks and never through a symlink.

Everything is unpacked under ``<archive>/quarantine/.tmp-receive-*``. Only a
bag that passes strict BagIt validation, its signature (against the partner's
key) and its custody-log chain is renamed into ``<archive>/bags``. Any failure
leaves the bytes in ``<archive>/quarantine/<name>-<time>/`` with a
``report.json`` and nothing enters the archive.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import secrets
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from strongroom.bag import custody
from strongroom.core.archive import Archive, ReceiveLimits
from strongroom.core.fsutil import TMP_PREFIX, atomic_write_text, fsync_dir, fsync_tree, publish_dir
from strongroom.core.ledger import open_ledger, utcnow
from strongroom.errors import ProblemFound, UsageError

BLOCK = 1024 * 1024
INGESTION = "ingestion"
_BAG_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
_CAPTURE_ID_RE = re.compile(r"^(?P<coll>.+)-(?P<cap>\d{8}T\d{6}Z-[0-9a-z]+)$")
MAX_CHECKSUM_FILE = 64 * 1024


class Refused(Exception):
    """A step refused the bag; ``stage`` says which."""

    def __init__(self, stage: str, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.stage = stage
        self.problems = problems


class ReceiveFailed(ProblemFound):
    """The bag was quarantined (exit 1); ``report`` is what report.json holds."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class ReceiveResult:
    bag_id: str
    path: str
    source: str
    partner: str | None
    files: int
    bytes: int
    signature: str
    custody_entries: int
    inventory: str | None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def show(text: str) -> str:
    """A name from a hostile source, safe to print (control characters escaped)."""
    return re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda m: f"\\x{ord(m.group()):02x}", text)


# --- extraction -------------------------------------------------------------------
class _Budget:
    """Counts files and bytes against the archive's receive limits."""

    def __init__(self, limits: ReceiveLimits) -> None:
        self.limits = limits
        self.files = 0
        self.dirs = 0
        self.bytes = 0
        self.names: set[str] = set()

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

    def file(self, declared: int) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise Refused("extract", [f"more than {self.limits.max_files} files (max_files)"])
        if declared < 0 or self.bytes + declared > self.limits.max_bytes:
            raise Refused("extract", [f"more than {self.limits.max_bytes} bytes (max_bytes)"])

    def folder(self) -> None:
        self.dirs += 1
        if self.dirs > self.limits.max_files:
            raise Refused("extract", [f"more than {self.limits.max_files} folders"])

    def write(self, fin: IO[bytes], target: Path, shown: str) -> None:
        """Copy a stream to a new file, counting the bytes really written."""
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as out:
            while chunk := fin.read(BLOCK):
                self.bytes += len(chunk)
                if self.bytes > self.limits.max_bytes:
                    raise Refused(
                        "extract", [f"{shown}: more than {self.limits.max_bytes} bytes written"]
                    )
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
    unexpected = [n for n in others if n != f"{bag_id}.custody.jsonl"]
    if unexpected:
        raise Refused("extract", [f"{show(unexpected[0])}: unexpected file beside the bag"])
    return bag_id


def extract_tar(src: Path, dest: Path, limits: ReceiveLimits) -> str:
    """Unpack an untrusted tar (optionally compressed) into ``dest``; return the bag id."""
    budget = _Budget(limits)
    top: dict[str, bool] = {}
    try:
        tar = tarfile.open(src, mode="r:*")  # noqa: SIM115 - closed in the finally below
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise Refused("extract", [f"{src.name}: not a readable tar file ({exc})"]) from None
    try:
        while True:
            try:
                member = tar.next()
            except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
                raise Refused("extract", [f"{src.name}: damaged tar ({exc})"]) from None
            if member is None:
                break
            shown = show(member.name[:200])
            if member.issym():
                raise Refused("extract", [f"{shown}: symbolic link (-> {show(member.linkname)})"])
            if member.islnk():
                raise Refused("extract", [f"{shown}: hard link (-> {show(member.linkname)})"])
            if member.ischr() or member.isblk() or member.isfifo():
                raise Refused("extract", [f"{shown}: device or FIFO"])
            if member.issparse() or not (member.isreg() or member.isdir()):
                raise Refused("extract", [f"{shown}: unsupported tar member type"])
            parts = budget.name(member.name)
            is_dir = member.isdir()
            if len(parts) == 1:
                if parts[0] in top:
                    raise Refused("extract", [f"{shown}: appears twice"])
                top[parts[0]] = is_dir
            target = dest.joinpath(*parts)
            try:
                if is_dir:
                    budget.folder()
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                budget.file(member.size)
                target.parent.mkdir(parents=True, exist_ok=True)
                fin = tar.extractfile(member)
                if fin is None:
                    raise Refused("extract", [f"{shown}: unreadable member"])
                budget.write(fin, target, shown)  # type: ignore[arg-type]
            except (OSError, tarfile.TarError, EOFError) as exc:
                why = getattr(exc, "strerror", None) or str(exc)
                raise Refused("extract", [f"{shown}: cannot unpack ({why})"]) from None
    finally:
        tar.close()
    return _layout(top)


def copy_dir(src: Path, dest: Path, limits: ReceiveLimits) -> str:
    """Copy an untrusted bag folder (and ``<name>.custody.jsonl`` beside it) into ``dest``."""
    if src.is_symlink():
        raise Refused("extract", [f"{src}: is a symbolic link; give the real folder"])
    budget = _Budget(limits)
    bag_id = src.name
    budget.name(bag_id)
    (dest / bag_id).mkdir()

    def walk(folder: Path, rel: str) -> None:
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
                walk(Path(entry.path), child_rel)
            elif entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                if st.st_nlink > 1:
                    # a hard link could make us read a file outside the bag
                    raise Refused("extract", [f"{shown}: hard link ({st.st_nlink} names)"])
                budget.file(st.st_size)
                _copy_nofollow(Path(entry.path), target, budget, shown)
            else:
                raise Refused("extract", [f"{shown}: device, FIFO or socket"])

    walk(src, bag_id)
    log = src.parent / f"{bag_id}.custody.jsonl"
    if log.is_symlink():
        raise Refused("extract", [f"{log.name}: symbolic link; not followed"])
    if log.is_file():
        budget.file(log.stat().st_size)
        _copy_nofollow(log, dest / log.name, budget, log.name)
    return bag_id


def _copy_nofollow(src: Path, target: Path, budget: _Budget, shown: str) -> None:
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise Refused("extract", [f"{shown}: cannot read ({exc.strerror})"]) from None
    with os.fdopen(fd, "rb") as fin:
        budget.write(fin, target, shown)


# --- checks -----------------------------------------------------------------------
def check_tar_signature(src: Path, keyring: Any, expected: str | None) -> str | None:
    """Check ``FILE.tar.sha512`` + ``FILE.tar.sig`` when an export sent them; None if absent."""
    from strongroom.share.transfer import hash_file

    sums = src.with_name(src.name + ".sha512")
    sig = src.with_name(src.name + ".sig")
    if not sums.is_file() and not sig.is_file():
        return None
    if not (sums.is_file() and sig.is_file()):
        raise Refused("signature", [f"{src.name}: has only one of .sha512 and .sig"])
    if sums.stat().st_size > MAX_CHECKSUM_FILE:
        raise Refused("signature", [f"{sums.name}: too large"])
    check = keyring.verify_file_signature(sums, sig, expected)
    if not check.ok:
        raise Refused("signature", [f"{sig.name}: {check.reason}"])
    digest = sums.read_text("utf-8", "replace").split()[0] if sums.stat().st_size else ""
    if hash_file(src, ["sha512"])["sha512"] != digest.lower():
        raise Refused("signature", [f"{src.name}: does not match the signed {sums.name}"])
    return check.reason


def _checks(
    archive: Archive, work: Path, bag_id: str, partner: Any, warnings: list[str]
) -> tuple[Any, str, int]:
    """Strict BagIt, signature, custody chain; return (report, signature text, entries)."""
    from strongroom.bag.signing import fingerprint, parse_public_key
    from strongroom.share.send import trusted_keyring
    from strongroom.verify.validate import validate_bag

    bag = work / bag_id
    report = validate_bag(bag, "full")
    if not report.valid:
        raise Refused("validate", [p.message for p in report.problems])
    warnings += [w.message for w in report.warnings]
    keyring = trusted_keyring(archive)
    expected = None
    if partner is not None:
        if not partner.public_key:
            raise Refused(
                "signature",
                [f"partner {partner.name} has no public_key in partners.toml; cannot check"],
            )
        expected = fingerprint(parse_public_key(partner.public_key, partner.name))
    tm = bag / custody.TAGMANIFEST
    sig = tm.with_name(tm.name + ".sig")
    if sig.is_file():
        check = keyring.verify_file_signature(tm, sig, expected)
        if not check.ok:
            raise Refused("signature", [check.reason])
        signature = check.reason
    elif partner is not None:
        raise Refused("signature", [f"unsigned bag (no {sig.name}) from partner {partner.name}"])
    else:
        signature = "unsigned"
        warnings.append(f"{bag_id} is not signed (no {sig.name}); its origin is unproven")
    log = work / f"{bag_id}.custody.jsonl"
    chain = custody.verify_chain(log, keyring, tm)
    if not chain.ok:
        raise Refused("custody", chain.problems)
    if not log.exists():
        warnings.append(f"no custody log came with {bag_id}; its history starts here")
    return report, signature, chain.entries


# --- ingest -------------------------------------------------------------------------
def _ledger_row(bag: Path, bag_id: str) -> dict[str, Any]:
    from strongroom.bag.baginfo import first, read_bag_info, values

    info = read_bag_info(bag)
    collection = first(info, "Bag-Group-Identifier")
    capture_id = None
    m = _CAPTURE_ID_RE.match(bag_id)
    if m:
        collection = collection or m.group("coll")
        capture_id = m.group("cap")
    return {
        "collection_id": collection or "received",
        "capture_id": capture_id,
        "seeds": values(info, "Seed-URL"),
        "is_version_of": first(info, "Is-Version-Of") or None,
        "payload_oxum": first(info, "Payload-Oxum"),
        "signing_key": first(info, "Signing-Key-Fingerprint") or None,
    }


def _ingest(
    archive: Archive,
    work: Path,
    bag_id: str,
    source: str,
    partner_name: str | None,
    manifests_dir: Path,
) -> str | None:
    """Move the checked bag into the archive and record it; return the inventory path."""
    from strongroom.core import policy

    bag = work / bag_id
    row = _ledger_row(bag, bag_id)
    try:
        from strongroom.bag import inventory
    except ImportError:  # the inventory module is optional for receiving
        inventory = None  # type: ignore[assignment]
    if inventory is not None:
        # fail before the bag enters the archive, not after, when the inventory is unusable
        inventory.check_writable(manifests_dir)
        inventory.load_inventory(
            inventory.inventory_path(manifests_dir, row["collection_id"]), row["collection_id"]
        )
    for dirpath, _dirs, files in os.walk(bag / "data"):
        for name in files:  # the payload is read-only in the archive, as for our own bags
            os.chmod(os.path.join(dirpath, name), stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    fsync_tree(work)
    final = archive.bag_dir(bag_id)
    archive.bags.mkdir(parents=True, exist_ok=True)
    log = work / f"{bag_id}.custody.jsonl"
    if archive.custody_path(bag_id).exists():
        raise Refused("ingest", [f"{archive.custody_path(bag_id)} already exists"])
    try:
        publish_dir(bag, final)
    except UsageError as exc:
        raise Refused("ingest", [str(exc)]) from None
    if log.exists():
        os.rename(log, archive.custody_path(bag_id))
        fsync_dir(archive.bags)
    origin = f"received:{partner_name}" if partner_name else "received"
    level = policy.current_access(archive, bag_id)
    created = utcnow()
    with open_ledger(archive.root) as ledger:
        ledger.record_bag(
            bag_id,
            collection_id=row["collection_id"],
            capture_id=row["capture_id"],
            created=created,
            access=level,
            seeds=row["seeds"],
            is_version_of=row["is_version_of"],
            origin=origin,
        )
        custody.record_event(
            archive,
            bag_id,
            INGESTION,
            outcome="success",
            inputs={"source": source, "partner": partner_name},
            detail={"origin": origin},
            ledger=ledger,
        )
    if inventory is None:
        return None
    inventory.record_bag(
        manifests_dir,
        row["collection_id"],
        {
            "bag_id": bag_id,
            "created": created,
            "payload_oxum": row["payload_oxum"],
            "tagmanifests": inventory.tagmanifest_hashes(final),
            "signing_key": row["signing_key"],
            "seeds": row["seeds"],
            "access": level,
            "is_version_of": row["is_version_of"],
        },
    )
    return str(inventory.inventory_path(manifests_dir, row["collection_id"]))


def _quarantine(archive: Archive, work: Path, name: str, report: dict[str, Any]) -> Path:
    """Rename the work folder to ``quarantine/<name>-<time>/`` and write report.json."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100] or "unnamed"
    final = archive.quarantine / f"{safe}-{stamp}"
    if final.exists():
        final = final.with_name(f"{final.name}-{secrets.token_hex(3)}")
    os.rename(work, final)
    report["quarantine"] = str(final)
    atomic_write_text(final / "report.json", json.dumps(report, indent=2, sort_keys=True) + "\n")
    return final


def receive(
    archive: Archive,
    source: Path,
    *,
    partner_name: str | None = None,
    manifests_dir: Path | None = None,
) -> ReceiveResult:
    """Receive a bag folder or tar; quarantine it (ReceiveFailed) when any check fails."""
    from strongroom.share.send import get_partner

    source = Path(source).absolute()
    if not source.exists() and not source.is_symlink():
        raise UsageError(f"{source}: no such file or folder")
    partner = get_partner(archive, partner_name) if partner_name else None
    archive.ensure()
    archive.quarantine.mkdir(exist_ok=True)
    limits = archive.config.receive
    work = archive.quarantine / f"{TMP_PREFIX}receive-{secrets.token_hex(6)}"
    work.mkdir()
    warnings: list[str] = []
    bag_id: str | None = None
    try:
        if source.is_dir() and not source.is_symlink():
            bag_id = copy_dir(source, work, limits)
        elif source.is_file() and not source.is_symlink():
            from strongroom.bag.signing import fingerprint, parse_public_key
            from strongroom.share.send import trusted_keyring

            bag_id = extract_tar(source, work, limits)
            expected = (
                fingerprint(parse_public_key(partner.public_key, partner.name))
                if partner is not None and partner.public_key
                else None
            )
            if check_tar_signature(source, trusted_keyring(archive), expected) is None:
                warnings.append(
                    f"no {source.name}.sig beside the tar; the bag's own signature is checked"
                )
        else:
            raise Refused("extract", [f"{source}: not a regular file or folder (symlink?)"])
        if not _BAG_ID_RE.match(bag_id):
            raise Refused("extract", [f"{show(bag_id)}: not a usable bag id"])
        if archive.bag_dir(bag_id).exists() or archive.custody_path(bag_id).exists():
            raise Refused("existing", [f"{bag_id} is already in this archive; refusing to replace"])
        report, signature, entries = _checks(archive, work, bag_id, partner, warnings)
        inv = _ingest(
            archive,
            work,
            bag_id,
            str(source),
            partner_name,
            archive.inventory_dir(manifests_dir),
        )
    except Refused as exc:
        doc = {
            "source": str(source),
            "partner": partner_name,
            "bag_id": bag_id,
            "time": utcnow(),
            "stage": exc.stage,
            "problems": exc.problems,
            "warnings": warnings,
            "accepted": False,
        }
        where = _quarantine(archive, work, bag_id or source.name, doc)
        _record_refusal(archive, doc)
        first = "; ".join(show(p) for p in exc.problems[:3])
        more = f" (and {len(exc.problems) - 3} more)" if len(exc.problems) > 3 else ""
        raise ReceiveFailed(
            f"refused {source.name} at the {exc.stage} step: {first}{more};"
            f" quarantined in {where} (see report.json)",
            doc,
        ) from None
    except BaseException:
        _rmtree(work)
        raise
    _rmtree(work)
    return ReceiveResult(
        bag_id=bag_id,
        path=str(archive.bag_dir(bag_id)),
        source=str(source),
        partner=partner_name,
        files=report.files,
        bytes=report.bytes,
        signature=signature,
        custody_entries=entries + 1,
        inventory=inv,
        warnings=warnings,
    )


def _record_refusal(archive: Archive, doc: dict[str, Any]) -> None:
    custody.record_event(
        archive,
        None,
        INGESTION,
        outcome="failure",
        actor=archive.config.operator,
        detail={k: doc[k] for k in ("source", "partner", "bag_id", "stage", "problems")}
        | {"quarantine": doc.get("quarantine")},
    )


def _rmtree(path: Path) -> None:
    from strongroom.share.transfer import remove_tree

    with contextlib.suppress(FileNotFoundError):
        remove_tree(path)
