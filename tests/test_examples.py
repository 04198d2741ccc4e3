"""The shipped example files parse, set every field, and say what each one is."""

from __future__ import annotations

import shutil
from pathlib import Path

from strongroom.core.archive import Archive, ArchiveConfig, load_config
from strongroom.share.partners import load_partners

REPO = Path(__file__).resolve().parent.parent


def test_config_example_is_valid_and_sets_every_field() -> None:
    cfg = load_config(REPO / "config.example.toml")
    assert cfg != ArchiveConfig()
    assert cfg.jurisdiction == "DE" and cfg.operator == "desk-7"
    assert cfg.replication.min_copies == 3 and cfg.receive.max_bytes == 64 * 1024**3
    text = (REPO / "config.example.toml").read_text("utf-8")
    for field in (
        "name",
        "contact_name",
        "contact_email",
        "jurisdiction",
        "operator",
        "default",
        "min_copies",
        "min_jurisdictions",
        "max_files",
        "max_bytes",
        "max_name_length",
    ):
        assert f"\n{field} = " in text, field
    assert text.count("#") > 20  # explained, not just listed


def test_partners_example_is_valid(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "archive")
    archive.root.mkdir()
    shutil.copy(REPO / "partners.example.toml", archive.partners_path)
    partners = {p.name: p for p in load_partners(archive)}
    assert sorted(partners) == ["kyiv-mirror", "moscow-mirror", "riga-mirror"]
    assert partners["riga-mirror"].transport == "rsync" and partners["riga-mirror"].public_key
    assert partners["moscow-mirror"].access == ("public",)


def test_demo_config_sets_a_jurisdiction() -> None:
    import tomllib

    from strongroom.demo import DEMO_CONFIG

    assert tomllib.loads(DEMO_CONFIG)["organization"]["jurisdiction"] == "DE"
