"""The ``bag`` and ``keys`` commands: package captures, manage the signing key."""

from __future__ import annotations

from pathlib import Path

import click

from strongroom.commands.options import archive_option, make_output, open_archive, output_options

ALGORITHM_CHOICES = ["sha512", "sha256", "sha384", "sha1", "md5"]


@click.command("bag")
@click.argument("capture_id")
@click.option(
    "--algorithm",
    "algorithms",
    multiple=True,
    type=click.Choice(ALGORITHM_CHOICES, case_sensitive=False),
    help="Payload manifest algorithm; repeat for more (sha512 is always made).",
)
@click.option(
    "--access",
    type=click.Choice(["public", "restricted", "dark"]),
    help="Access level (default: the collection's; restricted for designated publishers).",
)
@click.option(
    "--manifests",
    "manifests_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Inventory folder (default: ./manifests beside collections/).",
)
@click.option("--is-version-of", help="Bag id this capture is a new version of.")
@click.option(
    "--delete-capture", is_flag=True, help="Delete the capture folder once the bag is published."
)
@archive_option
@output_options
def bag_cmd(
    capture_id: str,
    algorithms: tuple[str, ...],
    access: str | None,
    manifests_dir: Path | None,
    is_version_of: str | None,
    delete_capture: bool,
    archive: str,
    as_json: bool,
    quiet: bool,
) -> None:
    """Package a capture as a signed BagIt 1.0 bag with provenance.

    The capture is copied (hard-linked where possible), never moved; the bag
    is built under a temporary name and appears under bags/ only when complete.
    The inventory manifests/<collection>/<bag>.json records its tag manifests.

    \b
    Example:
      strongroom bag 20240220T101500Z-ab12cd
      strongroom bag 20240220T101500Z-ab12cd --algorithm sha256 --algorithm md5
    """
    from strongroom.bag import make as bagging
    from strongroom.bag.manifest import WEAK_ALGORITHMS
    from strongroom.core import ui

    out = make_output(as_json, quiet)
    algos = ["sha512", *[a.lower() for a in algorithms if a.lower() != "sha512"]]
    weak = [a for a in algos if a in WEAK_ALGORITHMS]
    if weak:
        out.warn(
            f"{', '.join(weak)} is weak; add it only for partners whose tools need it "
            "(sha512 stays the manifest that counts)"
        )
    arch = open_archive(archive)
    with ui.progress(out, bytes_mode=True) as bar:
        task = bar.add_task(f"bagging {capture_id}", total=None)
        result = bagging.bag_capture(
            arch,
            capture_id,
            algorithms=algos,
            manifests_dir=manifests_dir,
            access=access,
            is_version_of=is_version_of,
            delete_capture=delete_capture,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if out.json:
        out.emit_json(result.as_dict())
        return
    out.info(f"{result.bag_id}")
    out.info(
        f"  {result.files} file{'' if result.files == 1 else 's'}, {ui.human_bytes(result.bytes)} "
        f"(Payload-Oxum {result.payload_oxum}), {', '.join(result.algorithms)}"
        f"{', hard-linked' if result.linked else ', copied'}"
    )
    out.info(
        f"  access {result.access}; signed {result.signed or 'no (run: strongroom keys init)'}"
    )
    if result.timestamp:
        out.info(f"  {result.timestamp}")
    out.info(f"  bag {result.path}")
    out.info(f"  inventory {result.inventory}")
    if result.capture_deleted:
        out.info(f"  capture {capture_id} deleted")


@click.group("keys")
def keys_group() -> None:
    """Manage the archive's Ed25519 signing key and trusted partner keys.

    \b
    Example:
      strongroom keys init
      strongroom keys show
      strongroom keys trust partner.pub --name memorial
    """


@keys_group.command("init")
@click.option("--force", is_flag=True, help="Replace an existing key (old bags need its .pub).")
@archive_option
@output_options
def keys_init(force: bool, archive: str, as_json: bool, quiet: bool) -> None:
    """Make the signing key pair (private key mode 0600).

    \b
    Example:
      strongroom keys init --archive ./archive
    """
    from strongroom.bag import signing

    out = make_output(as_json, quiet)
    arch = open_archive(archive).ensure()
    info = signing.init_keys(arch.keys, force=force)
    doc = {
        "fingerprint": info.fingerprint,
        "private_key": str(info.private_path),
        "public_key": str(info.public_path),
    }
    if out.json:
        out.emit_json(doc)
        return
    out.info(f"fingerprint {info.fingerprint}")
    out.info(f"private key {info.private_path} (mode 0600; back it up offline)")
    out.info(f"public key  {info.public_path} (give this to partners)")


@keys_group.command("show")
@archive_option
@output_options
def keys_show(archive: str, as_json: bool, quiet: bool) -> None:
    """Show the signing key's fingerprint, its public line, and trusted keys.

    \b
    Example:
      strongroom keys show --json
    """
    from strongroom.bag import signing
    from strongroom.errors import UsageError

    out = make_output(as_json, quiet)
    arch = open_archive(archive).require()
    key = signing.load_private_key(arch.keys)
    if key is None:
        raise UsageError(f"no signing key in {arch.keys}; run: strongroom keys init")
    pub = key.public_key()
    from strongroom.share.partners import trusted_keyring

    ring = trusted_keyring(arch)
    trusted = {fp: label for fp, label in ring.labels.items() if label != "this archive"}
    doc = {
        "fingerprint": signing.fingerprint(pub),
        "public_key": signing.public_key_text(pub).strip(),
        "trusted": trusted,
    }
    if out.json:
        out.emit_json(doc)
        return
    out.info(f"fingerprint {doc['fingerprint']}")
    out.info(f"public key  {doc['public_key']}")
    for fp, label in sorted(trusted.items(), key=lambda x: x[1]):
        out.info(f"trusted     {fp}  {label}")


@keys_group.command("trust")
@click.argument("key_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="Name for the partner (file keys/trusted/NAME.pub).")
@archive_option
@output_options
def keys_trust(key_file: Path, name: str, archive: str, as_json: bool, quiet: bool) -> None:
    """Trust a partner's public key (OpenSSH line or PEM) for signature checks.

    \b
    Example:
      strongroom keys trust memorial.pub --name memorial
    """
    from strongroom.bag import signing

    out = make_output(as_json, quiet)
    arch = open_archive(archive).ensure()
    fp, dest = signing.trust_key(arch, key_file, name)
    if out.json:
        out.emit_json({"name": name, "fingerprint": fp, "path": str(dest)})
        return
    out.info(f"trusted {name}: {fp}")
    out.info(f"  saved as {dest}")


@click.command("timestamp")
@click.argument("bag_ids", nargs=-1)
@click.option("--pending", is_flag=True, help="Add the tokens of every bag still pending.")
@archive_option
@output_options
def timestamp_cmd(
    bag_ids: tuple[str, ...], pending: bool, archive: str, as_json: bool, quiet: bool
) -> None:
    """Add RFC 3161 timestamps to bags made while no TSA answered (for cron).

    The token is asked for now, so its time is later than the bagging: it proves
    that the bag existed by then. Needs a [timestamp] table in config.toml.

    \b
    Example:
      strongroom timestamp --pending
      strongroom timestamp andijan-2005-20240220T101500Z-ab12cd
    """
    from strongroom.bag import timestamp
    from strongroom.errors import ProblemFound, UsageError

    out = make_output(as_json, quiet)
    if not pending and not bag_ids:
        raise UsageError("name bags, or give --pending (try: strongroom timestamp --pending)")
    arch = open_archive(archive).require()
    done = timestamp.complete_pending(arch, list(bag_ids) if bag_ids else None)
    if out.json:
        out.emit_json(
            {
                "bags": [
                    {
                        "bag": d.bag_id,
                        "timestamp": d.info.time.isoformat() if d.info else None,
                        "tsa": d.info.tsa if d.info else None,
                        "bagged": d.created or None,
                        "error": d.error or None,
                    }
                    for d in done
                ]
            }
        )
    else:
        if not done:
            out.info("no timestamps are pending")
        for d in done:
            (out.info if d.info else out.warn)(d.describe())
    failed = [d for d in done if d.info is None]
    if failed:
        raise ProblemFound(f"{len(failed)} of {len(done)} timestamp(s) still pending")


COMMANDS: list[click.Command] = [bag_cmd, keys_group, timestamp_cmd]
