"""How strongroom's nightly commands grow with the archive: 10 to 10,000 bags.

Builds synthetic archives quickly (no real captures): N small signed BagIt bags
on disk, each with a custody log whose head the ledger anchors and an inventory
entry under manifests/<collection>/, and a ledger with 100 events, 20 fixity
runs and 20 watch results per bag (1 million events at 10,000 bags). Then it
times, each in a child process as a user runs it, ``status --json``,
``report`` (an index and 20 collection pages at 10,000 bags), ``verify --all
--fast`` and ``verify --due`` (with 1/30 of the bags due, as in a 30-day
rotation), and in-process one custody append to a log
of 10 entries per bag (100,000 entries at 10,000 bags). Each figure is the
median of ``--runs`` runs (min-max), with the peak RSS of the child; the
growth column is the median's ratio to the previous size (10x more bags).

The anchor is linear growth (10.0x per 10x); the goals are status and report
under 1 s and 200 MB at 10,000 bags, verify --all --fast under 10 s, and a
custody append that does not grow (1.0x). Durability is as in real use: every
ledger transaction and custody append is fsynced; what the restore of the
pristine copy wrote is synced before each run starts. The bags' pages are as
the machine left them (on a busy machine, mostly evicted: a cold read, as a
nightly job sees it). Not part of the test suite.

Archives of ``--cache-from`` bags or more (default 10,000) are built once and
kept under ``--cache`` (default ``$TMPDIR/strongroom-scale-cache``); what the
commands change (the ledger, the custody logs) is restored from a pristine copy
before each run, so every run starts from the same archive. Delete the cache
folder after a change to how archives are built (its format number is checked).

    .venv/bin/python bench/scale.py [--sizes 10,100,1000,10000] [--runs 5] [--dir DIR]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from strongroom.bag import custody
from strongroom.bag.signing import fingerprint, init_keys, load_private_key, sign_bytes
from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger

COLLECTION = "scale"
EVENTS_PER_BAG = 100
RUNS_PER_BAG = 20
WATCH_PER_BAG = 20
ENTRIES_PER_BAG_IN_LONG_LOG = 10
DAY = 86400
CACHE_FORMAT = "scale-archive/7"  # change it when build() changes (7: ledger schema v6)


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _bag_id(i: int) -> str:
    return f"{COLLECTION}-20240101T{i // 3600 % 24:02d}{i // 60 % 60:02d}{i % 60:02d}Z-{i:06x}"


def _write_bag(root: Path, bag_id: str, i: int, key: Any, fpr: str) -> dict[str, Any]:
    """One small, valid, signed BagIt 1.0 bag; returns its inventory entry."""
    bag = root / bag_id
    (bag / "data" / "warc").mkdir(parents=True)
    payload = f"WARC/1.1 synthetic record {i}\r\n".encode() * 8
    (bag / "data" / "warc" / f"{bag_id}-00000.warc.gz").write_bytes(payload)
    seed = f"http://news{i % 97}.test/story/{i}"
    files = {
        "bagit.txt": b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
        "bag-info.txt": (
            f"Source-Organization: Scale Test\nExternal-Identifier: {bag_id}\n"
            f"Bagging-Date: 2024-01-01\nBag-Group-Identifier: {COLLECTION}\n"
            f"Payload-Oxum: {len(payload)}.1\nSeed-URL: {seed}\nAccess: public\n"
            f"Signing-Key-Fingerprint: {fpr}\n"
        ).encode(),
        "manifest-sha512.txt": (
            f"{hashlib.sha512(payload).hexdigest()}  data/warc/{bag_id}-00000.warc.gz\n"
        ).encode(),
    }
    for name, data in files.items():
        (bag / name).write_bytes(data)
    tm = "".join(f"{hashlib.sha512(d).hexdigest()}  {n}\n" for n, d in sorted(files.items()))
    (bag / "tagmanifest-sha512.txt").write_text(tm)
    (bag / "tagmanifest-sha512.txt.sig").write_bytes(sign_bytes(key, tm.encode()))
    return {
        "bag_id": bag_id,
        "created": "2024-01-01T00:00:00Z",
        "payload_oxum": f"{len(payload)}.1",
        "tagmanifests": {"tagmanifest-sha512.txt": hashlib.sha256(tm.encode()).hexdigest()},
        "signing_key": fpr,
        "seeds": [seed],
        "access": "public",
        "is_version_of": None,
    }


def _custody_lines(bag_dir: Path, n: int, key: Any, fpr: str) -> tuple[bytes, int, str, int]:
    """A chained log of ``n`` entries (the last signed); (bytes, seq, head hash, start)."""
    prev = custody.genesis_for(bag_dir)
    out: list[bytes] = []
    for seq in range(1, n + 1):
        entry = {
            "seq": seq,
            "time": "2024-01-01T00:00:00Z",
            "actor": "scale",
            "action": "creation" if seq == 1 else "watch",
            "inputs": {},
            "outcome": "success",
            "detail": {},
            "software": "strongroom/bench",
            "prev": prev,
            "key": fpr,
        }
        # only the last entry is signed (unsigned entries may only come before signed
        # ones): building must be quick, and a signature costs the same anywhere
        sig = sign_bytes(key, custody.canonical(entry | {"key": fpr})) if seq == n else None
        entry["sig"] = base64.b64encode(sig).decode() if sig else None
        entry["key"] = fpr if sig else None
        line = custody.canonical(entry)
        out.append(line + b"\n")
        prev = custody.line_hash(line)
    data = b"".join(out)
    return data, n, prev, len(data) - len(out[-1])


def build(root: Path, n: int) -> Archive:
    """A synthetic archive of ``n`` bags (see the module docstring)."""
    archive = Archive(root / f"archive-{n}")
    archive.ensure()
    init_keys(archive.keys)
    key = load_private_key(archive.keys)
    assert key is not None
    fpr = fingerprint(key.public_key())
    inv = root / f"manifests-{n}" / COLLECTION
    inv.mkdir(parents=True)
    archive.fix_inventory(inv.parent)
    now = time.time()
    bag_rows, heads, fixity, watch, events = [], [], [], [], []
    for i in range(n):
        bag_id = _bag_id(i)
        entry = _write_bag(archive.bags, bag_id, i, key, fpr)
        (inv / f"{bag_id}.json").write_text(
            json.dumps({"format": "strongroom-inventory-entry/1"} | entry, sort_keys=True)
        )
        length = ENTRIES_PER_BAG_IN_LONG_LOG * n if i == 0 else 2
        data, seq, head, start = _custody_lines(archive.bag_dir(bag_id), length, key, fpr)
        archive.custody_path(bag_id).write_bytes(data)
        heads.append((bag_id, seq, head, start, len(data), _iso(now)))
        bag_rows.append(
            (bag_id, COLLECTION, bag_id[-6:], entry["created"], json.dumps(entry["seeds"]))
        )
        # the last good full check: 1 in 30 bags older than the 30-day interval (due)
        age = (31 if i % 30 == 0 else i % 29) * DAY
        for r in range(RUNS_PER_BAG):
            t = _iso(now - age - (RUNS_PER_BAG - 1 - r) * 30 * DAY)
            fixity.append((bag_id, t, t, "full" if r % 2 else "fast", "valid", 2, 100, "[]"))
        for w in range(WATCH_PER_BAG):
            status = "ok" if (w < WATCH_PER_BAG - 1 or i % 50) else "not-found"
            watch.append(
                (
                    entry["seeds"][0],
                    COLLECTION,
                    bag_id,
                    status,
                    "ok",
                    200,
                    entry["seeds"][0],
                    1.0,
                    "local",
                    "{}",
                    _iso(now - (WATCH_PER_BAG - w) * DAY),
                )
            )
        for e in range(EVENTS_PER_BAG):
            events.append(
                (
                    _iso(now - e * 3600),
                    bag_id,
                    "watch" if e % 3 else "fixity check",
                    "success",
                    "scale",
                    "{}",
                )
            )
        # the creation event bagging writes: where the inventory is, and that the bag
        # depends on no other bag, its payload's size and that it is signed (so status
        # and the report read no bag-info for it)
        detail = {
            "inventory": str(inv),
            "depends_on": [],
            "signed": True,
            "payload_oxum": entry["payload_oxum"],
            "algorithms": ["sha512"],
        }
        events.append(
            (entry["created"], bag_id, "creation", "success", "scale", json.dumps(detail))
        )
    _fill_ledger(archive, bag_rows, heads, fixity, watch, events)
    return archive


def _fill_ledger(
    archive: Archive, bags: list, heads: list, fixity: list, watch: list, events: list
) -> None:
    """Bulk rows, as years of nightly jobs would have left them (synthetic, so direct SQL)."""
    with open_ledger(archive.root) as ledger, ledger.transaction() as c:
        c.executemany(
            "INSERT INTO bags (bag_id, collection_id, capture_id, created, access, seeds,"
            " designations) VALUES (?, ?, ?, ?, 'public', ?, '[]')",
            bags,
        )
        c.executemany(
            "INSERT INTO captures (capture_id, collection_id, started, ended, seeds, status)"
            " VALUES (?, ?, ?, ?, ?, 'complete')",
            [(b[2], COLLECTION, b[3], b[3], b[4]) for b in bags],
        )
        # Each head as last night's verify left it: checked up to its last entry, so a
        # run checks only the entries since (the nightly steady state; --deep and a
        # log without a verified mark check the whole chain).
        c.executemany(
            'INSERT INTO custody_heads (bag_id, seq, hash, start, "end", updated,'
            " verified_seq, verified_hash, verified_start, verified_end)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*h, h[1], h[2], h[3], h[4]) for h in heads],
        )
        c.executemany(
            "INSERT INTO fixity_runs (bag_id, started, ended, mode, result, files, bytes,"
            " failures) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            fixity,
        )
        c.executemany(
            "INSERT INTO watch_results (url, collection_id, bag_id, status, previous_status,"
            " http_status, final_url, similarity, vantage, evidence, checked_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            watch,
        )
        c.executemany(
            "INSERT INTO events (time, bag_id, event_type, outcome, actor, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            events,
        )


def pristine_copy(archive: Archive) -> None:
    """Keep a copy of what the measured commands change: the ledger, the custody logs."""
    keep = archive.root.parent / (archive.root.name + "-pristine")
    shutil.rmtree(keep, ignore_errors=True)
    (keep / "custody").mkdir(parents=True)
    shutil.copyfile(archive.ledger_path, keep / "ledger.sqlite")
    for log in archive.bags.glob("*.custody.jsonl"):
        shutil.copyfile(log, keep / "custody" / log.name)


def restore(archive: Archive) -> None:
    """Put back the ledger and every custody log that a run changed (sizes differ)."""
    keep = archive.root.parent / (archive.root.name + "-pristine")
    shutil.copyfile(keep / "ledger.sqlite", archive.ledger_path)
    for suffix in ("-wal", "-shm"):
        Path(str(archive.ledger_path) + suffix).unlink(missing_ok=True)
    with os.scandir(keep / "custody") as entries:
        for e in entries:
            live = archive.bags / e.name
            try:
                same = live.stat().st_size == e.stat().st_size
            except FileNotFoundError:
                same = False
            if not same:
                shutil.copyfile(e.path, live)
    for name in ("report.html", ".report-last"):
        (archive.root / name).unlink(missing_ok=True)


def archive_for(base: Path, cache: Path, n: int, cache_from: int) -> tuple[Archive, float, bool]:
    """(archive, seconds to build it, whether it came from the cache)."""
    root = cache if n >= cache_from else base
    marker = root / f"archive-{n}.built"
    archive = Archive(root / f"archive-{n}")
    if marker.is_file() and marker.read_text() == CACHE_FORMAT:
        restore(archive)
        return archive, 0.0, True
    for stale in (archive.root, root / f"manifests-{n}", root / f"archive-{n}-pristine"):
        shutil.rmtree(stale, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    # Built in a child process: Linux starts a child's ru_maxrss at its parent's size
    # when it forks, so a builder's 300 MB would show in every later run's peak RSS.
    builder = multiprocessing.get_context("spawn").Process(target=build, args=(root, n))
    builder.start()
    builder.join()
    if builder.exitcode != 0:
        raise SystemExit(f"building the {n}-bag archive failed (exit {builder.exitcode})")
    archive = Archive(root / f"archive-{n}")
    pristine_copy(archive)
    if root == cache:
        marker.write_text(CACHE_FORMAT)
    return archive, time.perf_counter() - t0, False


def run_child(args: list[str], env: dict[str, str]) -> tuple[float, float, float, int]:
    """Wall seconds, CPU seconds (user + system), peak RSS in MiB and exit code of one run.

    CPU time is reported beside wall time because the machine is shared: under
    load, wall time measures the neighbours as much as strongroom. The peak RSS
    is the child's ``ru_maxrss``, which Linux starts at the parent's size when
    it forks: this process stays small (archives are built in a child of their own).
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "strongroom", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if proc.stderr is not None:
        err = proc.stderr.read()
        proc.stderr.close()
        if os.waitstatus_to_exitcode(status) == 2:
            sys.stderr.write(err.decode(errors="replace")[-2000:])
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


