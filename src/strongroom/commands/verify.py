"""Commands of the verify area: ``verify`` and ``history``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from strongroom.commands.options import archive_option, make_output, open_archive, output_options
from strongroom.errors import ProblemFound, UsageError


@click.command("verify")
@click.argument("bags", nargs=-1)
@click.option("--all", "all_bags", is_flag=True, help="Every bag in the archive.")
@click.option("--fast", is_flag=True, help="Structure, sizes and Payload-Oxum only; no hashing.")
@click.option("--deep", is_flag=True, help="Also re-check every WARC record's digests.")
@click.option(
    "--due", is_flag=True, help="Only archive bags whose last good check is older than --interval."
)
@click.option(
    "--interval", default=None, metavar="AGE", help="With --due: e.g. 30d (default), 12h, 2w."
)
@click.option(
    "--budget", default=None, metavar="LIMIT", help="With --due: stop after 1h / 90m or 500GB."
)
@click.option(
    "--inventory",
    type=click.Path(path_type=Path),
    default=None,
    help="Inventory (manifests/<collection>/, or an older manifests/<collection>.json)"
    " the bags' tag manifests must match.",
)
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Hashing threads.")
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=None,
    help="Bags checked at once, in worker processes (default: one per core for --fast"
    " runs of many bags, else 1).",
)
@click.option(
    "--profile",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also check each bag against this BagIt profile (JSON).",
    callback=lambda _ctx, _param, value: _checked_profile(value),
)
@archive_option
@output_options
def verify_cmd(
    bags: tuple[str, ...],
    all_bags: bool,
    fast: bool,
    deep: bool,
    due: bool,
    interval: str | None,
    budget: str | None,
    inventory: Path | None,
    workers: int | None,
    jobs: int | None,
    profile: Path | None,
    archive: str,
    as_json: bool,
    quiet: bool,
) -> None:
    """Check bags strictly (RFC 8493) and record each check.

    BAGS are bag ids in the archive or paths to any BagIt bag (0.93 - 1.0).
    Archive bags are also checked against their signature, their custody log
    and the collection inventory, and each run is recorded in the ledger and
    the custody log. Exit 0 valid, 1 invalid, 2 usage or I/O error.

    \b
    Example:
      strongroom verify andijan-2005-20240501T101500Z-1a2b3c
      strongroom verify ./received/some-bag --deep
      strongroom verify --all --fast                 # every core: --jobs 2 for two
      strongroom verify --due --interval 30d --budget 1h --quiet   # nightly cron
      strongroom verify --profile profiles/strongroom-web-archive-v1.0.json ./some-bag
    """
    from strongroom.verify import fixity

    output = make_output(as_json, quiet)
    _check_arguments(bags, all_bags, fast, deep, due, interval, budget, inventory)
    arch = open_archive(archive)
    if all_bags or due:
        arch.require()
    options = fixity.VerifyOptions(
        mode="fast" if fast else "deep" if deep else "full",
        inventory=inventory,
        workers=workers,
        jobs=jobs,
        interval=fixity.parse_duration(interval or "30d"),
        budget=fixity.Budget.parse(budget),
        profile=profile,
    )
    targets: list[fixity.Target] | None = None
    if bags:
        targets = fixity.resolve_targets(arch, bags)
    elif all_bags:
        targets = fixity.all_targets(arch)
    result = _run(output, arch, targets, options, due=due, lock=due or all_bags, listing=all_bags)
    _conclude(output, arch, result, options, due=due)


def _check_arguments(
    bags: tuple[str, ...],
    all_bags: bool,
    fast: bool,
    deep: bool,
    due: bool,
    interval: str | None,
    budget: str | None,
    inventory: Path | None,
) -> None:
    if fast and deep:
        raise UsageError("--fast and --deep cannot be combined")
    if sum(bool(x) for x in (bags, all_bags, due)) != 1:
        raise UsageError("name bags (ids or paths), or use --all, or --due (one of them)")
    if (interval or budget) and not due:
        raise UsageError("--interval and --budget only apply with --due")
    if inventory is not None and not (
        inventory.is_file() or inventory.is_dir() or inventory.with_suffix("").is_dir()
    ):
        raise UsageError(f"--inventory {inventory}: no such file")


def _run(
    output: Any, arch: Any, targets: Any, options: Any, *, due: bool, lock: bool, listing: bool
) -> Any:
    """Run the checks with a progress bar (on a terminal only): one per bag while it is
    hashed, or for a fast run of many bags one that counts them."""
    from strongroom.core.ui import human_bytes, progress
    from strongroom.verify import fixity

    counting = options.mode == "fast" and (due or targets is None or len(targets) > 1)
    with progress(output, bytes_mode=not counting) as bar:
        total = (
            bar.add_task("verify", total=len(targets) if targets else None) if counting else None
        )

        class _Bar(fixity.Progress):
            def __init__(self, name: str) -> None:
                self.task = bar.add_task(name[:40], total=None)

            def start(self, total_bytes: int) -> None:
                bar.update(self.task, total=total_bytes)

            def advance(self, nbytes: int) -> None:
                bar.advance(self.task, nbytes)

        def on_done(run: fixity.BagRun) -> None:
            _print_run(output, run, human_bytes)
            if total is not None:
                bar.advance(total, 1)

        return fixity.run_verify(
            arch,
            targets,
            options,
            due=due,
            lock=lock,
            listing=listing,
            progress=None if counting else lambda t, _size: _Bar(t.name),
            on_done=on_done,
        )


def _conclude(output: Any, arch: Any, result: Any, options: Any, *, due: bool) -> None:
    """The closing lines, and the exit code: 1 when a bag is invalid, 2 when one is unchecked."""

    from strongroom.core.ui import err, human_bytes
    from strongroom.verify import fixity

    if result.locked:
        # A second cron run while the first still works is normal, not a failure.
        if output.json:
            output.emit_json(result.to_dict())
        elif not output.quiet:
            err.print(
                "another strongroom verify holds"
                f" {arch.locks / fixity.LOCK_NAME}; nothing checked this time"
            )
        return
    if output.json:
        output.emit_json(result.to_dict())
    elif due:
        checked = len(result.runs)
        if not result.runs and not result.deferred:
            output.info("no bags are due for a fixity check")
        elif result.deferred:
            output.info(
                f"checked {checked} due bag(s); {len(result.deferred)} left for the next run"
                f" ({human_bytes(result.deferred_bytes)}; budget {options.budget.describe()}):"
                f" {', '.join(result.deferred[:20])}"
                + (f" and {len(result.deferred) - 20} more" if len(result.deferred) > 20 else "")
            )
    if not output.json:
        for note in result.notes:
            output.info(note)
        for warning in result.warnings:
            output.warn(warning)
    bad = [r for r in result.runs if r.result == "invalid"]
    errors = [r for r in result.runs if r.result == "error"]
    if bad:
        raise ProblemFound(f"{len(bad)} of {len(result.runs)} bag(s) invalid")
    if errors:
        raise UsageError(f"{len(errors)} bag(s) could not be checked")
    if result.warnings:  # an unfinished publication nobody can finish here (full disk)
        raise UsageError(f"{len(result.in_flight)} bag(s) could not be checked (see the warning)")


def _checked_profile(path: Path | None) -> Path | None:
    """A bad profile file is a usage error, before any work."""
    if path is not None:
        from strongroom.bag.profile import load_profile

        load_profile(path)
    return path


def _print_run(output: Any, run: Any, human_bytes: Any) -> None:
    """One verdict line on stdout; problems and warnings on stderr."""
    if output.quiet and run.result == "valid":
        # --quiet is for cron: a valid bag's warnings (.DS_Store, case clashes) would
        # otherwise mail every night; they still show with an invalid bag, and in
        # --json. Nothing else of a valid bag is shown either: nothing to format
        # (nor to import: a run of valid bags never needs rich's markup).
        return
    from rich.markup import escape  # names from hostile bags must not become markup

    from strongroom.core.ui import plural
    from strongroom.verify.fixity import iter_problem_lines

    rep = run.report
    if rep is not None:
        for w in rep.warnings:
            output.warn(f"{run.target.name}: {w.message}")
    for line in iter_problem_lines(run):
        output.problem(line)
    if rep is None:
        return
    name = escape(run.target.name)
    size = f"{plural(rep.files, 'file')}, {human_bytes(rep.bytes)}"
    if run.result == "valid":
        extra = f", {rep.warc_records} WARC records" if run.mode == "deep" else ""
        output.info(
            f"[green]valid[/green]    {name}  ({size}{extra}, {run.mode} check,"
            f" {run.seconds:.1f} s)",
            markup=True,
        )
        for line in run.notes:
            output.info(f"         {line}")
    elif run.result == "invalid":
        output.info(
            f"[red]INVALID[/red]  {name}  ({len(run.problems)} problem(s), {size},"
            f" {run.mode} check)",
            markup=True,
        )


@click.command("history")
@click.argument("bag")
@archive_option
@output_options
def history_cmd(bag: str, archive: str, as_json: bool, quiet: bool) -> None:
    """Show every recorded fixity check of one bag.

    \b
    Example:
      strongroom history andijan-2005-20240501T101500Z-1a2b3c
      strongroom history andijan-2005-20240501T101500Z-1a2b3c --json
    """
    from rich.markup import escape
    from rich.table import Table

    from strongroom.core.ui import human_bytes
    from strongroom.verify import fixity

    output = make_output(as_json, quiet)
    arch = open_archive(archive).require()
    rows = fixity.history(arch, bag)
    if not rows and not arch.bag_dir(bag).is_dir():
        raise UsageError(f"{bag}: no such bag in {arch.bags} and no recorded checks")
    if as_json:
        output.emit_json({"bag": bag, "runs": rows})
        return
    if not rows:
        output.info(f"{bag}: no fixity checks recorded yet")
        return
    table = Table(title=f"fixity history of {escape(bag)}")
    for col in ("started (UTC)", "ended", "mode", "result", "files", "bytes", "failures"):
        right = col in ("files", "bytes", "failures")
        table.add_column(col, justify="right" if right else "left", no_wrap=True)
    for r in rows:
        colour = {"valid": "green", "invalid": "red"}.get(r["result"], "yellow")
        started, ended = r["started"].replace("T", " ").rstrip("Z"), r["ended"]
        # the end is nearly always the same day: show its time only, to fit 80 columns
        ended = ended[11:19] if ended[:10] == r["started"][:10] else ended.replace("T", " ")
        table.add_row(
            started,
            ended.rstrip("Z"),
            r["mode"],
            f"[{colour}]{r['result']}[/{colour}]",
            str(r["files"]),
            human_bytes(r["bytes"]),
            str(len(r["failures"])),
        )
    output.table(table)
    from strongroom.bag.timestamp import check_for_verify

    stamp, stamp_problems = check_for_verify(arch, arch.bag_dir(bag), bag)
    for line in ([stamp] if stamp else []) + stamp_problems:
        output.info(escape(line))
    last_bad = next((r for r in reversed(rows) if r["failures"]), None)
    if last_bad is not None:
        output.info(f"failures of the check started {last_bad['started']}:")
        for line in last_bad["failures"][:20]:
            output.info(f"  {line}")
        if len(last_bad["failures"]) > 20:
            output.info(f"  ... and {len(last_bad['failures']) - 20} more (see --json)")


COMMANDS: list[click.Command] = [verify_cmd, history_cmd]
