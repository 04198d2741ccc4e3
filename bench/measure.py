"""What the bag and verify benchmarks share: timing a command with its peak memory,
the sha512 ceiling of this machine right now, and medians with their min-max."""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time

MiB = 1024 * 1024

# A fresh Python runs the command and reports its wall time, CPU time and the peak
# RSS of the largest process under it (RUSAGE_CHILDREN covers worker processes
# too: bagit.py's pool, our forked hashers), so both tools are measured alike.
_PROBE = (
    "import json,resource,subprocess,sys,time\n"
    "t=time.perf_counter()\n"
    "p=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.PIPE)\n"
    "w=time.perf_counter()-t\n"
    "u=resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(json.dumps({'rc':p.returncode,'wall':w,'peak_mib':u.ru_maxrss/1024,"
    "'cpu':u.ru_utime+u.ru_stime,'stderr':p.stderr.decode(errors='replace')[-2000:]}))\n"
)


def measure(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Run ``cmd``: wall seconds, CPU seconds and peak MiB; exit if it fails."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *cmd], capture_output=True, text=True, env=env, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise SystemExit(f"{cmd[:3]} failed (exit {result['rc']}): {result['stderr']}")
    return result


def hash_ceiling(threads: int, seconds: float = 0.5) -> float:
    """MiB/s of sha512 over in-memory 1 MiB blocks on ``threads`` threads.

    hashlib releases the GIL, so this is what the cores can hash right now, with
    no file system in the way; measured beside each pair, a busy machine lowers
    it as it lowers the runs.
    """
    block = os.urandom(MiB)

    def spin() -> int:
        h, n, stop = hashlib.sha512(), 0, time.perf_counter() + seconds
        while time.perf_counter() < stop:
            h.update(block)
            n += MiB
        return n

    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(lambda _i: spin(), range(threads)))
    return total / MiB / (time.perf_counter() - t0)


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    """``median (min-max)`` of ``values``."""
    med, lo, hi = (fmt.format(f(values)) for f in (statistics.median, min, max))
    return f"{med} ({lo}-{hi})"
