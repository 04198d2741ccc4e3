"""Ctrl-C and SIGTERM while Chromium works: the job stops within seconds, non-zero,
its Chromium processes end, and nothing half-made is left (issue 11, finding 8)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from jsnews import JsNewsSite
from replaykit import needs_chromium

pytestmark = [pytest.mark.slow, needs_chromium]
STOP_WITHIN = 20.0  # seconds; generous for a loaded 2-core machine


def _children() -> dict[int, int]:
    """pid -> parent pid of every process."""
    out: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            out[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def _chromium_under(root: int) -> list[int]:
    parents = _children()
    found = []
    for pid in parents:
        p, hops = pid, 0
        while p not in (0, 1, root) and hops < 50:
            p, hops = parents.get(p, 0), hops + 1
        if p != root:
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"chromium" in cmd.split(b"\0")[0]:
            found.append(pid)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _run_until_chromium(args: list[str], tmp: Path) -> tuple[subprocess.Popen[bytes], list[int]]:
    env = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, "-m", "strongroom", *args],
        cwd=tmp,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        pids = _chromium_under(proc.pid)
        if len(pids) >= 2:  # browser process and at least one child: it is working
            time.sleep(0.5)
            return proc, _chromium_under(proc.pid)
        time.sleep(0.05)
    proc.kill()
    out, err = proc.communicate()
    pytest.fail(f"Chromium never started: {out.decode()[-500:]} {err.decode()[-1500:]}")


def _stop(proc: subprocess.Popen[bytes], how: str) -> tuple[int, float, str]:
    sig = signal.SIGINT if how.endswith("int") else signal.SIGTERM
    started = time.monotonic()
    if how.startswith("group"):
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    try:
        _out, err = proc.communicate(timeout=STOP_WITHIN + 40)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{how}: the job did not stop; it needed SIGKILL")
    return proc.returncode, time.monotonic() - started, err.decode("utf-8", "replace")


@pytest.mark.parametrize("how", ["group-term", "pid-term", "pid-int"])
def test_signal_during_screenshots_stops_the_archive_job(tmp_path: Path, how: str) -> None:
    with JsNewsSite() as site:
        coll = tmp_path / "c.toml"
        coll.write_text(f'id = "js"\ntitle = "JS"\n[[seeds]]\nurl = "{site.article}"\n')
        args = ["archive", "-c", str(coll), "--archive", str(tmp_path / "a")]
        args += ["--manifests", str(tmp_path / "m"), "--no-browser", "--retries", "0"]
        proc, chromium = _run_until_chromium(args, tmp_path)
        code, took, err = _stop(proc, how)
    assert code != 0, err
    assert took < STOP_WITHIN, f"{how}: took {took:.1f}s"
    time.sleep(1)
    assert [p for p in chromium if _alive(p)] == [], "Chromium processes survived"
    bags = tmp_path / "a" / "bags"
    assert not bags.exists() or not [p for p in bags.iterdir() if p.is_dir()], "a bag was made"
    for cap in (tmp_path / "a" / "captures").iterdir():
        assert not (cap / "capture.json").exists(), "an interrupted capture looks finished"
        derived = cap / "derivatives"
        assert not derived.exists() or list(derived.iterdir()) == [], "half-made derivatives"
    assert "Traceback" not in err, err[-2000:]


@pytest.mark.parametrize("how", ["group-int", "pid-term"])
def test_signal_during_browser_capture_stops_and_ends_chromium(tmp_path: Path, how: str) -> None:
    with JsNewsSite() as site:
        args = ["capture", site.article, "--browser", "--archive", str(tmp_path / "a")]
        proc, chromium = _run_until_chromium(args, tmp_path)
        code, took, err = _stop(proc, how)
    assert code == 2, err
    assert took < STOP_WITHIN, f"{how}: took {took:.1f}s"
    time.sleep(1)
    assert [p for p in chromium if _alive(p)] == [], "Chromium processes survived"
    assert "Traceback" not in err, err[-2000:]
    import json

    for cap in (tmp_path / "a" / "captures").iterdir():
        doc_path = cap / "capture.json"
        if doc_path.exists():
            assert json.loads(doc_path.read_text())["status"] == "interrupted"
        assert not list(cap.glob(".tmp-*")), "a half-written WARC was left"
