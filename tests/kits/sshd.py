"""A real OpenSSH ``sshd`` on 127.0.0.1 for the share tests.

It runs in the foreground (``-D -e``) with its own config, a generated host
key and a generated client key in a temporary folder, accepts only that key,
and is stopped when the test ends. Tests that need it are skipped with a clear
reason when ``/usr/sbin/sshd``, ``ssh`` or ``rsync`` is missing (CI installs
them with ``make sysdeps``).
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")  # compiled into Debian's sshd; needed when it runs as root


@dataclass
class SshServer:
    """A running sshd: where to connect and with which key."""

    port: int
    user: str
    client_key: Path
    folder: Path
    process: subprocess.Popen[bytes]

    def destination(self, path: Path) -> str:
        """``user@127.0.0.1:/path`` for a partners.toml ``destination``."""
        return f"{self.user}@127.0.0.1:{path}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def missing_tools() -> str | None:
    """Why the SSH tests cannot run here, or None."""
    if not SSHD.exists():
        return f"{SSHD} is missing (install openssh-server: make sysdeps)"
    for tool in ("ssh", "ssh-keygen", "rsync", "sha512sum"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (make sysdeps installs it)"
    if os.geteuid() == 0 and not PRIVSEP_DIR.is_dir():
        try:
            PRIVSEP_DIR.mkdir(mode=0o755)
        except OSError as exc:
            return f"sshd as root needs {PRIVSEP_DIR}: {exc.strerror}"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )


def start_sshd(folder: Path) -> SshServer:
    """Start sshd on a free port of 127.0.0.1; wait until it accepts connections."""
    folder.mkdir(parents=True, exist_ok=True)
    host_key, client_key = folder / "host_ed25519", folder / "client_ed25519"
    _keygen(host_key, "strongroom-test-host")
    _keygen(client_key, "strongroom-test-client")
    auth = folder / "authorized_keys"
    shutil.copyfile(client_key.with_suffix(".pub"), auth)
    for attempt in range(5):
        port = _free_port()
        config = folder / "sshd_config"
        config.write_text(
            f"Port {port}\n"
            "ListenAddress 127.0.0.1\n"
            f"HostKey {host_key}\n"
            f"PidFile {folder / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {auth}\n"
            "StrictModes no\n"
            "PubkeyAuthentication yes\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "PermitRootLogin prohibit-password\n"
            "LogLevel ERROR\n"
        )
        proc = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(folder / "sshd.log", "ab"),  # noqa: SIM115 - the child keeps it
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    if s.recv(4).startswith(b"SSH"):
                        return SshServer(port, getpass.getuser(), client_key, folder, proc)
            except OSError:
                time.sleep(0.1)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if attempt == 4:
            log = (folder / "sshd.log").read_text(errors="replace")[-500:]
            raise RuntimeError(f"sshd did not start: {log}")
    raise RuntimeError("sshd did not start")


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[SshServer]:
    """A running sshd for one test; skipped with the reason when tools are missing."""
    why = missing_tools()
    if why:
        pytest.skip(why)
    server = start_sshd(tmp_path / "sshd")
    try:
        yield server
    finally:
        server.stop()
