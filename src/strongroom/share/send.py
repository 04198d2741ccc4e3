"""Partners, the sharing policy, sending copies, exports, replication status.

A partner is another archive (``<archive>/partners.toml``) that holds copies of
our bags. Sending a bag runs, in order: the policy check (dark bags, access
levels, designations in the partner's jurisdiction), a full local validation
(a damaged bag is never sent), the transfer to a temporary name and a rename,
a confirmation of the copy where it landed, and the record of the copy in the
ledger ``copies`` table and in the bag's custody log.

The transports themselves (directory copy, rsync over SSH, remote checks) live
in :mod:`strongroom.share.transfer`; receiving lives in :mod:`strongroom.share.receive` and
repair in :mod:`strongroom.share.repair`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from strongroom.bag import custody
from strongroom.bag.signing import Keyring
from strongroom.core.archive import Archive
from strongroom.core.collection import _Reader, load_toml
from strongroom.core.fsutil import atomic_write_bytes, atomic_writer
from strongroom.core.ledger import open_ledger
from strongroom.errors import PolicyRefused, ProblemFound, UsageError

TRANSPORTS = ("dir", "rsync")
SHAREABLE_LEVELS = ("public", "restricted")  # dark is never shared without --override
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_ISO3166_RE = re.compile(r"^[A-Z]{2}$")
# user@host:/path or host:/path; the host part may be an IPv4 address or a name.
_DEST_RE = re.compile(r"^(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>/.*)$")
_BAG_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")

REPLICATION = "replication"
POLICY_OVERRIDE = "policy override"
EXPORT = "export"


# --- partners -----------------------------------------------------------------
@dataclass(frozen=True)
class Partner:
    """One partner archive from ``partners.toml``."""

    name: str
    jurisdiction: str
    transport: str
    access: tuple[str, ...]
    path: Path | None = None  # dir transport
    destination: str = ""  # rsync transport: user@host:/path
    ssh_key: Path | None = None
    port: int = 22
    remote_strongroom: str = ""
    public_key: str = ""

    @property
    def ssh_target(self) -> str:
        """``user@host`` of an rsync partner."""
        return self.destination.rsplit(":", 1)[0] if self.destination else ""

    @property
    def remote_path(self) -> str:
        """The incoming folder on an rsync partner."""
        m = _DEST_RE.match(self.destination)
        return m.group("path").rstrip("/") or "/" if m else ""

    def location(self, bag_id: str) -> str:
        """Where this partner keeps ``bag_id``, as recorded in the ledger."""
        if self.transport == "dir":
            return str(Path(self.path or "") / bag_id)
        return f"{self.destination.rstrip('/')}/{bag_id}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "jurisdiction": self.jurisdiction,
            "transport": self.transport,
            "access": list(self.access),
            "path": str(self.path) if self.path else None,
            "destination": self.destination or None,
            "port": self.port,
            "remote_strongroom": self.remote_strongroom or None,
            "public_key": bool(self.public_key),
        }


def _parse_partner(t: _Reader, base: Path) -> Partner:
    from strongroom.bag.signing import parse_public_key

    t.unknown(
        {
            "name",
            "jurisdiction",
            "transport",
            "path",
            "destination",
            "ssh_key",
            "port",
            "remote_strongroom",
            "access",
            "public_key",
        }
    )
    name = t.str("name", required=True)
    if not _NAME_RE.match(name):
        raise t.fail("name", f"lower-case letters, digits, '.', '_' or '-', got {name!r}")
    juris = t.str("jurisdiction", required=True)
    if not _ISO3166_RE.match(juris):
        raise t.fail("jurisdiction", f"an ISO 3166 alpha-2 code such as UA, got {juris!r}")
    transport = t.choice("transport", TRANSPORTS, "dir")
    access = t.data.get("access", ["public"])
    if (
        not isinstance(access, list)
        or not access
        or not all(isinstance(a, str) and a in SHAREABLE_LEVELS for a in access)
    ):
        raise t.fail("access", 'a non-empty list of "public" and/or "restricted" (never dark)')
    path: Path | None = None
    destination = ""
    ssh_key: Path | None = None
    if transport == "dir":
        raw = t.str("path", required=True)
        if not raw.strip():
            raise t.fail("path", "a folder path (the partner's incoming folder)")
        path = Path(raw).expanduser()
        if not path.is_absolute():
            path = (base / path).absolute()  # relative to partners.toml, not to the cwd
        for key in ("destination", "ssh_key", "remote_strongroom"):
            if key in t.data:
                raise t.fail(key, 'nothing: it only applies to transport = "rsync"')
    else:
        destination = t.str("destination", required=True)
        if not _DEST_RE.match(destination):
            raise t.fail("destination", f"user@host:/absolute/path, got {destination!r}")
        if "path" in t.data:
            raise t.fail("path", 'nothing: use destination for transport = "rsync"')
        key = t.str("ssh_key")
        if key:
            ssh_key = Path(key).expanduser()
            if not ssh_key.is_absolute():
                ssh_key = (base / ssh_key).absolute()
    port = t.int("port", 22, minimum=1)
    if port > 65535:
        raise t.fail("port", f"a TCP port between 1 and 65535, got {port}")
    remote = t.str("remote_strongroom")
    if remote and not re.match(r"^[A-Za-z0-9_./-]+$", remote):
        raise t.fail("remote_strongroom", "a program name or path without spaces or quotes")
    pub = t.str("public_key")
    if pub:
        try:
            parse_public_key(pub, "public_key")
        except UsageError:
            raise t.fail("public_key", "an Ed25519 public key (ssh-ed25519 line or PEM)") from None
    return Partner(
        name=name,
        jurisdiction=juris,
        transport=transport,
        access=tuple(dict.fromkeys(access)),
        path=path,
        destination=destination,
        ssh_key=ssh_key,
        port=port,
        remote_strongroom=remote,
        public_key=pub,
    )


def load_partners(archive: Archive) -> list[Partner]:
    """Every partner in ``partners.toml`` (none when the file is absent)."""
    path = archive.partners_path
    if not path.exists():
        return []
    r = _Reader(path, load_toml(path))
    r.unknown({"partners"})
    partners: list[Partner] = []
    for t in r.tables("partners"):
        p = _parse_partner(t, path.parent)
        if any(x.name == p.name for x in partners):
            raise t.fail("name", f"a name not used by another partner; {p.name!r} is repeated")
        partners.append(p)
    return partners


def get_partner(archive: Archive, name: str) -> Partner:
    """The partner called ``name``; a usage error listing the known ones otherwise."""
    partners = load_partners(archive)
    for p in partners:
        if p.name == name:
            return p
    known = ", ".join(p.name for p in partners) or "none"
    raise UsageError(
        f"no partner {name!r} in {archive.partners_path} (known: {known}); add a"
        " [[partners]] table for it (partners.example.toml explains each field),"
        " then check it with: strongroom partners"
    )


def partner_public_keys(archive: Archive) -> list[tuple[str, str]]:
    """(name, public key text) of every partner with a signing key (for ``signing.Keyring``)."""
    return [(p.name, p.public_key) for p in load_partners(archive) if p.public_key]


def trusted_keyring(archive: Archive) -> Keyring:
    """The archive's trusted keys plus every partner's signing key from partners.toml."""
    return Keyring.load(
        archive, extra=[(f"partner {name}", text) for name, text in partner_public_keys(archive)]
    )


# --- replication status ---------------------------------------------------------
@dataclass
class ReplicationStatus:
    """How many copies of a bag exist, where, and whether that meets the policy."""

    bag_id: str
    copies: int
    jurisdictions: list[str]
    compliant: bool
    problems: list[str] = field(default_factory=list)
    locations: list[dict[str, Any]] = field(default_factory=list)
    min_copies: int = 3
    min_jurisdictions: int = 2

    @property
    def by_jurisdiction(self) -> dict[str, int]:
        """Good copies per jurisdiction, e.g. {"DE": 1, "UA": 2} (for ``status``)."""
        out: dict[str, int] = {}
        for loc in self.locations:
            if loc["status"] == "ok" and loc["jurisdiction"]:
                out[loc["jurisdiction"]] = out.get(loc["jurisdiction"], 0) + 1
        return dict(sorted(out.items()))

    def as_dict(self) -> dict[str, Any]:
        return {
            "bag_id": self.bag_id,
            "copies": self.copies,
            "by_jurisdiction": self.by_jurisdiction,
            "jurisdictions": self.jurisdictions,
            "compliant": self.compliant,
            "problems": self.problems,
            "locations": self.locations,
            "min_copies": self.min_copies,
            "min_jurisdictions": self.min_jurisdictions,
        }


def copy_rows(archive: Archive, bag_id: str) -> list[dict[str, Any]]:
    """The ledger's rows for copies of ``bag_id`` at partners."""
    with open_ledger(archive.root) as ledger:
        return ledger.copies(bag_id)


