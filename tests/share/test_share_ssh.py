"""share and repair over rsync + SSH, against a real sshd on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
from sharekit import flip_bit, make_archive, make_bag, warc_bytes, write_partners
from sshd import SshServer, sshd  # noqa: F401 - the fixture

from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger

pytestmark = pytest.mark.slow

BAG = "andijan-2005-20240501T101500Z-1a2b3c"
WARC = "data/warc/capture-00001.warc.gz"
ODD = "data/derivatives/100% real\u00e9.txt"  # '%' is %25 in the manifest (RFC 8493)


@pytest.fixture
def remote(archive_dir: Path, tmp_path: Path, sshd: SshServer) -> tuple[Archive, Path]:  # noqa: F811
    """An archive whose partner 'vilnius' (LT) is an rsync-over-SSH destination."""
    archive = make_archive(archive_dir, "DE")
    make_bag(
        archive,
        BAG,
        files={
            "warc/capture-00001.warc.gz": warc_bytes("ssh"),
            "derivatives/100% real\u00e9.txt": b"odd name\n",
        },
    )
    incoming = tmp_path / "vilnius-incoming"
    incoming.mkdir()
    write_partners(
        archive,
        {
            "name": "vilnius",
            "jurisdiction": "LT",
            "transport": "rsync",
            "destination": sshd.destination(incoming),
            "ssh_key": str(sshd.client_key),
            "port": sshd.port,
            "access": ["public", "restricted"],
        },
    )
    return archive, incoming


def test_share_over_ssh_is_verified_at_the_destination(cli, remote) -> None:
    archive, incoming = remote
    r = cli("share", BAG, "--to", "vilnius", "--archive", archive.root)
    assert r.exit_code == 0, r.output
    assert "(LT, rsync)" in r.stdout and "confirmed: sha512sum at vilnius" in r.stdout
    assert (incoming / BAG / ODD).read_bytes() == b"odd name\n"
    assert (incoming / f"{BAG}.custody.jsonl").is_file()
    assert not [p for p in incoming.iterdir() if p.name.startswith(".tmp-")]
    assert "ssh-ed25519" in (archive.keys / "known_hosts").read_text()  # pinned on first use
    with open_ledger(archive.root) as ledger:
        row = ledger.query("SELECT * FROM copies WHERE partner = 'vilnius'")[0]
    assert row["status"] == "ok" and row["location"].endswith(f":{incoming}/{BAG}")
    again = cli("share", BAG, "--to", "vilnius", "--archive", archive.root)
    assert again.exit_code == 0 and "Already at vilnius" in again.stdout  # confirmed


def test_repair_over_ssh_refuses_a_damaged_remote_copy(cli, remote) -> None:
    archive, incoming = remote
    assert cli("share", BAG, "--to", "vilnius", "--archive", archive.root).exit_code == 0
    local = archive.bag_dir(BAG) / WARC
    original = local.read_bytes()
    flip_bit(local)
    r = cli("repair", BAG, "--from", "vilnius", "--archive", archive.root)
    assert r.exit_code == 0, r.output
    assert f"repaired {WARC} from vilnius" in r.stdout and local.read_bytes() == original

    flip_bit(local)
    flip_bit(incoming / BAG / WARC, 40)
    bad = cli("repair", BAG, "--from", "vilnius", "--archive", archive.root)
    assert bad.exit_code == 1
    assert "does not match the manifest; not used" in bad.stderr
    assert local.read_bytes() != original


def test_unreachable_partner_is_a_clear_problem(cli, remote, sshd: SshServer) -> None:  # noqa: F811
    archive, _ = remote
    sshd.stop()
    r = cli("share", BAG, "--to", "vilnius", "--archive", archive.root)
    assert r.exit_code == 1 and "cannot reach partner vilnius" in r.stderr
