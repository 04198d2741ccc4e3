"""Capture folders for the bag tests, written with warcio as the capture contract says.

(docs/architecture.md "Capture folder": WARC 1.1 files with one gzip member per
record, optional derivatives/, and capture.json written last.)
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

CAPTURE_ID = "20240220T101500Z-ab12cd"
RFERL = "http://rferl.test/a/andijan-anniversary.html"
GV = "http://globalvoices.test/2005/05/13/uzbekistan-andijan/"

DESIGNATION = {
    "organization": "RFE/RL",
    "hosts": ["rferl.test"],
    "jurisdiction": "RU",
    "kind": "undesirable",
    "since": "2024-02-20",
    "source": "",
}


def warc_bytes(pages: dict[str, bytes]) -> bytes:
    """A gzip-per-record WARC with a warcinfo, and a request/response per page."""
    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=True, warc_version="WARC/1.1")
    w.write_record(w.create_warcinfo_record("x.warc.gz", {"software": "test"}))
    for url, body in pages.items():
        headers = StatusAndHeaders(
            "200 OK",
            [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
            protocol="HTTP/1.1",
        )
        rec = w.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers)
        w.write_record(rec)
    return buf.getvalue()


def make_capture(
    archive: Path,
    capture_id: str = CAPTURE_ID,
    *,
    collection: dict[str, Any] | None = None,
    warcs: dict[str, bytes] | None = None,
    derivatives: dict[str, bytes] | None = None,
    seeds: list[str] | None = None,
    meta: dict[str, Any] | None = None,
    write_json: bool = True,
) -> Path:
    """Write ``<archive>/captures/<capture_id>/`` and return it."""
    seeds = seeds if seeds is not None else [RFERL, GV]
    folder = archive / "captures" / capture_id
    folder.mkdir(parents=True)
    if warcs is None:
        warcs = {
            f"{capture_id}-00000.warc.gz": warc_bytes(
                {u: f"<html><title>{u}</title>story</html>".encode() for u in seeds}
            )
        }
    for name, data in warcs.items():
        (folder / name).write_bytes(data)
    for rel, data in (derivatives or {}).items():
        p = folder / "derivatives" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    coll = {
        "id": "andijan-2005",
        "title": "Andijan 2005",
        "description": "Reporting on the Andijan events",
        "curator": {"name": "A. Curator", "email": "curator@example.org", "organization": "Org"},
        "access": "public",
        "designations": [DESIGNATION],
    }
    if collection is not None:
        coll = collection
    doc = {
        "capture_id": capture_id,
        "collection": coll,
        "seeds": [{"url": u} for u in seeds],
        "settings": {"operator": "night-owl"},
        "software": "strongroom/0.1.0",
        "operator": "night-owl",
        "started": "2024-02-20T10:15:00Z",
        "ended": "2024-02-20T10:16:00Z",
        "status": "complete",
        "warcs": [{"name": n, "size": len(d)} for n, d in warcs.items()],
        "stats": {},
        "failures": [],
        "pages": [],
    }
    doc.update(meta or {})
    if write_json:
        (folder / "capture.json").write_text(json.dumps(doc, indent=2))
    return folder


def write_big_warc(path: Path, size: int, url: str = RFERL) -> None:
    """A valid WARC of about ``size`` bytes, fast: stored (level 0) gzip members of
    pseudo-random resource records (random data would not compress anyway)."""
    import gzip
    import os
    import uuid

    block = os.urandom(16 * 1024 * 1024)
    with open(path, "wb") as fh:
        written, n = 0, 0
        while written < size:
            payload = n.to_bytes(8, "big") + block
            head = (
                "WARC/1.1\r\nWARC-Type: resource\r\n"
                f"WARC-Record-ID: <urn:uuid:{uuid.uuid4()}>\r\n"
                "WARC-Date: 2024-02-20T10:15:00Z\r\n"
                f"WARC-Target-URI: {url}#{n}\r\n"
                "Content-Type: application/octet-stream\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n"
            ).encode()
            member = gzip.compress(head + payload + b"\r\n\r\n", compresslevel=0)
            fh.write(member)
            written += len(member)
            n += 1
