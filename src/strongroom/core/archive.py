"""The archive on disk: where captures, bags, the ledger and keys live.

Layout (``--archive DIR`` or ``STRONGROOM_ARCHIVE``, default ``./archive``)::

    config.toml                 organisation, contact, operator pseudonym, policy
    designations.toml           archive-wide legal designations (optional)
    partners.toml               partner archives that receive copies
    ledger.sqlite               SQLite ledger: dedup index, fixity, watch, copies
    captures/<capture-id>/      WARC files and capture.json of one capture
    bags/<bag-id>/              BagIt bags (payload read-only once made)
    bags/<bag-id>.custody.jsonl custody log, beside its bag, never inside it
    keys/                       Ed25519 signing key pair and trusted keys
    quarantine/                 received bags that failed validation
    replay/                     pywb collections built from the bags
    report.html                 the latest archive report
"""

from __future__ import annotations

import errno
import functools
import json
import math
import os
import re
from collections.abc import Container
from dataclasses import dataclass, field
from pathlib import Path

from strongroom.core import DEFAULT_ARCHIVE, ENV_ARCHIVE
from strongroom.core.collection import (
    ACCESS_LEVELS,
    Designation,
    _Reader,
    load_designations_file,
    load_toml,
)
from strongroom.core.fsutil import os_problem
from strongroom.errors import UsageError

# A pattern, not a compiled one: it is compiled on first use (re keeps it), and
# a capture without --max-bytes never needs it.
_SIZE = r"(?i)^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B?)?\s*$"


def parse_size(text: str) -> int:
    """Parse ``500GB``, ``1.5 GiB``, ``1048576`` into bytes (SI and IEC units)."""
    m = re.match(_SIZE, str(text))
    if not m:
        raise UsageError(f"{text!r} is not a size; use e.g. 500MB, 2GiB or 1048576")
    number = float(m.group(1))
    unit = (m.group(2) or "").upper().rstrip("B")
    if unit.endswith("I"):
        mult = 1024 ** "KMGT".index(unit[0]) * 1024
    elif unit:
        mult = 1000 ** ("KMGT".index(unit[0]) + 1)
    else:
        mult = 1
    if not math.isfinite(number * mult):  # "9" * 400 is a float overflow, not a size
        raise UsageError(f"{str(text)[:40]!r} is too large to be a size")
    return int(number * mult)


@dataclass(frozen=True)
class ReplicationPolicy:
    """How many copies, in how many jurisdictions, every bag must have."""

    min_copies: int = 3
    min_jurisdictions: int = 2


@dataclass(frozen=True)
class ReceiveLimits:
    """Bounds on what a partner may send us in one bag."""

    max_files: int = 100_000
    max_bytes: int = 64 * 1024**3
    max_name_length: int = 4096
    max_ratio: int = 200  # a compressed tar may expand at most this many times


@dataclass(frozen=True)
class NodeConfig:
    """This machine's place in an archive larger than one machine (``[node]``).

    The name is a label the operator chooses, never the machine's hostname:
    it is written to the shared ledger, and a hostname can identify the people
    who run the machine.
    """

    name: str = "local"
    jurisdiction: str = ""
    lease_seconds: int = 900


@dataclass(frozen=True)
class ArchiveConfig:
    """Archive-wide settings from ``<archive>/config.toml``; every field has a default."""

    organization: str = "strongroom archive"
    contact_name: str = ""
    contact_email: str = ""
    jurisdiction: str = ""
    address: str = ""  # Organization-Address in bag-info
    operator: str = "anonymous-operator"
    default_access: str = "public"
    replication: ReplicationPolicy = field(default_factory=ReplicationPolicy)
    receive: ReceiveLimits = field(default_factory=ReceiveLimits)
    node: NodeConfig = field(default_factory=NodeConfig)
    ledger_url: str = ""  # postgresql://user@host:port/db; empty: the SQLite file
    has_organization: bool = False  # [organization] name was set (not the default)
    inventory_dir: str = ""  # [inventory] path: fixed at first use, so every run finds it


def _node(r: _Reader) -> NodeConfig:
    node = r.table("node")
    node.unknown({"name", "jurisdiction", "lease_seconds"})
    name = node.str("name", NodeConfig.name)
    if not re.match(r"^[a-z0-9][a-z0-9._-]{0,63}$", name):
        raise node.fail("name", "a short name of a-z, 0-9, '.', '_' or '-' such as kyiv-1")
    juris = node.str("jurisdiction")
    if juris and not re.match(r"^[A-Z]{2}$", juris):
        raise node.fail("jurisdiction", "an ISO 3166 alpha-2 code such as DE")
    seconds = node.int("lease_seconds", NodeConfig.lease_seconds, minimum=2, maximum=7 * 86400)
    return NodeConfig(name=name, jurisdiction=juris, lease_seconds=seconds)


