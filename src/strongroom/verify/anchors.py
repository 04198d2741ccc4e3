"""The checks of an archive bag that a self-consistent forgery cannot pass.

A bag replaced wholesale (new payload, new manifests, new tag manifests) still
validates on its own. What protects it is kept outside it: the ledger's row for
the bag (which collection it belongs to), the collection inventory (the tag
manifests' hashes and the signing key at bagging), the custody log beside the
bag, and the detached signature. None of these checks is ever skipped for a bag
of the archive: an anchor that cannot be found is itself a problem, whatever the
current folder and whatever the bag's own bag-info says.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from strongroom.core.archive import Archive
from strongroom.verify.context import LedgerBag, RunContext
from strongroom.verify.findings import BagReport, Problem, show

SIGNATURE = "tagmanifest-sha512.txt.sig"
TAGMANIFEST = "tagmanifest-sha512.txt"
MAX_SIGNATURE = 1024  # an Ed25519 signature is 64 bytes; a big file is hostile
_COLLECTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


def ledger_bag(archive: Archive, bag_id: str) -> LedgerBag | None:
    """The ledger's row for one bag, or None when the ledger does not know it."""
    ctx = RunContext(archive)
    try:
        return ctx.bags().get(bag_id)
    finally:
        ctx.close()


def ledger_bags(archive: Archive) -> dict[str, LedgerBag]:
    """Every bag the ledger knows, by id (empty when the archive has no ledger yet)."""
    ctx = RunContext(archive)
    try:
        return ctx.bags()
    finally:
        ctx.close()


def inventory_candidates(
    archive: Archive, collection_id: str, recorded: Path | None = None
) -> list[Path]:
    """Where the collection's inventory folder may be, most authoritative first.

    Where bagging wrote it (the ledger's creation event) comes first, then the
    archive's configured inventory folder (``[inventory] path`` in config.toml,
    fixed at first use); then, for archives set up before it was configured,
    the working folder's ``manifests/`` (a checkout of the collections
    repository), and the archive's own folder and its parent (where
    ``strongroom demo`` and a default set-up put it). Each is a folder
    ``<manifests>/<collection>/``; an older one-file ``<collection>.json``
    beside it is read in its place.
    """
    bases: list[Path] = []
    configured = archive.configured_inventory()
    if configured is not None:
        bases.append(configured)
    bases += [Path.cwd() / "manifests", archive.root / "manifests"]
    bases.append(archive.root.parent / "manifests")
    found = [base / collection_id for base in dict.fromkeys(bases)]
    return ([recorded] if recorded is not None else []) + found


def _present(path: Path) -> bool:
    """An inventory folder, a one-file inventory, or a folder's older one-file form."""
    if path.is_dir() or path.is_file():
        return True
    if path.suffix == ".json":  # recorded before the split into one file per bag
        return path.with_suffix("").is_dir()
    return path.with_name(path.name + ".json").is_file()


def find_inventory(archive: Archive, collection_id: str, recorded: Path | None) -> Path | None:
    for path in inventory_candidates(archive, collection_id, recorded):
        if _present(path):
            return path
    return None


def anchored_checks(
    archive: Archive,
    bag_id: str,
    bag: Path,
    report: BagReport,
    inventory: Path | None,
    custody_checked: bool = False,
    ctx: RunContext | None = None,
    log: Path | None = None,
) -> list[Problem]:
    """Ledger row, inventory, custody log and signature of one archive bag; never skipped.

    ``custody_checked``: the custody chain check already reported a problem with
    the log (``bag.custody.check_custody`` names a log that is gone when the ledger
    anchored it or the bag is signed); then its absence is not reported twice.
    ``ctx``: the run's context, which reads the ledger's rows once for all bags.
    ``log``: the bag's custody log (``archive.custody_path``), when the caller has it.
    """
    problems: list[Problem] = []
    row = ctx.bags().get(bag_id) if ctx is not None else ledger_bag(archive, bag_id)
    if row is None:
        problems.append(unrecorded(archive, bag_id))
    collection = collection_of(report, row, problems)
    recorded = row.inventory if row is not None else None
    found, entry = inventory_problems(archive, bag, collection, inventory, recorded, ctx, report)
    problems += found + signature_missing(bag, entry, row is not None and row.signed, report)
    if not custody_checked:
        problems += custody_missing(archive, bag_id, log)
    return problems


