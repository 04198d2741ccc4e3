"""Options shared by every command, so they look and behave the same everywhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from strongroom.core import DEFAULT_ARCHIVE, ENV_ARCHIVE
from strongroom.core.ui import Output

if TYPE_CHECKING:  # imported when a command runs, not when its options are defined
    from strongroom.core.archive import Archive

F = TypeVar("F", bound=Callable[..., Any])


def archive_option(f: F) -> F:
    """``--archive DIR`` (env ``STRONGROOM_ARCHIVE``, default ``./archive``)."""
    return click.option(
        "--archive",
        "archive",
        type=click.Path(file_okay=False, path_type=str),
        envvar=ENV_ARCHIVE,
        default=DEFAULT_ARCHIVE,
        show_default=True,
        show_envvar=True,
        help="Archive folder (captures, bags, ledger).",
    )(f)


def output_options(f: F) -> F:
    """``--json`` and ``--quiet`` (env ``STRONGROOM_JSON``, ``STRONGROOM_QUIET``)."""
    f = click.option(
        "--quiet",
        "-q",
        is_flag=True,
        envvar="STRONGROOM_QUIET",
        help="Print nothing on success (for cron).",
    )(f)
    f = click.option(
        "--json",
        "as_json",
        is_flag=True,
        envvar="STRONGROOM_JSON",
        help="Print one JSON document on stdout.",
    )(f)
    return f


def make_output(as_json: bool, quiet: bool) -> Output:
    return Output(json=as_json, quiet=quiet)


def open_archive(path: str) -> Archive:
    from strongroom.core.archive import Archive

    return Archive(path)
