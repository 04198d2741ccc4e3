"""Click commands, one module per area of the workflow.

Each module exposes ``COMMANDS``, a list of click commands. Commands import
their library modules inside the function body, so that ``strongroom --help``
stays fast even though replay pulls in pywb.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

# The module of each command, so that ``strongroom capture`` imports only its own
# module: importing all of them (rich, share's transfer code, ...) cost a tenth
# of a second of start-up before the first byte was fetched. A command missing
# here still works: the CLI then loads every module (tests/test_startup.py).
MODULES = ("capture", "workflow", "bag", "ingest", "verify", "watch", "share", "replay", "ledger",
           "demo")  # fmt: skip
WHERE = {
    "capture": "capture",
    "archive": "workflow",
    "bag": "bag",
    "keys": "bag",
    "timestamp": "bag",
    "import": "ingest",
    "verify": "verify",
    "history": "verify",
    "watch": "watch",
    "status": "watch",
    "access": "watch",
    "share": "share",
    "receive": "share",
    "replicate": "share",
    "repair": "share",
    "partners": "share",
    "replay": "replay",
    "export": "replay",
    "report": "replay",
    "ledger": "ledger",
    "demo": "demo",
}


def load(module: str) -> list[click.Command]:
    """The commands of one module of this package."""
    commands: list[click.Command] = importlib.import_module(
        f"strongroom.commands.{module}"
    ).COMMANDS
    return commands


def all_commands() -> list[click.Command]:
    """Every command, in the order of the workflow."""
    return [c for m in MODULES for c in load(m)]


def __getattr__(name: str) -> Any:
    if name == "ALL_COMMANDS":  # the eager list, for callers that want them all
        return all_commands()
    raise AttributeError(name)
