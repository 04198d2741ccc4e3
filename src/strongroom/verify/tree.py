"""The bag's file tree, walked with lstat only, and the checks on names and file types."""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from strongroom.core.fsutil import is_within
from strongroom.verify.findings import BagReport, show

JUNK_NAMES = {".ds_store", "thumbs.db"}


@dataclass
class Tree:
    payload: dict[str, int] = field(default_factory=dict)  # rel -> size
    tags: dict[str, int] = field(default_factory=dict)  # rel -> size (-1: not asked)
    symlinks: dict[str, bool] = field(default_factory=dict)  # rel -> escapes the bag
    specials: list[str] = field(default_factory=list)
    top_dirs: set[str] = field(default_factory=set)  # folders directly in the bag

    def top_exists(self, name: str) -> bool | None:
        """Whether the scan saw ``name`` directly in the bag (None: a symlink, ask the disk)."""
        if name in self.symlinks:
            return None
        return name in self.tags or name in self.top_dirs or name in self.specials


def scan(root: Path, report: BagReport, tag_sizes: bool = True) -> Tree:
    """Walk the bag with lstat only: symlinks are recorded, never followed.

    ``tag_sizes=False`` (a fast check, which hashes nothing): tag files are known
    as regular files from the listing, without an lstat each; their size is -1.
    """
    tree = Tree()
    base = os.fspath(root)  # strings, not Paths: this loop runs for every file of every bag
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            it = os.scandir(f"{base}/{rel_dir}" if rel_dir else base)
        except OSError as exc:
            report.error(
                "unreadable",
                f"{show(rel_dir or '.')}: cannot list folder ({exc.strerror})",
                file=rel_dir,
            )
            continue
        with it:
            for entry in it:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                try:
                    if entry.is_symlink():
                        tree.symlinks[rel] = not is_within(root, root / rel)
                    elif entry.is_dir(follow_symlinks=False):
                        stack.append(rel)
                        if not rel_dir:
                            tree.top_dirs.add(rel)
                    elif entry.is_file(follow_symlinks=False):
                        if rel.startswith("data/"):
                            tree.payload[rel] = entry.stat(follow_symlinks=False).st_size
                        elif tag_sizes:
                            tree.tags[rel] = entry.stat(follow_symlinks=False).st_size
                        else:
                            tree.tags[rel] = -1
                    else:
                        tree.specials.append(rel)
                except OSError as exc:
                    report.error(
                        "unreadable", f"{show(rel)}: cannot stat ({exc.strerror})", file=rel
                    )
    return tree


def check_names(tree: Tree, report: BagReport) -> None:
    """Warn about names that clash on macOS/Windows, and desktop junk files."""
    groups: dict[str, list[str]] = {}
    for rel in list(tree.payload) + list(tree.tags):
        groups.setdefault(unicodedata.normalize("NFC", rel).casefold(), []).append(rel)
        if rel.rsplit("/", 1)[-1].lower() in JUNK_NAMES:
            report.warn("junk", f"{show(rel)}: operating-system junk file in the bag", file=rel)
    for names in groups.values():
        if len(names) > 1:
            shown = ", ".join(repr(show(n)) for n in sorted(names))
            report.warn(
                "name-clash",
                f"{shown}: names differ only by Unicode normalization or case"
                " (they collide on macOS and Windows)",
                file=names[0],
            )


def check_special_files(tree: Tree, report: BagReport) -> None:
    """Symbolic links (an error when they leave the bag) and devices, FIFOs, sockets."""
    for rel, escapes in sorted(tree.symlinks.items()):
        if escapes:
            report.error(
                "symlink",
                f"{show(rel)}: symbolic link that points outside the bag; not followed",
                file=rel,
            )
        else:
            report.warn("symlink", f"{show(rel)}: symbolic link inside the bag", file=rel)
    for rel in tree.specials:
        report.error(
            "not-regular", f"{show(rel)}: not a regular file (device, FIFO or socket)", file=rel
        )