def replication_status(archive: Archive, bag_id: str) -> ReplicationStatus:
    """Count the local copy plus the partners' ``ok`` copies, against ``[replication]``."""
    policy = archive.config.replication
    own = archive.config.jurisdiction
    problems: list[str] = []
    local = (archive.bag_dir(bag_id) / "bagit.txt").exists()
    locations: list[dict[str, Any]] = []
    juris: set[str] = set()
    count = 0
    if local:
        count += 1
        locations.append(
            {
                "partner": "local",
                "location": str(archive.bag_dir(bag_id)),
                "jurisdiction": own,
                "status": "ok",
                "verified_at": None,
            }
        )
        if own:
            juris.add(own)
        else:
            problems.append(
                "this archive's jurisdiction is not set ([organization] jurisdiction in"
                f" {archive.config_path}); the local copy counts for no jurisdiction"
            )
    else:
        problems.append(f"no local copy in {archive.bags}")
    for row in copy_rows(archive, bag_id):
        locations.append(
            {k: row[k] for k in ("partner", "location", "jurisdiction", "status", "verified_at")}
        )
        if row["status"] == "ok":
            count += 1
            juris.add(row["jurisdiction"])
        else:
            problems.append(f"copy at {row['partner']} is {row['status']} ({row['location']})")
    if count < policy.min_copies:
        problems.append(f"{count} of {policy.min_copies} copies")
    if len(juris) < policy.min_jurisdictions:
        problems.append(f"{len(juris)} of {policy.min_jurisdictions} jurisdictions")
    compliant = count >= policy.min_copies and len(juris) >= policy.min_jurisdictions
    return ReplicationStatus(
        bag_id=bag_id,
        copies=count,
        jurisdictions=sorted(juris),
        compliant=compliant,
        problems=problems,
        locations=locations,
        min_copies=policy.min_copies,
        min_jurisdictions=policy.min_jurisdictions,
    )


