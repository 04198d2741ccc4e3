"""Commands of the capture area: ``capture``."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from strongroom.commands.options import archive_option, make_output, output_options

SCOPE_CHOICES = ("page", "prefix", "host", "domain")
F = TypeVar("F", bound=Callable[..., Any])


def _size(_ctx: Any, _param: Any, value: str | None) -> int | None:
    if value is None:
        return None
    from strongroom.core.archive import parse_size
    from strongroom.errors import UsageError

    try:
        return parse_size(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from None


def capture_options(f: F) -> F:
    """The crawl-control options shared by ``capture`` and ``archive``."""
    options = [
        click.option(
            "--depth",
            type=click.IntRange(min=0),
            help="Link levels to follow from each seed (0 = the seed only).",
        ),
        click.option(
            "--scope",
            type=click.Choice(SCOPE_CHOICES),
            help="Which outlinks to follow (default: host).",
        ),
        click.option(
            "--delay", type=click.FloatRange(min=0), help="Seconds between requests to one host."
        ),
        click.option(
            "--concurrency",
            type=click.IntRange(min=1, max=64),
            help="Parallel fetches (default 4).",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0.1),
            help="Seconds to wait to connect and for each read.",
        ),
        click.option(
            "--time-limit",
            "time_limit",
            type=click.FloatRange(min=0.1),
            help="Total seconds allowed per resource.",
        ),
        click.option(
            "--max-bytes",
            callback=_size,
            help="Cut bodies larger than this, e.g. 50MB (marked truncated).",
        ),
        click.option(
            "--retries",
            type=click.IntRange(min=0, max=20),
            help="Retries on 5xx, 429 and connection errors.",
        ),
        click.option(
            "--max-pages-per-host", type=click.IntRange(min=1), help="Trap guard: pages per host."
        ),
        click.option(
            "--ignore-robots", is_flag=True, help="Do not obey robots.txt (recorded in the WARC)."
        ),
        click.option(
            "--proxy", help="HTTP or SOCKS5 proxy, e.g. socks5h://127.0.0.1:9050 for Tor."
        ),
        click.option("--user-agent", help="User-Agent header to send."),
        click.option(
            "--dedup",
            type=click.Choice(("capture", "archive")),
            help="Revisits within this capture only (default: every bag stands alone), "
            "or against earlier bags too (the bag then declares Depends-On).",
        ),
        click.option(
            "--browser/--no-browser",
            "browser",
            default=None,
            help="Load each page in headless Chromium and record every request it makes "
            "(capture: off unless the collection says browser = true; archive: on when "
            "Chromium is installed).",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def options_from(params: dict[str, Any], extra_seeds: tuple[str, ...] = ()) -> Any:
    """Build CaptureOptions from the values of :func:`capture_options`."""
    from strongroom.capture.crawl import CaptureOptions

    return CaptureOptions(
        scope=params["scope"],
        depth=params["depth"],
        delay=params["delay"],
        concurrency=params["concurrency"],
        timeout=params["timeout"],
        resource_time_limit=params["time_limit"],
        max_bytes=params["max_bytes"],
        retries=params["retries"],
        obey_robots=False if params["ignore_robots"] else None,
        user_agent=params["user_agent"],
        max_pages_per_host=params["max_pages_per_host"],
        proxy=params["proxy"],
        dedup=params.get("dedup"),
        extra_seeds=extra_seeds,
        browser=params.get("browser"),
    )


@click.command("capture")
@click.argument("urls", nargs=-1)
@click.option(
    "-c",
    "--collection",
    "collection_path",
    type=click.Path(dir_okay=False),
    help="Collection TOML file; URLs given too are added as extra seeds.",
)
@click.option(
    "-i",
    "--input-file",
    "input_file",
    metavar="FILE",
    help="Also capture the URLs in FILE, one a line ('-' reads standard input).",
)
@archive_option
@capture_options
@output_options
def capture_cmd(
    urls: tuple[str, ...],
    collection_path: str | None,
    input_file: str | None,
    archive: str,
    as_json: bool,
    quiet: bool,
    **params: Any,
) -> int:
    """Capture pages and everything they need into WARC 1.1 files.

    Writes <archive>/captures/<capture-id>/ with WARCs and capture.json, and
    prints the capture id. Exit 0 when everything was fetched, 1 when some
    fetches failed, 2 on a usage error or an interrupted capture.

    \b
    Example:
      strongroom capture https://example.org/news/story.html
      strongroom capture https://example.org/news/story.html --browser
      strongroom capture -c collections/andijan-2005.toml --depth 1
      strongroom capture URL --proxy socks5h://127.0.0.1:9050 --json
      strongroom capture -i urls.txt       # one URL a line; '-' reads stdin
    """
    from strongroom.capture.choose import choose_browser
    from strongroom.capture.crawl import capture
    from strongroom.core.archive import Archive
    from strongroom.core.collection import adhoc_collection, load_collection, validate_url
    from strongroom.core.ui import progress as progress_bar
    from strongroom.errors import UsageError
    from strongroom.preflight import preflight, read_url_list

    # What is alive now (the modules a capture needs) lives until the process ends:
    # frozen, the collector never walks it again, during the crawl or at exit, where
    # those walks cost a capture about 50 ms of CPU (measured on the benchmark site).
    gc.freeze()
    output = make_output(as_json, quiet)
    for u in urls:  # refuse bad URLs before anything is created or fetched
        validate_url(u, "url")
    if input_file:
        urls = tuple(dict.fromkeys([*urls, *read_url_list(input_file)]))
    if collection_path:
        collection = load_collection(Path(collection_path))
        extra = tuple(urls)
    elif urls:
        collection = adhoc_collection(list(urls))
        extra = ()
    else:
        raise UsageError("give at least one URL or -c COLLECTION.toml (see --help)")
    opts = options_from(params, extra)
    opts.browser, warning = choose_browser(opts.browser, collection.capture.browser, False)
    if warning:
        output.warn(warning)
    # a broken config.toml fails now, not after the first fetch; capture never signs
    preflight(Archive(archive), signing=False)
    with progress_bar(output) as bar:
        task = bar.add_task("capturing", total=None)

        def on_progress(done: int, total: int, url: str) -> None:
            bar.update(task, completed=done, total=total, description=f"capturing {url[-50:]}")

        result = capture(Archive(archive), collection, options=opts, progress=on_progress)
    if output.json:
        output.emit_json(result.as_dict())
    else:
        _report(result, output)
    return result.exit_code


def _report(result: Any, output: Any) -> None:
    """The capture id on stdout, then (unless --quiet) a summary table and problems."""
    if result.status != "complete":
        output.problem(
            f"capture interrupted; complete WARCs kept in {result.path}"
            " (capture.json says interrupted)"
        )
    if output.quiet and result.exit_code == 0:
        return  # nothing to say, and rich's tables cost a quiet cron job a third of its run
    from rich.table import Table

    from strongroom.core.ui import esc, human_bytes, out

    out.print(result.capture_id)
    s = result.stats
    table = Table(title=f"capture {result.capture_id}")
    table.add_column("resources")
    table.add_column("count", justify="right")
    table.add_row("fetched", str(s["fetched"]))
    table.add_row("  of which deduplicated (revisit)", str(s["deduplicated"]))
    table.add_row("  of which cut by --max-bytes", str(s["truncated"]))
    table.add_row("failed", str(s["failed"]))
    table.add_row("skipped (limits)", str(len(result.skipped)))
    table.add_row("bytes received", human_bytes(s["bytes"]))
    table.add_row("WARC files", ", ".join(w["name"] for w in result.warcs) or "-")
    output.table(table)
    if result.failures:
        ft = Table(title="failed", show_lines=False)
        ft.add_column("url", overflow="fold")
        ft.add_column("reason", overflow="fold")
        for f in result.failures:
            ft.add_row(esc(f.url), esc(f.reason))
        if output.human:
            output.table(ft)
        else:
            for f in result.failures:
                output.problem(f"{f.url}: {f.reason}")
    if result.skipped and output.human:
        hosts = sorted({f.reason for f in result.skipped})
        for reason in hosts[:5]:
            n = sum(1 for f in result.skipped if f.reason == reason)
            output.warn(f"{n} URL(s) not followed: {reason}")


COMMANDS: list[click.Command] = [capture_cmd]
