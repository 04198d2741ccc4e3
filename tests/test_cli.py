"""The command line as a whole: --version, STRONGROOM_* variables, completion, and
text from users and configs printed exactly as written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from strongroom import __version__


def test_version(cli) -> None:
    r = cli("--version")
    assert r.exit_code == 0
    assert r.stdout.strip() == f"strongroom, version {__version__}"


def test_every_option_can_come_from_the_environment(cli, archive_dir, tmp_path) -> None:
    archive_dir.mkdir()
    target = tmp_path / "elsewhere.html"
    # Per command: STRONGROOM_<COMMAND>_<OPTION>.
    r = cli("report", env={"STRONGROOM_REPORT_OUTPUT": str(target)})
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == str(target) and target.is_file()
    # The options every command shares have one name for all.
    r = cli("report", env={"STRONGROOM_QUIET": "1"})
    assert r.exit_code == 0 and r.stdout == ""
    r = cli("partners", env={"STRONGROOM_JSON": "true"})
    assert json.loads(r.stdout) == []
    # The demo never takes STRONGROOM_ARCHIVE (it must not write into a real archive).
    assert "STRONGROOM_ARCHIVE" in cli("--help").stdout


def test_partner_hint_keeps_its_brackets(cli, archive_dir) -> None:
    archive_dir.mkdir()
    r = cli("partners")
    assert r.exit_code == 0
    assert "add [[partners]] tables to" in r.stdout
    assert "partners.example.toml" in r.stdout


def test_urls_with_markup_like_brackets_print_as_written(cli, site, archive_dir) -> None:
    url = site.url + "missing/[bold]x[/bold].html"
    r = cli("capture", url, "--retries", "0")
    assert r.exit_code == 1
    assert "[bold]x[/bold].html" in r.output


def test_shell_completion_works_as_documented(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    assert "_STRONGROOM_COMPLETE=bash_source strongroom" in readme
    env = {**os.environ, "_STRONGROOM_COMPLETE": "bash_source"}
    script = subprocess.run(
        [sys.executable, "-c", "from strongroom.cli import main; main()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "complete -o nosort -F" in script.stdout
    env = {
        **os.environ,
        "_STRONGROOM_COMPLETE": "bash_complete",
        "COMP_WORDS": "strongroom ver",
        "COMP_CWORD": "1",
    }
    words = subprocess.run(
        [sys.executable, "-c", "from strongroom.cli import main; main()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "plain,verify" in words.stdout


def test_a_missing_partner_error_says_how_to_add_one(archive_dir) -> None:
    import pytest

    from strongroom.core.archive import Archive
    from strongroom.errors import UsageError
    from strongroom.share.partners import get_partner

    archive_dir.mkdir()
    (archive_dir / "partners.toml").write_text(
        '[[partners]]\nname = "kyiv-mirror"\njurisdiction = "UA"\npath = "kyiv"\n'
    )
    with pytest.raises(UsageError) as caught:
        get_partner(Archive(archive_dir), "nobody")
    message = caught.value.message
    assert "known: kyiv-mirror" in message
    assert "[[partners]]" in message and "partners.example.toml" in message
    assert "strongroom partners" in message