def record_copy(
    archive: Archive, bag_id: str, partner: Partner, status: str, location: str | None = None
) -> None:
    """Insert or update the ledger row for the copy of ``bag_id`` at ``partner``."""
    with open_ledger(archive.root) as ledger:
        ledger.record_copy(
            bag_id,
            partner=partner.name,
            location=location or partner.location(bag_id),
            jurisdiction=partner.jurisdiction,
            status=status,
        )


# --- policy ---------------------------------------------------------------------
def require_bag(archive: Archive, bag_id: str) -> Path:
    """The folder of a published bag, or a usage error."""
    if not _BAG_ID_RE.match(bag_id) or not (archive.bag_dir(bag_id) / "bagit.txt").is_file():
        raise UsageError(f"no bag {bag_id!r} in {archive.bags}")
    return archive.bag_dir(bag_id)


def policy_reasons(archive: Archive, bag_id: str, partner: Partner) -> list[str]:
    """Why ``bag_id`` must not go to ``partner``; empty when the policy allows it."""
    from strongroom.core import policy

    reasons: list[str] = []
    level = policy.current_access(archive, bag_id)
    if level == "dark":
        reasons.append(f"{bag_id} is dark: dark bags are kept here and never shared")
    elif level not in partner.access:
        reasons.append(
            f"{bag_id} is {level} and partner {partner.name} may only receive"
            f" {', '.join(partner.access)} bags"
        )
    for d in policy.bag_designations(archive, bag_id):
        if d.jurisdiction == partner.jurisdiction:
            reasons.append(
                f"designation '{d.label()}' applies in {d.jurisdiction}, where partner"
                f" {partner.name} is"
            )
    return reasons


