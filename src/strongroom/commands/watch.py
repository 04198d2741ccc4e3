"""Commands of the watch area: ``watch``, ``status``, ``access``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from strongroom.commands.options import archive_option, make_output, open_archive, output_options
from strongroom.errors import EXIT_OK, EXIT_PROBLEM, UsageError

if TYPE_CHECKING:
    from strongroom.core.collection import Collection

STATUS_STYLE = {
    "ok": "green",
    "edited": "yellow",
    "geo-blocked": "magenta",
    "unreachable": "yellow",
}


def _style(status: str | None) -> str:
    if status is None:
        return "dim"
    return STATUS_STYLE.get(status, "bold red")


def _load_collection(path: str | None) -> Collection | None:
    if not path:
        return None
    from strongroom.core.collection import load_collection

    return load_collection(Path(path))


@click.command("watch")
@click.option(
    "-c",
    "--collection",
    "collection_path",
    type=click.Path(dir_okay=False, path_type=str),
    help="Watch only this collection's seeds (collection TOML file).",
)
@click.option("--all", "all_seeds", is_flag=True, help="Watch every seed the archive holds.")
@click.option(
    "--proxy",
    "proxies",
    multiple=True,
    metavar="URL",
    help="An extra vantage point (http:// or socks5h:// proxy); repeat for more.",
)
@click.option(
    "--recapture", is_flag=True, help="Capture and bag an edited seed again, as a new version."
)
@click.option(
    "--manifests",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Inventory folder for --recapture bags (default: manifests/ beside collections/).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Seconds to wait for each answer (default: the collection's capture timeout).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Seeds checked at once (across hosts).",
)
@click.option(
    "--per-host",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="Seeds of one host checked at once; the collection's delay still spaces requests.",
)
@archive_option
@output_options
def watch_cmd(
    collection_path: str | None,
    all_seeds: bool,
    proxies: tuple[str, ...],
    recapture: bool,
    manifests: str | None,
    timeout: float | None,
    concurrency: int,
    per_host: int,
    archive: str,
    as_json: bool,
    quiet: bool,
) -> int:
    """Re-check the live pages of archived seeds for takedowns and edits.

    Each seed gets one status: ok, edited, redirect-home, soft-404, not-found,
    gone, blocked-451, unreachable or geo-blocked. Every result is logged in
    the ledger and in the custody log of the seed's latest bag; bags are never
    changed. Exit 1 when any seed changed state since the last watch, 0 when
    nothing did, so a cron job mails only real news.

    \b
    Example:
      strongroom watch --all --quiet
      strongroom watch -c collections/andijan-2005.toml --proxy socks5h://127.0.0.1:9050
      strongroom watch --all --recapture --json
      strongroom watch --all --concurrency 16 --per-host 2
    """
    from strongroom.core.ui import esc
    from strongroom.watch import run as watch_mod

    out = make_output(as_json, quiet)
    if collection_path and all_seeds:
        raise UsageError("give either -c COLLECTION.toml or --all, not both")
    coll = _load_collection(collection_path)
    arch = open_archive(archive)

    def show(r: watch_mod.WatchResult) -> None:
        if not out.human:
            return
        style = _style(r.status)
        before = f" (was {r.previous_status})" if r.previous_status else " (first watch)"
        mark = "[bold]NEW[/bold] " if r.changed else ""
        detail = r.evidence.get("reason") or ""
        if not detail and r.similarity is not None:
            detail = f"main text unchanged (similarity {r.similarity:.3f})"
        out.info(f"{mark}[{style}]{r.status}[/{style}]{esc(before)} {esc(r.url)}", markup=True)
        if detail:
            out.info(f"    {detail}")
        if r.recaptured_as:
            out.info(f"    recaptured as bag {r.recaptured_as}")

    run = watch_mod.watch(
        arch,
        coll,
        proxies=proxies,
        timeout=timeout,
        do_recapture=recapture,
        manifests_dir=Path(manifests) if manifests else None,
        on_result=show,
        concurrency=concurrency,
        per_host=per_host,
    )
    for p in run.problems:
        out.problem(p)
    if out.json:
        out.emit_json([r.as_dict() for r in run.results])
    elif not run.results:
        out.info("no seeds to watch: the archive holds no bags yet")
    elif quiet and run.changed:
        # --quiet prints nothing unless something changed; then the news, briefly.
        for r in run.changed:
            click.echo(f"{r.status} (was {r.previous_status or 'never watched'}) {r.url}")
    elif out.human:
        out.info(f"{len(run.results)} seed(s) checked, {len(run.changed)} changed state")
    return EXIT_PROBLEM if run.changed else EXIT_OK


@click.command("status")
@click.option(
    "-c",
    "--collection",
    "collection_path",
    type=click.Path(dir_okay=False, path_type=str),
    help="Show only this collection's seeds (collection TOML file).",
)
@archive_option
@output_options
def status_cmd(collection_path: str | None, archive: str, as_json: bool, quiet: bool) -> int:
    """Show every seed at a glance: captures, fixity, live status, designations, access.

    A row whose live page is gone (not-found, gone, blocked-451, redirect-home,
    soft-404) says so in red: this archive may hold the only copy.

    \b
    Example:
      strongroom status
      strongroom status -c collections/andijan-2005.toml --json
    """
    from strongroom.report.status import (
        collector_paused,
        nodes_line,
        seed_statuses,
        status_documents,
        status_table,
        summary_line,
    )

    out = make_output(as_json, quiet)
    archive_obj = open_archive(archive)
    with collector_paused(freeze=True):  # a row per seed: see why there
        rows = seed_statuses(archive_obj, _load_collection(collection_path))
        if out.json:
            out.emit_json(status_documents(rows), plain=True)
            return EXIT_OK
    if not rows:
        out.info("no seeds yet: capture and bag something first (strongroom archive -c FILE)")
        return EXIT_OK
    out.info(summary_line(rows, archive_obj))
    if nodes := nodes_line(archive_obj):
        out.info(nodes)
    if out.human:  # rich is imported only for a table someone reads
        from strongroom.core.ui import out as console

        out.table(status_table(rows, archive_obj, console.width))
    return EXIT_OK


@click.command("access")
@click.argument("bag_id")
@click.argument("level", type=click.Choice(["public", "restricted", "dark"]))
@click.option("--reason", default="", help="Why the level changes (required; it is logged).")
@archive_option
@output_options
def access_cmd(
    bag_id: str, level: str, reason: str, archive: str, as_json: bool, quiet: bool
) -> int:
    """Change a bag's access level (public, restricted, dark), with a reason.

    The change is appended to the bag's custody log and the ledger; the bag
    itself is never rewritten.

    \b
    Example:
      strongroom access andijan-2005-20240301T120000Z-a1b2c3 dark \\
          --reason "publisher designated undesirable in RU; protect readers"
    """
    from strongroom.bag.access import set_access

    out = make_output(as_json, quiet)
    entry = set_access(open_archive(archive).require(), bag_id, level, reason=reason)
    inputs = cast(dict[str, Any], entry["inputs"])
    if out.json:
        out.emit_json(
            {
                "bag_id": bag_id,
                "from": inputs["from"],
                "to": inputs["to"],
                "reason": inputs["reason"],
                "time": entry["time"],
                "actor": entry["actor"],
            }
        )
    else:
        out.info(f"{bag_id}: access {inputs['from']} -> {inputs['to']} ({inputs['reason']})")
    return EXIT_OK


COMMANDS: list[click.Command] = [watch_cmd, status_cmd, access_cmd]
