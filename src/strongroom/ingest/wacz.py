"""Open a WACZ as hostile input: validate it, then take out its WARCs, pages and signature.

A WACZ is a ZIP file. Before anything is extracted every entry is checked:
names (no absolute paths, no ``..``, no backslashes, no duplicates: zip-slip),
sizes (declared sizes within limits, compression ratios of a zip bomb refused)
and, while extracting, the bytes really produced (never more than declared).
``datapackage.json`` must list each WARC with the digest the WACZ spec gives it;
each extracted WARC is compared with it. Extracted WARCs keep their bytes.

We read the ZIP with :mod:`zipfile` and check it ourselves rather than with
the ``wacz`` library's validator: that one extracts everything to a temporary
folder first (``ZipFile.extractall``), which is what a zip bomb wants.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_ENTRIES = 10_000
MAX_MEMBER = 64 * 1024**3  # one WARC inside a WACZ
MAX_SMALL = 64 * 1024 * 1024  # datapackage.json, pages.jsonl, signatures
MAX_RATIO = 200  # deflate of a real WARC.gz is ~1:1, of a WARC ~1:10; a bomb is 1:1000
RATIO_FLOOR = 1024 * 1024  # tiny entries may compress well
CHUNK = 1024 * 1024
WARC_DIR = "archive/"
KEPT_TAGS = ("datapackage.json", "datapackage-digest.json")
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


class WaczRefused(Exception):
    """The WACZ is invalid or hostile; nothing was extracted (message says why)."""


@dataclass
class WaczContents:
    """What was taken out of a WACZ."""

    warcs: list[tuple[str, Path]] = field(default_factory=list)  # (name inside, extracted)
    pages: list[dict[str, Any]] = field(default_factory=list)
    tags: dict[str, bytes] = field(default_factory=dict)  # file name -> bytes, kept as tags
    profile: str = ""  # datapackage.json "profile"
    software: str = ""  # datapackage.json "software"
    title: str = ""


def _check_names(z: zipfile.ZipFile, source: str) -> list[zipfile.ZipInfo]:
    infos = z.infolist()
    if len(infos) > MAX_ENTRIES:
        raise WaczRefused(f"{source}: {len(infos)} entries; a WACZ with more than {MAX_ENTRIES}")
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        parts = name.split("/")
        if (
            name.startswith("/")
            or "\\" in name
            or ".." in parts
            or any(p in ("", ".") for p in parts[:-1])
            or re.match(r"^[A-Za-z]:", name)
            or "\x00" in name
        ):
            raise WaczRefused(f"{source}: entry {name[:200]!r} escapes the WACZ (zip-slip)")
        if name.lower() in seen:
            raise WaczRefused(f"{source}: entry {name[:200]!r} appears twice")
        seen.add(name.lower())
        if info.flag_bits & 0x1:
            raise WaczRefused(f"{source}: entry {name[:200]!r} is encrypted")
        limit = MAX_MEMBER if name.startswith(WARC_DIR) else MAX_SMALL
        if info.file_size > limit:
            raise WaczRefused(f"{source}: entry {name[:200]!r} is {info.file_size} bytes, too big")
        ratio = info.file_size / max(1, info.compress_size)
        if info.file_size > RATIO_FLOOR and ratio > MAX_RATIO:
            raise WaczRefused(
                f"{source}: entry {name[:200]!r} expands {ratio:.0f} times "
                f"({info.compress_size} -> {info.file_size} bytes): a zip bomb"
            )
    return infos


def _read_small(z: zipfile.ZipFile, info: zipfile.ZipInfo, source: str) -> bytes:
    with z.open(info) as fh:
        data = fh.read(MAX_SMALL + 1)
    if len(data) > MAX_SMALL or len(data) != info.file_size:
        raise WaczRefused(f"{source}: entry {info.filename!r} is not the size it declares")
    return data


def _extract(z: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, source: str) -> str:
    """Copy one entry's bytes to ``dest`` (bounded by its declared size); its sha256 hex."""
    h = hashlib.sha256()
    got = 0
    with z.open(info) as fh, open(dest, "xb") as out:
        while chunk := fh.read(CHUNK):
            got += len(chunk)
            if got > info.file_size:
                raise WaczRefused(f"{source}: entry {info.filename!r} is larger than it declares")
            h.update(chunk)
            out.write(chunk)
    if got != info.file_size:
        raise WaczRefused(f"{source}: entry {info.filename!r} is shorter than it declares")
    return h.hexdigest()


def _datapackage(raw: bytes, source: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WaczRefused(f"{source}: datapackage.json is not JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("resources"), list):
        raise WaczRefused(f"{source}: datapackage.json has no list of resources")
    return doc


def _pages(raw: bytes, source: str) -> list[dict[str, Any]]:
    out = []
    for n, line in enumerate(raw.decode("utf-8", "replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise WaczRefused(f"{source}: pages.jsonl line {n} is not JSON") from None
        if isinstance(obj, dict) and isinstance(obj.get("url"), str) and "format" not in obj:
            out.append(obj)
    return out


def open_wacz(path: Path, staging: Path, source: str) -> WaczContents:
    """Validate ``path`` and extract its WARCs into ``staging``; refuse anything unsafe."""
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise WaczRefused(f"{source}: not a WACZ (not a readable ZIP file: {exc})") from None
    with z:
        infos = _check_names(z, source)
        by_name = {i.filename: i for i in infos}
        if "datapackage.json" not in by_name:
            raise WaczRefused(f"{source}: not a WACZ (no datapackage.json)")
        raw = _read_small(z, by_name["datapackage.json"], source)
        doc = _datapackage(raw, source)
        declared = {
            str(r.get("path")): str(r.get("hash") or "")
            for r in doc["resources"]
            if isinstance(r, dict)
        }
        found = WaczContents(
            profile=str(doc.get("profile") or ""),
            software=str(doc.get("software") or ""),
            title=str(doc.get("title") or ""),
        )
        found.tags["datapackage.json"] = raw
        if "datapackage-digest.json" in by_name:
            found.tags["datapackage-digest.json"] = _read_small(
                z, by_name["datapackage-digest.json"], source
            )
        for name in ("pages/pages.jsonl", "pages/extraPages.jsonl"):
            if name in by_name:
                found.pages += _pages(_read_small(z, by_name[name], source), source)
        warcs = [
            i
            for i in infos
            if i.filename.startswith(WARC_DIR) and i.filename.endswith((".warc", ".warc.gz"))
        ]
        if not warcs:
            raise WaczRefused(f"{source}: no WARC files under archive/")
        for info in warcs:
            base = info.filename[len(WARC_DIR) :]
            if "/" in base or not _SAFE.match(base):
                raise WaczRefused(f"{source}: WARC name {info.filename[:200]!r} is not a safe name")
            expected = declared.get(info.filename, "")
            if not expected:
                raise WaczRefused(f"{source}: {info.filename} is not listed in datapackage.json")
            dest = staging / base
            got = _extract(z, info, dest, source)
            algo, _, value = expected.partition(":")
            if algo.lower() == "sha256" and value.lower() != got:
                raise WaczRefused(
                    f"{source}: {info.filename} does not match its digest in datapackage.json"
                )
            if algo.lower() != "sha256":
                raise WaczRefused(f"{source}: {info.filename}: unsupported digest {expected!r}")
            found.warcs.append((info.filename, dest))
    return found
