"""Partner archives: ``<archive>/partners.toml`` and the keys they sign with.

A partner is another archive that holds copies of our bags, or sends us theirs.
Each ``[[partners]]`` table names it, its jurisdiction (ISO 3166 alpha-2), how
bags reach it (``dir``: a folder; ``rsync``: rsync over SSH), the access levels
it may receive (never ``dark``) and, optionally, its Ed25519 public key.

:func:`trusted_keyring` is the one place that adds partners' keys to the
archive's keyring: :mod:`strongroom.bag.signing` knows nothing about partners.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strongroom.core.archive import Archive
from strongroom.core.collection import _Reader, load_toml
from strongroom.errors import UsageError

if TYPE_CHECKING:
    from strongroom.bag.signing import Keyring

TRANSPORTS = ("dir", "rsync")
SHAREABLE_LEVELS = ("public", "restricted")  # dark is never shared without --override
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_ISO3166_RE = re.compile(r"^[A-Z]{2}$")
# user@host:/path or host:/path; the host part may be an IPv4 address or a name.
_DEST_RE = re.compile(r"^(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>/.*)$")
_PROGRAM_RE = re.compile(r"^[A-Za-z0-9_./-]+$")
_KEYS = {
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


def _absolute(raw: str, base: Path) -> Path:
    """A path from partners.toml: relative to the file's folder, not to the cwd."""
    path = Path(raw).expanduser()
    return path if path.is_absolute() else (base / path).absolute()


def _parse_access(t: _Reader) -> tuple[str, ...]:
    access = t.data.get("access", ["public"])
    if (
        not isinstance(access, list)
        or not access
        or not all(isinstance(a, str) and a in SHAREABLE_LEVELS for a in access)
    ):
        raise t.fail("access", 'a non-empty list of "public" and/or "restricted" (never dark)')
    return tuple(dict.fromkeys(access))


def _parse_dir(t: _Reader, base: Path) -> Path:
    """The incoming folder of a ``dir`` partner."""
    raw = t.str("path", required=True)
    if not raw.strip():
        raise t.fail("path", "a folder path (the partner's incoming folder)")
    for key in ("destination", "ssh_key", "remote_strongroom"):
        if key in t.data:
            raise t.fail(key, 'nothing: it only applies to transport = "rsync"')
    return _absolute(raw, base)


def _parse_rsync(t: _Reader, base: Path) -> tuple[str, Path | None]:
    """(destination, ssh key) of an ``rsync`` partner."""
    destination = t.str("destination", required=True)
    if not _DEST_RE.match(destination):
        raise t.fail("destination", f"user@host:/absolute/path, got {destination!r}")
    if "path" in t.data:
        raise t.fail("path", 'nothing: use destination for transport = "rsync"')
    key = t.str("ssh_key")
    return destination, _absolute(key, base) if key else None


def _parse_public_key(t: _Reader) -> str:
    from strongroom.bag.signing import parse_public_key

    pub = t.str("public_key")
    if pub:
        try:
            parse_public_key(pub, "public_key")
        except UsageError:
            raise t.fail("public_key", "an Ed25519 public key (ssh-ed25519 line or PEM)") from None
    return pub


def _parse_partner(t: _Reader, base: Path) -> Partner:
    t.unknown(_KEYS)
    name = t.str("name", required=True)
    if not _NAME_RE.match(name):
        raise t.fail("name", f"lower-case letters, digits, '.', '_' or '-', got {name!r}")
    juris = t.str("jurisdiction", required=True)
    if not _ISO3166_RE.match(juris):
        raise t.fail("jurisdiction", f"an ISO 3166 alpha-2 code such as UA, got {juris!r}")
    transport = t.choice("transport", TRANSPORTS, "dir")
    access = _parse_access(t)
    path: Path | None = None
    destination, ssh_key = "", None
    if transport == "dir":
        path = _parse_dir(t, base)
    else:
        destination, ssh_key = _parse_rsync(t, base)
    port = t.int("port", 22, minimum=1)
    if port > 65535:
        raise t.fail("port", f"a TCP port between 1 and 65535, got {port}")
    remote = t.str("remote_strongroom")
    if remote and not _PROGRAM_RE.match(remote):
        raise t.fail("remote_strongroom", "a program name or path without spaces or quotes")
    return Partner(
        name=name,
        jurisdiction=juris,
        transport=transport,
        access=access,
        path=path,
        destination=destination,
        ssh_key=ssh_key,
        port=port,
        remote_strongroom=remote,
        public_key=_parse_public_key(t),
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
    """(name, public key text) of every partner with a signing key."""
    return [(p.name, p.public_key) for p in load_partners(archive) if p.public_key]


def trusted_keyring(archive: Archive) -> Keyring:
    """The archive's keyring (own key, ``keys/trusted/``) plus every partner's key."""
    from strongroom.bag.signing import Keyring

    return Keyring.load(
        archive, extra=[(f"partner {name}", text) for name, text in partner_public_keys(archive)]
    )


def expected_fingerprint(partner: Partner | None) -> str | None:
    """The fingerprint a bag from ``partner`` must be signed with (None: any trusted key)."""
    from strongroom.bag.signing import fingerprint, parse_public_key

    if partner is None or not partner.public_key:
        return None
    return fingerprint(parse_public_key(partner.public_key, partner.name))
