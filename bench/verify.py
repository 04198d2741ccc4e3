"""Benchmark ``strongroom verify`` against ``bagit.py --validate --processes 2``.

Builds a bag (default 2 GB: two large WARC-sized files and many medium ones,
sha256 + sha512 manifests), warms the page cache, then times both validators
on it in child processes and reports wall time, the ratio, peak RSS of each
child, and the machine's hash ceiling (hashlib sha256+sha512 over in-memory
data on 2 threads; ``openssl speed`` when available). It also times
``verify --fast`` on a 10,000-file bag. Not part of the test suite.

    .venv/bin/python bench/verify.py [--size-gb 2] [--dir /tmp/bench] [--repeat 2]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import bagit

VENV_BIN = Path(sys.executable).parent
MiB = 1024 * 1024


def build_bag(root: Path, total: int) -> Path:
    """Two big files (60%) and 2-8 MiB files for the rest, random bytes, then make_bag."""
    bag = root / "bag"
    if (bag / "bagit.txt").exists():
        return bag
    (bag / "warc").mkdir(parents=True)
    (bag / "derivatives").mkdir()
    block = os.urandom(8 * MiB)
    big = int(total * 0.3)
    for i in range(2):
        _fill(bag / "warc" / f"big-{i}.warc.gz", big, block)
    left, n = total - 2 * big, 0
    while left > 0:
        size = min(left, (2 + n % 7) * MiB)
        _fill(bag / "derivatives" / f"part-{n:04d}.bin", size, block, shift=n)
        left -= size
        n += 1
    bagit.make_bag(str(bag), checksums=["sha256", "sha512"], processes=2)
    return bag


def _fill(path: Path, size: int, block: bytes, shift: int = 0) -> None:
    with open(path, "wb") as fh:
        written = 0
        while written < size:
            chunk = block[shift % 1024 :][: size - written]
            fh.write(chunk)
            written += len(chunk)
        fh.write(shift.to_bytes(4, "big"))


def build_many(root: Path, count: int = 10_000) -> Path:
    """A bag of ``count`` small files, manifest written directly (bagit would take long)."""
    bag = root / "many"
    if (bag / "bagit.txt").exists():
        return bag
    lines, octets = [], 0
    for i in range(count):
        rel = f"data/d{i // 500:03d}/f{i:05d}.txt"
        p = bag / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        content = f"file {i}\n".encode()
        p.write_bytes(content)
        octets += len(content)
        lines.append(f"{hashlib.sha256(content).hexdigest()}  {rel}\n")
    (bag / "manifest-sha256.txt").write_text("".join(lines))
    (bag / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    (bag / "bag-info.txt").write_text(f"Payload-Oxum: {octets}.{count}\n")
    return bag


def run_child(argv: list[str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in MiB, exit code) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    return wall, usage.ru_maxrss // 1024, os.waitstatus_to_exitcode(status)


def warm(bag: Path) -> None:
    for dirpath, _d, files in os.walk(bag):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as fh:
                while fh.read(8 * MiB):
                    pass


def hash_ceiling(seconds: float = 3.0) -> dict[str, float]:
    """MB/s of file bytes when each byte gets sha256 and sha512, from memory, on 1 and 2 threads."""
    data = os.urandom(4 * MiB)

    def work(stop: float, out: list[int]) -> None:
        h1, h2, n = hashlib.sha256(), hashlib.sha512(), 0
        while time.perf_counter() < stop:
            h1.update(data)
            h2.update(data)
            n += len(data)
        out.append(n)

    result = {}
    for threads in (1, 2):
        counts: list[int] = []
        stop = time.perf_counter() + seconds
        ts = [threading.Thread(target=work, args=(stop, counts)) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        result[f"{threads}-thread MB/s"] = sum(counts) / seconds / 1e6
    for alg in ("sha256", "sha512"):
        h, n, stop = hashlib.new(alg), 0, time.perf_counter() + 1
        while time.perf_counter() < stop:
            h.update(data)
            n += len(data)
        result[f"{alg} alone MB/s"] = n / 1e6
    return result


def openssl_speed() -> str:
    exe = shutil.which("openssl")
    if not exe:
        return "openssl not installed"
    try:
        out = subprocess.run(
            [exe, "speed", "-seconds", "1", "-bytes", "16384", "-evp", "sha256"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        out512 = subprocess.run(
            [exe, "speed", "-seconds", "1", "-bytes", "16384", "-evp", "sha512"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"openssl speed failed: {exc}"
    return " | ".join(
        line.strip() for line in (out + out512).splitlines() if line.lower().startswith("sha")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size-gb", type=float, default=2.0)
    ap.add_argument("--dir", type=Path, default=None, help="keep the bags here (reused)")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="strongroom-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    total = int(args.size_gb * 1e9)
    t0 = time.perf_counter()
    bag = build_bag(root, total)
    payload = sum(p.stat().st_size for p in (bag / "data").rglob("*") if p.is_file())
    nfiles = sum(1 for p in (bag / "data").rglob("*") if p.is_file())
    print(f"bag: {bag} ({payload / 1e9:.2f} GB in {nfiles} files, sha256 + sha512)")
    print(f"  built in {time.perf_counter() - t0:.0f} s; cpus: {os.cpu_count()}")
    warm(bag)

    ceiling = hash_ceiling()
    print("hash ceiling (in memory, each byte through sha256 and sha512):")
    for k, v in ceiling.items():
        print(f"  {k}: {v:.0f}")
    print(f"  openssl speed (16 KiB blocks): {openssl_speed()}")

    strongroom = [str(VENV_BIN / "strongroom"), "verify", str(bag), "--quiet"]
    bagitpy = [str(VENV_BIN / "bagit.py"), "--validate", "--processes", "2", "--quiet", str(bag)]
    results: dict[str, list[tuple[float, int, int]]] = {"strongroom": [], "bagit.py": []}
    for _ in range(args.repeat):
        results["bagit.py"].append(run_child(bagitpy))
        results["strongroom"].append(run_child(strongroom))
    best = {}
    for name, rs in results.items():
        wall = min(r[0] for r in rs)
        rss = max(r[1] for r in rs)
        codes = sorted({r[2] for r in rs})
        best[name] = wall
        rate = payload / wall / 1e6
        print(
            f"{name:10s}: best {wall:6.2f} s of {len(rs)}  {rate:6.0f} MB/s"
            f"  peak RSS {rss} MiB  exit {codes}"
        )
    ratio = best["strongroom"] / best["bagit.py"]
    pct = payload / best["strongroom"] / 1e6 / ceiling["2-thread MB/s"] * 100
    print(f"ratio strongroom / bagit.py wall time: {ratio:.2f}x (target <= 0.75x)")
    print(f"strongroom throughput: {pct:.0f}% of the 2-thread hash ceiling (target >= 90%)")

    many = build_many(root)
    warm(many)
    fast = [run_child([str(VENV_BIN / "strongroom"), "verify", str(many), "--fast", "--quiet"])]
    fast.append(run_child([str(VENV_BIN / "strongroom"), "verify", str(many), "--fast", "-q"]))
    wall = min(f[0] for f in fast)
    print(
        f"verify --fast on 10,000 files: {wall:.2f} s wall (incl. interpreter start),"
        f" exit {fast[0][2]}"
    )
    if args.dir is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
