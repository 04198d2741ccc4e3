"""A real PostgreSQL server for the tests, the way ``sshd.py`` starts a real sshd.

Debian's ``initdb`` and ``pg_ctl`` make a cluster in a temporary folder that
listens on 127.0.0.1 on a free port (and on a socket in that folder, nowhere
else). PostgreSQL refuses to run as root, so as root the cluster belongs to
Debian's ``postgres`` user. Clients log in as ``strongroom`` with a password
kept in a ``.pgpass`` file, as the README tells operators to do.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from strongroom.demosite import free_port

USER = "strongroom"
PASSWORD = "test-only-" + uuid.uuid4().hex[:12]


def pg_bin() -> Path | None:
    """The folder of Debian's PostgreSQL server programs, if installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _as_owner(owner: pwd.struct_passwd | None):  # type: ignore[no-untyped-def]
    if owner is None:
        return None

    def demote() -> None:
        os.setgid(owner.pw_gid)
        os.setuid(owner.pw_uid)

    return demote


@dataclass
class PgServer:
    root: Path
    port: int
    bindir: Path
    owner: pwd.struct_passwd | None
    pgpass: Path

    @property
    def base_url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args),
            capture_output=True,
            text=True,
            check=True,
            preexec_fn=_as_owner(self.owner),  # demotion before exec is the point
            cwd=self.root,
        )

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; return its ledger URL (no password in it)."""
        name = name or "t" + uuid.uuid4().hex[:10]
        env = dict(os.environ, PGPASSFILE=str(self.pgpass))
        subprocess.run(
            [str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
             "-U", USER, name],
            check=True, capture_output=True, text=True, env=env,
        )  # fmt: skip
        return f"{self.base_url}/{name}"

    def stop(self) -> None:
        subprocess.run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate",
             "stop"],
            capture_output=True, preexec_fn=_as_owner(self.owner), cwd=self.root,
        )  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)


def start() -> PgServer:
    """initdb, then pg_ctl start on 127.0.0.1:<free port>; raises if anything fails."""
    bindir = pg_bin()
    if bindir is None:
        raise FileNotFoundError(
            "PostgreSQL server programs not installed (apt-get install postgresql)"
        )
    owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="strongroom-pg-"))
    pgpass = root / "pgpass"
    port = free_port()
    pgpass.write_text(f"127.0.0.1:{port}:*:{USER}:{PASSWORD}\n")
    os.chmod(pgpass, 0o600)
    pwfile = root / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
        os.chown(pwfile, owner.pw_uid, owner.pw_gid)
    server = PgServer(root, port, bindir, owner, pgpass)
    server._run(
        str(bindir / "initdb"), "-D", str(root / "data"), "-U", USER, f"--pwfile={pwfile}",
        "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync",
    )  # fmt: skip
    opts = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root}"
        " -c fsync=on -c max_connections=50"
    )
    server._run(
        str(bindir / "pg_ctl"), "-D", str(root / "data"), "-o", opts, "-w", "-t", "60",
        "-l", str(root / "log"), "start",
    )  # fmt: skip
    return server
