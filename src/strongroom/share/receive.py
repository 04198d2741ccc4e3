"""Receiving a bag from a partner: bounded extraction, full checks, ingest.

Whatever a partner sends is untrusted. It is unpacked by
:mod:`strongroom.share.extract` under ``<archive>/quarantine/.tmp-receive-*``,
with its work bounded. Only a bag that passes strict BagIt validation, a
signature by a trusted key (the partner's with ``--from``), its custody-log
chain and the identity checks (its folder name is its ``External-Identifier``;
it is not a copy of a bag held here under another name) is renamed into
``<archive>/bags``. A bag without a signature is refused unless
``--allow-unsigned --reason`` says why, and that override is logged. A bag
already held, with the same tag manifests, is confirmed as a copy and nothing
changes. Any failure leaves ``<archive>/quarantine/<name>-<time>/report.json``
(with the bytes, except when the extraction itself was refused) and nothing
enters the archive.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strongroom.bag import custody
from strongroom.core.archive import Archive
from strongroom.core.fsutil import atomic_write_text
from strongroom.core.ledger import utcnow
from strongroom.errors import ProblemFound, UsageError
from strongroom.share import ingest
from strongroom.share.extract import (
    ENVIRONMENT_ERRNOS,
    Refused,
    copy_dir,
    environment_error,
    extract_tar,
    show,
)
from strongroom.share.partners import Partner, expected_fingerprint, get_partner, trusted_keyring
from strongroom.share.transfer import head_name

__all__ = ["ReceiveFailed", "ReceiveResult", "Refused", "receive", "show"]

INGESTION = "ingestion"
SIGNATURE = custody.TAGMANIFEST + ".sig"
_BAG_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
MAX_CHECKSUM_FILE = 64 * 1024
TRUST_HINT = (
    "trust the sender's public key first: `strongroom keys trust SENDER.pub --name SENDER`"
    " (SENDER.pub is the sender's keys/signing.pub), or set public_key for the sender in"
    " partners.toml and receive with --from SENDER"
)


class ReceiveFailed(ProblemFound):
    """The bag was quarantined (exit 1); ``report`` is what report.json holds."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


class _AlreadyHeld(Exception):
    """The bag is already here, byte for byte in its tag manifests: nothing to do."""


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
    already_held: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Unsigned:
    """``--allow-unsigned --reason``: accept a bag without a signature, and say why."""

    allowed: bool = False
    reason: str = ""


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
        raise Refused("signature", [_teach(check.reason)])
    digest = sums.read_text("utf-8", "replace").split()[0] if sums.stat().st_size else ""
    if hash_file(src, ["sha512"])["sha512"] != digest.lower():
        raise Refused("signature", [f"{src.name}: does not match the signed {sums.name}"])
    return check.reason


def _teach(reason: str) -> str:
    """A signature failure, with the next command when no trusted key could check it."""
    if "no trusted keys" in reason or "does not match any trusted key" in reason:
        return f"{reason}; {TRUST_HINT}"
    return reason


def _signature(
    archive: Archive,
    bag: Path,
    partner: Partner | None,
    unsigned: _Unsigned,
    warnings: list[str],
) -> tuple[Any, str]:
    """(keyring, what checked the signature); a bag without one only with --allow-unsigned."""
    keyring = trusted_keyring(archive)
    if partner is not None and not partner.public_key:
        raise Refused(
            "signature",
            [
                f"partner {partner.name} has no public_key in partners.toml; cannot check"
                " (add the partner's keys/signing.pub line as public_key)"
            ],
        )
    tm = bag / custody.TAGMANIFEST
    sig = tm.with_name(tm.name + ".sig")
    if sig.is_file():
        check = keyring.verify_file_signature(tm, sig, expected_fingerprint(partner))
        if not check.ok:
            raise Refused("signature", [_teach(check.reason)])
        return keyring, check.reason
    who = f" from partner {partner.name}" if partner is not None else ""
    if not unsigned.allowed:
        raise Refused(
            "signature",
            [
                f"unsigned bag (no {sig.name}){who}: a bag is received only with a signature"
                ' by a trusted key (--allow-unsigned --reason "..." accepts it, and is logged)'
            ],
        )
    warnings.append(
        f"{bag.name} is not signed (no {sig.name}); accepted with --allow-unsigned:"
        f" {unsigned.reason}"
    )
    return keyring, f"unsigned (accepted: {unsigned.reason})"