def check_policy(
    archive: Archive,
    bag_id: str,
    partner: Partner,
    *,
    override: bool,
    reason: str | None,
    action: str,
) -> list[str]:
    """Refuse (PolicyRefused) unless allowed or overridden; log an override; return reasons."""
    if override and not (reason and reason.strip()):
        raise UsageError('--override needs --reason "..." so the custody log says why')
    if reason and not override:
        raise UsageError("--reason only applies with --override")
    reasons = policy_reasons(archive, bag_id, partner)
    if not reasons:
        return []
    if not override:
        raise PolicyRefused(
            f"refusing to {action} {bag_id} to {partner.name}: "
            + "; ".join(reasons)
            + ' (use --override --reason "..." to overrule, which is logged)'
        )
    detail = {"partner": partner.name, "action": action, "reasons": reasons}
    custody.record_event(
        archive,
        bag_id,
        POLICY_OVERRIDE,
        outcome="success",
        inputs={"partner": partner.name, "action": action, "reason": reason.strip()},  # type: ignore[union-attr]
        detail=detail,
    )
    return reasons


def validate_or_refuse(bag_dir: Path, what: str) -> Any:
    """Full validation; ProblemFound naming the first problems when the bag is damaged."""
    from strongroom.verify.validate import validate_bag

    report = validate_bag(bag_dir, "full")
    if not report.valid:
        shown = "; ".join(p.message for p in report.problems[:5])
        more = f" (and {len(report.problems) - 5} more)" if len(report.problems) > 5 else ""
        raise ProblemFound(f"{bag_dir.name} is damaged, {what}: {shown}{more}")
    return report


# --- send -------------------------------------------------------------------------
@dataclass
class ShareResult:
    """What ``share_bag`` did."""

    bag_id: str
    partner: str
    transport: str
    location: str
    jurisdiction: str
    files: int
    bytes: int
    confirmed_by: str
    overridden: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def share_bag(
    archive: Archive,
    bag_id: str,
    partner_name: str,
    *,
    override: bool = False,
    reason: str | None = None,
) -> ShareResult:
    """Send ``bag_id`` to a partner: policy, verify, transfer, confirm, record."""
    from strongroom.share import transfer

    archive.require()
    bag_dir = require_bag(archive, bag_id)
    partner = get_partner(archive, partner_name)
    overridden = check_policy(
        archive, bag_id, partner, override=override, reason=reason, action="share"
    )
    report = validate_or_refuse(bag_dir, "not sent")
    custody_log = archive.custody_path(bag_id)
    if partner.transport == "dir":
        assert partner.path is not None  # partners.toml requires it for dir
        copy = transfer.send_dir(bag_dir, custody_log, partner.path)
        problems = transfer.confirm_dir(bag_dir, copy)
        confirmed_by = "re-hashed at the destination"
    else:
        known_hosts = archive.keys / "known_hosts"
        transfer.send_rsync(bag_dir, custody_log, partner, known_hosts)
        problems, confirmed_by = transfer.confirm_ssh(bag_dir, partner, known_hosts)
    where = partner.location(bag_id)
    if problems:
        record_copy(archive, bag_id, partner, "damaged", where)
        _log(archive, bag_id, REPLICATION, "failure", partner, where, {"problems": problems})
        raise ProblemFound(
            f"the copy of {bag_id} at {partner.name} ({where}) does not match: "
            + "; ".join(problems[:5])
        )
    record_copy(archive, bag_id, partner, "ok", where)
    _log(
        archive,
        bag_id,
        REPLICATION,
        "success",
        partner,
        where,
        {"confirmed_by": confirmed_by, "files": report.files, "bytes": report.bytes},
    )
    return ShareResult(
        bag_id=bag_id,
        partner=partner.name,
        transport=partner.transport,
        location=where,
        jurisdiction=partner.jurisdiction,
        files=report.files,
        bytes=report.bytes,
        confirmed_by=confirmed_by,
        overridden=overridden,
    )


def _log(
    archive: Archive,
    bag_id: str,
    action: str,
    outcome: str,
    partner: Partner,
    location: str,
    detail: dict[str, Any],
) -> None:
    """The same event in the custody log and in the ledger."""
    inputs = {
        "partner": partner.name,
        "location": location,
        "jurisdiction": partner.jurisdiction,
        "transport": partner.transport,
    }
    custody.record_event(archive, bag_id, action, outcome=outcome, inputs=inputs, detail=detail)


# --- export -----------------------------------------------------------------------
@dataclass
class ExportResult:
    bag_id: str
    tar: str
    sha512: str
    checksum_file: str
    signature: str
    bytes: int
    files: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _HashingWriter:
    """A write-only file wrapper that hashes (and counts) what passes through.

    tarfile streams members into it, so a large bag is never held in memory.
    """

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.hash = hashlib.sha512()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.fh.write(data)

    def tell(self) -> int:
        return self.size