Result = tuple[list[float], list[float], float]  # wall times, CPU times, peak RSS

CASES = {
    "status": ["status", "--json"],
    "report": ["report", "-o", "{out}/report.html"],
    "verify --all --fast": ["verify", "--all", "--fast", "--quiet"],
    # the same 1/30 of the archive is due each night (30-day rotation)
    "verify --due": ["verify", "--due", "--quiet"],
}


def measure(
    archive: Archive, runs: int, out: Path, cases: dict[str, list[str]]
) -> dict[str, Result]:
    """Each case ``runs`` times, each run from the pristine archive; then the custody
    append and the interpreter's start-up (the floor under every command)."""
    env = dict(os.environ, STRONGROOM_ARCHIVE=str(archive.root), COLUMNS="120")
    # As installed, strongroom runs from compiled bytecode; without it every run
    # would compile each module it imports again (0.3 s of a status run).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    results: dict[str, Result] = {}
    try:
        for name, template in cases.items():
            args = [a.replace("{out}", str(out)) for a in template]
            times, cpus, peak = [], [], 0.0
            for _ in range(runs):
                restore(archive)
                # The restore leaves a ledger copy of 300 MB and 10,000 logs dirty in the
                # page cache; a nightly run starts without them. Written back here, they
                # are not charged to the first fsync or syncfs of the command measured.
                os.sync()
                wall, cpu, rss, code = run_child(args, env)
                if code not in (0, 1):
                    raise SystemExit(f"{name} exited {code}")
                times.append(wall)
                cpus.append(cpu)
                peak = max(peak, rss)
            results[name] = (times, cpus, peak)
        long_log = _bag_id(0)
        times, cpus = [], []
        for _ in range(max(runs, 5)):
            t0, c0 = time.perf_counter(), time.process_time()
            custody.append(archive, long_log, "watch", outcome="ok")
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        results["custody append"] = (times, cpus, 0.0)
    finally:
        restore(archive)  # a cached archive stays as it was built
    startup = [run_child(["--version"], env) for _ in range(runs)]
    results["(startup --version)"] = (
        [s[0] for s in startup],
        [s[1] for s in startup],
        max(s[2] for s in startup),
    )
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="10,100,1000,10000")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp one)")
    ap.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "strongroom-scale-cache",
        help="where archives of --cache-from bags or more are kept between runs",
    )
    ap.add_argument("--cache-from", type=int, default=10_000)
    ap.add_argument("--cases", default=",".join(CASES), help="a comma-separated subset")
    opts = ap.parse_args()
    base = opts.dir or Path(tempfile.mkdtemp(prefix="strongroom-scale-"))
    base.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in opts.sizes.split(",")]
    table: dict[str, dict[int, Result]] = {}
    try:
        for n in sizes:
            archive, built, cached = archive_for(base, opts.cache, n, opts.cache_from)
            how = f"from the cache {opts.cache}" if cached else f"built in {built:.1f} s"
            print(f"{n} bags, {n * EVENTS_PER_BAG} events: {how}", flush=True)
            cases = {c: CASES[c] for c in _case_names(opts.cases)}
            for name, res in measure(archive, opts.runs, base, cases).items():
                table.setdefault(name, {})[n] = res
            if not cached and n < opts.cache_from:
                shutil.rmtree(archive.root)
            print_table(table, sizes, opts.runs)  # so far: a long run can be read as it goes
    finally:
        if opts.dir is None:
            shutil.rmtree(base, ignore_errors=True)


