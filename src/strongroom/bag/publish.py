"""Publishing a bag is a transaction: intent, rename, record, complete.

A bag is built under a ``.tmp-`` name, fsynced, and renamed into ``bags/``;
then its custody log, ledger row and inventory entry are written. A crash
(SIGKILL, power cut, full disk) between the rename and the last of those
writes used to leave a bag that looked complete but that ``verify`` failed
forever. Now:

1. before the rename, the ledger records the *intent*: a ``publication`` event
   with outcome ``pending`` and everything needed to record the bag;
2. the rename publishes the folder (atomic, after every byte is durable);
3. the custody log, ledger row and inventory entry are written (each write is
   idempotent: it checks what is already there);
4. a ``publication`` event with outcome ``complete`` closes it.

Every run that takes the archive's publishing lock first :func:`reconcile`\\ s:
a pending publication whose bag is on disk and whole is completed; one whose
bag is missing was never published (its staging folder is removed); one whose
folder is there but not whole is moved to ``quarantine/``. The same pass
removes stale ``.tmp-*`` staging folders in ``bags/`` (only a run holding the
lock builds there), and moves capture folders that never got their
``capture.json`` and have not changed for :data:`STALE_CAPTURE` seconds to
``quarantine/captures/`` (moved, not deleted: nothing a person may need is lost).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strongroom.core.archive import Archive
from strongroom.core.fsutil import TMP_PREFIX, clean_stale_temps, fsync_dir, os_problem
from strongroom.core.ledger import open_ledger
from strongroom.errors import UsageError

LOCK_NAME = "publish.lock"
STALE_CAPTURE = 3600.0  # an unfinished capture idle this long is abandoned
CRASH_ENV = "STRONGROOM_TEST_CRASH_AT"  # crash-test hook: SIGKILL at a named step


def crash_point(name: str) -> None:
    """Kill this process at step ``name`` when the crash test asks for it.

    The test sets ``STRONGROOM_TEST_CRASH_AT`` to a step name; nothing else
    reads it, and in normal runs this is one dictionary lookup.
    """
    if os.environ.get(CRASH_ENV) == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class Reconciled:
    """What :func:`reconcile` did."""

    completed: dict[str, dict[str, Any]] = field(default_factory=dict)  # bag id -> intent
    abandoned: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    temps_removed: list[str] = field(default_factory=list)
    captures_moved: list[str] = field(default_factory=list)


def _locked(fd: int) -> bool:
    """Take the lock on ``fd`` if no other run holds it (never waits)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _open_lock(archive: Archive) -> int:
    try:
        archive.locks.mkdir(parents=True, exist_ok=True)
        return os.open(archive.locks / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise os_problem(f"cannot open lock file {archive.locks / LOCK_NAME}", exc) from None


@contextlib.contextmanager
def publishing(archive: Archive, timeout: float = 600.0) -> Iterator[Reconciled]:
    """Hold the archive's publishing lock (waiting up to ``timeout`` s), reconciled."""
    fd = _open_lock(archive)
    try:
        deadline = time.monotonic() + timeout
        while not _locked(fd):
            if time.monotonic() > deadline:
                raise UsageError(
                    f"another strongroom run holds {archive.locks / LOCK_NAME}; try again"
                )
            time.sleep(0.2)
        yield reconcile(archive)
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def publishing_if_free(archive: Archive) -> Iterator[bool]:
    """Hold the publishing lock if no other run holds it (True: nothing reconciled
    yet, the caller does what it needs), else yield False at once without waiting."""
    fd = _open_lock(archive)
    try:
        yield _locked(fd)
    finally:
        os.close(fd)


def reconcile(archive: Archive) -> Reconciled:
    """Finish or undo what killed runs left (call with the publishing lock held)."""
    done = Reconciled()
    done.temps_removed = [p.name for p in clean_stale_temps(archive.bags)]
    with open_ledger(archive.root) as ledger:
        pending = ledger.pending_publications()
        shared = ledger.shared
    node = archive.config.node.name
    for bag_id, intent in pending:
        if not owned(intent, node, shared):
            continue  # another node's: only it can tell whether its run is still at work
        final = archive.bag_dir(bag_id)
        if not final.exists():
            outcome = "abandoned"  # killed before the rename: nothing was published
            done.abandoned.append(bag_id)
        elif is_whole(final):
            record_intent(archive, intent)
            outcome = "complete"
            done.completed[bag_id] = intent
        else:
            _quarantine(archive, final)
            outcome = "quarantined"
            done.quarantined.append(bag_id)
        with open_ledger(archive.root) as ledger:
            ledger.close_publication(bag_id, outcome)
    done.captures_moved = _stale_captures(archive)
    return done


def owned(intent: dict[str, Any], node: str, shared: bool) -> bool:
    """Whether this node may finish or undo ``intent``. On a ledger shared by several
    nodes only the node that opened it may: each node's publishing lock is its own,
    so no other can tell its run at work from a dead one (and the bag may not even
    be on the other node's disk). Intents from before they named their node, and
    every intent of an archive's own SQLite ledger, are this node's."""
    return not shared or intent.get("node") in (None, node)


def is_whole(bag: Path) -> bool:
    """A published folder that is a whole bag: its tag manifest matches every tag
    file it lists, and the payload has the size and count bag-info declares."""
    from strongroom.bag.baginfo import first, read_bag_info
    from strongroom.bag.manifest import parse_manifest

    tm = bag / "tagmanifest-sha512.txt"
    try:
        listed = parse_manifest(tm.read_text("utf-8"))
        for rel, digest in listed.items():
            if hashlib.sha512((bag / rel).read_bytes()).hexdigest() != digest:
                return False
        oxum = first(read_bag_info(bag), "Payload-Oxum")
        files = [p for p in (bag / "data").rglob("*") if p.is_file()]
        return oxum == f"{sum(p.stat().st_size for p in files)}.{len(files)}"
    except (OSError, UsageError, UnicodeDecodeError):
        return False


def _quarantine(archive: Archive, path: Path, sub: str = "") -> Path:
    dest_dir = archive.quarantine / sub if sub else archive.quarantine
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{path.name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    os.rename(path, dest)
    fsync_dir(dest_dir)
    fsync_dir(path.parent)
    return dest


def _stale_captures(archive: Archive) -> list[str]:
    """Capture folders without capture.json, untouched for STALE_CAPTURE seconds."""
    moved: list[str] = []
    if not archive.captures.is_dir():
        return moved
    now = time.time()
    for folder in sorted(archive.captures.iterdir()):
        if folder.name.startswith(TMP_PREFIX) or folder.is_symlink() or not folder.is_dir():
            continue
        if (folder / "capture.json").exists():
            continue
        newest = max(
            (p.lstat().st_mtime for p in folder.rglob("*")), default=folder.lstat().st_mtime
        )
        if now - max(newest, folder.lstat().st_mtime) < STALE_CAPTURE:
            continue  # maybe still being captured by another run
        _quarantine(archive, folder, "captures")
        moved.append(folder.name)
    return moved


def intent_of(plan: Any) -> dict[str, Any]:
    """What reconcile needs to record a bag whose run died after the rename."""
    return {
        "bag_id": plan.bag_id,
        "collection_id": plan.collection_id,
        "capture_id": plan.capture_id,
        "access": plan.access,
        "seeds": list(plan.seeds),
        "is_version_of": plan.is_version_of,
        "operator": plan.operator,
        "algorithms": list(plan.algorithms),
        "fingerprint": plan.fingerprint,
        "manifests": str(plan.manifests),
        "oxum": plan.oxum,
        "stamp": plan.stamp_detail(),
        "designations": [d.label() for d in plan.designations],
        "node": plan.archive.config.node.name,  # on a shared ledger, who may finish it
    }


def record_intent(archive: Archive, intent: dict[str, Any]) -> None:
    """Record a published bag in the ledger, its custody log and the inventory.

    Each step checks what is already there, so that a run killed halfway
    through can be finished by the next: nothing is recorded twice.
    """
    from strongroom.bag import custody, inventory
    from strongroom.core.ledger import utcnow

    bag_id = intent["bag_id"]
    final = archive.bag_dir(bag_id)
    with open_ledger(archive.root) as ledger:
        created = ledger.bag_created(bag_id) or utcnow()
        ledger.record_bag(
            bag_id,
            collection_id=intent["collection_id"],
            capture_id=intent["capture_id"],
            created=created,
            access=intent["access"],
            seeds=intent["seeds"],
            is_version_of=intent["is_version_of"],
            designations=intent.get("designations"),  # absent in an older pending intent
        )
        crash_point("after-ledger-row")
        log = archive.custody_path(bag_id)
        done = {e.get("action") for e in custody.read_entries(log)} if log.exists() else set()
        logged = {e["event_type"] for e in ledger.events(bag_id)}
        for action, outcome, detail in _events(intent):
            if action in done and action in logged:
                continue
            # The ledger (local to this archive) also keeps where the inventory is, so
            # verify finds it from any folder; the custody log, which travels with
            # the bag, never holds a local path (it could name the capturer).
            local = detail | (_ledger_only(final, intent) if action == "creation" else {})
            if action in done:  # the custody line landed, its ledger row did not
                ledger.record_event(action, outcome, bag_id=bag_id, actor=intent["operator"],
                                    detail=local)  # fmt: skip
            else:
                custody.record_event(
                    archive, bag_id, action, outcome=outcome, detail=detail,
                    inputs=_inputs(intent) if action == "creation" else None,
                    actor=intent["operator"], ledger=ledger,
                    ledger_detail=(_inputs(intent) if action == "creation" else {}) | local,
                )  # fmt: skip
            crash_point(f"after-{action}")
    inventory.record_bag(
        Path(intent["manifests"]),
        intent["collection_id"],
        {
            "bag_id": bag_id,
            "created": created,
            "payload_oxum": intent["oxum"],
            "tagmanifests": inventory.tagmanifest_hashes(final),
            "signing_key": intent["fingerprint"],
            "seeds": intent["seeds"],
            "access": intent["access"],
            "is_version_of": intent["is_version_of"],
        },
    )
    crash_point("after-inventory")


def _ledger_only(final: Path, intent: dict[str, Any]) -> dict[str, Any]:
    """What only the ledger's creation event keeps: where the inventory is, and the bags
    this one declares it depends on (so status need not read every bag-info for them)."""
    from strongroom.bag.closure import declared
    from strongroom.errors import ProblemFound

    found: dict[str, Any] = {"inventory": _inventory_file(intent)}
    # a malformed declaration is left out: status then reads the bag-info, as for older bags
    with contextlib.suppress(ProblemFound):
        found["depends_on"] = sorted({d.bag_id for d in declared(final)})
    return found


def _inventory_file(intent: dict[str, Any]) -> str:
    """The collection's inventory folder (``<manifests>/<collection>/``)."""
    return str((Path(intent["manifests"]) / intent["collection_id"]).absolute())


def _inputs(intent: dict[str, Any]) -> dict[str, Any]:
    return {"capture_id": intent["capture_id"], "collection_id": intent["collection_id"]}


def _events(intent: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The (action, outcome, detail) of the events a new bag's record holds."""
    creation = {
        "payload_oxum": intent["oxum"],
        "algorithms": intent["algorithms"],
        "signed": intent["fingerprint"] is not None,
    }
    stamp = intent.get("stamp")
    if stamp is not None:
        creation["timestamp"] = stamp
    out = [("creation", "success", creation)]
    if stamp is not None:
        out.append(("timestamp", "pending" if "pending" in stamp else "success", stamp))
    return out
