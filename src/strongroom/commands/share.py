"""Commands of the share area: ``share``, ``receive``, ``replicate``, ``repair``, ``partners``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from strongroom.commands.options import archive_option, make_output, open_archive, output_options
from strongroom.core.archive import Archive
from strongroom.errors import ProblemFound, StrongroomError, UsageError
from strongroom.share.extract import environment_error

if TYPE_CHECKING:
    from strongroom.core.ui import Output
    from strongroom.share.replicate import ReplicationStatus


@click.command("share")
@click.argument("bag")
@click.option("--to", "to", metavar="PARTNER", help="Partner name from partners.toml.")
@click.option("--export", is_flag=True, help="Write a signed, deterministic tar instead.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --export: the tar file to write.",
)
@click.option("--override", is_flag=True, help="Send despite the policy (needs --reason).")
@click.option("--reason", help="Why the policy is overridden; kept in the custody log.")
@archive_option
@output_options
def share_cmd(
    bag: str,
    to: str | None,
    export: bool,
    output: Path | None,
    override: bool,
    reason: str | None,
    archive: str,
    as_json: bool,
    quiet: bool,
) -> None:
    """Send a bag to a partner archive, or export it as a signed tar.

    Steps, in order: policy check (dark bags, access levels, designations in
    the partner's jurisdiction), full local verification, transfer to a
    temporary name and rename, confirmation of the copy at the destination,
    and a `replication` record in the ledger and custody log. Exit 0 sent,
    1 refused or failed, 2 usage error.

    With --export, writes FILE.tar (sorted names, fixed mtimes and owners: the
    same bytes every run), FILE.tar.sha512 and FILE.tar.sig, the Ed25519
    signature of FILE.tar.sha512. Without --to, only dark bags are refused.
    A recipient checks it with:

    \b
      openssl pkeyutl -verify -pubin -inkey signing.pub.pem -rawin \\
        -in FILE.tar.sha512 -sigfile FILE.tar.sig && sha512sum -c FILE.tar.sha512

    \b
    Example:
      strongroom share andijan-2005-20240501T101500Z-1a2b3c --to kyiv-mirror
      strongroom share BAG --to riga-mirror --override --reason "court order 12/2024"
      strongroom share --export BAG -o BAG.tar
    """
    out = make_output(as_json, quiet)
    arch = open_archive(archive)
    try:
        if export:
            _export(out, arch, bag, output, to, override, reason)
        else:
            _share(out, arch, bag, to, output, override, reason)
    except StrongroomError as exc:
        if as_json:  # a refusal is a JSON document too, for scripts
            doc = {"ok": False, "bag_id": bag, "partner": to, "error": exc.message}
            out.emit_json(
                doc | {"exit_code": exc.exit_code, "reasons": getattr(exc, "reasons", [])}
            )
        raise
    except OSError as exc:
        raise environment_error(exc, output or arch.root) from None


def _export(
    out: Output,
    arch: Archive,
    bag: str,
    output: Path | None,
    to: str | None,
    override: bool,
    reason: str | None,
) -> None:
    from strongroom.core.ui import human_bytes, plural
    from strongroom.share import export as share_export

    if output is None:
        raise UsageError("--export needs -o FILE.tar")
    res = share_export.export_bag(
        arch, bag, output, override=override, reason=reason, partner_name=to
    )
    if out.json:
        out.emit_json(res.as_dict())
        return
    out.info(f"Exported {res.bag_id} ({plural(res.files, 'file')}, {human_bytes(res.bytes)})")
    out.info(f"  tar:       {res.tar}")
    out.info(f"  sha512:    {res.checksum_file}")
    out.info(f"  signature: {res.signature}")


def _share(
    out: Output,
    arch: Archive,
    bag: str,
    to: str | None,
    output: Path | None,
    override: bool,
    reason: str | None,
) -> None:
    from strongroom.core.ui import human_bytes, plural
    from strongroom.share import replicate, send

    if output is not None:
        raise UsageError("-o only applies with --export")
    if not to:
        raise UsageError("name a partner with --to PARTNER (see `strongroom partners`)")
    result = send.share_bag(arch, bag, to, override=override, reason=reason)
    status = replicate.replication_status(arch, bag)
    if out.json:
        out.emit_json(result.as_dict() | {"ok": True, "replication": status.as_dict()})
        return
    for why in result.overridden:
        out.warn(f"policy overridden ({reason}): {why}")
    if result.already_there:
        out.info(f"Already at {result.partner}: {result.bag_id} is there and matches; not sent")
    else:
        out.info(
            f"Shared {result.bag_id} to {result.partner} ({result.jurisdiction},"
            f" {result.transport}): {plural(result.files, 'file')}, {human_bytes(result.bytes)}"
        )
    if result.dependencies:
        out.info(f"  with:      {', '.join(result.dependencies)} (its closure, sent first)")
    out.info(f"  copy:      {result.location}")
    out.info(f"  confirmed: {result.confirmed_by}")
    out.info(_status_line(status))


def _status_line(status: ReplicationStatus) -> str:
    verdict = "meets the policy" if status.compliant else "below the policy"
    return (
        f"  copies:    {status.copies} (policy {status.min_copies}) in"
        f" {len(status.jurisdictions)} jurisdictions (policy {status.min_jurisdictions}):"
        f" {', '.join(status.jurisdictions) or 'none'}; {verdict}"
    )


@click.command("receive")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--from", "partner", metavar="PARTNER", help="Partner that sent it (its key).")
@click.option(
    "--manifests",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Inventory folder (default ./manifests).",
)
@click.option(
    "--allow-unsigned", is_flag=True, help="Accept a bag without a signature (needs --reason)."
)
@click.option("--reason", help="Why an unsigned bag is accepted; kept in the custody log.")
@archive_option
@output_options
def receive_cmd(
    source: Path,
    partner: str | None,
    manifests: Path | None,
    allow_unsigned: bool,
    reason: str | None,
    archive: str,
    as_json: bool,
    quiet: bool,
) -> None:
    """Receive a bag (a folder or a tar) from a partner.

    Extraction refuses absolute or '..' names, links, devices and more files
    or bytes than config.toml [receive] allows. Then strict BagIt validation,
    a signature by the partner's key (--from; without it, any trusted key:
    `strongroom keys trust` adds one), the custody-log chain, and its
    identity (the folder name is its External-Identifier; not a renamed copy
    of a bag held here). A bag that passes is moved into the archive; one
    that fails stays in <archive>/quarantine/ with report.json, and receive
    exits 1. An unsigned bag is refused unless --allow-unsigned --reason says
    why (logged). A bag already held with the same tag manifests is
    confirmed as a copy (exit 0) and nothing changes.

    \b
    Example:
      strongroom receive /mnt/incoming/andijan-2005-20240501T101500Z-1a2b3c --from kyiv-mirror
      strongroom receive bag.tar --from kyiv-mirror --json
      strongroom receive old-bag/ --allow-unsigned --reason "made before keys existed"
    """
    from strongroom.core.ui import human_bytes, plural
    from strongroom.share import receive

    out = make_output(as_json, quiet)
    arch = open_archive(archive)
    try:
        res = receive.receive(
            arch,
            source,
            partner_name=partner,
            manifests_dir=manifests,
            allow_unsigned=allow_unsigned,
            reason=reason,
        )
    except receive.ReceiveFailed as exc:
        if as_json:
            out.emit_json(exc.report)
        else:
            rep = exc.report
            out.problem(f"{source.name} refused at the {rep['stage']} step; nothing was ingested")
            for p in rep["problems"][:10]:
                out.problem(f"  {receive.show(p)}")
            out.problem(f"quarantined in {rep['quarantine']} (report.json)")
        raise ProblemFound(f"{source.name} was not received; it is in quarantine") from None
    if as_json:
        out.emit_json(res.as_dict())
        return
    if res.already_held:
        out.info(f"Already held: {res.bag_id} is here with the same tag manifests; nothing changed")
        out.info(f"  bag:       {res.path}")
        return
    for w in res.warnings:
        out.warn(receive.show(w))
    out.info(
        f"Received {res.bag_id}{' from ' + res.partner if res.partner else ''}:"
        f" {plural(res.files, 'file')}, {human_bytes(res.bytes)}"
    )
    out.info(f"  bag:       {res.path}")
    out.info(f"  signature: {res.signature}")
    out.info(f"  custody:   {res.custody_entries} entries, chain intact")
    if res.inventory:
        out.info(f"  inventory: {res.inventory}")


@click.command("replicate")
@click.option("--all", "all_bags", is_flag=True, help="Every bag in the archive.")
@click.option("--dry-run", is_flag=True, help="Say what would be sent; send nothing.")
@archive_option
@output_options
def replicate_cmd(all_bags: bool, dry_run: bool, archive: str, as_json: bool, quiet: bool) -> None:
    """Send copies to partners until every bag meets the replication policy.

    The policy is config.toml [replication] min_copies and min_jurisdictions
    (the local copy counts). Copies go only where the sharing policy allows;
    it is never overridden. Exit 1 when a bag cannot comply, with the reason.

    \b
    Example:
      strongroom replicate --all --dry-run
      strongroom replicate --all --quiet     # cron
    """
    from strongroom.share import replicate

    out = make_output(as_json, quiet)
    if not all_bags:
        raise UsageError("use --all (replicate works on the whole archive)")
    arch = open_archive(archive)
    res = replicate.replicate_all(arch, dry_run=dry_run)
    if as_json:
        out.emit_json(res.as_dict() | {"dry_run": dry_run})
    else:
        verb = {"planned": "would send", "sent": "sent", "failed": "FAILED"}
        for a in res.actions:
            line = f"{verb[a.status]} {a.bag_id} -> {a.partner} ({a.jurisdiction})"
            if a.status == "failed":
                out.problem(f"{line}: {a.message}")
            else:
                out.info(line)
        for bag_id, why in res.unmet.items():
            out.problem(f"{bag_id} cannot meet the replication policy:")
            for w in why:
                out.problem(f"  {w}")
        if not res.unmet and not dry_run:
            out.info(f"All {len(res.compliant)} bag(s) meet the replication policy.")
    if not res.ok:
        raise ProblemFound(
            f"{len(res.unmet)} bag(s) cannot meet the replication policy"
            if res.unmet
            else "some copies failed"
        )


@click.command("repair")
@click.argument("bag")
@click.option("--from", "partner", metavar="PARTNER", help="Only use this partner's copy.")
@archive_option
@output_options
def repair_cmd(bag: str, partner: str | None, archive: str, as_json: bool, quiet: bool) -> None:
    """Restore damaged or missing payload files of a bag from a partner's copy.

    Each file is fetched from a copy, used only if it matches every manifest
    checksum, made read-only and renamed into place; then the whole bag is
    re-verified and a `repair` event naming the source goes to the custody
    log. Exit 0 repaired (or nothing to repair), 1 could not repair.

    \b
    Example:
      strongroom repair andijan-2005-20240501T101500Z-1a2b3c
      strongroom repair BAG --from kyiv-mirror --json
    """
    from strongroom.share import repair

    out = make_output(as_json, quiet)
    arch = open_archive(archive)
    res = repair.repair_bag(arch, bag, partner_name=partner)
    if as_json:
        out.emit_json(res.as_dict())
    else:
        for refused in res.refused_sources:
            out.warn(f"refused source: {refused}")
        for r in res.repaired:
            out.info(f"repaired {r['file']} from {r['source']} ({r['location']})")
        if res.ok and res.resumed:
            out.info(f"{bag} re-verified: valid (an interrupted repair was finished and recorded).")
        elif res.ok and not res.damaged:
            out.info(f"{bag} is valid; nothing to repair.")
        elif res.ok:
            out.info(f"{bag} re-verified: valid ({len(res.repaired)} file(s) restored).")
        for f in res.unrepaired:
            out.problem(f"could not repair {f}: no copy matches the manifest")
        for p in res.problems[:10]:
            out.problem(p)
    if not res.ok:
        raise ProblemFound(f"{bag} is still damaged after repair")


@click.command("partners")
@archive_option
@output_options
def partners_cmd(archive: str, as_json: bool, quiet: bool) -> None:
    """List the partner archives in <archive>/partners.toml (and check the file).

    \b
    Example:
      strongroom partners
      strongroom partners --json
    """
    from rich.table import Table

    from strongroom.bag.signing import fingerprint, parse_public_key
    from strongroom.core.ui import esc
    from strongroom.share.partners import load_partners

    out = make_output(as_json, quiet)
    arch = open_archive(archive)
    partners = load_partners(arch)
    if as_json:
        out.emit_json([p.as_dict() for p in partners])
        return
    if not partners:
        out.info(
            f"No partners yet; add [[partners]] tables to {arch.partners_path}"
            " (partners.example.toml in the strongroom repository explains each field)."
        )
        return
    table = Table("partner", "jurisdiction", "transport", "where", "access", "signing key")
    for p in partners:
        key = fingerprint(parse_public_key(p.public_key)) if p.public_key else "-"
        where = str(p.path) if p.transport == "dir" else f"{p.destination} (port {p.port})"
        cells = (p.name, p.jurisdiction, p.transport, where, ", ".join(p.access), key)
        table.add_row(*(esc(c) for c in cells))
    out.table(table)


COMMANDS: list[click.Command] = [share_cmd, receive_cmd, replicate_cmd, repair_cmd, partners_cmd]
