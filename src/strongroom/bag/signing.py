"""Ed25519 keys and detached signatures, checked offline against a keyring.

The signature of a bag is the raw 64-byte Ed25519 signature of the exact bytes
of ``tagmanifest-sha512.txt``, stored beside it as ``tagmanifest-sha512.txt.sig``.
Raw signatures and PEM public keys keep bags checkable without strongroom::

    openssl pkeyutl -verify -pubin -inkey signing.pub.pem -rawin \\
        -in tagmanifest-sha512.txt -sigfile tagmanifest-sha512.txt.sig

Key files live in ``<archive>/keys/``: ``signing.key`` (PKCS#8 PEM, mode 0600),
``signing.pub`` (one OpenSSH line, easy to paste into a partner's config),
``signing.pub.pem``, and ``trusted/*.pub`` for partners' keys.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from strongroom.core.fsutil import atomic_write_bytes, os_problem
from strongroom.errors import UsageError

if TYPE_CHECKING:
    from strongroom.core.archive import Archive

PRIVATE_NAME = "signing.key"
PUBLIC_NAME = "signing.pub"
PUBLIC_PEM_NAME = "signing.pub.pem"
TRUSTED_DIR = "trusted"
SIG_SUFFIX = ".sig"
MAX_KEY_FILE = 16 * 1024


def fingerprint(key: Ed25519PublicKey) -> str:
    """OpenSSH-style fingerprint: ``SHA256:`` + unpadded base64 of the raw key's sha256."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    digest = hashlib.sha256(raw).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def public_key_text(key: Ed25519PublicKey, comment: str = "strongroom") -> str:
    """One OpenSSH line for a public key."""
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{line.decode()} {comment}\n"


