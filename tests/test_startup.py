"""Start-up stays cheap: ``strongroom capture`` imports only what a capture needs,
and every command is still found (the CLI loads command modules on demand)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from strongroom import commands
from strongroom.cli import cli

HEAVY = ("http.client", "urllib.request", "strongroom.share.transfer", "strongroom.share.extract",
         "strongroom.bag.signing", "strongroom.capture.browser", "strongroom.capture.screenshot",
         "subprocess", "logging")  # fmt: skip
TOPS = ("rich", "urllib3", "warcio", "cryptography", "playwright", "jinja2")

PROBE = """
import json, sys
from strongroom.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy, tops = {heavy!r}, {tops!r}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in tops or m in heavy)))
"""


def test_a_capture_imports_no_heavy_module(site, tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY, tops=TOPS), "capture", site.url,
         "--depth", "0", "--json", "--archive", str(tmp_path / "a")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    doc, _, tail = res.stdout.rpartition("}\n")
    assert json.loads(doc + "}")["status"] == "complete", res.stderr
    assert json.loads(tail) == []


def test_every_command_is_where_the_table_says() -> None:
    found = {c.name: m for m in commands.MODULES for c in commands.load(m)}
    assert found == commands.WHERE
    assert sorted(cli.list_commands(None)) == sorted(found)  # type: ignore[arg-type]
