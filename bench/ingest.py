"""Benchmark: `strongroom import` of a WARC against `warcio check`, with the ceiling, in one run.

Builds a gzip-per-record WARC of response records (sha1 block and payload
digests, as wget and Heritrix write them; every 4th response chunked, its
payload digest over the raw chunked body as warcio computes it, so the anchor passes), then per
round, in this order, each in its own subprocess:

- ceiling: ``gzip -dc FILE | sha1sum`` (decompress and one hash pass, what any
  digest check must at least do);
- anchor: ``warcio check FILE`` (block and payload digests of every record);
- strongroom: ``strongroom import FILE`` into a fresh archive (checks every record
  under both payload conventions, copies the file, then bags it: hashes it
  again, hard-links it, writes tag files, fsyncs, signs nothing (no key)).

strongroom does strictly more work than the anchor (a copy, fsync, the bag pass),
so parity is not expected; the figure to watch is how far above the anchor it is.
Medians of ``--rounds`` paired runs with min-max.

    .venv/bin/python bench/ingest.py               # 64 MiB, 5 rounds
    .venv/bin/python bench/ingest.py --mib 512
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

MiB = 1024 * 1024
BIN = Path(sys.executable).parent


def _b32(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def make_warc(path: Path, size: int) -> int:
    """A gzip-per-record WARC of about ``size`` bytes; returns its record count."""
    rnd = os.urandom(256 * 1024)
    written = n = 0
    with open(path, "wb") as fh:
        info = b"software: bench\r\n"
        fh.write(
            gzip.compress(
                b"WARC/1.0\r\nWARC-Type: warcinfo\r\nWARC-Record-ID: <urn:uuid:%s>\r\n"
                b"WARC-Date: 2024-05-13T10:00:00Z\r\nContent-Length: %d\r\n\r\n%s\r\n\r\n"
                % (str(uuid.uuid4()).encode(), len(info), info),
                compresslevel=1,
            )
        )
        while written < size:
            body = f"{n}:".encode() + rnd[: 16 * 1024 + (n * 7919) % (240 * 1024)]
            if n % 4 == 0:
                stored = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
                head = b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"
                head += b"Transfer-Encoding: chunked\r\n\r\n"
            else:
                stored = body
                head = (
                    b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                    % len(body)
                )
            block = head + stored
            rec = (
                "WARC/1.0\r\nWARC-Type: response\r\n"
                f"WARC-Record-ID: <urn:uuid:{uuid.uuid4()}>\r\nWARC-Date: 2024-05-13T10:00:01Z\r\n"
                f"WARC-Target-URI: http://bench.test/{n}.jpg\r\n"
                "Content-Type: application/http; msgtype=response\r\n"
                f"WARC-Block-Digest: {_b32(block)}\r\nWARC-Payload-Digest: {_b32(stored)}\r\n"
                f"Content-Length: {len(block)}\r\n\r\n"
            ).encode()
            member = gzip.compress(rec + block + b"\r\n\r\n", compresslevel=1)
            fh.write(member)
            written += len(member)
            n += 1
    return n + 1


def timed(cmd: list[str] | str, shell: bool = False) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, shell=shell, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t0


def _page_warc(work: Path) -> Path:
    """strongroom import wants at least one HTML page: add one record file beside."""
    page = work / "page.warc.gz"
    body = b"<!doctype html><title>bench</title>"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(body)
    block = head + body
    rec = (
        "WARC/1.0\r\nWARC-Type: response\r\n"
        f"WARC-Record-ID: <urn:uuid:{uuid.uuid4()}>\r\nWARC-Date: 2024-05-13T10:00:01Z\r\n"
        "WARC-Target-URI: http://bench.test/\r\n"
        "Content-Type: application/http; msgtype=response\r\n"
        f"WARC-Block-Digest: {_b32(block)}\r\nContent-Length: {len(block)}\r\n\r\n"
    ).encode()
    page.write_bytes(gzip.compress(rec + block + b"\r\n\r\n"))
    return page


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        warc = work / "crawl.warc.gz"
        records = make_warc(warc, args.mib * MiB)
        page = _page_warc(work)
        size = warc.stat().st_size
        rows: dict[str, list[float]] = {"ceiling": [], "warcio check": [], "strongroom import": []}
        for i in range(args.rounds):
            rows["ceiling"].append(timed(f"gzip -dc '{warc}' | sha1sum", shell=True))
            rows["warcio check"].append(timed([str(BIN / "warcio"), "check", str(warc)]))
            archive = work / f"archive-{i}"
            rows["strongroom import"].append(
                timed(
                    [
                        sys.executable,
                        "-m",
                        "strongroom",
                        "import",
                        str(warc),
                        str(page),
                        "--archive",
                        str(archive),
                        "--manifests",
                        str(work / "m"),
                        "--quiet",
                    ]
                )
            )
            shutil.rmtree(archive)
        print(f"{size / MiB:.0f} MiB gzip WARC, {records} records, {args.rounds} rounds")
        for name, times in rows.items():
            med = statistics.median(times)
            print(
                f"  {name:18} median {med:6.2f} s ({size / MiB / med:6.1f} MiB/s)"
                f"  min {min(times):.2f}  max {max(times):.2f}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