def bag_mtime(bag_dir: Path) -> int:
    """The fixed mtime of export members: the bag's Bagging-Date (midnight UTC), else 0."""
    from strongroom.bag.baginfo import first, read_bag_info

    raw = first(read_bag_info(bag_dir), "Bagging-Date")
    try:
        day = dt.date.fromisoformat(raw[:10])
    except ValueError:
        return 0
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


def _tar_members(bag_dir: Path, bag_id: str) -> list[tuple[str, Path]]:
    """(archive name, file) for every folder and file of the bag, sorted by name."""
    out: list[tuple[str, Path]] = [(bag_id, bag_dir)]
    for dirpath, dirnames, filenames in os.walk(bag_dir):
        base = Path(dirpath)
        for name in dirnames + filenames:
            p = base / name
            if p.is_symlink() or not (p.is_dir() or p.is_file()):
                raise ProblemFound(f"{p}: not a regular file or folder; refusing to export")
            out.append((f"{bag_id}/{p.relative_to(bag_dir).as_posix()}", p))
    return sorted(out)


def export_bag(
    archive: Archive,
    bag_id: str,
    output: Path,
    *,
    override: bool = False,
    reason: str | None = None,
    partner_name: str | None = None,
) -> ExportResult:
    """Write a deterministic, signed tar of a bag and its custody log.

    The tar holds ``<bag-id>/...`` and ``<bag-id>.custody.jsonl``: names sorted,
    mtime the Bagging-Date, uid/gid 0, no owner names, modes 0644/0755, GNU
    format (long names without pax timestamps), so the same bag gives the same
    bytes on every run. Ed25519 signs the whole message, which would mean
    reading a large tar into memory; instead we write ``FILE.tar.sha512``
    (``sha512sum -c`` format, hashed while streaming) and sign its exact bytes
    into ``FILE.tar.sig``. A recipient checks the signature on the small file,
    then the tar against it. With ``partner_name`` the full sharing policy for
    that partner applies; without, an export may go anywhere, so dark bags are
    refused. The export is logged in the ledger only: appending
    it to the custody log would change the next export's bytes.
    """
    from strongroom.bag.signing import load_private_key, sign_bytes

    archive.require()
    bag_dir = require_bag(archive, bag_id)
    key = load_private_key(archive.keys)
    if key is None:
        raise UsageError(
            f"no signing key in {archive.keys}; run `strongroom keys init` so exports are signed"
        )
    output = Path(output).absolute()
    if output.is_dir():
        raise UsageError(f"{output} is a folder; give a file name such as {bag_id}.tar")
    if partner_name:
        partner = get_partner(archive, partner_name)
        check_policy(archive, bag_id, partner, override=override, reason=reason, action="export")
    else:
        check_policy_export(archive, bag_id, override=override, reason=reason)
    validate_or_refuse(bag_dir, "not exported")
    mtime = bag_mtime(bag_dir)
    members = _tar_members(bag_dir, bag_id)
    custody_log = archive.custody_path(bag_id)
    files = 0
    with atomic_writer(output, mode=0o644) as raw:
        hw = _HashingWriter(raw)
        with tarfile.open(fileobj=hw, mode="w|", format=tarfile.GNU_FORMAT) as tar:  # type: ignore[call-overload]
            for name, path in members:
                _add(tar, name, path, mtime)
                files += path.is_file()
            if custody_log.is_file():
                _add(tar, f"{bag_id}.custody.jsonl", custody_log, mtime)
                files += 1
        digest = hw.hash.hexdigest()
        size = hw.size
    sums = output.with_name(output.name + ".sha512")
    text = f"{digest}  {output.name}\n".encode()
    atomic_write_bytes(sums, text, mode=0o644)
    sig = output.with_name(output.name + ".sig")
    atomic_write_bytes(sig, sign_bytes(key, text), mode=0o644)
    # a ledger event only: a custody line would change the next export's bytes
    with open_ledger(archive.root) as ledger:
        ledger.record_event(
            EXPORT,
            "success",
            bag_id=bag_id,
            actor=archive.config.operator,
            detail={"tar": str(output), "sha512": digest, "bytes": size},
        )
    return ExportResult(bag_id, str(output), digest, str(sums), str(sig), size, files)


