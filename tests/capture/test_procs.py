"""A static capture with more than one connection fetches in fetch processes
(capture/procs.py): each writes its own WARC files, dedup still spans the
capture, and no interrupt, kill or crash leaves a half record or a process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile import install
from test_crawl import VENV_BIN, raw_records, verify_digests, warcio_check

from strongroom.capture import procs
from strongroom.demosite import SiteServer

DUPLICATE = b"\x89PNG the same picture under two names"


@pytest.fixture
def gallery(tmp_path: Path):
    """A page of twelve pictures, two of them the same bytes under different names."""
    root = tmp_path / "gallery"
    (root / "img").mkdir(parents=True)
    imgs = "".join(f'<img src="/img/p{i}.png">' for i in range(10))
    (root / "index.html").write_text(
        f"<html><title>Gallery</title>{imgs}"
        '<img src="/img/dup-a.png"><img src="/img/dup-b.png"></html>'
    )
    for i in range(10):
        (root / "img" / f"p{i}.png").write_bytes(b"\x89PNG picture %d" % i)
    (root / "img" / "dup-a.png").write_bytes(DUPLICATE)
    (root / "img" / "dup-b.png").write_bytes(DUPLICATE)
    with SiteServer(root=root) as server:
        yield server


def _command() -> list[str]:
    exe = VENV_BIN / "strongroom"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "strongroom"]


def _capture(url: str, archive: Path, *extra: str) -> dict:
    """A capture from the command line: a process of its own, whose only thread is its
    main one (a test's servers run threads, so an in-process capture forks nothing)."""
    res = subprocess.run(
        [*_command(), "capture", url, "--archive", str(archive), "--json", *extra],
        capture_output=True,
        text=True,
        env=dict(os.environ, NO_PROXY="127.0.0.1"),
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def _kinds(folder: Path) -> list[tuple[str, str]]:
    records = [r for w in sorted(folder.glob("*.warc.gz")) for r in raw_records(w)]
    # A revisit of -c 1 may be a response here: two processes fetching the same
    # payload at the same moment both store it whole.
    kind = {"revisit": "response"}
    return sorted(
        (kind.get(r["type"], r["type"]), r["h"].get("WARC-Target-URI", ""))
        for r in records
        if r["type"] != "warcinfo"
    )


def test_connections_are_spread_over_one_fetch_process_per_core():
    assert procs.plan(4, 2) == [2, 2]
    assert procs.plan(3, 2) == [2, 1]
    assert procs.plan(2, 8) == [1, 1]
    assert procs.plan(4, 1) == []  # one core: threads, no forks
    assert procs.plan(1, 8) == []  # one connection: fetched on the main thread


@pytest.mark.skipif(procs.cpus() < 2, reason="fetch processes need two cores")
def test_a_one_page_capture_stays_one_warc_file(gallery, tmp_path):
    doc = _capture(gallery.url, tmp_path / "archive", "--concurrency", "4")  # depth 0
    assert [w["name"] for w in doc["warcs"]] == [f"{doc['capture_id']}-00000.warc.gz"]


def test_a_process_running_other_threads_forks_no_fetch_processes():
    import threading

    done = threading.Event()
    other = threading.Thread(target=done.wait)
    other.start()
    try:
        assert not procs.may_fork()  # a library caller's threads may hold locks
    finally:
        done.set()
        other.join()


@pytest.mark.skipif(procs.cpus() < 2, reason="fetch processes need two cores")
def test_each_fetch_process_writes_its_own_whole_warc(gallery, tmp_path):
    archive = tmp_path / "archive"
    doc = _capture(gallery.url, archive, "--concurrency", "4", "--depth", "1")
    cid = doc["capture_id"]
    folder = archive / "captures" / cid
    names = [w["name"] for w in doc["warcs"]]
    assert f"{cid}-p1-00000.warc.gz" in names and f"{cid}-p2-00000.warc.gz" in names
    assert sorted(p.name for p in folder.glob("*.warc.gz")) == sorted(names)
    records = []
    for name in names:  # every file stands alone: it starts with its own warcinfo
        recs = raw_records(folder / name)
        assert recs[0]["type"] == "warcinfo" and recs[0]["h"]["WARC-Filename"] == name
        records += recs
    verify_digests(records)
    warcio_check([folder / n for n in names])
    fetched = [r["h"]["WARC-Target-URI"] for r in records if r["type"] in ("response", "revisit")]
    assert len(fetched) == len(set(fetched)) == 14  # robots.txt, the page, 12 pictures
    ids = {r["h"]["WARC-Record-ID"] for r in records}
    (meta,) = [r for r in records if r["type"] == "metadata"]
    assert meta["h"]["WARC-Concurrent-To"] in ids  # the page's record, in another file
    assert json.loads((folder / "capture.json").read_text())["warcs"] == doc["warcs"]
    one = _capture(gallery.url, tmp_path / "one", "--concurrency", "1", "--depth", "1")
    assert [w["name"] for w in one["warcs"]] == [f"{one['capture_id']}-00000.warc.gz"]
    assert _kinds(tmp_path / "one" / "captures" / one["capture_id"]) == _kinds(folder)


@pytest.mark.skipif(procs.cpus() < 2, reason="fetch processes need two cores")
def test_a_payload_another_fetch_process_wrote_is_a_revisit(gallery, tmp_path):
    # --delay puts the two copies' requests 0.2 s apart, so the first is written
    # (and the main process told) before the second is fetched, whichever process
    # fetches it.
    archive = tmp_path / "archive"
    doc = _capture(gallery.url, archive, "--concurrency", "2", "--delay", "0.2", "--depth", "1")
    assert doc["stats"]["deduplicated"] == 1
    folder = archive / "captures" / doc["capture_id"]
    records = [r for w in sorted(folder.glob("*.warc.gz")) for r in raw_records(w)]
    by_id = {r["h"]["WARC-Record-ID"]: r for r in records}
    (revisit,) = [r for r in records if r["type"] == "revisit"]
    first = by_id[revisit["h"]["WARC-Refers-To"]]  # within this capture
    assert first["type"] == "response"
    assert {first["h"]["WARC-Target-URI"], revisit["h"]["WARC-Target-URI"]} == {
        gallery.url + "img/dup-a.png",
        gallery.url + "img/dup-b.png",
    }
    assert first["h"]["WARC-Payload-Digest"] == revisit["h"]["WARC-Payload-Digest"]


# --- signals and kills, on a real capture process -----------------------------------


@pytest.fixture
def hostile(site: SiteServer) -> SiteServer:
    return install(site)


def _start(hostile, tmp_path: Path) -> subprocess.Popen[bytes]:
    """A -c 4 capture whose drip download runs for a minute, in its own process group."""
    proc = subprocess.Popen(
        [*_command(), "capture",
         hostile.url + "hostile/chunked.html", hostile.url + "hostile/drip.txt",
         "--archive", str(tmp_path / "archive"), "--retries", "0", "--concurrency", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, NO_PROXY="127.0.0.1"),
        start_new_session=True,  # its own group, as a terminal's foreground job
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and hostile.hits("/hostile/drip.txt") == 0:
        time.sleep(0.05)
    time.sleep(0.3)
    return proc


def _running(field: int, value: int) -> list[int]:
    """Running processes whose /proc stat ``field`` (1 ppid, 2 process group) is
    ``value``; zombies, which only wait to be reaped, do not count."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[field]) == value and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def _children(pid: int) -> list[int]:
    return _running(1, pid)


def _group_alive(pgid: int) -> list[int]:
    return _running(2, pgid)


def _folder(tmp_path: Path) -> Path:
    (folder,) = list((tmp_path / "archive" / "captures").iterdir())
    return folder


@pytest.mark.skipif(procs.cpus() < 2, reason="fetch processes need two cores")
def test_ctrl_c_to_the_whole_job_publishes_every_process_whole_warc(hostile, tmp_path):
    proc = _start(hostile, tmp_path)
    assert len(_children(proc.pid)) == 2
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, err
    assert b"interrupted" in err and b"Traceback" not in err
    assert _group_alive(proc.pid) == []  # no fetch process outlives the capture
    folder = _folder(tmp_path)
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp-")]
    warcs = sorted(folder.glob("*.warc.gz"))
    assert any("-p1-" in w.name for w in warcs) and any("-p2-" in w.name for w in warcs)
    verify_digests([r for w in warcs for r in raw_records(w)])
    warcio_check(warcs)
    assert json.loads((folder / "capture.json").read_text())["status"] == "interrupted"


@pytest.mark.skipif(procs.cpus() < 2, reason="fetch processes need two cores")
def test_a_fetch_process_that_dies_leaves_no_capture_that_looks_whole(hostile, tmp_path):
    proc = _start(hostile, tmp_path)
    kids = _children(proc.pid)
    assert len(kids) == 2
    os.kill(kids[0], signal.SIGKILL)  # out of memory, say: its WARC in progress is lost
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, err
    assert b"Traceback" not in err
    assert b"ended unexpectedly (signal 9)" in err and b"capture again" in err
    assert _group_alive(proc.pid) == []
    assert list((tmp_path / "archive" / "captures").iterdir()) == []  # nothing half-made


@pytest.mark.skipif(procs.cpus() < 2, reason="fetch processes need two cores")
def test_fetch_processes_leave_at_once_when_the_capture_is_killed(hostile, tmp_path):
    proc = _start(hostile, tmp_path)
    kids = _children(proc.pid)
    assert len(kids) == 2
    proc.kill()  # SIGKILL: nothing of the main process runs any more
    proc.wait(timeout=30)  # (its output pipes stay open while a fetch process lives)
    deadline = time.monotonic() + 10  # the drip would last another minute
    while time.monotonic() < deadline and _group_alive(proc.pid):
        time.sleep(0.05)
    assert _group_alive(proc.pid) == []
    folder = _folder(tmp_path)
    assert not (folder / "capture.json").exists()  # as any killed capture: not published


def test_a_broken_frame_on_the_pipe_ends_the_channel_not_the_memory():
    import socket
    import struct

    a, b = socket.socketpair()
    with a, b:
        b.sendall(struct.pack("!I", 0xFFFFFFFF))  # a 4 GiB message, never sent
        with pytest.raises(EOFError):
            procs.Channel(a).recv()
        b.sendall(struct.pack("!I", 100) + b"x" * 10)
        b.shutdown(socket.SHUT_WR)  # the other process died mid-message
        with pytest.raises(EOFError):
            procs.Channel(a).recv()
