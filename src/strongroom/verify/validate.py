"""Strict BagIt validation (RFC 8493, and the drafts 0.93 - 0.97) for any bag.

``validate_bag`` runs the steps in order of cost: the tag files (``tagfiles``),
the file tree (``tree``), the manifests and what they say is there, with sizes
and the Payload-Oxum (``manifests``), then hashing every listed file once for
all the manifests' algorithms (``payload``), and in ``deep`` mode every WARC
record's digests (``warcs``). It never raises on a damaged bag: every finding
becomes a ``Problem`` (an error) or a warning in the returned ``BagReport``
(``findings``). Only a path that is not a folder at all raises ``UsageError``.

We do not use bagit-python's validator: it stops at the first class of error,
is lenient where RFC 8493 is strict (BOMs, bagit.txt whitespace, duplicate
entries), follows symlinks, opens manifest paths before checking them, and reads
each file once per process pool task without splitting algorithms over threads.
"""

from __future__ import annotations

from pathlib import Path

from strongroom.errors import UsageError
from strongroom.verify.findings import BagReport, Problem, Progress, show
from strongroom.verify.manifests import (
    check_oxum,
    check_payload_lists,
    check_tag_lists,
    hashlib_name,
    load_manifests,
)
from strongroom.verify.payload import Hasher, hash_and_compare
from strongroom.verify.tagfiles import check_bag_info, check_bagit_txt, read_fetch
from strongroom.verify.tree import check_names, check_special_files, scan
from strongroom.verify.warcs import check_warc

MODES = ("fast", "full", "deep")

__all__ = [
    "MODES",
    "BagReport",
    "Hasher",
    "Problem",
    "Progress",
    "check_warc",
    "hashlib_name",
    "show",
    "validate_bag",
]


def validate_bag(
    path: Path | str,
    mode: str = "full",
    *,
    workers: int | None = None,
    progress: Progress | None = None,
) -> BagReport:
    """Validate the bag at ``path``; ``mode`` is ``fast``, ``full`` or ``deep``."""
    if mode not in MODES:
        raise UsageError(f"unknown verify mode {mode!r}; use one of {', '.join(MODES)}")
    root = path if isinstance(path, Path) else Path(path)
    if not root.is_dir():
        raise UsageError(f"{show(str(root))}: not a folder")
    report = BagReport(path=root, mode=mode)
    encoding = check_bagit_txt(root, report)
    if report.has("not-a-bag"):
        return report
    check_bag_info(root, encoding, report)

    tree = scan(root, report, tag_sizes=mode != "fast")
    report.tree = tree
    if "data" not in tree.top_dirs:  # the scan never follows a symlink, so none is here
        report.error("structure", "data/: missing or not a folder (the payload directory)")
    report.files = len(tree.payload)
    report.bytes = sum(tree.payload.values())
    check_special_files(tree, report)

    manifests = load_manifests(root, tree, encoding, report)
    fetch = read_fetch(root, encoding, report, tree)
    check_payload_lists(tree, [m for m in manifests if not m.tag], fetch, report)
    check_tag_lists(tree, [m for m in manifests if m.tag], report)
    check_names(tree, report)
    check_oxum(tree, fetch, report)

    if mode != "fast":
        hash_and_compare(root, tree, manifests, report, workers, progress)
    if mode == "deep":
        for rel in sorted(tree.payload):
            if rel.endswith((".warc", ".warc.gz")):
                problems, records = check_warc(root / rel, rel)
                report.problems.extend(problems)
                report.warc_records += records
    # stable output: hashing finishes in any order
    report.problems.sort(key=lambda p: (p.file or "", p.manifest or "", p.code))
    return report
