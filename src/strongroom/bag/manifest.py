"""Manifests and tag manifests (RFC 8493 2.1.3, 2.2.1): path encoding, writing, reading."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from strongroom.bag.payload import BLOCK, PayloadFile
from strongroom.errors import UsageError

ALGORITHMS = ("sha512", "sha256", "sha384", "sha1", "md5")
WEAK_ALGORITHMS = ("sha1", "md5")
TAG_ALGORITHM = "sha512"  # the signature covers tagmanifest-sha512.txt, so always made


def encode_manifest_path(path: str) -> str:
    """RFC 8493 2.1.3: percent-encode ``%`` first, then CR and LF."""
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def decode_manifest_path(path: str) -> str:
    """Inverse of :func:`encode_manifest_path` (case-insensitive hex)."""
    return re.sub(
        r"%(25|0[dD]|0[aA])",
        lambda m: {"25": "%", "0D": "\r", "0A": "\n"}[m.group(1).upper()],
        path,
    )


def parse_manifest(text: str) -> dict[str, str]:
    """Manifest text -> {decoded path: hex digest}."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        digest, sep, path = line.partition(" ")
        if not sep:
            raise UsageError(f"malformed manifest line {line[:80]!r}")
        out[decode_manifest_path(path.lstrip(" \t"))] = digest.lower()
    return out


def check_algorithms(algorithms: Sequence[str]) -> tuple[str, ...]:
    """Normalise and validate ``--algorithm`` values (sha512 always first)."""
    chosen: list[str] = []
    for a in algorithms or ("sha512",):
        a = a.lower().replace("-", "")
        if a not in ALGORITHMS:
            raise UsageError(f"unknown algorithm {a!r}; choose from {', '.join(ALGORITHMS)}")
        if a not in chosen:
            chosen.append(a)
    return tuple(chosen)


def manifest_text(files: Iterable[PayloadFile], algorithm: str) -> str:
    """One payload manifest; sorted by path, so manifests of the same payload are
    byte-identical."""
    rows = sorted((encode_manifest_path("data/" + f.rel), f.digests[algorithm]) for f in files)
    return "".join(f"{digest}  {path}\n" for path, digest in rows)


def hash_file(path: Path, algorithm: str) -> str:
    """Hex digest of one (tag) file."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while chunk := fh.read(BLOCK):
            h.update(chunk)
    return h.hexdigest()


def write_tag(bag: Path, rel: str, text: str) -> None:
    """Create one tag file (never replacing one) with UTF-8 and LF line endings."""
    p = bag / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "x", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def write_tag_bytes(bag: Path, rel: str, data: bytes) -> None:
    """Create one binary tag file (XML carries its own encoding declaration)."""
    p = bag / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "xb") as fh:
        fh.write(data)


def tag_files(bag: Path) -> list[str]:
    """Every tag file a tag manifest covers: not the tag manifests, nor what sits
    beside them (the signature ``.sig``, the timestamp token ``.tsr``)."""
    import os

    names = []
    for dirpath, dirnames, filenames in os.walk(bag):
        rel_dir = os.path.relpath(dirpath, bag)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d != "data"]  # never walk the payload
        for name in filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
            if rel.startswith("tagmanifest-") or not os.path.isfile(os.path.join(dirpath, name)):
                continue
            names.append(rel)
    return sorted(names)


def write_tag_manifests(bag: Path, algorithms: Sequence[str]) -> None:
    """Write ``tagmanifest-<a>.txt`` for every algorithm over every tag file."""
    names = tag_files(bag)
    for a in algorithms:
        lines = [f"{hash_file(bag / n, a)}  {encode_manifest_path(n)}\n" for n in names]
        write_tag(bag, f"tagmanifest-{a}.txt", "".join(lines))