def check_policy_export(
    archive: Archive, bag_id: str, *, override: bool, reason: str | None
) -> None:
    """An export can go anywhere, so only a partner-independent rule applies: never dark."""
    from strongroom.core import policy

    if override and not (reason and reason.strip()):
        raise UsageError('--override needs --reason "..." so the custody log says why')
    level = policy.current_access(archive, bag_id)
    if level != "dark":
        return
    if not override:
        raise PolicyRefused(
            f"refusing to export {bag_id}: it is dark (kept here, never shared);"
            ' use --override --reason "..." to overrule, which is logged'
        )
    why = f"{bag_id} is dark: dark bags are kept here and never shared"
    custody.record_event(
        archive,
        bag_id,
        POLICY_OVERRIDE,
        outcome="success",
        inputs={"action": "export", "reason": reason.strip()},  # type: ignore[union-attr]
        detail={"reasons": [why]},
    )


def _add(tar: tarfile.TarFile, name: str, path: Path, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if path.is_dir():
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
        return
    info.type = tarfile.REGTYPE
    info.mode = 0o644
    info.size = path.stat().st_size
    with open(path, "rb") as fh:
        tar.addfile(info, fh)


# --- replicate ----------------------------------------------------------------------
@dataclass
class ReplicatePlan:
    """One copy that replicate sent (or would send, with --dry-run)."""

    bag_id: str
    partner: str
    jurisdiction: str
    status: str  # sent | planned | failed
    message: str = ""


@dataclass
class ReplicateResult:
    actions: list[ReplicatePlan] = field(default_factory=list)
    compliant: list[str] = field(default_factory=list)
    unmet: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.unmet and all(a.status != "failed" for a in self.actions)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "actions": [a.__dict__ for a in self.actions],
            "compliant": self.compliant,
            "unmet": self.unmet,
        }


def replicate_all(
    archive: Archive, *, dry_run: bool = False, bag_ids: list[str] | None = None
) -> ReplicateResult:
    """Send copies, within policy and never overriding it, until every bag complies.

    Partners in jurisdictions the bag lacks go first, so the jurisdiction rule
    is met with as few copies as possible; ties go by partner name.
    """
    archive.require()
    policy = archive.config.replication
    partners = load_partners(archive)
    result = ReplicateResult()
    for bag_id in bag_ids if bag_ids is not None else archive.bag_ids():
        st = replication_status(archive, bag_id)
        if st.compliant:
            result.compliant.append(bag_id)
            continue
        holders = {r["partner"] for r in copy_rows(archive, bag_id)}
        refused: list[str] = []
        candidates: list[Partner] = []
        for p in partners:
            if p.name in holders:
                continue
            reasons = policy_reasons(archive, bag_id, p)
            if reasons:
                refused.append(f"{p.name}: {'; '.join(reasons)}")
            else:
                candidates.append(p)
        copies, juris = st.copies, set(st.jurisdictions)
        failures: list[str] = []
        while candidates and (copies < policy.min_copies or len(juris) < policy.min_jurisdictions):
            fresh = [p for p in candidates if p.jurisdiction not in juris]
            pool = fresh if fresh and len(juris) < policy.min_jurisdictions else candidates
            pick = sorted(pool, key=lambda p: p.name)[0]
            candidates.remove(pick)
            if dry_run:
                result.actions.append(
                    ReplicatePlan(bag_id, pick.name, pick.jurisdiction, "planned")
                )
            else:
                try:
                    res = share_bag(archive, bag_id, pick.name)
                except (ProblemFound, UsageError) as exc:
                    failures.append(f"{pick.name}: {exc.message}")
                    result.actions.append(
                        ReplicatePlan(bag_id, pick.name, pick.jurisdiction, "failed", exc.message)
                    )
                    continue
                result.actions.append(
                    ReplicatePlan(bag_id, pick.name, pick.jurisdiction, "sent", res.location)
                )
            copies += 1
            juris.add(pick.jurisdiction)
        if copies >= policy.min_copies and len(juris) >= policy.min_jurisdictions:
            if not dry_run:
                result.compliant.append(bag_id)
            continue
        why = [
            f"needs {policy.min_copies} copies in {policy.min_jurisdictions} jurisdictions;"
            f" at most {copies} in {len(juris)} ({', '.join(sorted(juris)) or 'none'})"
            " are possible with the partners in partners.toml"
        ]
        result.unmet[bag_id] = why + refused + failures
    return result