def _checks(
    archive: Archive,
    work: Path,
    bag_id: str,
    partner: Partner | None,
    unsigned: _Unsigned,
    warnings: list[str],
    *,
    sealed: bool = False,
) -> tuple[Any, str, int]:
    """Strict BagIt, signature, custody chain and head; return (report, signature, entries)."""
    from strongroom.verify.validate import validate_bag

    bag = work / bag_id
    report = validate_bag(bag, "full")
    if not report.valid:
        raise Refused("validate", [p.message for p in report.problems])
    warnings += [w.message for w in report.warnings]
    keyring, signature = _signature(archive, bag, partner, unsigned, warnings)
    tm = bag / custody.TAGMANIFEST
    log = work / f"{bag_id}.custody.jsonl"
    chain = custody.verify_chain(log, keyring, tm)
    if not chain.ok:
        raise Refused("custody", chain.problems)
    _head(work, bag_id, keyring, signed=not signature.startswith("unsigned"), sealed=sealed)
    if not log.exists():
        warnings.append(f"no custody log came with {bag_id}; its history starts here")
    return report, signature, chain.entries


def _head(work: Path, bag_id: str, keyring: Any, *, signed: bool, sealed: bool) -> None:
    """The custody log reaches the head its sender signed: not cut short, not missing.

    A signed bag must come with its signed head, unless a signed tar vouches for
    its custody log already (``share --export``).
    """
    path = work / head_name(bag_id)
    log = work / f"{bag_id}.custody.jsonl"
    if not path.is_file():
        if signed and not sealed:
            raise Refused(
                "custody",
                [
                    f"no signed custody head ({path.name}) came with {bag_id}: a custody log"
                    " cut short could not be told from a whole one (ask the sender to share"
                    " it again with `strongroom share`, or to send `strongroom share --export`)"
                ],
            )
        return
    try:
        doc = json.loads(path.read_bytes())
    except ValueError:
        raise Refused("custody", [f"{path.name}: not JSON"]) from None
    problems = custody.check_signed_head(doc, log, keyring, bag_id)
    if problems:
        raise Refused("custody", problems)


def _dependencies(archive: Archive, bag: Path) -> None:
    """Every bag this one declares in ``Depends-On`` is here, exactly as pinned."""
    from strongroom.bag.closure import declared, tagmanifest_digest

    try:
        deps = declared(bag)
    except ProblemFound as exc:
        raise Refused("closure", [exc.message]) from None
    problems = []
    for dep in deps:
        here = archive.bag_dir(dep.bag_id)
        if not (here / "bagit.txt").is_file() or here.is_symlink():
            problems.append(
                f"{bag.name} depends on {dep.bag_id}, which this archive does not hold:"
                f" receive {dep.bag_id} first (the sender's `strongroom share` sends it first)"
            )
        elif tagmanifest_digest(here) != dep.digest:
            problems.append(
                f"{bag.name} depends on {dep.bag_id} as it was when pinned, but the copy"
                " here has another tag manifest"
            )
    if problems:
        raise Refused("closure", problems)


def _identity(archive: Archive, work: Path, bag_id: str) -> None:
    """The bag is what its name says, and not one this archive holds already.

    Raises _AlreadyHeld when the same bag (same tag manifests) is here under its
    own name: the copy is confirmed and nothing changes.
    """
    from strongroom.bag.baginfo import first, read_bag_info
    from strongroom.bag.inventory import tagmanifest_hashes

    bag = work / bag_id
    declared = first(read_bag_info(bag), "External-Identifier")
    if declared and declared != bag_id:
        raise Refused(
            "identity",
            [
                f"the folder is named {bag_id} but its bag-info External-Identifier is"
                f" {show(declared)}: a renamed copy is not a new bag"
            ],
        )
    incoming = tagmanifest_hashes(bag)
    for held in archive.bag_ids():
        if incoming and tagmanifest_hashes(archive.bag_dir(held)) == incoming:
            if held == bag_id:
                raise _AlreadyHeld(held)
            raise Refused(
                "existing",
                [f"{bag_id} has the same tag manifests as {held}, which is already here"],
            )
    if archive.bag_dir(bag_id).exists() or archive.custody_path(bag_id).exists():
        raise Refused(
            "existing",
            [f"{bag_id} is already in this archive, with other contents; refusing to replace"],
        )


# --- ingest -------------------------------------------------------------------------
def _ingest(
    archive: Archive,
    work: Path,
    bag_id: str,
    source: str,
    partner_name: str | None,
    requested: Path | None,
    unsigned: _Unsigned,
) -> str | None:
    """Publish the checked bag as a transaction and record it; return the inventory path."""
    # The archive's inventory folder, fixed in config.toml at the first bag that enters
    # (a refused bag changes nothing in the archive).
    manifests_dir = archive.inventory_dir(requested)
    intent = ingest.intent_for(archive, work, bag_id, source, partner_name, manifests_dir)
    if unsigned.allowed and not (work / bag_id / SIGNATURE).is_file():
        intent["unsigned_reason"] = unsigned.reason
    ingest.check_inventory(manifests_dir, intent["collection_id"])
    with ingest.publishing_lock(archive):
        if archive.bag_dir(bag_id).exists() or archive.custody_path(bag_id).exists():
            raise Refused("existing", [f"{bag_id} arrived here meanwhile; refusing to replace"])
        ingest.publish(archive, intent)
        return ingest.record(archive, intent)


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


