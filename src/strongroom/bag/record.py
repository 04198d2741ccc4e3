"""A bag's copy of its capture record (``tags/capture.json``), for readers that only
enrich what they show (replay, watch).

The record is read by the one parser of :mod:`strongroom.capture.record`, so a
malformed record, or one a newer strongroom wrote, is judged the same way by bag,
replay and watch, and named by the same message. These readers go on without it
(bag-info, default settings) and say so; ``verify`` reports the damage.
"""

from __future__ import annotations

import os
from pathlib import Path

from strongroom.capture.record import FILE_NAME, CaptureRecord, CaptureRecordError


def bag_capture_record(bag_dir: Path) -> tuple[CaptureRecord | None, str]:
    """The bag's capture record, or None and the message that says why it is not used
    ("" when the bag has none, as an old or imported bag may not).

    Not ``capture.record.load_optional``: that one drops the reason, which is
    the message the archivist needs.
    """
    path = Path(bag_dir) / "tags" / FILE_NAME
    if not os.path.lexists(path):
        return None, ""
    try:
        return CaptureRecord.load(path), ""
    except CaptureRecordError as exc:
        bag_id = Path(bag_dir).name
        return None, (
            f"bag {bag_id}: its capture record is not used ({exc}); "
            f"check the bag with `strongroom verify {bag_id}`"
        )
