"""Helpers shared by the replay, screenshot, WACZ and report tests (no tests here).

Bags are made the way a user makes them: the real crawler captures pages from
the demo site on 127.0.0.1, and the real bagger packs the capture.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from strongroom.core.archive import Archive
from strongroom.core.collection import CaptureSettings, Collection, Seed
from strongroom.demosite import SiteServer

CHROMIUM = "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None,
    reason=f"{CHROMIUM} is missing (sudo apt-get install chromium)",
)

GV = "globalvoices/2015/05/13/ten-years-on-from-andijan-massacre-an-uzbek-pleads-for-freedom/"
RFERL = "rferl/a/former-uzbek-spy-seeks-asylum/1195372.html"
NOTICE = "rferl/undesirable-notice.html"


def make_bag(
    archive: Archive,
    site: SiteServer,
    paths: list[str],
    *,
    access: str = "public",
    collection_id: str = "demo",
    screenshots: bool = False,
    dedup: str = "capture",
) -> str:
    """Capture ``paths`` of the running site, bag the capture, return the bag id."""
    from strongroom.bag import make as bagging
    from strongroom.capture import crawl as capture

    collection = Collection(
        id=collection_id,
        title=f"Test collection {collection_id}",
        seeds=tuple(Seed(url=site.url + p) for p in paths),
        capture=CaptureSettings(
            scope="page", depth=0, delay=0.0, retries=0, timeout=10.0, dedup=dedup
        ),
    )
    post = None
    if screenshots:
        from strongroom.capture.screenshot import make_derivatives

        def post(folder: Path) -> None:
            make_derivatives(folder, chromium=CHROMIUM, timeout=30)

    result = capture.capture(archive, collection, options=capture.CaptureOptions(post_process=post))
    assert result.status == "complete", result.as_dict()
    bag = bagging.bag_capture(
        archive, result.capture_id, access=access, manifests_dir=archive.root / "manifests"
    )
    return bag.bag_id