def _unpack(
    archive: Archive, source: Path, work: Path, partner: Partner | None, warnings: list[str]
) -> tuple[str, bool]:
    """Copy or extract the source into ``work``; check a tar's signature; return the bag
    id and whether a signed tar vouches for everything in it (its custody log too)."""
    limits = archive.config.receive
    sealed = False
    if source.is_dir() and not source.is_symlink():
        bag_id = copy_dir(source, work, limits)
    elif source.is_file() and not source.is_symlink():
        bag_id = extract_tar(source, work, limits)
        expected = expected_fingerprint(partner)
        sealed = check_tar_signature(source, trusted_keyring(archive), expected) is not None
        if not sealed:
            warnings.append(
                f"no {source.name}.sig beside the tar; the bag's own signature is checked"
            )
    else:
        raise Refused("extract", [f"{source}: not a regular file or folder (symlink?)"])
    if not _BAG_ID_RE.match(bag_id):
        raise Refused("extract", [f"{show(bag_id)}: not a usable bag id"])
    return bag_id, sealed


def _refuse(
    archive: Archive,
    work: Path,
    source: Path,
    partner_name: str | None,
    bag_id: str | None,
    exc: Refused,
    warnings: list[str],
) -> ReceiveFailed:
    """Quarantine the work folder with its report.json and log the refusal.

    A refused extraction keeps only its report: what was written before the
    refusal is an unfinished, possibly hostile, possibly huge, partial tree.
    """
    if exc.stage == "extract":
        _rmtree(work)
        work.mkdir()
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
    return ReceiveFailed(
        f"refused {source.name} at the {exc.stage} step: {first}{more};"
        f" quarantined in {where} (see report.json)",
        doc,
    )


def receive(
    archive: Archive,
    source: Path,
    *,
    partner_name: str | None = None,
    manifests_dir: Path | None = None,
    allow_unsigned: bool = False,
    reason: str | None = None,
) -> ReceiveResult:
    """Receive a bag folder or tar; quarantine it (ReceiveFailed) when any check fails."""
    source = Path(source).absolute()
    if not source.exists() and not source.is_symlink():
        raise UsageError(f"{source}: no such file or folder")
    if allow_unsigned != bool(reason and reason.strip()):
        raise UsageError('--allow-unsigned and --reason "..." go together (the reason is logged)')
    unsigned = _Unsigned(allow_unsigned, (reason or "").strip())
    partner = get_partner(archive, partner_name) if partner_name else None
    try:
        archive.ensure()
        with ingest.publishing_lock(archive):
            ingest.reconcile(archive)  # finish or undo what a killed receive left
        with ingest.work_folder(archive) as work:
            return _receive(archive, source, work, partner, unsigned, manifests_dir)
    except OSError as exc:
        if exc.errno in ENVIRONMENT_ERRNOS:
            raise environment_error(exc, archive.root) from None
        raise


def _receive(
    archive: Archive,
    source: Path,
    work: Path,
    partner: Partner | None,
    unsigned: _Unsigned,
    manifests: Path | None,
) -> ReceiveResult:
    """Unpack, check and ingest into ``work``; quarantine on refusal, clean up otherwise."""
    partner_name = partner.name if partner else None
    warnings: list[str] = []
    bag_id: str | None = None
    try:
        bag_id, sealed = _unpack(archive, source, work, partner, warnings)
        _identity(archive, work, bag_id)
        report, signature, entries = _checks(
            archive, work, bag_id, partner, unsigned, warnings, sealed=sealed
        )
        _dependencies(archive, work / bag_id)
        inv = _ingest(archive, work, bag_id, str(source), partner_name, manifests, unsigned)
    except Refused as exc:
        raise _refuse(archive, work, source, partner_name, bag_id, exc, warnings) from None
    except _AlreadyHeld:
        assert bag_id is not None
        return _held(archive, bag_id, source, partner_name, warnings)
    finally:
        if work.exists():
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


def _held(
    archive: Archive,
    bag_id: str,
    source: Path,
    partner_name: str | None,
    warnings: list[str],
) -> ReceiveResult:
    """The result for a bag this archive already holds, confirmed identical."""
    from strongroom.bag.baginfo import first, read_bag_info

    entries = len(custody.read_entries(archive.custody_path(bag_id)))
    oxum = first(read_bag_info(archive.bag_dir(bag_id)), "Payload-Oxum").split(".")
    nbytes, files = (
        (int(oxum[0]), int(oxum[1]))
        if len(oxum) == 2 and all(x.isdigit() for x in oxum)
        else (0, 0)
    )
    warnings.append(
        f"{bag_id} is already here with the same tag manifests; the copy is confirmed"
        " and nothing was changed"
    )
    return ReceiveResult(
        bag_id=bag_id,
        path=str(archive.bag_dir(bag_id)),
        source=str(source),
        partner=partner_name,
        files=files,
        bytes=nbytes,
        signature="the copy held here (its tag manifests are the same)",
        custody_entries=entries,
        inventory=None,
        warnings=warnings,
        already_held=True,
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
