"""Benchmark: bag a 2 GB capture with strongroom and with bagit-python, in one run.

Builds a capture-shaped folder (two 512 MiB WARCs + 1,000 files of 1 MiB under
derivatives/), then bags it with ``strongroom bag --algorithm sha256`` (sha512 is
always made) and an identical copy with ``bagit.py --processes 2 --sha256
--sha512``. Each tool runs in its own measuring subprocess, which reports wall
time and the peak RSS of everything it waited for (RUSAGE_CHILDREN, so
bagit-python's worker processes count too). Everything is removed afterwards.

    .venv/bin/python bench/bag.py            # full size, needs ~5 GB free
    .venv/bin/python bench/bag.py --scale 0.25
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

MiB = 1024 * 1024
CAPTURE_ID = "20240220T101500Z-bench0"


def write_warc(path: Path, size: int, block: bytes, salt: int) -> None:
    """A valid WARC of ``size`` bytes: stored-gzip resource records of pseudo-random data
    (a counter prefix makes every record, and every file, differ)."""
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


def build_capture(folder: Path, warc_size: int, small_count: int, small_size: int) -> int:
    folder.mkdir(parents=True)
    block = os.urandom(64 * MiB)
    for i in range(2):
        write_warc(folder / f"{CAPTURE_ID}-{i:05d}.warc.gz", warc_size, block[: 16 * MiB], i)
    deriv = folder / "derivatives"
    deriv.mkdir()
    for i in range(small_count):
        start = (i * 7919 * 4096) % (len(block) - small_size)
        data = i.to_bytes(8, "big") + block[start : start + small_size - 8]
        (deriv / f"{i:04d}.bin").write_bytes(data)
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
    """Run ``cmd`` under a fresh measuring Python; return wall seconds and peak MiB."""
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
        raise SystemExit(f"{cmd[0]} failed (exit {result['rc']}): {out.stderr[-2000:]}")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="shrink the payload (e.g. 0.25)")
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp dir)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each tool; the best counts")
    args = ap.parse_args()
    warc_size = int(512 * MiB * args.scale)
    small_count = max(1, int(1000 * args.scale))
    base = Path(tempfile.mkdtemp(prefix="strongroom-bench-", dir=args.dir))
    need = 2 * (2 * warc_size + small_count * MiB) + 256 * MiB
    free = shutil.disk_usage(base).free
    if free < need:
        shutil.rmtree(base)
        raise SystemExit(
            f"need {need / MiB:.0f} MiB free in {base.parent}, have "
            f"{free / MiB:.0f} MiB; use --scale"
        )
    try:
        t = time.perf_counter()
        archive = base / "archive"
        total = build_capture(archive / "captures" / CAPTURE_ID, warc_size, small_count, MiB)
        plain = base / "bagit-copy"
        shutil.copytree(archive / "captures" / CAPTURE_ID, plain)
        # A real capture fsyncs its WARCs as it closes them; do the same here so
        # neither tool pays for writing back the freshly made test data.
        os.sync()
        print(
            f"payload {total / MiB:.0f} MiB in {2 + small_count} files "
            f"(built in {time.perf_counter() - t:.1f} s)"
        )
        env = dict(os.environ, STRONGROOM_ARCHIVE=str(archive))
        bagit_script = Path(sys.executable).parent / "bagit.py"
        runs: dict[str, list[dict[str, float]]] = {"strongroom": [], "bagit": []}
        for i in range(args.repeat):
            if i:
                # Start again from the same inputs: drop the bag we made, and give
                # bagit-python (which bags in place) a fresh tree of hard links.
                bag = archive / "bags" / f"bench-{CAPTURE_ID}"
                shutil.rmtree(bag)
                (archive / "bags" / f"bench-{CAPTURE_ID}.custody.jsonl").unlink()
                shutil.rmtree(plain)
                shutil.copytree(archive / "captures" / CAPTURE_ID, plain, copy_function=os.link)
            runs["strongroom"].append(
                measure(
                    [
                        sys.executable,
                        "-m",
                        "strongroom",
                        "bag",
                        CAPTURE_ID,
                        "--algorithm",
                        "sha256",
                        "--manifests",
                        str(base / "manifests"),
                        "--quiet",
                    ],
                    env,
                )
            )
            runs["bagit"].append(
                measure(
                    [
                        sys.executable,
                        str(bagit_script),
                        "--processes",
                        "2",
                        "--sha256",
                        "--sha512",
                        "--quiet",
                        str(plain),
                    ]
                )
            )
        # The best of the runs: the machine is shared, and noise only ever adds time.
        sr = min(runs["strongroom"], key=lambda r: r["wall"])
        bp = min(runs["bagit"], key=lambda r: r["wall"])
        ratio = sr["wall"] / bp["wall"]
        for name, r in (("strongroom bag", sr), ("bagit-python  ", bp)):
            print(
                f"{name} : {r['wall']:6.2f} s wall  {r['cpu']:6.2f} s CPU  "
                f"peak {r['peak_mib']:6.1f} MiB"
            )
        if args.repeat > 1:
            for name, rs in runs.items():
                walls = ", ".join(f"{r['wall']:.2f}" for r in rs)
                print(f"  {name} walls: {walls}")
        print(f"ratio strongroom/bagit-python: {ratio:.2f}x (target <= 0.75x, peak < 100 MiB)")
        print(
            json.dumps(
                {
                    "payload_bytes": total,
                    "runs": runs,
                    "best": {"strongroom": sr, "bagit": bp},
                    "ratio": round(ratio, 3),
                }
            )
        )
    finally:
        # The bagged payload is read-only; rmtree still unlinks it (folder permissions).
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
