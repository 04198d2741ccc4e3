"""The ``ledger`` commands: schema migrations, moving to PostgreSQL, and the nodes."""

from __future__ import annotations

import click

from strongroom.commands.options import archive_option, make_output, open_archive, output_options
from strongroom.errors import EXIT_OK, EXIT_PROBLEM


@click.group("ledger")
def ledger_group() -> None:
    """The archive's ledger: SQLite by default, or a PostgreSQL shared by several nodes.

    The ledger is chosen by STRONGROOM_LEDGER, else by `[ledger] url` in the
    archive's config.toml, else it is <archive>/ledger.sqlite.

    \b
    Example:
      strongroom ledger migrate
      strongroom ledger copy --to postgresql://strongroom@db.example:5432/archive
      strongroom ledger nodes
    """


@ledger_group.command("migrate")
@archive_option
@output_options
def migrate_cmd(archive: str, as_json: bool, quiet: bool) -> int:
    """Bring the ledger's schema to this strongroom's version (run once, from one node).

    A shared PostgreSQL ledger is never changed behind the other nodes' backs:
    every other command refuses an old schema and names this one.

    \b
    Example:
      strongroom ledger migrate --archive /srv/archive
    """
    from strongroom.core.ledger import ledger_location, open_ledger

    out = make_output(as_json, quiet)
    arch = open_archive(archive).require()
    with open_ledger(arch.root, migrate=True) as led:
        before, after = led.migrate()
        if led.migrated_from is not None:  # opening it already did the upgrade
            before = led.migrated_from
    where = str(ledger_location(arch.root))
    if out.json:
        out.emit_json({"ledger": where, "from": before, "to": after})
    elif before == after:
        out.info(f"{where}: schema version {after}, nothing to do")
    else:
        out.info(f"{where}: schema version {before} -> {after}")
    return EXIT_OK


@ledger_group.command("copy")
@click.option("--to", "target", required=True, metavar="URL", help="postgresql://user@host/db")
@archive_option
@output_options
def copy_cmd(target: str, archive: str, as_json: bool, quiet: bool) -> int:
    """Copy this archive's SQLite ledger into an empty PostgreSQL database.

    The SQLite file is only read. Afterwards every table's row count and every
    custody head are compared; exit 1 if anything differs. Then set
    `[ledger] url` in config.toml (the password goes in a .pgpass file).

    \b
    Example:
      strongroom ledger copy --to postgresql://strongroom@127.0.0.1:5432/archive
    """
    from strongroom.core.backends import LedgerLocation, parse_ledger_url, redact
    from strongroom.core.ledger import Ledger
    from strongroom.core.shared import copy_ledger

    out = make_output(as_json, quiet)
    arch = open_archive(archive).require()
    dest = parse_ledger_url(target, "--to")
    with (
        Ledger(LedgerLocation("sqlite", arch.ledger_path)) as source,
        Ledger(dest, migrate=True) as sink,
    ):
        report = copy_ledger(source, sink, redact(target))
    if out.json:
        out.emit_json(report.as_dict() | {"to": redact(target)})
    else:
        for table, (a, b) in report.counts.items():
            mark = "" if a == b else "  [red]DIFFERS[/red]"
            out.info(f"{table:16} {a:>9} -> {b:<9}{mark}")
        heads = "equal" if report.heads_equal else "[red]DIFFER[/red]"
        out.info(f"custody heads: {heads}")
        if report.ok:
            out.info(f"copied to {redact(target)}; set [ledger] url in config.toml to use it")
    if not report.ok:
        out.problem("the copy does not match its source; keep using the SQLite ledger")
        return EXIT_PROBLEM
    return EXIT_OK


@ledger_group.command("nodes")
@archive_option
@output_options
def nodes_cmd(archive: str, as_json: bool, quiet: bool) -> int:
    """List the nodes that share this ledger, with the bags each holds.

    \b
    Example:
      strongroom ledger nodes --json
    """
    from strongroom.core.ledger import open_ledger

    out = make_output(as_json, quiet)
    arch = open_archive(archive).require()
    with open_ledger(arch.root) as led:
        nodes = led.nodes()
    if out.json:
        out.emit_json(nodes)
    elif not nodes:
        out.info("no node has reported yet: `strongroom verify --due` records what each holds")
    else:
        for name, n in nodes.items():
            juris = n["jurisdiction"] or "jurisdiction not set"
            out.info(f"{name} ({juris}): {n['bags']} bags, last seen {n['seen']}")
    return EXIT_OK


COMMANDS: list[click.Command] = [ledger_group]
