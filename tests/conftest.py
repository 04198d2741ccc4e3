"""Shared fixtures: a real HTTP server for the demo/fixture site, a fresh archive,
and a way to run the CLI exactly as a user would (exit code, stdout, stderr)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from strongroom.cli import main
from strongroom.demosite import SiteServer

REPO = Path(__file__).resolve().parent.parent

# A shell that starts the suite in the background (`make test &`, a job without job
# control) ignores SIGINT, and every child would inherit that: the tests that press
# Ctrl-C on a capture or a verify would then wait for a child that cannot hear it.
# A handled signal is reset to the default in a child, so the children hear Ctrl-C
# as a user's command would.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    """Run ``strongroom ARGS`` in-process through the real entry point."""
    runner = CliRunner()
    with runner.isolation(input=input, env=env) as outstreams:
        code = 0
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        stdout = outstreams[0].getvalue().decode("utf-8", "replace")
        stderr = outstreams[1].getvalue().decode("utf-8", "replace")
    return Result(code, stdout, stderr)


@pytest.fixture
def cli():
    """Call as ``cli("capture", url, "--archive", path)``; returns a Result."""
    return run_cli


@pytest.fixture(scope="session")
def cli_runner():
    """``cli`` for module-scoped fixtures (``from conftest import`` may find another conftest)."""
    return run_cli


@pytest.fixture
def site() -> Iterator[SiteServer]:
    """The demo site on 127.0.0.1 with a free port, stopped after the test."""
    server = SiteServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def archive_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh archive folder; STRONGROOM_ARCHIVE points at it."""
    path = tmp_path / "archive"
    monkeypatch.setenv("STRONGROOM_ARCHIVE", str(path))
    return path


@pytest.fixture(scope="session", autouse=True)
def _repository_manifests_untouched() -> Iterator[None]:
    """No test may write into the repository's own manifests/ (git-tracked inventory)."""
    folder = REPO / "manifests"
    before = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    yield
    after = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    assert after == before, f"a test wrote into {folder}: {sorted(set(after) - set(before))}"


@pytest.fixture(autouse=True)
def _no_outside_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never touch the outside web: proxies from the environment are ignored."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    os.environ.setdefault("STRONGROOM_TEST", "1")


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL on 127.0.0.1 for the session (Debian's initdb and pg_ctl)."""
    import pgserver

    if pgserver.pg_bin() is None:
        pytest.skip("PostgreSQL is not installed (make sysdeps installs it)")
    server = pgserver.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server, monkeypatch):
    """A fresh, empty PostgreSQL database; its password comes from a .pgpass file."""
    monkeypatch.setenv("PGPASSFILE", str(pg_server.pgpass))
    return pg_server.create_database()
