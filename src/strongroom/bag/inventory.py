"""The inventory ``manifests/<collection-id>/<bag-id>.json``: the anchor outside the bag.

A bag is self-consistent by construction, so a bag swapped wholesale for a
fake (new payload, new manifests, new tag manifests) would still validate.
The inventory, kept in git beside ``collections/``, records at bagging time
the sha256 of every tag manifest of every bag; verify compares against it.

One small file per bag: adding a bag writes one new file (git shows exactly
that file), checking a bag reads one file, and a whole collection is read
with one folder listing. Each file is deterministic (sorted keys, two-space
indent, final newline) and written atomically. An inventory in the earlier
layout, one ``manifests/<collection-id>.json`` for the whole collection, is
split into this layout the first time it is used.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from strongroom.core.fsutil import atomic_write_text, fsync_dir, os_problem
from strongroom.errors import UsageError

FORMAT = "strongroom-inventory/1"  # the earlier one-file-per-collection layout
ENTRY_FORMAT = "strongroom-inventory-entry/1"
MAX_INVENTORY = 64 * 1024 * 1024
MAX_ENTRY = 1024 * 1024
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
_SHA256 = re.compile(r"[0-9a-f]{64}")
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


def _check_id(value: str, what: str) -> str:
    if not _ID_RE.match(value or "") or value.endswith(".json"):
        raise UsageError(f"{value!r} is not a {what}")
    return value


def inventory_path(manifests_dir: Path, collection_id: str) -> Path:
    """``<manifests_dir>/<collection_id>/``: the folder of one collection's entries."""
    return Path(manifests_dir) / _check_id(collection_id, "collection id")


def legacy_path(manifests_dir: Path, collection_id: str) -> Path:
    """``<manifests_dir>/<collection_id>.json``: the earlier one-file layout."""
    return Path(manifests_dir) / f"{_check_id(collection_id, 'collection id')}.json"


def entry_path(manifests_dir: Path, collection_id: str, bag_id: str) -> Path:
    return inventory_path(manifests_dir, collection_id) / f"{_check_id(bag_id, 'bag id')}.json"


def _empty(collection_id: str) -> dict[str, Any]:
    return {"format": FORMAT, "collection_id": collection_id, "bags": {}}


def _shape_ok(bag_id: str, entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and entry.get("bag_id") == bag_id
        and isinstance(entry.get("tagmanifests"), dict)
        and all(
            isinstance(k, str) and isinstance(v, str) and _SHA256.fullmatch(v)
            for k, v in entry["tagmanifests"].items()
        )
    )


def _read_json(path: Path, limit: int) -> Any:
    if not path.is_file() or path.is_symlink():
        raise UsageError(f"{path}: not a regular file")
    try:
        if path.stat().st_size > limit:
            raise UsageError(f"{path}: too large to be an inventory")
        return json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise os_problem(f"cannot read inventory {path}", exc) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a JSON inventory ({exc}); fix it from git history") from None


def _load_legacy(path: Path) -> dict[str, Any]:
    """Read and shape-check a one-file inventory of the earlier layout."""
    data = _read_json(path, MAX_INVENTORY)
    if not isinstance(data, dict) or not isinstance(data.get("bags"), dict):
        raise UsageError(f"{path}: not a strongroom inventory (expected an object with 'bags')")
    if data.get("format") != FORMAT:
        raise UsageError(f"{path}: unknown inventory format {data.get('format')!r}")
    for bag_id, entry in data["bags"].items():
        if not _shape_ok(bag_id, entry):
            raise UsageError(f"{path}: entry {str(bag_id)[:80]!r} is malformed")
    return data


def load_entry(path: Path) -> dict[str, Any]:
    """Read and shape-check one bag's entry file."""
    return _entry_of(path, _read_json(path, MAX_ENTRY))


def _entry_of(path: Path, data: Any) -> dict[str, Any]:
    """The entry in an entry file's JSON, shape-checked."""
    bag_id = path.name[: -len(".json")]
    if not isinstance(data, dict) or data.get("format") != ENTRY_FORMAT:
        raise UsageError(f"{path}: not a strongroom inventory entry")
    entry = {k: v for k, v in data.items() if k != "format"}
    if not _shape_ok(bag_id, entry):
        raise UsageError(f"{path}: entry is malformed (or names another bag)")
    return entry