def _case_names(text: str) -> list[str]:
    """The cases ``--cases`` names, as in the table or with dashes for spaces
    (``verify-all-fast``, so the list needs no quoting in a shell)."""
    by_slug = {name.replace("--", "").replace(" ", "-"): name for name in CASES}
    names = []
    for item in text.split(","):
        item = item.strip()
        if item not in CASES and item not in by_slug:
            raise SystemExit(f"--cases: unknown case {item!r}; one of {', '.join(by_slug)}")
        names.append(item if item in CASES else by_slug[item])
    return names


def print_table(table: dict[str, dict[int, Result]], sizes: list[int], runs: int) -> None:
    """The table so far: medians (min-max) per command and size, growth per 10x."""
    print(f"\nmedians of {runs} runs (min-max); growth = median / previous size's (wall, CPU)")
    head = ("command", "bags", "wall", "wall min-max", "CPU", "CPU min-max", "RSS MiB", "growth")
    print("{:<21} {:>6} {:>9} {:>17} {:>9} {:>17} {:>8} {:>11}".format(*head))
    for name, by_size in table.items():
        prev: tuple[float, float] | None = None
        unit, label = (1000.0, "ms") if name == "custody append" else (1.0, "s")
        for n in sizes:
            if n not in by_size:
                continue
            times, cpus, rss = by_size[n]
            med, cmed = statistics.median(times), statistics.median(cpus)
            growth = f"{med / prev[0]:.1f}x,{cmed / prev[1]:.1f}x" if prev else "-"
            print(
                f"{name:<21} {n:>6} {med * unit:>7.3f}{label:<2} "
                f"{min(times) * unit:>8.3f}-{max(times) * unit:<8.3f} "
                f"{cmed * unit:>7.3f}{label:<2} "
                f"{min(cpus) * unit:>8.3f}-{max(cpus) * unit:<8.3f} "
                f"{(f'{rss:.0f}' if rss else '-'):>8} {growth:>11}"
            )
            prev = (med, cmed)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
