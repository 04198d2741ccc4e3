"""The main job: ``strongroom archive`` (capture -> bag -> verify for every seed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from strongroom.commands.capture import capture_options, options_from
from strongroom.commands.options import archive_option, make_output, output_options

if TYPE_CHECKING:
    from strongroom.core.ui import Output
    from strongroom.workflow import ArchiveRun

ALGORITHMS = ("sha512", "sha256", "sha384", "sha1", "md5")


@click.command("archive")
@click.option(
    "-c",
    "--collection",
    "collection_path",
    type=click.Path(dir_okay=False),
    help="Collection TOML file.",
)
@click.option(
    "-i",
    "--input-file",
    "input_file",
    metavar="FILE",
    help="A plain list of URLs, one a line ('-' reads standard input), instead of -c.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the last, interrupted run of this collection; skip seeds it finished.",
)
@archive_option
@click.option(
    "--manifests",
    "manifests_dir",
    type=click.Path(file_okay=False),
    help="Inventory folder (default: manifests/ beside collections/, else the archive's;"
    " fixed in config.toml at first use).",
)
@click.option(
    "--algorithm",
    "algorithms",
    multiple=True,
    type=click.Choice(ALGORITHMS),
    help="Extra payload manifest algorithm (sha512 is always made). Repeatable.",
)
@capture_options
@click.option("--no-screenshot", is_flag=True, help="Skip the Chromium screenshots.")
@click.option("--no-verify", is_flag=True, help="Skip the fixity check after bagging.")
@click.option(
    "--force", is_flag=True, help="Make a new bag even when no payload changed since the last."
)
@output_options
def archive_cmd(
    collection_path: str | None,
    input_file: str | None,
    resume: bool,
    archive: str,
    manifests_dir: str | None,
    algorithms: tuple[str, ...],
    no_screenshot: bool,
    no_verify: bool,
    force: bool,
    as_json: bool,
    quiet: bool,
    **params: Any,
) -> int:
    """Capture, bag and verify every seed of a collection: the main job.

    Each seed becomes its own capture and its own signed BagIt bag under
    <archive>/bags/. Pages are loaded in headless Chromium when it is installed
    (--no-browser: static capture), with a screenshot of the live render, an entry in the
    inventory manifests/<collection>/<bag>.json, and a first fixity check in the
    ledger. A re-capture whose payloads all equal the seed's latest bag makes
    no new bag ("unchanged since BAG", in the ledger and custody log) unless
    --force. Exit 0 when all went well, 1 when a fetch failed or a bag did not
    verify, 2 on a usage error.

    \b
    Example:
      strongroom keys init          # once: bags are signed from then on
      strongroom archive -c collections/andijan-2005.toml
      strongroom archive -c collections/andijan-2005.toml --resume   # after Ctrl-C
      strongroom archive -i urls.txt          # one URL a line; '-' reads stdin
      strongroom archive -c collections/demo.toml --archive /srv/strongroom --json
    """
    from pathlib import Path

    from strongroom.core.archive import Archive
    from strongroom.core.collection import adhoc_collection, load_collection
    from strongroom.errors import UsageError
    from strongroom.preflight import preflight, read_url_list
    from strongroom.workflow import JobOptions, RunState, archive_collection

    output = make_output(as_json, quiet)
    if bool(collection_path) == bool(input_file):
        raise UsageError(
            "give either -c COLLECTION.toml or -i URLS.txt (see strongroom archive --help)"
        )
    if collection_path:
        collection = load_collection(Path(collection_path))
        source = collection_path
    else:
        collection = adhoc_collection(read_url_list(str(input_file)))
        source = f"{input_file} (-i)"
    arch = Archive(archive)
    for warning in preflight(arch, collection):
        output.warn(warning)
    state = RunState.load(arch, collection.id, source) if resume else None
    capture = _capture_options(params, collection, output)
    algos = ("sha512", *[a for a in algorithms if a != "sha512"])
    job = JobOptions(
        manifests_dir=Path(manifests_dir) if manifests_dir else None,
        capture=capture,
        algorithms=algos,
        screenshot=not no_screenshot,
        verify=not no_verify,
        force=force,
    )
    run = archive_collection(arch, collection, job, notify=output.info, resume=state)
    if output.json:
        output.emit_json(run.as_dict())
    else:
        _summary(run, output)
    return run.exit_code


def _capture_options(params: dict[str, Any], collection: Any, output: Output) -> Any:
    """The capture options, with the browser on when Chromium is installed (warned once)."""
    from strongroom.capture.choose import choose_browser

    capture = options_from(params)
    capture.browser, warning = choose_browser(capture.browser, collection.capture.browser, True)
    if warning:
        output.warn(warning)
    return capture


def _summary(run: ArchiveRun, output: Output) -> None:
    """Problems on stderr (always); a table of what was made (unless --quiet)."""
    from rich import box
    from rich.table import Table

    from strongroom.core.ui import esc, middle_cut, out

    for seed in run.seeds:
        for w in seed.warnings:
            output.warn(w)
        for f in seed.failures:
            output.problem(f"{seed.url}: failed fetch {f}")
        if seed.error:
            output.problem(f"{seed.url}: {seed.error}")
    if output.quiet:
        return
    heads = ("bag", "access", "signed", "fixity")
    cells = [
        (
            s.bag_id or (f"unchanged since {s.unchanged_since}" if s.unchanged_since else "-"),
            s.access or "-",
            "yes" if s.signed else "no",
            (s.verify_result or "-") + (" (earlier run)" if s.skipped else ""),
        )
        for s in run.seeds
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
    # One space of padding a side, none at the edges, a one-space rule between columns.
    seed_w = max(24, out.width - sum(widths) - 3 * len(heads))
    table = Table(
        title=f"collection {esc(run.collection_id)}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
    )
    table.add_column("seed", width=seed_w, no_wrap=True)
    for head, col_w in zip(heads, widths, strict=True):
        table.add_column(head, width=col_w, no_wrap=True)
    for s, row in zip(run.seeds, cells, strict=True):
        table.add_row(esc(middle_cut(s.url, seed_w)), *(esc(c) for c in row))
    out.print(table)


COMMANDS: list[click.Command] = [archive_cmd]
