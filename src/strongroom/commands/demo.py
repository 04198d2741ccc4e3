"""The ``demo`` command: archive the shipped demo site end to end, or just serve it."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import click

from strongroom.commands.options import make_output, output_options
from strongroom.errors import EXIT_USAGE, ProblemFound, UsageError

if TYPE_CHECKING:
    from strongroom.core.ui import Output
    from strongroom.demo import DemoResult

# Kept here (not imported from strongroom.demo) so that `strongroom --help` stays light.
_DEMO_ARCHIVE = "demo-archive"
_DEMO_PORT = 8737


@click.command("demo")
@click.option(
    "--archive",
    "archive",
    type=click.Path(file_okay=False, path_type=str),
    default=_DEMO_ARCHIVE,
    show_default=True,
    # Deliberately not STRONGROOM_ARCHIVE: a demo must never write into a real archive.
    help="Archive folder for the demo (STRONGROOM_ARCHIVE is ignored here).",
)
@click.option(
    "--serve",
    is_flag=True,
    help=f"Only serve the demo site in the foreground (port {_DEMO_PORT}) until Ctrl-C.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help=f"Port on 127.0.0.1 [default: {_DEMO_PORT}; the same every run, so seeds stay the same].",
)
@output_options
def demo_cmd(archive: str, serve: bool, port: int | None, as_json: bool, quiet: bool) -> None:
    """Try strongroom on the shipped demo site, with no network.

    Serves a small news site on 127.0.0.1 (two articles about the Andijan
    massacre, as "Global Voices" on 127.0.0.1 and "RFE/RL" on localhost),
    archives the demo collection into ./demo-archive, and prints what was made.

    \b
    Example:
      strongroom demo
      strongroom demo --archive /tmp/demo --json
      strongroom demo --serve          # then, in another terminal:
      strongroom archive -c collections/demo.toml
    """
    from strongroom.core.archive import Archive
    from strongroom.demo import run_demo

    output = make_output(as_json, quiet)
    chosen = _DEMO_PORT if port is None else port
    if serve:
        _serve(output, chosen)
        return
    result = run_demo(Archive(archive), output, port=chosen)
    if output.json:
        output.emit_json(result.as_dict())
    else:
        _print_summary(output, result)
    if result.exit_code == EXIT_USAGE:
        raise UsageError("the demo was interrupted before it finished; run it again")
    if result.exit_code:
        raise ProblemFound(f"the demo found {len(result.problems) or 'some'} problem(s); see above")


def _serve(output: Output, port: int) -> None:
    """Serve the demo site until Ctrl-C."""
    from strongroom.core.signals import sigterm_as_interrupt
    from strongroom.demo import article_urls, start_site

    server = start_site(port)
    # SIGTERM (service managers, `kill`) stops the server as cleanly as Ctrl-C does,
    # from before the line that says it is ready (a supervisor may stop it at once).
    try:
        with sigterm_as_interrupt():
            urls = article_urls(server.port)
            if output.json:
                output.emit_json({"site_url": server.url, "articles": urls})
            else:
                output.info(f"Serving the strongroom demo site on {server.url}")
                output.info(f"  Global Voices article: {urls['globalvoices']}")
                output.info(f"  RFE/RL article:        {urls['rferl']}")
                if server.port == _DEMO_PORT:
                    output.info("Archive it with: strongroom archive -c collections/demo.toml")
                output.info("Press Ctrl-C to stop.")
            threading.Event().wait()
    except KeyboardInterrupt:
        output.info("Stopped.")
    finally:
        server.stop()


def _print_summary(output: Output, result: DemoResult) -> None:
    """The human summary: a table per article, then where everything is."""
    from rich.table import Table

    for problem in result.problems:
        output.problem(problem)
    if not output.human:
        return
    table = Table(title="strongroom demo", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    for i, seed in enumerate(result.seeds, 1):
        if i > 1:
            table.add_section()
        table.add_row(f"article {i}", f"{seed.publisher}\n{seed.url}")
        if seed.designations:
            table.add_row("designated", "[yellow]" + "\n".join(seed.designations) + "[/yellow]")
        table.add_row("capture", seed.capture_id or "-")
        signed = "signed" if seed.signed else "unsigned"
        table.add_row("bag", f"{seed.bag_id or '-'} ({seed.access}, {signed})")
        table.add_row("fixity", seed.fixity or "-")
        table.add_row("screenshot", "\n".join(s for s in seed.screenshots if s.endswith(".png")))
        live = seed.first_watch
        if seed.second_watch and seed.second_watch != seed.first_watch:
            live += f" -> [bold red]{seed.second_watch}[/bold red] (simulated takedown)"
        table.add_row("live", live or "-")
        table.add_row("replay", seed.replay_url or "-")
    output.table(table)
    output.info("")
    output.info(f"Archive:   {result.archive}")
    output.info(f"Inventory: {result.manifests_dir}")
    output.info(f"Key:       {result.key_fingerprint}")
    if result.report_path:
        output.info(f"Report:    {result.report_path}")
    if result.replay_command:
        output.info(f"Replay:    {result.replay_command} --as-staff")
        output.info("           then open a replay URL above (--as-staff also shows")
        output.info("           restricted bags; it is allowed on 127.0.0.1 only)")


COMMANDS: list[click.Command] = [demo_cmd]
