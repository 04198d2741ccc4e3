"""Click commands, one module per area of the workflow.

Each module exposes ``COMMANDS``, a list of click commands. Commands import
their library modules inside the function body, so that ``strongroom --help``
stays fast even though replay pulls in pywb.
"""

from __future__ import annotations

import click

from strongroom.commands import (
    bag,
    capture,
    demo,
    ingest,
    ledger,
    replay,
    share,
    verify,
    watch,
    workflow,
)

ALL_COMMANDS: list[click.Command] = [
    *capture.COMMANDS,
    *workflow.COMMANDS,
    *bag.COMMANDS,
    *ingest.COMMANDS,
    *verify.COMMANDS,
    *watch.COMMANDS,
    *share.COMMANDS,
    *replay.COMMANDS,
    *ledger.COMMANDS,
    *demo.COMMANDS,
]