def parse_public_key(text: str, source: str = "key") -> Ed25519PublicKey:
    """Parse an Ed25519 public key from an OpenSSH line or a PEM block."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            parts = text.split()
            if len(parts) < 2 or parts[0] != "ssh-ed25519":
                raise ValueError("not an ssh-ed25519 key")
            key = serialization.load_ssh_public_key(f"{parts[0]} {parts[1]}".encode())
    except (ValueError, TypeError, UnicodeError) as exc:
        raise UsageError(f"{source}: not an Ed25519 public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(f"{source}: not an Ed25519 public key")
    return key


@dataclass(frozen=True)
class KeyInfo:
    fingerprint: str
    private_path: Path
    public_path: Path


def init_keys(keys_dir: Path, *, force: bool = False, comment: str = "strongroom") -> KeyInfo:
    """Make an Ed25519 key pair in ``keys_dir``; refuse to replace one unless ``force``."""
    priv_path = keys_dir / PRIVATE_NAME
    if priv_path.exists() and not force:
        raise UsageError(
            f"a signing key already exists at {priv_path}; "
            "use --force to replace it (bags signed with the old key stay checkable "
            "only if you keep its public key in keys/trusted/)"
        )
    try:
        keys_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(keys_dir, 0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        atomic_write_bytes(priv_path, pem, mode=0o600)
        pub = key.public_key()
        atomic_write_bytes(keys_dir / PUBLIC_NAME, public_key_text(pub, comment).encode(), 0o644)
        atomic_write_bytes(
            keys_dir / PUBLIC_PEM_NAME,
            pub.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            0o644,
        )
        (keys_dir / TRUSTED_DIR).mkdir(exist_ok=True)
    except OSError as exc:
        raise os_problem(f"cannot make keys in {keys_dir}", exc) from None
    return KeyInfo(fingerprint(pub), priv_path, keys_dir / PUBLIC_NAME)


def load_private_key(keys_dir: Path) -> Ed25519PrivateKey | None:
    """The archive's signing key, or None when ``keys init`` was never run.

    Like ssh, refuse a private key that others can read.
    """
    path = keys_dir / PRIVATE_NAME
    if not path.exists():
        return None
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        data = path.read_bytes()
    except OSError as exc:
        raise os_problem(f"cannot read signing key {path}", exc) from None
    if mode & 0o077:
        raise UsageError(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{path}: not a usable private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{path}: not an Ed25519 key")
    return key


def sign_bytes(key: Ed25519PrivateKey, data: bytes) -> bytes:
    """Raw 64-byte Ed25519 signature."""
    return key.sign(data)


def write_signature(path: Path, key: Ed25519PrivateKey) -> Path:
    """Sign the exact bytes of ``path`` into ``path.sig`` (atomically); return the sig path."""
    sig_path = path.with_name(path.name + SIG_SUFFIX)
    atomic_write_bytes(sig_path, sign_bytes(key, path.read_bytes()), mode=0o644)
    return sig_path


@dataclass(frozen=True)
class SignatureCheck:
    ok: bool
    fingerprint: str | None
    reason: str


@dataclass
class Keyring:
    """Trusted public keys by fingerprint, with a label saying where each came from."""

    keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def add(self, key: Ed25519PublicKey, label: str) -> str:
        fp = fingerprint(key)
        self.keys[fp] = key
        self.labels.setdefault(fp, label)
        return fp

    def add_text(self, text: str, label: str) -> str:
        return self.add(parse_public_key(text, label), label)

    @classmethod
    def load(cls, archive: Archive, extra: Iterable[tuple[str, str]] = ()) -> Keyring:
        """The archive's own public key, ``keys/trusted/*.pub``, and ``extra`` keys.

        ``extra`` is (label, public key text) pairs, such as partners' keys:
        the share room's ``trusted_keyring`` passes them, so that signing
        knows nothing about partners.
        """
        ring = cls()
        try:
            own = archive.keys / PUBLIC_NAME
            if own.exists():
                ring.add_text(own.read_text("utf-8"), "this archive")
            trusted = archive.keys / TRUSTED_DIR
            if trusted.is_dir():
                for p in sorted(trusted.iterdir()):
                    if p.suffix in (".pub", ".pem") and p.is_file() and not p.is_symlink():
                        if p.stat().st_size > MAX_KEY_FILE:
                            raise UsageError(f"{p}: too large to be a public key")
                        ring.add_text(p.read_text("utf-8", "replace"), f"trusted/{p.name}")
        except OSError as exc:
            raise os_problem(f"cannot read trusted keys in {archive.keys}", exc) from None
        for label, text in extra:
            ring.add_text(text, label)
        return ring

    def verify_bytes(
        self, data: bytes, signature: bytes, expected: str | None = None
    ) -> SignatureCheck:
        """Check a raw signature against the expected key, or any trusted key."""
        if len(signature) != 64:
            return SignatureCheck(False, None, f"signature is {len(signature)} bytes, not 64")
        candidates = (
            {expected: self.keys[expected]} if expected and expected in self.keys else self.keys
        )
        if expected and expected not in self.keys:
            return SignatureCheck(False, expected, f"key {expected} is not in the trusted keyring")
        for fp, key in candidates.items():
            try:
                key.verify(signature, data)
            except InvalidSignature:
                continue
            return SignatureCheck(True, fp, f"good signature by {fp} ({self.labels.get(fp, '')})")
        if not self.keys:
            return SignatureCheck(False, None, "no trusted keys in the keyring")
        return SignatureCheck(False, expected, "signature does not match any trusted key")

    def verify_file_signature(
        self, path: Path, sig_path: Path | None = None, expected: str | None = None
    ) -> SignatureCheck:
        """Check ``path.sig`` (or ``sig_path``) over the exact bytes of ``path``."""
        sig_path = sig_path or path.with_name(path.name + SIG_SUFFIX)
        try:
            if sig_path.stat().st_size > 1024:
                return SignatureCheck(False, None, f"{sig_path.name} is too large")
            signature = sig_path.read_bytes()
            data = path.read_bytes()
        except OSError as exc:
            return SignatureCheck(False, None, f"cannot read {exc.filename}: {exc.strerror}")
        check = self.verify_bytes(data, signature, expected)
        if not check.ok:
            return SignatureCheck(False, check.fingerprint, f"{sig_path.name}: {check.reason}")
        return check


def trust_key(archive: Archive, key_file: Path, name: str) -> tuple[str, Path]:
    """Copy a partner's public key into ``keys/trusted/NAME.pub`` after parsing it.

    Only the parsed key is written back (as one OpenSSH line), never the
    partner's bytes, so a hostile file cannot smuggle anything else in.
    Returns (fingerprint, path).
    """
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name or ""):
        raise UsageError(f"--name {name!r}: use letters, digits, '.', '_' or '-'")
    key_file = Path(key_file)
    try:
        if key_file.stat().st_size > MAX_KEY_FILE:
            raise UsageError(f"{key_file}: too large to be a public key")
        text = key_file.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise UsageError(f"{key_file}: no such file") from None
    except UnicodeDecodeError:
        raise UsageError(f"{key_file}: not a text public key") from None
    except OSError as exc:
        raise UsageError(f"{key_file}: cannot read ({exc.strerror})") from None
    key = parse_public_key(text, str(key_file))
    dest = archive.keys / TRUSTED_DIR / f"{name}.pub"
    if dest.exists():
        existing = parse_public_key(dest.read_text("utf-8", "replace"), str(dest))
        if fingerprint(existing) != fingerprint(key):
            raise UsageError(f"{dest} already holds another key; remove it first to replace it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(dest, public_key_text(key, name).encode(), 0o644)
    return fingerprint(key), dest
