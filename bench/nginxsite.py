"""A benchmark site served by Debian's nginx on 127.0.0.1, as news sites are served.

Why beside the demo site's Python server: at 0 ms of latency the server shares
the machine's two cores with the tools, and the Python server spends 0.6-0.7 ms
of CPU on each request, as much as the tools themselves. Its own ceiling is
then barely above wget's rate, so a run measures the server more than the
tool, and a tool that fetches more of what a reader's browser loads (srcset and
<picture> candidates, a stylesheet's url()s) pays for every extra request twice.
nginx spends a few microseconds per request, as production servers do, so the
tools' own costs decide. It serves what the Python server serves: the same
files, with gzip-encoded stylesheets and scripts (only) for clients that accept
gzip (chunked, as nginx sends every gzip response). It cannot add latency to a
response, so runs with latency keep the Python server.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

_CONF = """\
daemon on;
worker_processes 1;
{user}
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 512; }}
http {{
  access_log off;
  client_body_temp_path {work}/body;
  proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fastcgi;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  types {{
    text/html html; text/css css; application/javascript js; image/png png;
    image/jpeg jpg; image/webp webp; text/plain txt;
  }}
  default_type application/octet-stream;
  charset utf-8;
  charset_types text/css application/javascript;
  gzip_types text/css application/javascript;
  gzip_min_length 0;
  gzip_vary on;
  tcp_nodelay on;
  keepalive_requests 100000;
  server {{
    listen 127.0.0.1:{port};
    root {root};
    # nginx always gzips text/html when gzip is on: only these, as the Python server
    location ~ [.](css|js)$ {{ gzip on; }}
  }}
}}
"""


def available() -> bool:
    """Whether Debian's nginx is installed (``make bench`` installs it)."""
    return shutil.which("nginx") is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NginxSite:
    """nginx serving ``root`` on a free loopback port, for a ``with`` block."""

    def __init__(self, root: Path, work: Path) -> None:
        self.root, self.work = root.resolve(), work.resolve()
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"

    def __enter__(self) -> NginxSite:
        self.work.mkdir(parents=True, exist_ok=True)
        # As root, nginx's workers would switch to nobody, who cannot read a private
        # temporary folder: keep them as the user who made the site.
        user = "user root;" if os.geteuid() == 0 else ""
        conf = self.work / "nginx.conf"
        conf.write_text(_CONF.format(user=user, work=self.work, port=self.port, root=self.root))
        subprocess.run(
            ["nginx", "-p", str(self.work), "-e", str(self.work / "error.log"), "-c", str(conf)],
            check=True,
        )
        for _ in range(200):  # until it accepts connections
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return self
            except OSError:
                time.sleep(0.01)
        raise SystemExit(f"nginx did not start: {(self.work / 'error.log').read_text()}")

    def cpu(self) -> float:
        """CPU seconds (user + system) nginx's master and workers have used so far."""
        master = int((self.work / "nginx.pid").read_text())
        ticks = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # it ended meanwhile
            if int(entry.name) == master or int(fields[1]) == master:  # fields[1]: ppid
                ticks += int(fields[11]) + int(fields[12])  # utime, stime (stat's 14, 15)
        return ticks / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc: object) -> None:
        master = int((self.work / "nginx.pid").read_text())
        os.kill(master, 15)
        for _ in range(200):
            if not Path(f"/proc/{master}").exists():
                break
            time.sleep(0.01)
