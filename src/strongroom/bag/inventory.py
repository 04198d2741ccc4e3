"""The inventory ``manifests/<collection-id>.json``: the anchor outside the bag.

A bag is self-consistent by construction, so a bag swapped wholesale for a
fake (new payload, new manifests, new tag manifests) would still validate.
The inventory, kept in git beside ``collections/``, records at bagging time
the sha256 of every tag manifest of every bag; verify compares against it.

The file is deterministic (sorted keys, two-space indent, final newline) so git
diffs show exactly the bag that was added, written atomically, and updated
under an exclusive lock so that two bag runs for one collection never lose
each other's entries.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from strongroom.core.fsutil import atomic_write_text
from strongroom.errors import UsageError

FORMAT = "strongroom-inventory/1"
MAX_INVENTORY = 64 * 1024 * 1024
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
ENTRY_KEYS = {
    "bag_id",
    "created",
    "payload_oxum",
    "tagmanifests",
    "signing_key",
    "seeds",
    "access",
    "is_version_of",
}


def inventory_path(manifests_dir: Path, collection_id: str) -> Path:
    """``<manifests_dir>/<collection_id>.json``."""
    if not _ID_RE.match(collection_id):
        raise UsageError(f"{collection_id!r} is not a collection id")
    return Path(manifests_dir) / f"{collection_id}.json"


def _empty(collection_id: str) -> dict[str, Any]:
    return {"format": FORMAT, "collection_id": collection_id, "bags": {}}


def load_inventory(path: Path, collection_id: str | None = None) -> dict[str, Any]:
    """Read and shape-check an inventory; a missing file is an empty inventory."""
    path = Path(path)
    cid = collection_id or path.stem
    if not path.exists():
        return _empty(cid)
    if not path.is_file() or path.is_symlink():
        raise UsageError(f"{path}: not a regular file")
    if path.stat().st_size > MAX_INVENTORY:
        raise UsageError(f"{path}: too large to be an inventory")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a JSON inventory ({exc}); fix it from git history") from None
    if not isinstance(data, dict) or not isinstance(data.get("bags"), dict):
        raise UsageError(f"{path}: not a strongroom inventory (expected an object with 'bags')")
    if data.get("format") != FORMAT:
        raise UsageError(f"{path}: unknown inventory format {data.get('format')!r}")
    for bag_id, entry in data["bags"].items():
        if (
            not isinstance(entry, dict)
            or entry.get("bag_id") != bag_id
            or not isinstance(entry.get("tagmanifests"), dict)
            or not all(
                isinstance(k, str) and isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v)
                for k, v in entry["tagmanifests"].items()
            )
        ):
            raise UsageError(f"{path}: entry {str(bag_id)[:80]!r} is malformed")
    return data


def render(data: dict[str, Any]) -> str:
    """The one stable text form of an inventory."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


@contextlib.contextmanager
def _dir_lock(folder: Path) -> Iterator[None]:
    """Block until we hold an exclusive flock on the folder itself.

    Locking the folder (not a lock file) leaves nothing extra in the
    git-tracked manifests folder, and the kernel drops it if we die.
    """
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def check_writable(manifests_dir: Path) -> None:
    """Fail early (before bagging) when the inventory folder cannot be written."""
    try:
        Path(manifests_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create manifests folder {manifests_dir}: {exc.strerror}"
        ) from None
    if not os.access(manifests_dir, os.W_OK):
        raise UsageError(f"manifests folder {manifests_dir} is not writable")


def record_bag(manifests_dir: Path, collection_id: str, entry: dict[str, Any]) -> Path:
    """Add (or replace) one bag's entry; return the inventory path."""
    unknown = set(entry) - ENTRY_KEYS
    if unknown or "bag_id" not in entry:
        raise ValueError(f"bad inventory entry keys: {sorted(unknown)}")
    path = inventory_path(manifests_dir, collection_id)
    check_writable(manifests_dir)
    with _dir_lock(Path(manifests_dir)):
        data = load_inventory(path, collection_id)
        data["bags"][entry["bag_id"]] = {k: entry.get(k) for k in sorted(ENTRY_KEYS)}
        atomic_write_text(path, render(data))
    return path


def tagmanifest_hashes(bag_dir: Path) -> dict[str, str]:
    """{tagmanifest file name: sha256 hex} for every tag manifest of a bag."""
    out = {}
    for p in sorted(Path(bag_dir).glob("tagmanifest-*.txt")):
        if p.is_file() and not p.is_symlink():
            out[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def find_entry(inventory: Path, bag_id: str) -> dict[str, Any] | None:
    return load_inventory(inventory).get("bags", {}).get(bag_id)


def check_bag(inventory_path: Path, bag_dir: Path) -> list[str]:
    """Compare a bag's tag manifests with the inventory; return problems (empty = fine)."""
    bag_dir = Path(bag_dir)
    bag_id = bag_dir.name
    entry = find_entry(Path(inventory_path), bag_id)
    if entry is None:
        return [f"bag {bag_id} is missing from the inventory {inventory_path}"]
    problems = []
    recorded: dict[str, str] = entry["tagmanifests"]
    actual = tagmanifest_hashes(bag_dir)
    for name in sorted(recorded):
        if name not in actual:
            problems.append(f"{name} is missing (the inventory recorded it at bagging)")
        elif actual[name] != recorded[name]:
            problems.append(
                f"{name} no longer hashes to the value recorded at bagging in "
                f"{Path(inventory_path).name} (sha256 {actual[name][:16]}... != "
                f"{recorded[name][:16]}...): the bag was changed or replaced"
            )
    for name in sorted(set(actual) - set(recorded)):
        problems.append(f"{name} was not in the bag at bagging (not in the inventory)")
    return problems