def _ledger_url(r: _Reader) -> str:
    led = r.table("ledger")
    led.unknown({"url"})
    url = led.str("url")
    if url:
        from strongroom.core.backends import parse_ledger_url

        parse_ledger_url(url, f"{r.path}: [ledger] url")
    return url


def load_config(path: Path) -> ArchiveConfig:
    """Read ``config.toml``; a missing file gives the defaults."""
    if not path.exists():
        return ArchiveConfig()
    r = _Reader(path, load_toml(path))
    # [timestamp] is read by strongroom.bag.timestamp
    r.unknown(
        {
            "organization",
            "capture",
            "access",
            "replication",
            "receive",
            "timestamp",
            "node",
            "ledger",
            "inventory",
        }
    )
    org = r.table("organization")
    org.unknown({"name", "contact_name", "contact_email", "jurisdiction", "address"})
    juris = org.str("jurisdiction")
    if juris and not re.match(r"^[A-Z]{2}$", juris):
        raise org.fail("jurisdiction", "an ISO 3166 alpha-2 code such as DE")
    cap = r.table("capture")
    cap.unknown({"operator"})
    acc = r.table("access")
    acc.unknown({"default"})
    rep = r.table("replication")
    rep.unknown({"min_copies", "min_jurisdictions"})
    rec = r.table("receive")
    rec.unknown({"max_files", "max_bytes", "max_name_length", "max_ratio"})
    inv = r.table("inventory")
    inv.unknown({"path"})
    inventory = inv.str("path")
    if inventory and ("\x00" in inventory or len(inventory) > 4096):
        raise inv.fail("path", "a folder path")
    max_bytes = rec.data.get("max_bytes", ReceiveLimits.max_bytes)
    try:
        max_bytes = parse_size(str(max_bytes))
    except UsageError:
        raise rec.fail("max_bytes", "a size such as 50GB") from None
    if not 1 <= max_bytes <= 2**50:
        raise rec.fail("max_bytes", "a size from 1 byte to 1 PiB, such as 50GB")
    d = ArchiveConfig()
    return ArchiveConfig(
        organization=org.str("name", d.organization),
        contact_name=org.str("contact_name"),
        contact_email=org.str("contact_email"),
        jurisdiction=juris,
        address=org.str("address"),
        operator=cap.str("operator", d.operator),
        default_access=acc.choice("default", ACCESS_LEVELS, "public"),
        replication=ReplicationPolicy(
            min_copies=rep.int("min_copies", 3, minimum=1, maximum=100),
            min_jurisdictions=rep.int("min_jurisdictions", 2, minimum=1, maximum=100),
        ),
        receive=ReceiveLimits(
            max_files=rec.int("max_files", ReceiveLimits.max_files, minimum=1, maximum=10**8),
            max_bytes=max_bytes,
            max_name_length=rec.int("max_name_length", 4096, minimum=16, maximum=65_536),
            max_ratio=rec.int("max_ratio", ReceiveLimits.max_ratio, minimum=1, maximum=100_000),
        ),
        node=_node(r),
        ledger_url=_ledger_url(r),
        has_organization="name" in org.data,
        inventory_dir=inventory,
    )