def current(path: Path) -> Path:
    """Where an inventory path points now (a split one-file inventory: its folder)."""
    return _current(path)


def read_entry(folder: Path, bag_id: str) -> dict[str, Any] | None:
    """One bag's entry file in a collection folder (None: the inventory lacks it).

    One open (never following a symlink), one fstat and one read: a run over
    10,000 bags reads 10,000 of these.
    """
    name = f"{_check_id(bag_id, 'bag id')}.json"
    try:
        fd = os.open(f"{os.fspath(folder)}/{name}", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        path = folder / name
        if exc.errno == errno.ELOOP:  # a symlink: an entry only if it points somewhere
            if not path.exists():
                return None
            raise UsageError(f"{path}: not a regular file") from None
        raise os_problem(f"cannot read inventory {path}", exc) from None
    path = folder / name
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{path}: not a regular file")
        if st.st_size > MAX_ENTRY:
            raise UsageError(f"{path}: too large to be an inventory")
        raw = _read_all(fd, st.st_size)
    except OSError as exc:
        raise os_problem(f"cannot read inventory {path}", exc) from None
    finally:
        os.close(fd)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a JSON inventory ({exc}); fix it from git history") from None
    return _entry_of(path, data)


def _read_all(fd: int, size: int) -> bytes:
    """An open file of ``size`` bytes (as fstat said), with one read when it still has
    them; a file that changed size meanwhile is read to its end, up to ``MAX_ENTRY``."""
    data = os.read(fd, size + 1)
    if len(data) == size:
        return data
    parts, got = [data], len(data)
    while got <= MAX_ENTRY:
        part = os.read(fd, MAX_ENTRY + 1 - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _current(path: Path) -> Path:
    """A ``<collection>.json`` that was split into its folder names the folder now."""
    if path.suffix == ".json" and not path.exists() and path.with_suffix("").is_dir():
        return path.with_suffix("")
    return path


def load_inventory(path: Path, collection_id: str | None = None) -> dict[str, Any]:
    """A whole collection's inventory ``{"format", "collection_id", "bags": {...}}``.

    ``path`` is a collection folder (read with one listing), or a one-file
    inventory of the earlier layout; a missing one is empty.
    """
    path = _current(Path(path))
    cid = collection_id or (path.stem if path.suffix == ".json" else path.name)
    if path.suffix == ".json" and not path.is_dir():
        return _load_legacy(path) if path.exists() else _empty(cid)
    data = _empty(cid)
    if not path.exists():
        legacy = path.with_name(path.name + ".json")
        return _load_legacy(legacy) if legacy.is_file() else data
    if not path.is_dir() or path.is_symlink():
        raise UsageError(f"{path}: not an inventory folder")
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        raise os_problem(f"cannot read inventory {path}", exc) from None
    for name in names:
        if name.endswith(".json") and not name.startswith("."):
            entry = load_entry(path / name)
            data["bags"][entry["bag_id"]] = entry
    return data


def render(data: dict[str, Any]) -> str:
    """The one stable text form of an inventory file."""
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
        raise os_problem(f"cannot create manifests folder {manifests_dir}", exc) from None
    if not os.access(manifests_dir, os.W_OK):
        raise UsageError(f"manifests folder {manifests_dir} is not writable")


def migrate(manifests_dir: Path, collection_id: str) -> bool:
    """Split ``<collection>.json`` into one file per bag; True when something moved.

    Every entry file is written (and synced) before the old file goes, so a
    crash leaves both layouts, never neither; a re-run finishes the move.
    """
    legacy = legacy_path(manifests_dir, collection_id)
    if not legacy.is_file():
        return False
    data = _load_legacy(legacy)
    folder = inventory_path(manifests_dir, collection_id)
    try:
        folder.mkdir(exist_ok=True)
        for bag_id, entry in data["bags"].items():
            target = folder / f"{_check_id(bag_id, 'bag id')}.json"
            if not target.exists():
                atomic_write_text(target, _entry_text(entry))
        legacy.unlink()
        fsync_dir(Path(manifests_dir))
    except OSError as exc:
        raise os_problem(f"cannot migrate inventory {legacy}", exc) from None
    return True


def _entry_text(entry: dict[str, Any]) -> str:
    return render({"format": ENTRY_FORMAT} | {k: entry.get(k) for k in sorted(ENTRY_KEYS)})


def record_bag(manifests_dir: Path, collection_id: str, entry: dict[str, Any]) -> Path:
    """Add (or replace) one bag's entry file; return the collection's inventory folder."""
    unknown = set(entry) - ENTRY_KEYS
    if unknown or "bag_id" not in entry:
        raise ValueError(f"bad inventory entry keys: {sorted(unknown)}")
    folder = inventory_path(manifests_dir, collection_id)
    target = entry_path(manifests_dir, collection_id, entry["bag_id"])
    check_writable(manifests_dir)
    with _dir_lock(Path(manifests_dir)):
        migrate(manifests_dir, collection_id)
        try:
            folder.mkdir(exist_ok=True)
        except OSError as exc:
            raise os_problem(f"cannot create inventory folder {folder}", exc) from None
        text = _entry_text(entry)
        if not (target.is_file() and target.read_text("utf-8") == text):
            atomic_write_text(target, text)
    return folder


def tagmanifest_hashes(bag_dir: Path) -> dict[str, str]:
    """{tagmanifest file name: sha256 hex} for every tag manifest of a bag."""
    out = {}
    for p in sorted(Path(bag_dir).glob("tagmanifest-*.txt")):
        if p.is_file() and not p.is_symlink():
            out[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def find_entry(inventory: Path, bag_id: str) -> dict[str, Any] | None:
    """One bag's entry: from ``<folder>/<bag-id>.json`` (one read), or a legacy file."""
    inventory = _current(Path(inventory))
    if inventory.is_dir():
        return read_entry(inventory, bag_id)
    found: dict[str, Any] | None = load_inventory(inventory).get("bags", {}).get(bag_id)
    return found


def check_bag(inventory_path: Path, bag_dir: Path) -> list[str]:
    """Compare a bag's tag manifests with the inventory; return problems (empty = fine).

    A bag the inventory records as signed must still have its signature.
    """
    bag_dir = Path(bag_dir)
    entry = find_entry(Path(inventory_path), bag_dir.name)
    problems = check_entry(inventory_path, bag_dir, entry)
    sig = bag_dir / "tagmanifest-sha512.txt.sig"
    if entry is not None and entry.get("signing_key") and not sig.exists():
        problems.append(
            f"{sig.name} is missing, but the bag was signed at bagging ({entry['signing_key']})"
        )
    return problems


def check_entry(
    inventory_path: Path,
    bag_dir: Path,
    entry: dict[str, Any] | None,
    actual: dict[str, str] | None = None,
) -> list[str]:
    """Compare a bag's tag manifests with its inventory ``entry`` (None: not recorded).

    ``actual``: the tag manifests' hashes (as ``tagmanifest_hashes`` gives them) when
    the caller hashed the bytes it validated; else they are read from the bag.
    """
    bag_id = bag_dir.name if isinstance(bag_dir, Path) else Path(bag_dir).name
    if entry is None:
        return [f"bag {bag_id} is missing from the inventory {inventory_path}"]
    if entry.get("bag_id") != bag_id:
        return [f"the inventory entry of {bag_id} names another bag"]
    problems = []
    recorded: dict[str, str] = entry["tagmanifests"]
    if actual is None:
        actual = tagmanifest_hashes(Path(bag_dir))
    for name in sorted(recorded):
        if name not in actual:
            problems.append(f"{name} is missing (the inventory recorded it at bagging)")
        elif actual[name] != recorded[name]:
            problems.append(
                f"{name} no longer hashes to the value recorded at bagging in "
                f"the inventory (sha256 {actual[name][:16]}... != "
                f"{recorded[name][:16]}...): the bag was changed or replaced"
            )
    for name in sorted(set(actual) - set(recorded)):
        problems.append(f"{name} was not in the bag at bagging (not in the inventory)")
    return problems