def has_signature(bag: Path, report: BagReport) -> bool:
    """Whether the bag holds its detached signature (the scan saw it; else ask the disk)."""
    tree = report.tree
    if tree is not None and SIGNATURE in tree.tags:
        return True
    return (bag / SIGNATURE).exists()


def check_signature(keyring: Any, bag: Path, report: BagReport) -> Any:
    """The signature over the tag manifest's bytes as validation read them.

    Checking the bytes that were parsed (not a second read) costs one read less
    and leaves no moment in which the file could change between the two.
    """
    data = report.tag_bytes.get(TAGMANIFEST)
    if data is None:
        return keyring.verify_file_signature(bag / TAGMANIFEST, bag / SIGNATURE)
    from strongroom.bag.signing import SignatureCheck

    try:
        fd = os.open(bag / SIGNATURE, os.O_RDONLY)
        try:
            signature = os.read(fd, MAX_SIGNATURE + 1)
        finally:
            os.close(fd)
    except OSError as exc:
        return SignatureCheck(False, None, f"cannot read {exc.filename}: {exc.strerror}")
    if len(signature) > MAX_SIGNATURE:
        return SignatureCheck(False, None, f"{SIGNATURE} is too large")
    check = keyring.verify_bytes(data, signature)
    if not check.ok:
        return SignatureCheck(False, check.fingerprint, f"{SIGNATURE}: {check.reason}")
    return check


def unrecorded(archive: Archive, bag_id: str) -> Problem:
    return Problem(
        "unrecorded",
        f"{archive.bags / bag_id}: a bag on disk that the ledger does not know"
        " (not made or received here, or its record was lost)",
        file=bag_id,
    )


def collection_of(report: BagReport, row: LedgerBag | None, problems: list[Problem]) -> str | None:
    """The bag's collection as the ledger recorded it; bag-info only for unrecorded bags.

    A forger can rewrite Bag-Group-Identifier to point verify at another (or no)
    inventory; the ledger's row is the anchor, and a disagreement is a problem.
    """
    declared = (report.info("Bag-Group-Identifier") or [""])[0].strip() or None
    if row is None:
        return declared if declared and _COLLECTION_ID.match(declared) else None
    if declared != row.collection_id:
        problems.append(
            Problem(
                "inventory",
                f"bag-info.txt: Bag-Group-Identifier is {show(declared or '(absent)')!r}, but"
                f" the ledger recorded the bag in collection {row.collection_id!r}",
                file="bag-info.txt",
            )
        )
    return row.collection_id


def inventory_problems(
    archive: Archive,
    bag: Path,
    collection_id: str | None,
    given: Path | None,
    recorded: Path | None = None,
    ctx: RunContext | None = None,
    report: BagReport | None = None,
) -> tuple[list[Problem], dict[str, object] | None]:
    """Compare the bag with its inventory; the inventory's entry for it, when found.

    ``report``: the bag's validation, whose tag-manifest bytes are hashed instead of
    reading the files again.
    """
    from strongroom.bag.inventory import check_entry, find_entry

    path = given
    if path is None and collection_id is not None:
        if ctx is None:
            path = find_inventory(archive, collection_id, recorded)
        else:  # looked for once per collection and recorded place in a run
            key = (collection_id, recorded)
            if key not in ctx.found:
                ctx.found[key] = find_inventory(archive, collection_id, recorded)
            path = ctx.found[key]
    if path is None:
        tried = inventory_candidates(archive, collection_id or "?", recorded)
        where = ", ".join(str(p) for p in tried)
        return [
            Problem(
                "inventory-missing",
                f"the inventory of collection {collection_id or '(unknown)'} was not found"
                f" (looked in {where}); the bag cannot be checked against it."
                " Run verify with --inventory PATH, or from the folder that holds manifests/",
            )
        ], None
    try:
        entry = ctx.entry(path, bag.name) if ctx is not None else find_entry(path, bag.name)
        messages = check_entry(path, bag, entry, _hashes(bag, report))
        if messages:
            # name the entry file of the bag (one file per bag), or an older one-file inventory
            is_folder = ctx.folder(path) is not None if ctx is not None else path.is_dir()
            label = f"{path.name}/{bag.name}.json" if is_folder else path.name
        found = [Problem("inventory", f"{label}: {msg}", file=str(path)) for msg in messages]
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        return [Problem("inventory", f"{path}: cannot read the inventory ({exc})")], None
    return found, entry


