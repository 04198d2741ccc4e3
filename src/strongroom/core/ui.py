"""Terminal output shared by every command: messages, tables, progress, JSON.

Rules the CLI keeps everywhere: human text goes to stderr when it is a
diagnostic and to stdout when it is the result; ``--json`` prints exactly one
JSON document on stdout; ``--quiet`` prints nothing when all is well, so cron
mails only problems; progress bars appear only on a TTY.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


def _width() -> int | None:
    """Let rich size tables to the terminal; when piped (cron mail, logs), use 120
    columns rather than rich's 80 so that URLs and bag ids stay readable."""
    return None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "120"))


_consoles: dict[str, Console] = {}


def _console(name: str) -> Console:
    """``out`` or ``err``, made on first use: importing rich costs start-up that
    ``--json`` and ``--quiet`` runs (cron, capture) never need."""
    console = _consoles.get(name)
    if console is None:
        from rich.console import Console

        console = Console(stderr=name == "err", highlight=False, soft_wrap=True, width=_width())
        _consoles[name] = console
    return console


def __getattr__(name: str) -> Any:
    if name in ("out", "err"):  # ``from strongroom.core.ui import out`` still works
        return _console(name)
    raise AttributeError(name)


class Output:
    """What the user asked for: JSON, quiet, or normal human output."""

    # A plain class, not a dataclass: every command makes one, and defining a
    # dataclass costs start-up about half a millisecond.
    __slots__ = ("json", "quiet")

    def __init__(self, *, json: bool = False, quiet: bool = False) -> None:
        self.json = json
        self.quiet = quiet

    @property
    def human(self) -> bool:
        return not self.json and not self.quiet

    def info(self, message: str, *, markup: bool = False) -> None:
        """A line for a person; suppressed by --json and --quiet.

        The text is printed as is: URLs, titles, paths and hints such as
        ``[[partners]]`` come from users, configs and live pages, and rich would
        swallow their brackets as markup. Pass ``markup=True`` only for a message
        whose variable parts went through :func:`esc`.
        """
        if self.human:
            _console("out").print(message if markup else esc(message))

    def warn(self, message: str) -> None:
        """A warning on stderr; shown even with --quiet (cron should see it)."""
        _console("err").print(f"[yellow]warning:[/yellow] {esc(message)}")

    def problem(self, message: str) -> None:
        """A problem on stderr; always shown."""
        _console("err").print(f"[red]problem:[/red] {esc(message)}")

    def emit_json(self, obj: Any, *, indent: bool | None = None, plain: bool = False) -> None:
        """Print one JSON document on stdout: indented for a person at a terminal,
        else one compact line (``indent`` forces either).

        Compact output is what scripts and cron read, and it is written by
        json's C encoder: with ``indent``, json falls back to its pure-Python
        encoder, which took 14% of ``status --json`` at 10,000 bags. ``plain``:
        ``obj`` holds only plain values (see ``_plain_json``).
        """
        pretty = sys.stdout.isatty() if indent is None else indent
        if pretty:
            text = json.dumps(obj, indent=2, sort_keys=True, default=str)
        elif plain and (sys.stdout.encoding or "").lower().replace("-", "") == "utf8":
            text = _plain_json(obj)
        else:
            text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def table(self, table: Table) -> None:
        if self.human:
            _console("out").print(table)


def esc(text: object) -> str:
    """``text`` with rich markup escaped, so it prints exactly as written."""
    from rich.markup import escape

    return escape(str(text))


def middle_cut(text: str, width: int) -> str:
    """``text`` cut in the middle to at most ``width`` characters (``…`` marks the cut).

    For URLs: the host at the start and the page name at the end are what a
    reader recognises, so those stay.
    """
    if width < 5 or len(text) <= width:
        return text if len(text) <= max(width, 1) else text[: max(width, 1)]
    head = (width - 1 + 1) // 2
    tail = width - 1 - head
    return text[:head] + "…" + (text[-tail:] if tail else "")


def _plain_json(obj: Any) -> str:
    """A document of plain values (dicts with text keys, lists, text, numbers, booleans,
    None) as one compact line with sorted keys, by orjson: json's own encoder took a
    quarter of ``status --json`` at 10,000 seeds, orjson a tenth of that. The same
    document json writes, but for text past ASCII, written as UTF-8 rather than as
    escapes; anything orjson refuses (an integer past 64 bits, a lone surrogate, a
    value of another type) goes to json as before."""
    import orjson

    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))


class _NullProgress:
    """Stands in for a rich Progress when stdout is not a terminal."""

    def add_task(self, *_a: Any, **_k: Any) -> int:
        return 0

    def update(self, *_a: Any, **_k: Any) -> None:
        return None

    def advance(self, *_a: Any, **_k: Any) -> None:
        return None


@contextlib.contextmanager
def progress(output: Output, *, bytes_mode: bool = False) -> Iterator[Any]:
    """A rich progress bar on a TTY (and not --quiet/--json); a silent stand-in otherwise."""
    if not output.human or not _console("err").is_terminal:
        yield _NullProgress()
        return
    # imported here: only a person at a terminal ever sees a bar
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns: list[Any] = [TextColumn("[bold]{task.description}"), BarColumn()]
    columns.append(DownloadColumn() if bytes_mode else MofNCompleteColumn())
    columns.append(TimeRemainingColumn())
    with Progress(*columns, console=_console("err"), transient=True) as bar:
        yield bar


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 file``, ``4 files``: counts read as a person would say them."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
