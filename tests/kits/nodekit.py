"""Node roots for the shared-ledger tests and bench/nodes.py (no tests here)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from strongroom.core.archive import Archive


def node_roots(first: Path, count: int, work: Path) -> list[Path]:
    """``first`` and ``count - 1`` more node roots under ``work`` that see the same bags.

    The bags and their custody logs are hard links, as nodes that mount one
    storage see the same files; keys and the inventory are copied.
    """
    roots = [first]
    for n in range(2, count + 1):
        root = work / f"node{n}"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir()
        shutil.copytree(first / "keys", root / "keys")
        # Every node reads the same inventory (in practice: a checkout of the
        # collections' git repository on each node).
        if (first / "manifests").is_dir():
            shutil.copytree(first / "manifests", root / "manifests")
        subprocess.run(["cp", "-al", str(first / "bags"), str(root / "bags")], check=True)
        (root / "config.toml").write_text(
            (first / "config.toml").read_text().replace('"node1"', f'"node{n}"')
        )
        Archive(root).ensure()
        roots.append(root)
    return roots
