"""WARC and WACZ files in the styles of other tools, for the import tests (no tests here).

Each is written as that tool writes it, byte for byte where it matters:

- ``wget_warc``: WARC/1.0, angle brackets around URIs and record ids, sha1 base32
  digests, one gzip member per record, a warcinfo naming ``Wget/1.21.3``;
- ``heritrix_warc``: WARC/1.0, a second fetch of unchanged resources stored as
  revisit records by digest only (no WARC-Refers-To), ``Heritrix/3.4.0``;
- ``warcio_warc``: a chunked response whose payload digest is taken over the
  stored (raw, chunk-framed) body, as warcio computes it;
- ``plain_warc``: an uncompressed ``.warc`` (WARC/1.1, sha256 digests);
- ``wacz_file``: a WACZ made by the ``wacz`` library with a pages.jsonl.

The "site" is a made-up article page with a stylesheet and an image.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import uuid
from pathlib import Path

SITE = "http://news.example.test"
PAGE = f"{SITE}/2024/05/andijan-anniversary.html"
CSS = f"{SITE}/static/site.css"
PNG = f"{SITE}/static/logo.png"
HTML = (
    b"<!doctype html><html><head><meta charset='utf-8'><title>Andijan, years on</title>"
    b"<link rel='stylesheet' href='/static/site.css'></head><body><h1>Andijan, years on</h1>"
    b"<img src='/static/logo.png' alt='logo'><p>A retelling of the facts for the tests.</p>"
    b"</body></html>"
)
CSS_BODY = b"body { font-family: serif; color: #222 } h1 { font-size: 2em }"
PNG_BODY = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5f1d6c50000000049454e44ae426082"
)


def b32(algo: str, data: bytes) -> str:
    return f"{algo}:" + base64.b32encode(hashlib.new(algo, data).digest()).decode()


def http_response(ctype: str, body: bytes, chunked: bool = False) -> tuple[bytes, bytes]:
    """(HTTP head, stored body) of a 200 response."""
    if chunked:
        half = len(body) // 2
        stored = b"".join(
            f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in (body[:half], body[half:])
        )
        stored += b"0\r\n\r\n"
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n\r\n"
    else:
        stored = body
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode(), stored


def record(version: str, fields: list[tuple[str, str]], block: bytes) -> bytes:
    """One WARC record: version line, fields, Content-Length, block, CRLF CRLF."""
    lines = [version, *(f"{k}: {v}" for k, v in fields), f"Content-Length: {len(block)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + block + b"\r\n\r\n"


def _rid(brackets: bool = True) -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def write(path: Path, records: list[bytes], gz: bool = True) -> Path:
    path.write_bytes(b"".join(gzip.compress(r) for r in records) if gz else b"".join(records))
    return path


def _exchange(
    version: str,
    uri: str,
    ctype: str,
    body: bytes,
    date: str,
    *,
    algo: str = "sha1",
    angle: bool = False,
    chunked: bool = False,
    raw_digest: bool = False,
) -> list[bytes]:
    head, stored = http_response(ctype, body, chunked)
    block = head + stored
    payload = stored if raw_digest else body
    target = f"<{uri}>" if angle else uri
    resp_id = _rid()
    resp = record(
        version,
        [
            ("WARC-Type", "response"),
            ("WARC-Record-ID", resp_id),
            ("WARC-Date", date),
            ("WARC-Target-URI", target),
            ("Content-Type", "application/http; msgtype=response"),
            ("WARC-Block-Digest", b32(algo, block)),
            ("WARC-Payload-Digest", b32(algo, payload)),
        ],
        block,
    )
    req_block = f"GET {uri.split(SITE, 1)[-1] or '/'} HTTP/1.1\r\nHost: news.example.test\r\n\r\n"
    req = record(
        version,
        [
            ("WARC-Type", "request"),
            ("WARC-Record-ID", _rid()),
            ("WARC-Date", date),
            ("WARC-Target-URI", target),
            ("WARC-Concurrent-To", resp_id),
            ("Content-Type", "application/http; msgtype=request"),
            ("WARC-Block-Digest", b32(algo, req_block.encode())),
        ],
        req_block.encode(),
    )
    return [req, resp]


def warcinfo(version: str, software: str, extra: str = "", algo: str = "sha1") -> bytes:
    body = f"software: {software}\r\nformat: WARC File Format {version[5:]}\r\n{extra}".encode()
    return record(
        version,
        [
            ("WARC-Type", "warcinfo"),
            ("WARC-Record-ID", _rid()),
            ("WARC-Date", "2024-05-13T10:00:00Z"),
            ("Content-Type", "application/warc-fields"),
            ("WARC-Block-Digest", b32(algo, body)),
        ],
        body,
    )


def site_records(version: str, date: str, **kw: object) -> list[bytes]:
    out = []
    for uri, ctype, body in (
        (PAGE, "text/html; charset=utf-8", HTML),
        (CSS, "text/css", CSS_BODY),
        (PNG, "image/png", PNG_BODY),
    ):
        out += _exchange(version, uri, ctype, body, date, **kw)  # type: ignore[arg-type]
    return out


def wget_warc(folder: Path) -> Path:
    recs = [warcinfo("WARC/1.0", "Wget/1.21.3 (linux-gnu)", f"wget-arguments: {PAGE} -p\r\n")]
    recs += site_records("WARC/1.0", "2024-05-13T10:00:01Z", angle=True)
    return write(folder / "wget-andijan.warc.gz", recs)


def heritrix_warc(folder: Path) -> Path:
    """First fetch: responses; second fetch: revisits identified by payload digest only."""
    recs = [warcinfo("WARC/1.0", "Heritrix/3.4.0-20220727 http://crawler.archive.org")]
    recs += site_records("WARC/1.0", "2024-05-13T10:00:01Z")
    for uri, ctype, body in ((CSS, "text/css", CSS_BODY), (PNG, "image/png", PNG_BODY)):
        head, _ = http_response(ctype, body)
        recs.append(
            record(
                "WARC/1.0",
                [
                    ("WARC-Type", "revisit"),
                    ("WARC-Record-ID", _rid()),
                    ("WARC-Date", "2024-05-14T10:00:01Z"),
                    ("WARC-Target-URI", uri),
                    (
                        "WARC-Profile",
                        "http://netpreserve.org/warc/1.0/revisit/identical-payload-digest",
                    ),
                    ("Content-Type", "application/http; msgtype=response"),
                    ("WARC-Block-Digest", b32("sha1", head)),
                    ("WARC-Payload-Digest", b32("sha1", body)),
                ],
                head,
            )
        )
    return write(folder / "IAH-20240513100000-00000-heritrix.warc.gz", recs)


def warcio_warc(folder: Path) -> Path:
    """A chunked page response with its payload digest over the raw chunked body."""
    recs = [warcinfo("WARC/1.0", "warcio.py 1.7.4")]
    recs += _exchange(
        "WARC/1.0",
        PAGE,
        "text/html; charset=utf-8",
        HTML,
        "2024-05-13T10:00:01Z",
        chunked=True,
        raw_digest=True,
    )
    recs += _exchange("WARC/1.0", CSS, "text/css", CSS_BODY, "2024-05-13T10:00:02Z")
    recs += _exchange("WARC/1.0", PNG, "image/png", PNG_BODY, "2024-05-13T10:00:02Z")
    return write(folder / "warcio-andijan.warc.gz", recs)


def plain_warc(folder: Path) -> Path:
    recs = [warcinfo("WARC/1.1", "ArchiveBox 0.7.2", algo="sha256")]
    recs += site_records("WARC/1.1", "2024-05-13T10:00:01.123456Z", algo="sha256")
    return write(folder / "archivebox-andijan.warc", recs, gz=False)


def wacz_file(folder: Path) -> Path:
    """A WACZ made by the wacz library from a WARC, with a pages.jsonl naming the page."""
    from wacz.main import main as wacz_main

    warc = wget_warc(folder)
    pages = folder / "pages.jsonl"
    pages.write_text(
        json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "Pages"})
        + "\n"
        + json.dumps({"url": PAGE, "title": "Andijan, years on", "ts": "2024-05-13T10:00:01Z"})
        + "\n",
        "utf-8",
    )
    out = folder / "webrecorder-andijan.wacz"
    rc = wacz_main(["create", "-o", str(out), "-p", str(pages), str(warc)])
    assert rc in (0, None) and out.exists()
    warc.unlink()
    pages.unlink()
    return out
