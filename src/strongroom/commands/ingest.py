"""The ``import`` command: bag WARC and WACZ files made by other tools."""

from __future__ import annotations

from pathlib import Path

import click

from strongroom.commands.options import archive_option, make_output, output_options


@click.command("import")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-c",
    "--collection",
    "collection_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Collection TOML file: its id, designations and access apply to the bags.",
)
@click.option(
    "--manifests",
    "manifests_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Inventory folder (default: manifests/ beside collections/, else the archive's;"
    " fixed in config.toml at first use).",
)
@click.option(
    "--accept-damaged", is_flag=True, help="Import files with damaged records (needs --reason)."
)
@click.option("--reason", default="", help="Why damaged files are imported (logged).")
@archive_option
@output_options
def import_cmd(
    files: tuple[Path, ...],
    collection_path: Path | None,
    manifests_dir: Path | None,
    accept_damaged: bool,
    reason: str,
    archive: str,
    as_json: bool,
    quiet: bool,
) -> None:
    """Bag existing web archives: WARC (.warc, .warc.gz) and WACZ files.

    Files keep their bytes. Every record is checked first (structure, block and
    payload digests); damage is reported with file, offset and URI and refuses
    the import unless --accept-damaged --reason. Each WACZ becomes one bag; the
    WARC files given together become one bag. Exit 0 when bagged, 1 on damage
    or a hostile file, 2 on a usage error.

    \b
    Example:
      strongroom import crawl-00000.warc.gz crawl-00001.warc.gz -c collections/andijan-2005.toml
      strongroom import webrecorder-export.wacz --json
      strongroom verify --all --deep
    """
    from strongroom.core.archive import Archive
    from strongroom.core.collection import load_collection
    from strongroom.ingest.run import ImportOptions, import_files

    out = make_output(as_json, quiet)
    options = ImportOptions(
        collection=load_collection(collection_path) if collection_path else None,
        manifests_dir=manifests_dir,
        accept_damaged=accept_damaged,
        reason=reason,
    )
    result = import_files(Archive(archive), list(files), options)
    if out.json:
        out.emit_json(result.as_dict())
        return
    for bag in result.bags:
        for d in bag.damage:
            out.warn(f"accepted damage: {d}")
        for e in bag.external_revisits:
            out.warn(f"depends on an external archive: {e}")
        out.info(f"{bag.bag_id}")
        out.info(
            f"  from {', '.join(bag.sources)}: {bag.records} records, "
            f"{len(bag.seeds)} seed(s), access {bag.access}"
        )
    if result.bags:
        out.info(f"next: strongroom verify {result.bags[0].bag_id} --deep")


COMMANDS: list[click.Command] = [import_cmd]
