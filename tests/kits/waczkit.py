"""Replay a WACZ on its own in pywb: only its WARCs are indexed, nothing else is reachable.

A WACZ that depends on records outside it answers 503 (or 404) for those
resources; a self-contained one replays every response and revisit it holds.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import requests

from strongroom.replay import pywb as replay


def replay_alone(wacz: Path, workdir: Path) -> dict[str, int]:
    """Every URL of a WACZ's response and revisit records -> pywb's status, served alone."""
    root = workdir / "pywb-alone"
    warc_dir = root / "warcs"
    warc_dir.mkdir(parents=True)
    with zipfile.ZipFile(wacz) as z:
        for name in z.namelist():
            if name.startswith("archive/") and name.endswith((".warc", ".warc.gz")):
                (warc_dir / Path(name).name).write_bytes(z.read(name))
    coll = root / "collections" / "alone"
    (coll / "indexes").mkdir(parents=True)
    index = coll / "indexes" / "index.cdxj"
    replay._index(sorted(warc_dir.iterdir()), index)
    (root / "config.yaml").write_text(
        "debug: false\nframed_replay: false\ncollections_root: no-auto\ncollections:\n"
        f"  alone:\n    index_paths: {json.dumps(str(coll / 'indexes') + '/')}\n"
        f"    archive_paths:\n      - {json.dumps(str(warc_dir) + '/')}\n",
        "utf-8",
    )
    wanted: dict[str, str] = {}
    for line in index.read_text("utf-8").splitlines():
        _key, stamp, blob = line.split(" ", 2)
        url = json.loads(blob)["url"]
        if not url.endswith("/robots.txt"):
            wanted.setdefault(url, stamp)
    found: dict[str, int] = {}
    with replay.start(root, port=0) as srv:
        for url, stamp in wanted.items():
            r = requests.get(f"{srv.base}/alone/{stamp}id_/{url}", timeout=20)
            found[url] = r.status_code
    return found