def _hashes(bag: Path, report: BagReport | None) -> dict[str, str] | None:
    """{tag manifest: sha256} as ``bag.inventory.tagmanifest_hashes`` gives them, from the
    bytes validation read (None: no scan to go by, so the inventory reads the disk)."""
    tree = report.tree if report is not None else None
    if tree is None:
        return None
    out = {}
    # the names fnmatch's "tagmanifest-*.txt" takes, without a pattern per name
    names = (n for n in tree.tags if n.startswith("tagmanifest-") and n.endswith(".txt"))
    for name in sorted(n for n in names if len(n) >= len("tagmanifest-.txt")):
        data = report.tag_bytes.get(name) if report is not None else None
        if data is None:  # not a manifest validation read (an unsupported name)
            data = (bag / name).read_bytes()
        out[name] = hashlib.sha256(data).hexdigest()
    return out


def custody_missing(archive: Archive, bag_id: str, log: Path | None = None) -> list[Problem]:
    """Every archive bag has a custody log from its first event on."""
    log = archive.custody_path(bag_id) if log is None else log
    try:
        st = os.lstat(log)  # one call: a symbolic link is not a log
        size = -1 if stat.S_ISLNK(st.st_mode) else st.st_size
    except FileNotFoundError:
        size = None
    except OSError as exc:
        return [Problem("unreadable", f"{log.name}: cannot read ({exc.strerror})", file=log.name)]
    if size is None:
        what = "is missing"
    elif size <= 0:
        what = "is empty" if size == 0 else "is a symbolic link"
    else:
        return []
    return [
        Problem(
            "custody-missing",
            f"custody log {log.name} {what}: the bag's history (and the hash chain that"
            " protects it) is gone",
            file=log.name,
        )
    ]


def signature_missing(
    bag: Path,
    entry: dict[str, object] | None,
    ledger_says_signed: bool = False,
    report: BagReport | None = None,
) -> list[Problem]:
    """A bag signed at bagging (as its inventory entry or the ledger records) keeps its
    signature."""
    key = entry.get("signing_key") if entry is not None else None
    if not (key or ledger_says_signed):
        return []
    tree = report.tree if report is not None else None
    if (tree is not None and SIGNATURE in tree.tags) or (bag / SIGNATURE).exists():
        return []
    source = f"with key {show(str(key))} (as the inventory records)" if key else "(the ledger)"
    return [
        Problem(
            "signature-missing",
            f"{SIGNATURE}: missing, but the bag was signed at bagging {source}",
            file=SIGNATURE,
            algorithm="ed25519",
        )
    ]


def missing_from_disk(
    archive: Archive, on_disk: list[str], ctx: RunContext | None = None
) -> dict[str, Problem]:
    """bag id -> problem, for each bag the ledger knows but the disk lacks.

    (The reverse, a bag on disk that the ledger does not know, is found bag by bag
    by ``anchored_checks``.)
    """
    known = ctx.bags() if ctx is not None else ledger_bags(archive)
    return {
        bag_id: Problem(
            "bag-missing",
            f"the ledger records bag {bag_id}, but {archive.bags / bag_id} does not exist"
            " (deleted or moved; restore it from a partner with strongroom repair)",
            file=bag_id,
        )
        for bag_id in sorted(set(known) - set(on_disk))
    }
