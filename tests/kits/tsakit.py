"""A real RFC 3161 timestamp authority on 127.0.0.1 for the tests.

``openssl ts -reply`` answers each request behind a small HTTP server; the CA
and TSA certificates are made with openssl when the test starts, so nothing
about them is shared with, or trusted by, anything else.
"""

from __future__ import annotations

import contextlib
import http.server
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

OPENSSL = "openssl"
# No ``certs =`` line: with the CA added, openssl writes the token's SET OF
# certificates unsorted, which is not DER, and rfc3161-client's strict parser
# refuses it. The signer's certificate alone is embedded (``-cert`` requests);
# the root comes from the verifier's own trust list, as it should.

TS_CONFIG = """\
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""

TSA_EXT = """\
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = critical,timeStamping
"""


def _run(*args: str, cwd: Path) -> None:
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True)


@dataclass
class Authority:
    """One CA with one TSA certificate under it, in ``folder``."""

    folder: Path
    name: str

    @property
    def ca(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def config(self) -> Path:
        return self.folder / "ts.cnf"


def make_authority(folder: Path, name: str = "Test TSA") -> Authority:
    """A root CA and a TSA certificate (critical timeStamping EKU) signed by it."""
    folder.mkdir(parents=True, exist_ok=True)
    _run(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "3650", "-subj", f"/CN={name} Root",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder,
    )  # fmt: skip
    _run(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
        "-subj", f"/CN={name}", cwd=folder,
    )  # fmt: skip
    (folder / "tsa.ext").write_text(TSA_EXT)
    _run(
        "x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "tsa.crt", "-days", "3650", "-extfile", "tsa.ext", cwd=folder,
    )  # fmt: skip
    (folder / "serial").write_text("01\n")
    (folder / "ts.cnf").write_text(TS_CONFIG.format(dir=folder))
    return Authority(folder, name)


class TSAServer:
    """HTTP on 127.0.0.1 that answers timestamp queries with ``openssl ts -reply``."""

    def __init__(self, authority: Authority) -> None:
        self.authority = authority
        self.requests = 0
        lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), 64 * 1024)
                query = self.rfile.read(length)
                with lock, tempfile.TemporaryDirectory() as tmp:
                    outer.requests += 1
                    q, r = Path(tmp) / "q.tsq", Path(tmp) / "r.tsr"
                    q.write_bytes(query)
                    proc = subprocess.run(
                        [OPENSSL, "ts", "-reply", "-config", str(outer.authority.config),
                         "-queryfile", str(q), "-out", str(r)],
                        capture_output=True, check=False,
                    )  # fmt: skip
                    body = r.read_bytes() if proc.returncode == 0 and r.exists() else b""
                if not body:
                    self.send_error(500)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/tsr"

    def __enter__(self) -> TSAServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port_url() -> str:
    """A 127.0.0.1 URL where nothing listens (a TSA that is down)."""
    import socket

    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/tsr"


def configure(archive: Path, urls: list[str], certificates: Path | None) -> None:
    """Add a ``[timestamp]`` table to the archive's config.toml."""
    cfg = archive / "config.toml"
    text = cfg.read_text() if cfg.exists() else ""
    lines = ["", "[timestamp]", "urls = [" + ", ".join(f'"{u}"' for u in urls) + "]"]
    if certificates is not None:
        lines.append(f'certificates = "{certificates}"')
    lines.append("timeout = 5")
    archive.mkdir(parents=True, exist_ok=True)
    cfg.write_text(text + "\n".join(lines) + "\n")


@contextlib.contextmanager
def running_tsa(folder: Path, name: str = "Test TSA") -> Iterator[TSAServer]:
    with TSAServer(make_authority(folder, name)) as server:
        yield server
