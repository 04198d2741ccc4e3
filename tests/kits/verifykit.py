"""Archive bags as strongroom makes them, for the verify tests: signed, logged, inventoried."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bagit
from test_validate import write_warc

from strongroom.bag import custody, inventory, signing
from strongroom.core.archive import Archive
from strongroom.core.ledger import Ledger, open_ledger

COLLECTION = "demo-coll"


def make_archive_bag(archive: Archive, bag_id: str, manifests: Path, pages: dict) -> Path:
    """An archive bag as strongroom makes them: signed tag manifest, custody log, inventory."""
    bag = archive.bag_dir(bag_id)
    (bag / "warc").mkdir(parents=True)
    write_warc(bag / "warc" / f"{bag_id}-00000.warc.gz", pages)
    bagit.make_bag(
        str(bag), bag_info={"Bag-Group-Identifier": COLLECTION}, checksums=["sha256", "sha512"]
    )
    key = signing.load_private_key(archive.keys)
    assert key is not None
    signing.write_signature(bag / "tagmanifest-sha512.txt", key)
    with open_ledger(archive.root) as ledger:
        register_bag(archive, bag_id, manifests, list(pages), ledger=ledger, key=key)
    return bag


def register_bag(
    archive: Archive,
    bag_id: str,
    manifests: Path,
    seeds: list[str],
    *,
    ledger: Ledger,
    key: Any,
    tagmanifests: dict[str, str] | None = None,
) -> None:
    """What publishing records of a bag on disk: its ledger row, the first custody
    entry (head anchored) and its inventory entry (``tagmanifests`` if known)."""
    ledger.record_bag(
        bag_id,
        collection_id=COLLECTION,
        capture_id=None,
        created="2024-01-01T00:00:00Z",
        access="open",
        seeds=seeds,
    )
    custody.append(archive, bag_id, "bagging", outcome="success", ledger=ledger, key=key)
    hashes = tagmanifests or inventory.tagmanifest_hashes(archive.bag_dir(bag_id))
    fpr = signing.fingerprint(key.public_key())
    inventory.record_bag(
        manifests, COLLECTION, {"bag_id": bag_id, "tagmanifests": hashes, "signing_key": fpr}
    )
