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
    required=True,
    type=click.Path(dir_okay=False),
    help="Collection TOML file.",
)
@archive_option
@click.option(
    "--manifests",
    "manifests_dir",
    type=click.Path(file_okay=False),
    help="Inventory folder (default: manifests/ beside the collections/ folder).",
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
    collection_path: str,
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
    inventory manifests/<collection>.json, and a first fixity check in the
    ledger. A re-capture whose payloads all equal the seed's latest bag makes
    no new bag ("unchanged since BAG", in the ledger and custody log) unless
    --force. Exit 0 when all went well, 1 when a fetch failed or a bag did not
    verify, 2 on a usage error.

    \b
    Example:
      strongroom keys init          # once: bags are signed from then on
      strongroom archive -c collections/andijan-2005.toml
      strongroom archive -c collections/demo.toml --archive /srv/strongroom --json
    """
    from pathlib import Path

    from strongroom.capture.browser import choose_browser
    from strongroom.core.archive import Archive
    from strongroom.core.collection import load_collection
    from strongroom.workflow import JobOptions, archive_collection

    output = make_output(as_json, quiet)
    collection = load_collection(Path(collection_path))
    capture = options_from(params)
    capture.browser, warning = choose_browser(capture.browser, collection.capture.browser, True)
    if warning:
        output.warn(warning)
    algos = ("sha512", *[a for a in algorithms if a != "sha512"])
    job = JobOptions(
        manifests_dir=Path(manifests_dir) if manifests_dir else None,
        capture=capture,
        algorithms=algos,
        screenshot=not no_screenshot,
        verify=not no_verify,
        force=force,
    )
    run = archive_collection(Archive(archive), collection, job, notify=output.info)
    if output.json:
        output.emit_json(run.as_dict())
    else:
        _summary(run, output)
    return run.exit_code


def _summary(run: ArchiveRun, output: Output) -> None:
    """Problems on stderr (always); a table of what was made (unless --quiet)."""
    from rich.table import Table

    from strongroom.core.ui import out

    for seed in run.seeds:
        for w in seed.warnings:
            output.warn(w)
        for f in seed.failures:
            output.problem(f"{seed.url}: failed fetch {f}")
        if seed.error:
            output.problem(f"{seed.url}: {seed.error}")
    if output.quiet:
        return
    table = Table(title=f"collection {run.collection_id}", title_justify="left")
    table.add_column("seed", overflow="fold")
    table.add_column("bag", no_wrap=True)
    for col in ("access", "signed", "fixity"):
        table.add_column(col, no_wrap=True)
    for s in run.seeds:
        table.add_row(
            s.url,
            s.bag_id or (f"unchanged since {s.unchanged_since}" if s.unchanged_since else "-"),
            s.access or "-",
            "yes" if s.signed else "no",
            s.verify_result or "-",
        )
    out.print(table)


COMMANDS: list[click.Command] = [archive_cmd]
