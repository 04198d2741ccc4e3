"""Helpers for the share, receive and repair tests: real archives and real bags.

Bags are made with bagit-python (like any other BagIt tool would) around a
real WARC written with warcio, then signed and given a custody log with the
project's own signing and custody modules, exactly as strongroom bags are.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
from pathlib import Path

import bagit
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from strongroom.bag import custody, signing
from strongroom.core.archive import Archive

RFERL = "RFE/RL; RU; undesirable; since 2024-02-20"


def make_archive(root: Path, jurisdiction: str = "DE", extra_config: str = "") -> Archive:
    """An archive folder with a config.toml and a signing key."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.toml").write_text(
        f'[organization]\nname = "Archive {jurisdiction}"\njurisdiction = "{jurisdiction}"\n'
        "[replication]\nmin_copies = 3\nmin_jurisdictions = 2\n" + extra_config
    )
    archive = Archive(root)
    archive.ensure()
    if not (archive.keys / signing.PRIVATE_NAME).exists():
        signing.init_keys(archive.keys, comment=f"archive-{jurisdiction}")
    return archive


def warc_bytes(text: str) -> bytes:
    """A small, real gzipped WARC with one response record."""
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    body = f"<html><body><p>{text}</p></body></html>".encode() * 20
    headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    record = writer.create_warc_record(
        "http://127.0.0.1/article", "response", payload=io.BytesIO(body), http_headers=headers
    )
    writer.write_record(record)
    return buf.getvalue()


def make_bag(
    archive: Archive,
    bag_id: str = "andijan-2005-20240501T101500Z-1a2b3c",
    *,
    access: str = "public",
    designations: tuple[str, ...] = (),
    files: dict[str, bytes] | None = None,
    sign: bool = True,
    depends_on: tuple[str, ...] = (),
) -> Path:
    """A signed bag with a custody log in ``archive/bags/<bag_id>``; ``depends_on`` names
    bags of the same archive it declares (``Depends-On``, pinned by tag-manifest digest)."""
    staging = archive.root / f".build-{bag_id}"
    files = files or {
        "warc/capture-00001.warc.gz": warc_bytes(bag_id),
        "derivatives/page.txt": b"The article text.\n",
    }
    for rel, data in files.items():
        p = staging / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    info: dict[str, object] = {
        "Source-Organization": archive.config.organization,
        "External-Identifier": bag_id,
        "Bag-Group-Identifier": bag_id.split("-2")[0],
        "Seed-URL": "http://127.0.0.1/article",
        "Access": access,
    }
    if designations:
        info["Designation"] = list(designations)
    if depends_on:
        pins = {d: (archive.bag_dir(d) / custody.TAGMANIFEST).read_bytes() for d in depends_on}
        info["Depends-On"] = [f"{d} {hashlib.sha512(t).hexdigest()}" for d, t in pins.items()]
    bagit.make_bag(str(staging), info, checksums=["sha512"])
    tm = staging / custody.TAGMANIFEST
    if sign:
        key = signing.load_private_key(archive.keys)
        assert key is not None
        signing.write_signature(tm, key)
    final = archive.bag_dir(bag_id)
    shutil.move(str(staging), final)
    for dirpath, _dirs, names in os.walk(final / "data"):
        for name in names:
            os.chmod(os.path.join(dirpath, name), stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    custody.append(archive, bag_id, "creation", outcome="success", inputs={"test": True})
    record_like_bag(archive, bag_id, str(info["Bag-Group-Identifier"]), access, sign)
    return final


def record_like_bag(
    archive: Archive, bag_id: str, collection: str, access: str, sign: bool
) -> None:
    """The ledger row and inventory entry ``strongroom bag`` writes (verify checks both)."""
    from strongroom.bag import inventory
    from strongroom.core.ledger import open_ledger

    with open_ledger(archive.root) as ledger:
        ledger.record_bag(
            bag_id,
            collection_id=collection,
            capture_id=None,
            created="2024-05-01T10:15:00Z",
            access=access,
            seeds=["http://127.0.0.1/article"],
        )
    key = signing.load_private_key(archive.keys) if sign else None
    entry = {
        "bag_id": bag_id,
        "tagmanifests": inventory.tagmanifest_hashes(archive.bag_dir(bag_id)),
        "signing_key": signing.fingerprint(key.public_key()) if key else None,
    }
    inventory.record_bag(archive.root / "manifests", collection, entry)


def public_key_line(archive: Archive) -> str:
    return (archive.keys / signing.PUBLIC_NAME).read_text().strip()


def write_partners(archive: Archive, *entries: dict[str, object]) -> None:
    """Write ``partners.toml`` from dicts (strings and lists of strings only)."""
    lines = []
    for e in entries:
        lines.append("[[partners]]")
        for k, v in e.items():
            if isinstance(v, list):
                lines.append(f"{k} = [{', '.join(repr(x).replace(chr(39), chr(34)) for x in v)}]")
            elif isinstance(v, int):
                lines.append(f"{k} = {v}")
            else:
                lines.append(f'{k} = "{v}"')
        lines.append("")
    archive.partners_path.write_text("\n".join(lines))


def dir_partner(
    name: str, jurisdiction: str, path: Path, access: tuple[str, ...] = ("public", "restricted")
) -> dict[str, object]:
    return {
        "name": name,
        "jurisdiction": jurisdiction,
        "transport": "dir",
        "path": str(path),
        "access": list(access),
    }


def flip_bit(path: Path, offset: int = 100) -> None:
    """Damage one bit of a (read-only) payload file, as bit rot would."""
    mode = stat.S_IMODE(path.stat().st_mode)
    os.chmod(path, mode | stat.S_IWUSR)
    with open(path, "r+b") as fh:
        fh.seek(offset)
        b = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([b[0] ^ 0x01]))
    os.chmod(path, mode)


