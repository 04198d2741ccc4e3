"""RFC 3161 timestamps against a real TSA on 127.0.0.1 (openssl ts -reply)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from bagkit import CAPTURE_ID, make_capture
from tsakit import closed_port_url, configure, make_authority

from strongroom.bag import timestamp
from strongroom.bag.baginfo import read_bag_info
from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger

BAG_ID = f"andijan-2005-{CAPTURE_ID}"


@pytest.fixture(scope="module")
def authorities(tmp_path_factory):
    root = tmp_path_factory.mktemp("tsa")
    return make_authority(root / "good", "Good TSA"), make_authority(root / "other", "Other TSA")


@pytest.fixture
def tsa(authorities, tmp_path):
    from tsakit import TSAServer

    with TSAServer(authorities[0]) as server:
        yield server


def bag_it(cli, tmp_path):
    res = cli("bag", CAPTURE_ID, "--manifests", tmp_path / "m")
    assert res.exit_code == 0, res.output
    return res


def test_new_bag_gets_a_token_that_openssl_and_verify_accept(cli, archive_dir, tmp_path, tsa):
    configure(archive_dir, [tsa.url], tsa.authority.ca)
    make_capture(archive_dir)
    res = bag_it(cli, tmp_path)
    assert "timestamped " in res.stdout and "by CN=Good TSA" in res.stdout
    bag = archive_dir / "bags" / BAG_ID
    tsr = bag / "tagmanifest-sha512.txt.tsr"
    assert tsr.is_file()
    # Anyone can check it without strongroom, as the README shows.
    proc = subprocess.run(
        ["openssl", "ts", "-verify", "-data", "tagmanifest-sha512.txt", "-in", tsr.name,
         "-CAfile", str(tsa.authority.ca)],
        cwd=bag, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0 and "Verification: OK" in proc.stdout, proc.stderr
    # The token is not in any manifest: the tag manifest it dates stays as made.
    assert ".tsr" not in (bag / "tagmanifest-sha512.txt").read_text()

    res = cli("verify", BAG_ID)
    assert res.exit_code == 0, res.output
    assert "timestamped" in res.output and "Good TSA" in res.output
    res = cli("verify", BAG_ID, "--json")
    doc = json.loads(res.stdout)
    run = doc["runs"][0] if "runs" in doc else doc
    assert "Good TSA" in json.dumps(run)
    res = cli("history", BAG_ID)
    assert res.exit_code == 0 and "timestamped" in res.stdout, res.output
    with open_ledger(archive_dir) as ledger:
        kinds = [(e["event_type"], e["outcome"]) for e in ledger.events(BAG_ID)]
    assert ("timestamp", "success") in kinds
    report = tmp_path / "report.html"
    assert cli("report", "-o", report).exit_code == 0
    pages = "".join(p.read_text() for p in tmp_path.glob("report-pages-*/*.html"))  # the bag's
    assert "by CN=Good TSA (RFC 3161)" in pages


def test_token_over_other_data_is_a_problem(cli, archive_dir, tmp_path, tsa):
    configure(archive_dir, [tsa.url], tsa.authority.ca)
    make_capture(archive_dir)
    bag_it(cli, tmp_path)
    bag = archive_dir / "bags" / BAG_ID
    settings = timestamp.load_settings(Archive(archive_dir))
    assert settings is not None
    other = timestamp.request_token(b"some other tag manifest\n", settings)
    tsr = bag / "tagmanifest-sha512.txt.tsr"
    tsr.chmod(0o644)
    tsr.write_bytes(other)
    res = cli("verify", BAG_ID)
    assert res.exit_code == 1, res.output
    assert "message imprint is not the sha512 of tagmanifest-sha512.txt" in res.output


def test_untrusted_tsa_is_refused_at_bagging_and_at_verify(cli, archive_dir, tmp_path, authorities):
    good, other = authorities
    from tsakit import TSAServer

    with TSAServer(other) as rogue:
        # Only the good root is trusted: the rogue's token is not stored, the bag is pending.
        configure(archive_dir, [rogue.url], good.ca)
        make_capture(archive_dir)
        res = bag_it(cli, tmp_path)
        assert "timestamp pending" in res.stdout and "not trusted" in res.stdout
        bag = archive_dir / "bags" / BAG_ID
        assert not (bag / "tagmanifest-sha512.txt.tsr").exists()
        # A rogue token planted afterwards is caught by verify.
        settings = timestamp.TimestampSettings((rogue.url,), other.ca)
        token = timestamp.request_token((bag / "tagmanifest-sha512.txt").read_bytes(), settings)
    (bag / "tagmanifest-sha512.txt.tsr").write_bytes(token)
    res = cli("verify", BAG_ID)
    assert res.exit_code == 1
    assert "signature or chain not trusted" in res.output


def test_tsa_down_bags_anyway_then_pending_is_completed_later(
    cli, archive_dir, tmp_path, authorities
):
    good = authorities[0]
    configure(archive_dir, [closed_port_url()], good.ca)
    make_capture(archive_dir)
    res = bag_it(cli, tmp_path)  # offline: the bag is made all the same
    assert "timestamp pending" in res.stdout
    bag = archive_dir / "bags" / BAG_ID
    assert not (bag / "tagmanifest-sha512.txt.tsr").exists()
    with open_ledger(archive_dir) as ledger:
        assert ledger.pending_timestamps() == [BAG_ID]
    res = cli("verify", BAG_ID)
    assert res.exit_code == 0, res.output  # pending is not a fault of the bag
    res = cli("timestamp", "--pending")  # still down: exit 1, still pending, say why
    assert res.exit_code == 1 and "still pending" in res.output
    res = cli("report", "--json")  # the report's attention panel names it, and what to run
    items = {i["kind"]: i for i in json.loads(res.stdout)["attention"]}
    assert items["timestamps"]["items"] == [BAG_ID]
    assert "strongroom timestamp --pending" in items["timestamps"]["command"]
    tagmanifest = (bag / "tagmanifest-sha512.txt").read_bytes()

    cfg = archive_dir / "config.toml"
    with _serve(good) as server:
        cfg.write_text(cfg.read_text().split("[timestamp]")[0])
        configure(archive_dir, [server.url], good.ca)
        res = cli("timestamp", "--pending")
    assert res.exit_code == 0, res.output
    assert "later than the bagging" in res.stdout and "existed by" in res.stdout
    assert (bag / "tagmanifest-sha512.txt").read_bytes() == tagmanifest  # bag unchanged
    with open_ledger(archive_dir) as ledger:
        assert ledger.pending_timestamps() == []
    res = cli("verify", BAG_ID)
    assert res.exit_code == 0 and "timestamped" in res.output, res.output
    log = (archive_dir / "bags" / f"{BAG_ID}.custody.jsonl").read_text()
    assert '"timestamp"' in log
    assert hashlib.sha512(tagmanifest).digest()  # the token dates these exact bytes
    res = cli("timestamp", "--pending")
    assert res.exit_code == 0 and "no timestamps are pending" in res.stdout


def _serve(authority):
    from tsakit import TSAServer

    return TSAServer(authority)


def test_bag_carries_the_profile_identifier_and_btr_labels(cli, archive_dir, tmp_path):
    (archive_dir).mkdir(parents=True, exist_ok=True)
    (archive_dir / "config.toml").write_text(
        '[organization]\nname = "Press Archive"\naddress = "1 Quay Street, Tallinn"\n'
    )
    make_capture(archive_dir)
    bag_it(cli, tmp_path)
    info = dict(read_bag_info(archive_dir / "bags" / BAG_ID))
    assert info["BagIt-Profile-Identifier"] == "urn:strongroom:bagit-profile:web-archive:1.0"
    assert info["Organization-Address"] == "1 Quay Street, Tallinn"
    assert info["Bag-Producing-Organization"] == "Press Archive"
    assert info["Bag-Count"] == "1 of 1"
    assert info["Internal-Sender-Identifier"] == f"captures/{CAPTURE_ID}"
    assert info["Internal-Sender-Description"] == "Reporting on the Andijan events"


def test_bad_timestamp_config_is_a_clear_message(cli, archive_dir, tmp_path):
    archive_dir.mkdir(parents=True, exist_ok=True)
    (archive_dir / "config.toml").write_text('[timestamp]\nurl = "ftp://x"\n')
    make_capture(archive_dir)
    res = cli("bag", CAPTURE_ID, "--manifests", tmp_path / "m")
    assert res.exit_code == 2 and "timestamp.url" in res.stderr and "Traceback" not in res.output


def test_hostile_token_files_are_problems_not_crashes(tmp_path):
    bag = tmp_path / "bag"
    bag.mkdir()
    (bag / "tagmanifest-sha512.txt").write_text("x  bagit.txt\n")
    for junk in (b"", b"\x30\x82\xff\xff", b"not der at all", b"\x30" * 5000):
        (bag / "tagmanifest-sha512.txt.tsr").write_bytes(junk)
        stamp = timestamp.inspect_bag(bag, None)
        assert stamp.problems and stamp.info is None
    (bag / "tagmanifest-sha512.txt.tsr").unlink()
    (bag / "tagmanifest-sha512.txt.tsr").symlink_to("/etc/passwd")
    assert timestamp.inspect_bag(bag, None).problems


def test_readme_shows_how_to_check_a_token_with_openssl():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert (
        "openssl ts -verify -data tagmanifest-sha512.txt -in tagmanifest-sha512.txt.tsr -CAfile"
        in readme
    )


def test_a_full_disk_after_the_token_is_finished_by_the_next_run(cli, tmp_path, authorities):
    """A real tmpfs with 24 KiB left: the token fits and so does its custody line, the
    ledger's event does not. Exit 2 saying what to do; the re-run with space records
    what is missing, once, and the bag is no longer pending (it was, for ever)."""
    from diskkit import broken, says, small_fs

    from strongroom.bag.custody import read_entries
    from strongroom.core.ledger import Ledger

    good = authorities[0]
    with small_fs(tmp_path / "fs", "4m") as fs, _serve(good) as server:
        archive = fs / "archive"
        archive.mkdir()
        configure(archive, [closed_port_url()], good.ca)
        make_capture(archive)
        res = cli("bag", CAPTURE_ID, "--archive", archive, "--manifests", tmp_path / "m")
        assert "timestamp pending" in res.stdout, res.output
        cfg = archive / "config.toml"
        cfg.write_text(cfg.read_text().split("[timestamp]")[0])
        configure(archive, [server.url], good.ca)
        # the ledger's WAL index exists before the disk fills (a run that started with room)
        ledger = Ledger(archive / "ledger.sqlite")
        try:
            with broken(fs, "full", leave=24 * 1024):
                res = cli("timestamp", "--pending", "--archive", archive)
        finally:
            ledger.close()
        assert res.exit_code == 2, res.output
        assert "Traceback" not in res.output and says("full") in res.stderr, res.stderr
        assert (archive / "bags" / BAG_ID / timestamp.TOKEN).exists()  # what the disk held
        res = cli("timestamp", "--pending", "--archive", archive)
        assert res.exit_code == 0 and "timestamped" in res.stdout, res.output
        with open_ledger(archive) as led:
            assert led.pending_timestamps() == []
        log = read_entries(archive / "bags" / f"{BAG_ID}.custody.jsonl")
        done = [e for e in log if e["action"] == "timestamp" and e["outcome"] == "success"]
        assert len(done) == 1  # recorded once, not again by the re-run
        res = cli("timestamp", "--pending", "--archive", archive)
        assert "no timestamps are pending" in res.stdout, res.output
