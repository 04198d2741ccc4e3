"""Benchmark: ``strongroom bag`` against bagit-python on the same data, in one run.

Cases (each a capture-shaped folder: WARCs at the top, derivatives/ below),
all with the default algorithm, sha512 only:

* ``small``: 10,000 files of 4 KiB (derivatives) and one small WARC;
* ``medium``: files of 2-8 MiB (400 MiB at --scale 1) and one small WARC;
* ``huge``: one WARC of 2 GiB (at --scale 1).

For each case the two tools run as **paired** runs (strongroom, then bagit-python
on an identical fresh copy, alternating which goes first), at least five pairs,
and we print the **median** wall time of each with its min-max, the median of
the per-pair ratios, and the peak memory (RSS of the largest process, worker
processes included) of both. Same parallelism: bagit-python runs with
``--processes 2``, strongroom on its two workers.

Same durability, and the output says so: strongroom makes a bag durable before
it publishes it (one ``syncfs`` of the file system), and bagit-python never
fsyncs, so its measured command is ``bagit.py ... && sync -f <bag>``: both
sides end with the bag on disk. The hash ceiling (sha512 over in-memory blocks
on one thread and on two) is measured beside every pair, so the share of the
hardware is honest under load. strongroom also gunzips and frames every WARC
record (bagit-python does not), which the huge case shows.

    .venv/bin/python bench/bag.py                 # all cases, a few minutes
    .venv/bin/python bench/bag.py --case small --pairs 7
    .venv/bin/python bench/bag.py --scale 1       # full-size medium and huge cases
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

from measure import hash_ceiling, measure, spread

MiB = 1024 * 1024
CAPTURE_ID = "20240220T101500Z-bench0"
CASES = ("small", "medium", "huge")


def write_warc(path: Path, size: int, block: bytes, salt: int) -> None:
    """A valid WARC of about ``size`` bytes: stored-gzip resource records."""
    written, n = 0, 0
    with open(path, "wb") as fh:
        while written < size:
            payload = f"{salt}:{n}:".encode() + block[: min(len(block), size - written)]
            head = (
                "WARC/1.1\r\nWARC-Type: resource\r\n"
                f"WARC-Record-ID: <urn:uuid:{uuid.uuid4()}>\r\n"
                "WARC-Date: 2024-02-20T10:15:00Z\r\n"
                f"WARC-Target-URI: http://bench.test/{salt}/{n}\r\n"
                "Content-Type: application/octet-stream\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n"
            ).encode()
            member = gzip.compress(head + payload + b"\r\n\r\n", compresslevel=0)
            fh.write(member)
            written += len(member)
            n += 1


def build_capture(folder: Path, warcs: list[int], derivatives: list[int]) -> int:
    """A capture folder with WARCs and derivatives of the given sizes; its byte count."""
    folder.mkdir(parents=True)
    block = os.urandom(32 * MiB)
    for i, size in enumerate(warcs):
        write_warc(folder / f"{CAPTURE_ID}-{i:05d}.warc.gz", size, block[: 8 * MiB], i)
    deriv = folder / "derivatives"
    deriv.mkdir()
    for i, size in enumerate(derivatives):
        start = (i * 7919 * 64) % (len(block) - size)
        with open(deriv / f"{i:05d}.bin", "wb") as fh:
            fh.write(i.to_bytes(8, "big") + block[start : start + size - 8])
    meta = {
        "capture_id": CAPTURE_ID,
        "collection": {"id": "bench", "title": "bench", "access": "public"},
        "seeds": [{"url": "http://bench.test/"}],
        "software": "bench",
        "operator": "bench",
        "started": "2024-02-20T10:15:00Z",
        "ended": "2024-02-20T10:16:00Z",
        "status": "complete",
    }
    (folder / "capture.json").write_text(json.dumps(meta))
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def one_pair(base: Path, capture: Path, order: int) -> dict[str, dict[str, float]]:
    archive = base / "archive"
    shutil.rmtree(archive, ignore_errors=True)
    (archive / "captures").mkdir(parents=True)
    # Hard-linked copies of the inputs: both tools start from the same cached bytes.
    shutil.copytree(capture, archive / "captures" / CAPTURE_ID, copy_function=os.link)
    plain = base / "bagit-copy"
    shutil.rmtree(plain, ignore_errors=True)
    shutil.copytree(capture, plain, copy_function=os.link)
    env = dict(os.environ, STRONGROOM_ARCHIVE=str(archive))
    ours = [sys.executable, "-m", "strongroom", "bag", CAPTURE_ID, "--quiet",
            "--manifests", str(base / "manifests")]  # fmt: skip
    bagit_script = Path(sys.executable).parent / "bagit.py"
    theirs = ["sh", "-c", '"$0" "$1" --processes 2 --quiet "$2" && sync -f "$2"',
              sys.executable, str(bagit_script), str(plain)]  # fmt: skip
    out: dict[str, dict[str, float]] = {}
    for name in ("strongroom", "bagit") if order == 0 else ("bagit", "strongroom"):
        out[name] = measure(ours, env) if name == "strongroom" else measure(theirs)
    shutil.rmtree(base / "manifests", ignore_errors=True)
    return out


def case_files(case: str, scale: float) -> tuple[list[int], list[int]]:
    """(WARC sizes, derivative sizes) of a case."""
    if case == "small":
        return [256 * 1024], [4096] * 10_000
    if case == "medium":
        sizes, left, n = [], int(400 * MiB * scale), 0
        while left > 0:
            sizes.append(min(left, (2 + n % 7) * MiB))  # 2-8 MiB, mixed
            left -= sizes[-1]
            n += 1
        return [256 * 1024], sizes
    return [int(2048 * MiB * scale)], []


def run_case(case: str, base: Path, pairs: int, scale: float) -> dict[str, object]:
    warcs, derivatives = case_files(case, scale)
    capture = base / "input" / CAPTURE_ID
    total = build_capture(capture, warcs, derivatives)
    os.sync()  # the inputs are on disk before either tool runs, as a real capture's are
    files = len(warcs) + len(derivatives)
    print(f"\n== {case}: {files} files, {total / MiB:.0f} MiB, sha512 only, {pairs} pairs")
    runs: list[dict[str, dict[str, float]]] = []
    ceilings: list[tuple[float, float]] = []
    for i in range(pairs):
        ceilings.append((hash_ceiling(1), hash_ceiling(2)))
        runs.append(one_pair(base / "work", capture, i % 2))
    ours = [r["strongroom"]["wall"] for r in runs]
    theirs = [r["bagit"]["wall"] for r in runs]
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    peaks = {k: [r[k]["peak_mib"] for r in runs] for k in ("strongroom", "bagit")}
    one, two = [c[0] for c in ceilings], [c[1] for c in ceilings]
    shares = [100 * total / MiB / c / w for c, w in zip(two, ours, strict=True)]
    print(
        f"strongroom bag  wall s {spread(ours)}   peak MiB {spread(peaks['strongroom'], '{:.0f}')}"
    )
    print(f"bagit.py        wall s {spread(theirs)}   peak MiB {spread(peaks['bagit'], '{:.0f}')}")
    print(f"ratio strongroom / bagit.py (per pair) {spread(ratios)}")
    print(f"sha512 ceiling (same pairs) MiB/s: one core {spread(one, '{:.0f}')}, "
          f"two cores {spread(two, '{:.0f}')}")  # fmt: skip
    print(f"strongroom at {spread(shares, '{:.0f}')} % of the two-core ceiling")
    shutil.rmtree(base / "input", ignore_errors=True)
    shutil.rmtree(base / "work", ignore_errors=True)
    return {
        "case": case,
        "files": files,
        "bytes": total,
        "strongroom_wall": ours,
        "bagit_wall": theirs,
        "ratios": ratios,
        "median_ratio": statistics.median(ratios),
        "peak_mib": peaks,
        "ceiling_mib_s": {"one_core": one, "two_cores": two},
        "fsync": "both: strongroom syncfs before publishing; bagit.py followed by sync -f",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=CASES, action="append", help="repeatable; default: all")
    ap.add_argument("--pairs", type=int, default=5, help="paired runs per case (>= 5)")
    ap.add_argument("--scale", type=float, default=0.25, help="size of medium/huge (1 = full)")
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp dir)")
    args = ap.parse_args()
    if args.pairs < 5:
        raise SystemExit("--pairs must be at least 5: we report medians of paired runs")
    base = Path(tempfile.mkdtemp(prefix="strongroom-bench-", dir=args.dir))
    need = int(3 * 2048 * MiB * args.scale) + 512 * MiB  # input, bag and bagit's copy
    if shutil.disk_usage(base).free < need:
        shutil.rmtree(base)
        raise SystemExit(f"need {need / MiB:.0f} MiB free in {base.parent}; use --scale")
    print(f"cpus: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}")
    print("fsync: both sides end with the bag on disk (strongroom: one syncfs before it")
    print("publishes; bagit.py: bagit.py && sync -f <bag>); both use 2 workers")
    try:
        results = [run_case(c, base, args.pairs, args.scale) for c in (args.case or CASES)]
        print(json.dumps({"results": results}))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