class Archive:
    """Paths and settings of one archive folder."""

    def __init__(self, root: Path | str | None = None) -> None:
        chosen = root if root is not None else os.environ.get(ENV_ARCHIVE) or DEFAULT_ARCHIVE
        self.root = Path(chosen).expanduser().absolute()
        self._config: ArchiveConfig | None = None

    def __repr__(self) -> str:
        return f"Archive({str(self.root)!r})"

    # --- layout (each path made once: status and verify ask for them per bag) ---
    @functools.cached_property
    def captures(self) -> Path:
        return self.root / "captures"

    @functools.cached_property
    def bags(self) -> Path:
        return self.root / "bags"

    @functools.cached_property
    def keys(self) -> Path:
        return self.root / "keys"

    @functools.cached_property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @functools.cached_property
    def replay(self) -> Path:
        return self.root / "replay"

    @functools.cached_property
    def ledger_path(self) -> Path:
        return self.root / "ledger.sqlite"

    def has_ledger(self) -> bool:
        """True when a ledger exists to read: a shared PostgreSQL one, or the SQLite file."""
        from strongroom.core.backends import LEDGER_ENV

        return bool(
            os.environ.get(LEDGER_ENV) or self.config.ledger_url or self.ledger_path.exists()
        )

    @functools.cached_property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @functools.cached_property
    def partners_path(self) -> Path:
        return self.root / "partners.toml"

    @functools.cached_property
    def designations_path(self) -> Path:
        return self.root / "designations.toml"

    @functools.cached_property
    def locks(self) -> Path:
        return self.root / "locks"

    def capture_dir(self, capture_id: str) -> Path:
        return self.captures / capture_id

    def bag_dir(self, bag_id: str) -> Path:
        return self.bags / bag_id

    def custody_path(self, bag_id: str) -> Path:
        return self.bags / f"{bag_id}.custody.jsonl"

    # --- lifecycle --------------------------------------------------------
    def ensure(self) -> Archive:
        """Create the archive folders; a clear error when the place is not writable."""
        try:
            for p in (self.root, self.captures, self.bags):
                p.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise os_problem(f"cannot create archive at {self.root}", exc) from None
        if not os.access(self.root, os.W_OK):
            # a read-only mount says so and how to go on; anything else is a permission
            err = errno.EROFS if os.statvfs(self.root).f_flag & os.ST_RDONLY else errno.EACCES
            raise os_problem(f"archive {self.root} is not writable", OSError(err, ""))
        return self

    def require(self) -> Archive:
        """Fail clearly when the archive folder does not exist yet."""
        if not self.root.is_dir():
            raise UsageError(
                f"no archive at {self.root}; run a capture first or pass --archive DIR "
                f"(or set {ENV_ARCHIVE})"
            )
        return self

    @property
    def config(self) -> ArchiveConfig:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    # --- the inventory's place, fixed at first use -------------------------
    def configured_inventory(self) -> Path | None:
        """The inventory folder named in config.toml, or None before first use."""
        text = self.config.inventory_dir
        if not text:
            return None
        path = Path(text).expanduser()
        return path if path.is_absolute() else self.root / path

    def inventory_dir(self, requested: Path | None = None, suggested: Path | None = None) -> Path:
        """The archive's inventory folder; the first use writes it into config.toml.

        ``requested`` (``--manifests``) wins for this run; before the first
        use it is fixed as the archive's. Otherwise the configured folder, else
        ``suggested`` (``manifests/`` beside a ``collections/`` folder), else
        ``<archive>/manifests``: never the current folder, so a run inside some
        other git checkout does not write into it.
        """
        configured = self.configured_inventory()
        if requested is not None:
            chosen = Path(requested).expanduser()  # as given: messages show it so
        elif configured is not None:
            return configured
        else:
            chosen = (suggested or self.root / "manifests").absolute()
        if configured is None:
            self.fix_inventory(chosen.absolute())
        return chosen

    def fix_inventory(self, folder: Path) -> None:
        """Write ``[inventory] path`` into config.toml (kept otherwise as written)."""
        from strongroom.core.fsutil import atomic_write_text

        try:
            text = self.config_path.read_text("utf-8") if self.config_path.exists() else ""
        except OSError as exc:
            raise UsageError(f"cannot read {self.config_path}: {exc.strerror}") from None
        if text and not text.endswith("\n"):
            text += "\n"
        rel = folder.absolute()
        text += (
            "\n# Where this archive's inventory lives (fixed at first use; verify reads it\n"
            "# from here whatever the current folder). Move it only with its git history.\n"
            f"[inventory]\npath = {json.dumps(str(rel))}\n"
        )
        self.ensure()
        atomic_write_text(self.config_path, text)
        self._config = None

    def designations(self) -> tuple[Designation, ...]:
        """Archive-wide designations from ``designations.toml`` (empty when absent)."""
        if not self.designations_path.exists():
            return ()
        return load_designations_file(self.designations_path)

    def bag_ids(self, known: Container[str] = ()) -> list[str]:
        """Every published bag, sorted (temporary folders are ignored).

        A folder is a bag when it holds ``bagit.txt``, or when its name is in
        ``known`` (the bags the ledger recorded as published): a bag is named
        by one rename of a complete staging folder, so a known name on disk is
        a whole bag, and the listing costs one scandir instead of a stat per
        bag (10,000 stats were an eighth of ``status``). A known bag whose tag
        files were damaged since is still listed: ``verify`` names the damage.
        """
        if not self.bags.is_dir():
            return []
        with os.scandir(self.bags) as entries:
            return sorted(
                e.name
                for e in entries
                if not e.name.startswith(".")
                and e.is_dir(follow_symlinks=False)
                and (e.name in known or os.path.exists(os.path.join(e.path, "bagit.txt")))
            )

    def payload_origins(self, digest: str) -> list[Path]:
        """WARC files holding the original payload that a revisit record names.

        The ledger's dedup index records the capture and WARC file of every
        payload; the file is looked for in that capture's bags first (captures
        may be deleted after bagging), then in the capture folder. Symlinks are
        never followed.
        """
        if not digest or not self.has_ledger():
            return []
        from strongroom.core.ledger import open_ledger

        with open_ledger(self.root) as ledger:
            rows = ledger.payload_locations(digest)
        found: list[Path] = []
        for capture_id, warc_file in rows:
            candidates = [
                *sorted(self.bags.glob(f"*-{capture_id}/data/warc/{warc_file}")),
                self.capture_dir(capture_id) / warc_file,
            ]
            found += [p for p in candidates if p.is_file() and not p.is_symlink()]
        return list(dict.fromkeys(found))

    def capture_ids(self) -> list[str]:
        """Every complete capture, sorted (one without capture.json is unfinished)."""
        if not self.captures.is_dir():
            return []
        return sorted(
            p.name
            for p in self.captures.iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / "capture.json").exists()
        )
