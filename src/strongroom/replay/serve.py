"""Serving a replay folder with pywb, in a child process.

pywb is the field's replay engine; we do not write one. Two things are
adjusted, both inside the child process only:

* :class:`strongroom.replay.access.AccessGuard` sits in front of pywb (staff
  decision, open-only app for visitors, Content-Security-Policy on every
  response);
* ES modules. pywb wraps every script it rewrites in a block
  (``{ let window = ...; ... }``) so that wombat can proxy ``window`` and
  ``location``. ``import`` and ``export`` are only legal at a module's top
  level, so a wrapped module is a syntax error and never runs (issue 12).
  :class:`ModuleAwareJSRewriter` leaves a script that is an ES module
  unwrapped, and rewrites the URLs in its static ``import``/``export ... from``
  specifiers to replay URLs (a module import is not a fetch() that wombat can
  catch). Relative specifiers already resolve inside the replay URL space.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from strongroom.errors import ProblemFound, UsageError
from strongroom.replay.access import DEFAULT_PORT

LOOPBACK = ("127.0.0.1", "localhost", "::1")
# A module: a top-level import/export statement (not dynamic import(), which is
# legal anywhere).
_MODULE_RE = re.compile(
    r"""^\s*(?:import\s*(?:[\w*{]|["'])|export\s+(?:default\b|const\b|let\b|var\b|function\b|class\b|async\b|\{|\*))""",
    re.M,
)
# The specifier of a static import / re-export: from "x", import "x".
_SPECIFIER_RE = re.compile(r"""(\bfrom\s*|^\s*import\s*)(["'])([^"'\n]+)\2""", re.M)
PEEK = 64 * 1024


def is_module_source(text: str) -> bool:
    """Whether JavaScript source is an ES module (has top-level import/export)."""
    return bool(_MODULE_RE.search(text))


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class ReplayServer:
    """A running pywb process."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    log: Path

    @property
    def base(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def __enter__(self) -> ReplayServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(
    root: Path,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    staff: str = "header",
    wait: float = 30.0,
) -> ReplayServer:
    """Start pywb on ``root`` (a folder made by ``build``) and wait until it answers.

    ``staff``: ``header`` trusts ``X-Pywb-ACL-User`` from the proxy in front,
    ``all`` treats every request as staff (your own machine only), ``none``
    strips the header so restricted pages are blocked for everyone.
    """
    if staff not in ("header", "all", "none"):
        raise UsageError(f"staff mode must be header, all or none, not {staff!r}")
    if port == 0:
        port = free_port(host if is_loopback(host) else "0.0.0.0")
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port"
            ) from None
    log = root / "pywb.log"
    cmd = [
        sys.executable,
        "-c",
        "from strongroom.replay.serve import serve_main; serve_main()",
        str(root / "config.yaml"),
        host,
        str(port),
        staff,
    ]
    with open(log, "ab") as logfh:
        proc = subprocess.Popen(
            cmd, cwd=root, stdout=logfh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    server = ReplayServer(proc, host, port, log)
    deadline = time.monotonic() + wait
    connect_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text("utf-8", "replace")[-2000:]
            raise ProblemFound(f"pywb exited at start (code {proc.returncode}); log:\n{tail}")
        try:
            with socket.create_connection((connect_host, port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise ProblemFound(f"pywb did not start listening on {host}:{port} within {wait:.0f} s")


def _module_rewriter_class() -> type:
    """A pywb JS rewriter that leaves ES modules unwrapped (see the module doc)."""
    from pywb.rewrite.regex_rewriters import JSWombatProxyRewriter

    class ModuleAwareJSRewriter(JSWombatProxyRewriter):
        is_module = False

        def __call__(self, rwinfo: Any) -> Any:
            peek = rwinfo.read_and_keep(PEEK)
            if is_module_source(peek.decode("utf-8", "replace")):
                self.is_module = True
                self.first_buff = ""
                self.last_buff = ""
            return super().__call__(rwinfo)

        def rewrite(self, string: str) -> str:
            if not self.is_module:
                return str(super().rewrite(string))
            return _SPECIFIER_RE.sub(self._specifier, string)

        def final_read(self) -> str:
            return "" if self.is_module else str(super().final_read())

        def _specifier(self, m: re.Match[str]) -> str:
            spec = m.group(3)
            if not spec.startswith(("http:", "https:", "//", "/")):
                return m.group(0)  # relative: already resolved inside the replay URL
            new = self.url_rewriter.rewrite(spec, "js_")
            return f"{m.group(1)}{m.group(2)}{new}{m.group(2)}"

    return ModuleAwareJSRewriter


def _install_module_rewriter() -> None:
    """Make pywb use :func:`_module_rewriter_class` wherever it rewrites JavaScript."""
    from pywb.rewrite import default_rewriter

    cls = _module_rewriter_class()
    default_rewriter.DefaultRewriter.DEFAULT_REWRITERS["js"] = cls
    # RewriterWithJSProxy.get_rewriter returns the module-level name directly.
    default_rewriter.JSWombatProxyRewriter = cls


def serve_main() -> None:
    """Entry point of the pywb child process (argv: config host port staff)."""
    from gevent.monkey import patch_all

    patch_all()
    from gevent.pywsgi import WSGIServer

    config, host, port, staff = sys.argv[1:5]
    WSGIServer((host, int(port)), make_app(Path(config), staff), log=None).serve_forever()


def make_app(config: Path, staff: str) -> Any:
    """The WSGI app: the access guard in front of the full and the open pywb apps."""
    from pywb.apps.frontendapp import FrontEndApp

    from strongroom.replay.access import AccessGuard, read_blocked

    _install_module_rewriter()
    full = FrontEndApp(config_file=str(config))
    open_cfg = config.with_name("config-open.yaml")
    public = FrontEndApp(config_file=str(open_cfg)) if open_cfg.exists() else full
    return AccessGuard(full, public, read_blocked(config.parent), staff)
