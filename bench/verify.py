"""Benchmark ``strongroom verify`` against ``bagit.py --validate --processes 2``.

Three cases, each a bag made by bagit-python with the default sha512 manifest
only (what ``strongroom bag`` writes):

- ``small``: many small files (default 10,000 x 4 KiB), where per-file cost rules;
- ``medium``: 2-8 MiB files (default 400 MB), the shape of a capture's derivatives;
- ``huge``: one huge file (default 1 GB), where one file must still use every core.

For each case it runs ``--pairs`` paired runs (default 5). Each pair runs both tools
on the same warm page cache in alternating order (AB, then BA), and measures the
hash ceiling right beside them: sha512 over in-memory 1 MiB blocks on as many
threads as the tools have workers, so that a busy machine lowers the ceiling as it
lowers the runs. It prints the median and the min-max of each tool's wall time, of
the per-pair ratio, and of the ceiling, and strongroom's throughput as a share of
the ceiling measured in the same pair.

Same conditions on both sides: the same bag, the same two workers
(``--processes 2`` / ``--workers 2``), and no writes, so no fsync on either side
(verify of a bag outside an archive records nothing). Wall times include each
tool's interpreter start. Peak memory is the RSS of each tool's largest process
(worker processes included). Not part of the test suite.

    .venv/bin/python bench/verify.py [--pairs 5] [--dir /tmp/bench] [--small 10000]
        [--medium-mb 400] [--huge-mb 1000] [--cases small,medium,huge]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import bagit

from measure import hash_ceiling, measure, spread

VENV_BIN = Path(sys.executable).parent
MiB = 1024 * 1024
WORKERS = 2


# --- the bags ------------------------------------------------------------------------------
def _fill(path: Path, size: int, seed: int) -> None:
    block = hashlib.shake_256(seed.to_bytes(8, "big")).digest(MiB)
    with open(path, "wb") as fh:
        written = 0
        while written < size:
            chunk = block[: size - written]
            fh.write(chunk)
            written += len(chunk)


def _make(bag: Path, fill: object) -> Path:
    if (bag / "bagit.txt").exists():
        return bag
    tmp = bag.with_name(bag.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    fill(tmp)  # type: ignore[operator]
    bagit.make_bag(str(tmp), checksums=["sha512"], processes=WORKERS)
    tmp.rename(bag)
    return bag


def build_small(root: Path, count: int) -> Path:
    def fill(tmp: Path) -> None:
        for i in range(count):
            folder = tmp / f"d{i // 500:03d}"
            folder.mkdir(exist_ok=True)
            (folder / f"f{i:05d}.txt").write_bytes(os.urandom(4096))

    return _make(root / f"small-{count}", fill)


def build_medium(root: Path, total: int) -> Path:
    def fill(tmp: Path) -> None:
        left, n = total, 0
        while left > 0:
            size = min(left, (2 + n % 7) * MiB)
            _fill(tmp / f"part-{n:04d}.bin", size, n)
            left -= size
            n += 1

    return _make(root / f"medium-{total}", fill)


def build_huge(root: Path, total: int) -> Path:
    return _make(root / f"huge-{total}", lambda tmp: _fill(tmp / "big.warc.gz", total, 7))


# --- measuring ------------------------------------------------------------------------------
def warm(bag: Path) -> int:
    total = 0
    for dirpath, _d, files in os.walk(bag):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as fh:
                while chunk := fh.read(8 * MiB):
                    total += len(chunk)
    return total


def bench_case(name: str, bag: Path, pairs: int) -> dict[str, float]:
    payload = warm(bag / "data")
    nfiles = sum(len(f) for _d, _s, f in os.walk(bag / "data"))
    ours = [str(VENV_BIN / "strongroom"), "verify", str(bag), "--quiet", "--workers", "2"]
    theirs = [str(VENV_BIN / "bagit.py"), "--validate", "--processes", "2", "--quiet", str(bag)]
    walls: dict[str, list[float]] = {"strongroom": [], "bagit.py": []}
    peaks: dict[str, list[float]] = {"strongroom": [], "bagit.py": []}
    ratios, ceilings, shares = [], [], []
    for i in range(pairs):
        ceiling = hash_ceiling(WORKERS)
        order = [("bagit.py", theirs), ("strongroom", ours)]
        if i % 2:
            order.reverse()
        got = {}
        for tool, argv in order:
            warm(bag / "data")
            run = measure(argv)
            got[tool] = run["wall"]
            walls[tool].append(run["wall"])
            peaks[tool].append(run["peak_mib"])
        ceilings.append(ceiling)
        ratios.append(got["strongroom"] / got["bagit.py"])
        shares.append(payload / MiB / got["strongroom"] / ceiling * 100)
    print(f"\n{name}: {nfiles} files, {payload / MiB:.0f} MiB, sha512, {pairs} paired runs")
    for tool, values in walls.items():
        rates = [payload / MiB / v for v in values]
        print(
            f"  {tool:10s} wall s {spread(values)}   MiB/s {spread(rates, '{:.0f}')}"
            f"   peak MiB {spread(peaks[tool], '{:.0f}')}"
        )
    print(f"  ratio strongroom / bagit.py  {spread(ratios)}")
    print(f"  hash ceiling (sha512, 2 threads, same pairs) MiB/s {spread(ceilings, '{:.0f}')}")
    print(f"  strongroom at {spread(shares, '{:.0f}')} % of the ceiling")
    return {"ratio": statistics.median(ratios)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=None, help="keep the bags here (reused)")
    ap.add_argument("--small", type=int, default=10_000, help="files of 4 KiB")
    ap.add_argument("--medium-mb", type=int, default=400)
    ap.add_argument("--huge-mb", type=int, default=1000)
    ap.add_argument("--cases", default="small,medium,huge")
    args = ap.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="strongroom-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"cpus: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}; fsync: neither side")
    builders = {
        "small": lambda: build_small(root, args.small),
        "medium": lambda: build_medium(root, args.medium_mb * 1_000_000),
        "huge": lambda: build_huge(root, args.huge_mb * 1_000_000),
    }
    summary = {}
    for case in args.cases.split(","):
        summary[case] = bench_case(case, builders[case](), args.pairs)["ratio"]
    print("\nmedian ratios:", ", ".join(f"{k} {v:.2f}x" for k, v in summary.items()))
    if args.dir is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
