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


def _captured_importing(site, tmp_path: Path, modules: tuple[str, ...], tops: tuple[str, ...]):
    """The modules of ``modules`` (or under a package of ``tops``) a capture imported."""
    res = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=modules, tops=tops), "capture", site.url,
         "--depth", "0", "--json", "--archive", str(tmp_path / "a")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    doc, _, tail = res.stdout.rpartition("}\n")
    assert json.loads(doc + "}")["status"] == "complete", res.stderr
    return json.loads(tail)


def test_a_capture_imports_no_heavy_module(site, tmp_path: Path) -> None:
    assert _captured_importing(site, tmp_path, HEAVY, TOPS) == []


def test_a_capture_imports_neither_the_workflow_nor_the_ledgers_rows(site, tmp_path: Path) -> None:
    """The main job's records and the ledger's typed rows (fixity, watch, custody,
    leases) are dataclasses a capture never makes; defining them cost its start-up."""
    unused = ("strongroom.workflow", "strongroom.core.rows")
    assert _captured_importing(site, tmp_path, unused, ()) == []


def test_every_command_is_where_the_table_says() -> None:
    found = {c.name: m for m in commands.MODULES for c in commands.load(m)}
    assert found == commands.WHERE
    assert sorted(cli.list_commands(None)) == sorted(found)  # type: ignore[arg-type]


def test_capture_help_imports_neither_the_archive_nor_the_collection_types() -> None:
    """``capture --help`` (and shell completion) define the options, nothing more."""
    types = ("strongroom.core.archive", "strongroom.core.collection")
    res = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=types, tops=()), "capture", "--help"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "--archive DIR" in res.stdout, res.stderr
    assert json.loads(res.stdout.splitlines()[-1]) == []


def test_a_quiet_capture_prints_nothing_and_imports_no_table(site, tmp_path: Path) -> None:
    """``capture --quiet`` (cron) has nothing to print when all went well: it does not
    build the summary table either (rich cost a third of a one-page capture)."""
    res = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=(), tops=("rich",)), "capture", site.url,
         "--depth", "0", "--quiet", "--archive", str(tmp_path / "a")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.stdout.splitlines() == ["[]"], res.stderr
    assert res.stderr == ""
    assert list((tmp_path / "a" / "captures").glob("*/capture.json"))
