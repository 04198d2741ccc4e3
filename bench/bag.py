"""Benchmark: ``strongroom bag`` against bagit-python on the same data, in one run.

Cases (each a capture-shaped folder: WARCs at the top, derivatives/ below):

* ``small``: 10,000 files of 4 KiB (derivatives) and one small WARC; default
  sha512 only;
* ``default``: two 256 MiB WARCs and 200 files of 1 MiB; default sha512 only;
* ``huge``: one 2 GiB WARC; default sha512 only.

For each case the two tools run as **paired** runs (strongroom, then bagit-python
on an identical fresh copy, alternating which goes first), at least five pairs,
and we print the **median** wall time of each with its min-max, the median of
the per-pair ratios, and peak memory. bagit-python runs with ``--processes 2``
(both cores, as strongroom).

Durability is the same on both sides: strongroom makes a bag durable before it
publishes it (one ``syncfs`` of the file system), and bagit-python never
fsyncs, so its measured command is ``bagit.py ... && sync -f <bag>``: both
sides end with the bag on disk. The hash ceiling (sha512 over the same bytes,
from the page cache, on one core and on two) is measured in the same run,
between the pairs, so the ratio to the hardware is honest under load.

    .venv/bin/python bench/bag.py                 # all cases, ~3 minutes
    .venv/bin/python bench/bag.py --case small --pairs 7
    .venv/bin/python bench/bag.py --scale 0.25    # smaller default and huge cases
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

MiB = 1024 * 1024
CAPTURE_ID = "20240220T101500Z-bench0"
CASES = ("small", "default", "huge")


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


def build_capture(folder: Path, warcs: list[int], small_count: int, small_size: int) -> int:
    folder.mkdir(parents=True)
    block = os.urandom(32 * MiB)
    for i, size in enumerate(warcs):
        write_warc(folder / f"{CAPTURE_ID}-{i:05d}.warc.gz", size, block[: 8 * MiB], i)
    deriv = folder / "derivatives"
    deriv.mkdir()
    for i in range(small_count):
        start = (i * 7919 * 64) % (len(block) - small_size)
        (deriv / f"{i:05d}.bin").write_bytes(
            i.to_bytes(8, "big") + block[start : start + small_size - 8]
        )
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


def measure(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Run ``cmd`` under a fresh measuring Python; wall seconds, CPU and peak MiB."""
    probe = (
        "import json,resource,subprocess,sys,time\n"
        "t=time.perf_counter()\n"
        "rc=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL).returncode\n"
        "w=time.perf_counter()-t\n"
        "u=resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(json.dumps({'rc':rc,'wall':w,'peak_mib':u.ru_maxrss/1024,"
        "'cpu':u.ru_utime+u.ru_stime}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *cmd], capture_output=True, text=True, env=env, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise SystemExit(f"{cmd[:3]} failed (exit {result['rc']}): {out.stderr[-2000:]}")
    return result


def hash_ceiling(folder: Path) -> dict[str, float]:
    """sha512 MiB/s over the capture's bytes (page cache), one thread and two."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in files)

    def run(part: list[Path]) -> None:
        for p in part:
            h = hashlib.sha512()
            with open(p, "rb") as fh:
                while chunk := fh.read(MiB):
                    h.update(chunk)

    t = time.perf_counter()
    run(files)
    one = total / MiB / (time.perf_counter() - t)
    t = time.perf_counter()
    halves = [files[0::2], files[1::2]]
    threads = [threading.Thread(target=run, args=(h,)) for h in halves]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    two = total / MiB / (time.perf_counter() - t)
    return {"one_core_mib_s": one, "two_cores_mib_s": two}


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


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f} (min {min(values):.2f}, max {max(values):.2f})"


def run_case(case: str, base: Path, pairs: int, scale: float) -> dict[str, object]:
    if case == "small":
        warcs, count, size = [256 * 1024], 10_000, 4096
    elif case == "default":
        warcs, count, size = [int(256 * MiB * scale)] * 2, max(1, int(200 * scale)), MiB
    else:
        warcs, count, size = [int(2048 * MiB * scale)], 0, 0
    capture = base / "input" / CAPTURE_ID
    total = build_capture(capture, warcs, count, size)
    os.sync()  # the inputs are on disk before either tool runs, as a real capture's are
    files = len(warcs) + count
    print(f"\n== {case}: {files} files, {total / MiB:.0f} MiB, sha512 only, {pairs} pairs")
    runs: list[dict[str, dict[str, float]]] = []
    ceilings = []
    for i in range(pairs):
        runs.append(one_pair(base / "work", capture, i % 2))
        ceilings.append(hash_ceiling(capture))
    ours = [r["strongroom"]["wall"] for r in runs]
    theirs = [r["bagit"]["wall"] for r in runs]
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    peak_ours = max(r["strongroom"]["peak_mib"] for r in runs)
    peak_theirs = max(r["bagit"]["peak_mib"] for r in runs)
    one = statistics.median(c["one_core_mib_s"] for c in ceilings)
    two = statistics.median(c["two_cores_mib_s"] for c in ceilings)
    ceiling_s = total / MiB / two
    print(f"strongroom bag : {summary(ours)} s   peak {peak_ours:6.1f} MiB")
    print(f"bagit-python   : {summary(theirs)} s   peak {peak_theirs:6.1f} MiB")
    print(f"ratio (median of pairs): {summary(ratios)} x  (goal for small: <= 1.2x, < 100 MiB)")
    print(
        f"sha512 ceiling: {one:.0f} MiB/s one core, {two:.0f} MiB/s two cores "
        f"= {ceiling_s:.2f} s for this payload (strongroom at "
        f"{100 * ceiling_s / statistics.median(ours):.0f}% of it)"
    )
    shutil.rmtree(base / "input", ignore_errors=True)
    shutil.rmtree(base / "work", ignore_errors=True)
    return {
        "case": case,
        "files": files,
        "bytes": total,
        "strongroom_wall": ours,
        "bagit_wall": theirs,
        "ratios": ratios,
        "peak_mib": {"strongroom": peak_ours, "bagit": peak_theirs},
        "ceiling_mib_s": {"one_core": one, "two_cores": two},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=CASES, action="append", help="repeatable; default: all")
    ap.add_argument("--pairs", type=int, default=5, help="paired runs per case (>= 5)")
    ap.add_argument("--scale", type=float, default=0.25, help="size of default/huge (1 = full)")
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp dir)")
    args = ap.parse_args()
    if args.pairs < 5:
        raise SystemExit("--pairs must be at least 5: we report medians of paired runs")
    base = Path(tempfile.mkdtemp(prefix="strongroom-bench-", dir=args.dir))
    need = int(3 * 2048 * MiB * args.scale) + 512 * MiB
    if shutil.disk_usage(base).free < need:
        shutil.rmtree(base)
        raise SystemExit(f"need {need / MiB:.0f} MiB free in {base.parent}; use --scale")
    print("durability: both sides end with the bag on disk (strongroom: syncfs before it")
    print("publishes; bagit-python: bagit.py && sync -f); both use 2 processes/threads")
    try:
        results = [run_case(c, base, args.pairs, args.scale) for c in (args.case or CASES)]
        print(json.dumps({"results": results}))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
