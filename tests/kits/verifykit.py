"""Archive bags as strongroom makes them, for the verify tests: signed, logged, inventoried."""

from __future__ import annotations

from pathlib import Path

import bagit
from test_validate import write_warc

from strongroom.bag import custody, inventory, signing
from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger

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
    custody.append(archive, bag_id, "bagging", outcome="success")
    with open_ledger(archive.root) as ledger:
        ledger.record_bag(
            bag_id,
            collection_id=COLLECTION,
            capture_id=None,
            created="2024-01-01T00:00:00Z",
            access="open",
            seeds=list(pages),
        )
    fpr = signing.fingerprint(key.public_key())
    inventory.record_bag(
        manifests,
        COLLECTION,
        {"bag_id": bag_id, "tagmanifests": inventory.tagmanifest_hashes(bag), "signing_key": fpr},
    )
    return bag
