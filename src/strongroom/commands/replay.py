"""Commands of the replay area: ``replay``, ``export``, ``report``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from strongroom.commands.options import archive_option, make_output, output_options
from strongroom.errors import UsageError


@click.command("replay")
@click.argument("bags", nargs=-1)
@click.option(
    "-c",
    "--collection",
    "collection_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Replay the bags of this collection (its embargo_until is honoured).",
)
@click.option("--port", type=int, default=8080, show_default=True, help="Port (0: any free one).")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but loopback exposes the archive to the network.",
)
@click.option(
    "--as-staff",
    is_flag=True,
    help="Show restricted bags to every visitor (only allowed on 127.0.0.1).",
)
@click.option(
    "--build-only",
    is_flag=True,
    help="Build <archive>/replay and print the URLs, but do not start pywb.",
)
@archive_option
@output_options
def replay_cmd(
    bags: tuple[str, ...],
    collection_file: Path | None,
    port: int,
    host: str,
    as_staff: bool,
    build_only: bool,
    archive: str,
    as_json: bool,
    quiet: bool,
) -> None:
    """Browse archived pages in pywb, with access levels enforced.

    Builds a pywb collection in <archive>/replay from the bags' WARCs (the bags
    are only read), then serves it until Ctrl-C. Public bags are shown;
    restricted ones answer 451 unless your reverse proxy adds the header
    "X-Pywb-ACL-User: staff"; dark bags are not shown at all (404).

    \b
    Example:
      strongroom replay -c collections/andijan-2005.toml
      strongroom replay demo-20240220T101500Z-ab12cd --port 8090
      strongroom replay --as-staff          # your own machine: see restricted bags
    """
    from strongroom.core.archive import Archive
    from strongroom.core.collection import load_collection
    from strongroom.replay import pywb as replay

    out = make_output(as_json, quiet)
    if as_staff and not replay.is_loopback(host):
        raise UsageError("--as-staff is only allowed with --host 127.0.0.1 (your own machine)")
    if not (0 <= port <= 65535):
        raise UsageError(f"--port {port}: expected 0-65535")
    arch = Archive(archive)
    collection = load_collection(collection_file) if collection_file else None
    ids = replay.select_bags(arch, bag_ids=bags, collection=collection)
    built = replay.build(arch, ids, embargo_until=collection.embargo_until if collection else None)
    for problem in built.problems:
        out.warn(problem)
    if not replay.is_loopback(host):
        out.warn(
            f"listening on {host}: anyone who reaches this port can send {replay.STAFF_HEADER}; "
            "the header is ignored, so restricted bags stay blocked for everyone"
        )
    staff = "all" if as_staff else ("header" if replay.is_loopback(host) else "none")
    server = None
    if not build_only:
        server = replay.start(built.root, host=host, port=port, staff=staff)
    show_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    base = server.base if server else f"http://{show_host}:{port}"
    try:
        if out.json:
            doc = built.as_dict(base) | {"base": base, "serving": server is not None}
            out.emit_json(doc)
        else:
            _show_seeds(out, built, base, as_staff, serving=server is not None)
        if server:
            from strongroom.core.signals import sigterm_as_interrupt

            with sigterm_as_interrupt():  # SIGTERM (systemd, timeout) stops pywb too
                server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if server:
            server.stop()


def _show_seeds(out: Any, built: Any, base: str, as_staff: bool, *, serving: bool) -> None:
    """One replay URL per seed, with why a reader may not see it; then what is hidden."""
    from strongroom.replay import pywb as replay

    lines: list[str] = []
    for seed in built.seeds:
        note = ""
        if seed.access == "restricted" and not as_staff:
            note = f"  (restricted: needs {replay.STAFF_HEADER}: {replay.STAFF_USER})"
        elif seed.embargo_until:
            note = f"  (embargoed until {seed.embargo_until}: staff only)"
        lines.append(f"{replay.replay_url(base, seed)}{note}")
    for line in dict.fromkeys(lines):  # two bags captured in one second: one URL
        out.info(line)
    if built.dark:
        out.info(f"not shown (dark): {', '.join(built.dark)}")
    if serving:
        out.info(f"pywb serving {built.root} on {base}/ (Ctrl-C to stop)")


@click.command("export")
@click.argument("bag")
@click.option("--wacz", "as_wacz", is_flag=True, required=True, help="Write a WACZ 1.1.1 file.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The .wacz file to write.",
)
@click.option("--override", is_flag=True, help="Export a dark bag anyway (needs --reason).")
@click.option("--reason", default="", help="Why a dark bag is exported; goes to the custody log.")
@archive_option
@output_options
def export_cmd(
    bag: str,
    as_wacz: bool,
    output: Path,
    override: bool,
    reason: str,
    archive: str,
    as_json: bool,
    quiet: bool,
) -> None:
    """Package a bag as a WACZ file for ReplayWeb.page and other tools.

    The bag is only read. Dark bags are refused unless --override --reason is
    given; the export is recorded in the custody log and the ledger.

    \b
    Example:
      strongroom export demo-20240220T101500Z-ab12cd --wacz -o andijan.wacz
      strongroom export BAG --wacz -o court.wacz --override --reason "court order 12/2025"
    """
    from strongroom.core.archive import Archive
    from strongroom.core.ui import human_bytes, plural
    from strongroom.replay import wacz

    out = make_output(as_json, quiet)
    if not as_wacz:
        raise UsageError("choose a format: --wacz")
    res = wacz.export_wacz(Archive(archive), bag, output, override=override, reason=reason)
    if out.json:
        out.emit_json(res.as_dict())
        return
    if res.override:
        out.warn(f"{res.bag_id} is {res.access}; exported under override: {reason.strip()}")
    for problem in res.problems:
        out.warn(problem)
    for note in res.external:
        out.warn(
            f"{res.bag_id} depends on an external archive: {note}; those records are not in it"
        )
    if res.closure:
        out.info(f"with the records of {', '.join(res.closure)} (its Depends-On closure)")
    out.info(
        f"wrote {res.path} ({human_bytes(res.size)}, {plural(res.warcs, 'WARC')},"
        f" {plural(res.pages, 'page')}) from {res.bag_id}"
    )


@click.command("report")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the index page (default: <archive>/report.html); the collection"
    " pages go in a report-pages-<time>/ folder beside it.",
)
@archive_option
@output_options
def report_cmd(output: Path | None, archive: str, as_json: bool, quiet: bool) -> None:
    """Write the archive report: a small self-contained HTML site.

    The index leads with what needs action, then the summary, takedown events
    on a timeline and a line per collection; each collection's pages list its
    seeds with their live status and each bag's size, fixity, access level,
    copies and jurisdictions. No page loads anything from the network, and the
    site is replaced whole (a crash leaves the previous report).

    \b
    Example:
      strongroom report
      strongroom report -o /srv/www/archive-report.html
    """
    from strongroom.core.archive import Archive
    from strongroom.report import html as report
    from strongroom.report.status import collector_paused

    out = make_output(as_json, quiet)
    with collector_paused(freeze=True):  # a row per bag: see why there
        path, data = report.write_report(Archive(archive).require(), output)
    if out.json:
        out.emit_json({"path": str(path)} | report.summary(data))
        return
    if out.human:  # one plain line: rich's start-up (70 ms) buys nothing for a path
        click.echo(str(path))


COMMANDS: list[click.Command] = [replay_cmd, export_cmd, report_cmd]
