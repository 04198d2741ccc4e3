"""Fixtures of the verify tests: an archive with two signed, recorded, inventoried bags."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_validate import PAGES_A, PAGES_B
from verifykit import make_archive_bag

from strongroom.bag import signing
from strongroom.core.archive import Archive


@pytest.fixture
def archive(archive_dir: Path) -> Archive:
    arch = Archive(archive_dir).ensure()
    signing.init_keys(arch.keys)
    return arch


@pytest.fixture
def manifests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working folder holds manifests/ (as a checkout of the collections repo does)."""
    work = tmp_path / "work"
    (work / "manifests").mkdir(parents=True)
    monkeypatch.chdir(work)
    return work / "manifests"


@pytest.fixture
def bags(archive: Archive, manifests: Path) -> list[str]:
    ids = ["demo-coll-20240101T000000Z-aaaaaa", "demo-coll-20240102T000000Z-bbbbbb"]
    make_archive_bag(archive, ids[0], manifests, PAGES_A)
    make_archive_bag(archive, ids[1], manifests, PAGES_B)
    return ids
