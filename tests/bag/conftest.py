"""Fixtures shared by the bag room's tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from bagkit import CAPTURE_ID, make_capture

from strongroom.bag import custody
from strongroom.core.archive import Archive


@pytest.fixture
def bagged(cli, archive_dir: Path, tmp_path: Path) -> Archive:
    """A signed bag with a creation entry and two more custody entries."""
    make_capture(archive_dir)
    assert cli("keys", "init").exit_code == 0
    assert cli("bag", CAPTURE_ID, "--manifests", tmp_path / "m").exit_code == 0
    archive = Archive(archive_dir)
    bag_id = f"andijan-2005-{CAPTURE_ID}"
    custody.record_event(archive, bag_id, "watch", outcome="ok", inputs={"url": "u"})
    custody.record_event(archive, bag_id, "fixity check", outcome="success")
    return archive
