"""Share-room fixtures: archives built once (sharekit) and copied per test."""

from __future__ import annotations

from pathlib import Path

import pytest
import sharekit


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in a temporary folder: the default ./manifests inventory must not touch the repo."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def sender_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sender archive of sharekit.make_pair, built once; copy it, never change it."""
    return sharekit.build_sender(tmp_path_factory.mktemp("sender") / "berlin")


@pytest.fixture(scope="session")
def chain_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sharekit.build_chain, built once; copy it, never change it."""
    return sharekit.build_chain(tmp_path_factory.mktemp("chain") / "archive")
