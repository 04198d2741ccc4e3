"""Publishing a received bag is a transaction: intent, rename, record, complete.

The checked bag waits in ``quarantine/.tmp-receive-*``. Under the archive's
publishing lock (:func:`strongroom.bag.publish.publishing`, which first
reconciles bag publications as every locked command does):

1. the ledger records the *intent*: an ``ingestion`` event with outcome
   ``pending`` and everything needed to record the bag;
2. its custody log, then the bag folder, are renamed into ``bags/``;
3. the ledger row, the custody line and the inventory entry are written, each
   idempotently (it checks what is already there); the ``ingestion`` event
   with outcome ``success`` closes the intent.

:func:`reconcile` runs first in every receive: a pending ingestion whose bag is
on disk and whole is recorded; one whose bag never arrived is closed as
``abandoned`` (a custody log already moved goes to ``quarantine/``); one whose
folder is not whole is moved to ``quarantine/``. Stale ``.tmp-receive-*`` work
folders of killed runs are removed. A crash at any instant therefore leaves no
bag or a fully recorded one, and the next receive finishes the job.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from strongroom.bag import custody
from strongroom.bag.publish import crash_point, owned
from strongroom.core.archive import Archive
from strongroom.core.fsutil import TMP_PREFIX, fsync_dir, fsync_tree
from strongroom.core.ledger import Ledger, open_ledger, utcnow

INGESTION = "ingestion"
PENDING = "pending"
WORK_PREFIX = f"{TMP_PREFIX}receive-"
_CAPTURE_ID_RE = re.compile(r"^(?P<coll>.+)-(?P<cap>\d{8}T\d{6}Z-[0-9a-z]+)$")


@contextlib.contextmanager
def publishing_lock(archive: Archive) -> Iterator[None]:
    """Hold the archive's publishing lock, the one ``bag`` takes, after its reconcile of
    bag publications (``bag.publish``); a receive then reconciles its own intents."""
    from strongroom.bag.publish import publishing

    with publishing(archive):
        yield


def intent_for(
    archive: Archive, work: Path, bag_id: str, source: str, partner: str | None, manifests: Path
) -> dict[str, Any]:
    """Everything needed to record the bag, should this run die after the rename."""
    from strongroom.bag.baginfo import first, read_bag_info, values

    info = read_bag_info(work / bag_id)
    collection = first(info, "Bag-Group-Identifier")
    capture_id = None
    m = _CAPTURE_ID_RE.match(bag_id)
    if m:
        collection = collection or m.group("coll")
        capture_id = m.group("cap")
    return {
        "bag_id": bag_id,
        "collection_id": collection or "received",
        "capture_id": capture_id,
        "seeds": values(info, "Seed-URL"),
        "is_version_of": first(info, "Is-Version-Of") or None,
        "payload_oxum": first(info, "Payload-Oxum"),
        "signing_key": first(info, "Signing-Key-Fingerprint") or None,
        "source": source,
        "partner": partner,
        "origin": f"received:{partner}" if partner else "received",
        "manifests": str(manifests),
        "work": str(work),
        "created": utcnow(),
        "node": archive.config.node.name,  # on a shared ledger, who may finish it
    }


def check_inventory(manifests: Path, collection_id: str) -> None:
    """Fail before the bag enters the archive, not after, when the inventory is unusable."""
    from strongroom.bag import inventory

    inventory.check_writable(manifests)
    inventory.load_inventory(inventory.inventory_path(manifests, collection_id), collection_id)


def publish(archive: Archive, intent: dict[str, Any]) -> Path:
    """Record the intent, then rename the custody log and the bag into ``bags/``."""
    bag_id = intent["bag_id"]
    work = Path(intent["work"])
    bag = work / bag_id
    for dirpath, _dirs, files in os.walk(bag / "data"):
        for name in files:  # the payload is read-only in the archive, as for our own bags
            os.chmod(os.path.join(dirpath, name), stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    fsync_tree(work)
    archive.bags.mkdir(parents=True, exist_ok=True)
    with open_ledger(archive.root) as ledger:
        ledger.record_event(
            INGESTION, PENDING, bag_id=bag_id, actor=archive.config.operator, detail=intent
        )
    crash_point("receive-after-intent")
    log = work / f"{bag_id}.custody.jsonl"
    if log.exists():
        os.rename(log, archive.custody_path(bag_id))
        crash_point("receive-after-log-rename")
    final = archive.bag_dir(bag_id)
    os.rename(bag, final)  # _identity made sure nothing is there
    fsync_dir(archive.bags)
    crash_point("receive-after-rename")
    return final


def record(archive: Archive, intent: dict[str, Any], ledger: Ledger | None = None) -> str:
    """Record a published received bag: ledger row, inventory entry, then the custody line
    and ledger event of the ingestion (which close the intent).

    Each step checks what is already there, so that a run killed halfway through
    is finished by the next, and nothing is recorded twice. ``ledger``: the
    caller's open connection (else the archive's, for this call). Returns the
    inventory path.
    """
    from strongroom.bag import inventory
    from strongroom.bag.access import current_access

    bag_id = intent["bag_id"]
    access = current_access(archive, bag_id)
    own = contextlib.nullcontext(ledger) if ledger is not None else open_ledger(archive.root)
    with own as ledger:
        ledger.record_bag(
            bag_id,
            collection_id=intent["collection_id"],
            capture_id=intent["capture_id"],
            created=intent["created"],
            access=access,
            seeds=intent["seeds"],
            is_version_of=intent["is_version_of"],
            origin=intent["origin"],
        )
        crash_point("receive-after-ledger-row")
        if intent.get("unsigned_reason"):
            _log_unsigned(archive, bag_id, intent["source"], intent["unsigned_reason"])
        path = inventory.record_bag(
            Path(intent["manifests"]),
            intent["collection_id"],
            {
                "bag_id": bag_id,
                "created": intent["created"],
                "payload_oxum": intent["payload_oxum"],
                "tagmanifests": inventory.tagmanifest_hashes(archive.bag_dir(bag_id)),
                "signing_key": intent["signing_key"],
                "seeds": intent["seeds"],
                "access": access,
                "is_version_of": intent["is_version_of"],
            },
        )
        crash_point("receive-after-inventory")
        inputs = {"source": intent["source"], "partner": intent["partner"]}
        detail = {"origin": intent["origin"]}
        if _ingestion_logged(archive, bag_id, intent["source"]):  # the line, not its row
            ledger.record_event(
                INGESTION, "success", bag_id=bag_id, actor=archive.config.operator,
                detail=inputs | detail,
            )  # fmt: skip
        else:
            custody.record_event(
                archive, bag_id, INGESTION, outcome="success", inputs=inputs, detail=detail,
                ledger=ledger,
            )  # fmt: skip
    crash_point("receive-after-ingestion")
    return str(path)


def _log_unsigned(archive: Archive, bag_id: str, source: str, reason: str) -> None:
    """The --allow-unsigned override, in the custody log and the ledger (once)."""
    from strongroom.share.policy import POLICY_OVERRIDE

    for e in custody.read_entries(archive.custody_path(bag_id)):
        if e.get("action") == POLICY_OVERRIDE and (e.get("inputs") or {}).get("source") == source:
            return
    inputs = {"action": "receive unsigned", "reason": reason, "source": source}
    detail = {"reasons": [f"{bag_id} came without a signature; its origin is unproven"]}
    custody.record_event(
        archive, bag_id, POLICY_OVERRIDE, outcome="success", inputs=inputs, detail=detail
    )


def _ingestion_logged(archive: Archive, bag_id: str, source: str) -> bool:
    """The custody log's last line is this run's ingestion (its ledger row may be missing)."""
    entries = custody.read_entries(archive.custody_path(bag_id))
    last = entries[-1] if entries else {}
    return last.get("action") == INGESTION and (last.get("inputs") or {}).get("source") == source


def pending(archive: Archive) -> list[dict[str, Any]]:
    """The intents of ingestions whose latest event is still ``pending``."""
    with open_ledger(archive.root) as ledger:
        return ledger.pending_ingestions()


def reconcile(archive: Archive) -> dict[str, list[str]]:
    """Finish or undo what killed receives left (call with the publishing lock held).

    One ledger connection serves the whole reconcile. Each write commits on its
    own and no read leaves a transaction open, so holding it while a bag is
    validated holds no lock on the ledger.
    """
    from strongroom.verify.validate import validate_bag

    done: dict[str, list[str]] = {"completed": [], "abandoned": [], "quarantined": []}
    with open_ledger(archive.root) as ledger:
        for intent in ledger.pending_ingestions():
            if not owned(intent, archive.config.node.name, ledger.shared):
                continue  # another node's receive (see bag.publish.owned)
            bag_id = intent["bag_id"]
            final = archive.bag_dir(bag_id)
            if final.is_dir() and validate_bag(final, "full").valid:
                record(archive, intent, ledger)  # closes the intent with its success event
                done["completed"].append(bag_id)
                continue
            outcome = "quarantined" if final.exists() else "abandoned"
            for leftover in (final, archive.custody_path(bag_id)):
                if leftover.exists():
                    _to_quarantine(archive, leftover)
            ledger.record_event(
                INGESTION, outcome, bag_id=bag_id, actor=archive.config.operator,
                detail={"source": intent.get("source"), "reconciled": True},
            )  # fmt: skip
            done[outcome].append(bag_id)
    _remove_stale_work(archive)
    return done


def _to_quarantine(archive: Archive, path: Path) -> None:
    archive.quarantine.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    dest = archive.quarantine / f"{path.name}-unfinished-{stamp}"
    os.rename(path, dest)
    fsync_dir(archive.quarantine)


@contextlib.contextmanager
def work_folder(archive: Archive) -> Iterator[Path]:
    """A new ``quarantine/.tmp-receive-<id>`` folder, alive while its lock is held.

    The lock (``locks/receive-<id>.lock``) tells :func:`reconcile` in another
    process that this folder belongs to a running receive, not to a killed one.
    """
    import secrets

    token = secrets.token_hex(6)
    lock = archive.locks / f"receive-{token}.lock"
    archive.locks.mkdir(parents=True, exist_ok=True)
    archive.quarantine.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        work = archive.quarantine / f"{WORK_PREFIX}{token}"
        work.mkdir()
        yield work
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()
        os.close(fd)


def _remove_stale_work(archive: Archive) -> None:
    """Work folders of receives that were killed: their lock is free (or gone)."""
    from strongroom.share.transfer import remove_tree

    if not archive.quarantine.is_dir():
        return
    for child in archive.quarantine.iterdir():
        if not (child.name.startswith(WORK_PREFIX) and child.is_dir()) or child.is_symlink():
            continue
        lock = archive.locks / f"receive-{child.name[len(WORK_PREFIX) :]}.lock"
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # a running receive holds it
        try:
            with contextlib.suppress(OSError):
                remove_tree(child)
            with contextlib.suppress(OSError):
                lock.unlink()
        finally:
            os.close(fd)
