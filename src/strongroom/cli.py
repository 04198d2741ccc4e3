"""The ``strongroom`` command line: argument parsing only.

Each command lives in ``strongroom.commands.<area>`` and calls typed library
functions; this module builds the group, and turns errors into the documented
exit codes (0 ok, 1 problem found, 2 usage or environment error) with a clear
message instead of a traceback.
"""

from __future__ import annotations

import sys

import click

from strongroom import __version__
from strongroom import commands as _commands
from strongroom.errors import EXIT_USAGE, StrongroomError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
# Every option can also come from the environment, as STRONGROOM_<COMMAND>_<OPTION>
# (STRONGROOM_VERIFY_INTERVAL=30d); the options every command shares have one
# name for all: STRONGROOM_ARCHIVE, STRONGROOM_JSON, STRONGROOM_QUIET.
ENV_PREFIX = "STRONGROOM"


class _LazyGroup(click.Group):
    """Imports a command's module when the command is used (start-up stays cheap)."""

    _all_loaded = False

    def _add(self, commands: list[click.Command]) -> None:
        for command in commands:
            if command.name not in self.commands:
                self.add_command(command)

    def _load_all(self) -> None:
        if not self._all_loaded:
            self._add(_commands.all_commands())
            self._all_loaded = True

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            module = _commands.WHERE.get(cmd_name)
            if module is not None:
                self._add(_commands.load(module))
            if cmd_name not in self.commands:
                self._load_all()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_all()
        return super().list_commands(ctx)


@click.group(cls=_LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="strongroom")
def cli() -> None:
    """Preserve web journalism at risk of takedown.

    \b
    The workflow:  capture -> bag -> verify -> watch -> share
    Where things go: --archive DIR, or STRONGROOM_ARCHIVE, default ./archive
    Every option as an environment variable: STRONGROOM_<COMMAND>_<OPTION>,
    e.g. STRONGROOM_VERIFY_INTERVAL=30d; STRONGROOM_QUIET=1 for every command.
    Shell completion (bash; zsh and fish alike):
      eval "$(_STRONGROOM_COMPLETE=bash_source strongroom)"

    \b
    Example:
      strongroom archive -c collections/andijan-2005.toml
      strongroom verify --all --quiet
    """


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    try:
        rv = cli.main(
            args=argv,
            prog_name="strongroom",
            standalone_mode=False,
            auto_envvar_prefix=ENV_PREFIX,
        )
    except StrongroomError as exc:
        click.echo(f"strongroom: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("strongroom: interrupted", err=True)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        click.echo("strongroom: interrupted", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE if exc.exit_code not in (0, 1) else exc.exit_code)
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