def write_head(archive: Archive, bag_id: str, folder: Path | None = None) -> Path:
    """The bag's custody head, signed by ``archive``, beside the bag (as `share` ships it)."""
    import json

    folder = folder or archive.bags
    path = folder / f"{bag_id}.custody-head.json"
    path.write_text(json.dumps(custody.signed_head(archive, bag_id), sort_keys=True))
    return path


# --- shared set-up: archives built once per session, copied per test ---------------
# Building a signed bag (bagit, Ed25519, custody log, ledger, inventory) costs far
# more than copying the folder it ends up in, and many share tests start from the
# same one; each test gets its own copy, so none sees another's changes.
BAG = "andijan-2005-20240501T101500Z-1a2b3c"
FIRST = "andijan-2005-20240501T101500Z-aaaaaa"
SECOND = "andijan-2005-20240601T101500Z-bbbbbb"


def build_sender(root: Path) -> Path:
    """An archive in DE holding the signed bag BAG, its custody log and its signed
    custody head beside it (as ``share`` ships it); the template of :func:`make_pair`."""
    sender = make_archive(root, "DE")
    make_bag(sender, BAG)
    write_head(sender, BAG)
    return sender.root


def build_chain(root: Path) -> Path:
    """An archive in DE where SECOND depends on FIRST (``Depends-On``)."""
    archive = make_archive(root, "DE")
    make_bag(archive, FIRST)
    make_bag(archive, SECOND, depends_on=(FIRST,))
    return archive.root


def copy_archive(template: Path, root: Path) -> Archive:
    """A private copy of a template archive (keys, bags, custody logs, ledger)."""
    shutil.copytree(template, root, symlinks=True)
    return Archive(root)


def make_pair(
    template: Path,
    sender_root: Path,
    receiver_root: Path,
    outbox: Path,
    receiver_config: str = "",
) -> tuple[Archive, Archive]:
    """(sender in DE with one bag, copied from ``template``; receiver in UA that trusts
    the sender's key and knows it as partner ``berlin`` sending from ``outbox``)."""
    sender = copy_archive(template, sender_root)
    receiver = make_archive(receiver_root, "UA", receiver_config)
    write_partners(
        receiver,
        dir_partner("berlin", "DE", outbox) | {"public_key": public_key_line(sender)},
    )
    return sender, receiver
