"""Signing: keys init/show/trust, and a bag signature that breaks on one changed byte."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess

import pytest
from bagkit import CAPTURE_ID, make_capture
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from strongroom.bag import signing
from strongroom.bag.baginfo import first, read_bag_info
from strongroom.core.archive import Archive

BAG_ID = f"andijan-2005-{CAPTURE_ID}"


def test_keys_init_show_and_refuse_overwrite(cli, archive_dir):
    res = cli("keys", "init", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    key = archive_dir / "keys" / "signing.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert doc["fingerprint"].startswith("SHA256:")

    res = cli("keys", "show")
    assert res.exit_code == 0
    assert doc["fingerprint"] in res.stdout and "ssh-ed25519 " in res.stdout

    res = cli("keys", "init")
    assert res.exit_code == 2 and "--force" in res.stderr
    res = cli("keys", "init", "--force", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["fingerprint"] != doc["fingerprint"]


def test_keys_show_without_key(cli, archive_dir):
    archive_dir.mkdir()
    res = cli("keys", "show")
    assert res.exit_code == 2 and "keys init" in res.stderr


def test_keys_trust_parses_and_stores_a_partner_key(cli, archive_dir, tmp_path):
    partner = Ed25519PrivateKey.generate().public_key()
    pub = tmp_path / "memorial.pub"
    pub.write_text(signing.public_key_text(partner, "memorial@partner"))
    res = cli("keys", "trust", pub, "--name", "memorial")
    assert res.exit_code == 0, res.output
    assert signing.fingerprint(partner) in res.stdout
    ring = signing.Keyring.load(Archive(archive_dir))
    assert signing.fingerprint(partner) in ring.keys

    cli("keys", "init")
    res = cli("keys", "show", "--json")
    assert json.loads(res.stdout)["trusted"] == {
        signing.fingerprint(partner): "trusted/memorial.pub"
    }


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        ("ssh-rsa AAAAB3NzaC1yc2E partner", "p", "not an Ed25519 public key"),
        ("\x00\x01garbage", "p", "not an Ed25519 public key"),
        (None, "../../etc/x", "--name"),
        ("x" * 20000, "p", "too large"),
    ],
)
def test_keys_trust_refuses_bad_input(cli, archive_dir, tmp_path, content, name, expected):
    pub = tmp_path / "in.pub"
    if content is None:
        pub.write_text(signing.public_key_text(Ed25519PrivateKey.generate().public_key()))
    else:
        pub.write_text(content)
    res = cli("keys", "trust", pub, "--name", name)
    assert res.exit_code == 2 and expected in res.stderr, res.output
    assert not list((archive_dir / "keys").rglob("*.pub"))


def test_bag_signature_checks_offline_and_breaks_on_one_byte(cli, archive_dir, tmp_path):
    make_capture(archive_dir)
    assert cli("keys", "init").exit_code == 0
    assert cli("bag", CAPTURE_ID, "--manifests", tmp_path).exit_code == 0
    bag = archive_dir / "bags" / BAG_ID
    tm = bag / "tagmanifest-sha512.txt"
    sig = bag / "tagmanifest-sha512.txt.sig"
    ring = signing.Keyring.load(Archive(archive_dir))
    fpr = first(read_bag_info(bag), "Signing-Key-Fingerprint")
    assert ring.verify_file_signature(tm, expected=fpr).ok

    # Checkable without strongroom at all.
    if shutil.which("openssl"):
        pem = archive_dir / "keys" / "signing.pub.pem"
        cmd = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(pem), "-rawin"]
        ok = subprocess.run([*cmd, "-in", str(tm), "-sigfile", str(sig)], capture_output=True)
        assert ok.returncode == 0, ok.stderr

    data = bytearray(tm.read_bytes())
    data[10] ^= 0x01
    tm.write_bytes(bytes(data))
    check = ring.verify_file_signature(tm, expected=fpr)
    assert not check.ok and "does not match" in check.reason
    if shutil.which("openssl"):
        bad = subprocess.run([*cmd, "-in", str(tm), "-sigfile", str(sig)], capture_output=True)
        assert bad.returncode != 0
