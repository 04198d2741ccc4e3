"""BagIt profiles: our published web-archive profile, and checking a bag against any.

``profiles/strongroom-web-archive-v1.0.json`` (BagIt Profiles 1.3.0) states
what every strongroom bag has: its required and recommended bag-info labels,
sha512 manifests, the tag files, and ``Accept-BagIt-Version``. It meets the
Beyond the Repository (BtR) profile that DSpace and Fedora exports use, so a
partner that accepts BtR bags accepts ours. Each bag names it in
``BagIt-Profile-Identifier`` (:data:`strongroom.bag.baginfo.PROFILE_ID`).

Checking uses the ``bagit-profile`` package (the profile spec's own
validator). It compares the bag's ``BagIt-Profile-Identifier`` with the
profile's; a bag declares one profile, so when it declares another (ours,
checked against BtR) the rules are still checked and the difference is
reported separately as a note, not as a failure.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strongroom.bag.baginfo import first, read_bag_info
from strongroom.errors import UsageError

MAX_PROFILE = 1024 * 1024
PROFILE_FILE = "strongroom-web-archive-v1.0.json"


@dataclass
class ProfileCheck:
    """The outcome of checking one bag against one profile."""

    profile_id: str
    problems: list[str] = field(default_factory=list)
    note: str = ""  # the bag declares a different profile


def load_profile(path: Path) -> dict[str, Any]:
    """Read a profile JSON file (size-bounded; a clear message when it is not one)."""
    try:
        if path.stat().st_size > MAX_PROFILE:
            raise UsageError(f"{path}: too large to be a BagIt profile")
        data = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read profile {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a JSON BagIt profile ({exc})") from None
    info = data.get("BagIt-Profile-Info") if isinstance(data, dict) else None
    if not isinstance(info, dict) or not isinstance(info.get("BagIt-Profile-Identifier"), str):
        raise UsageError(f"{path}: no BagIt-Profile-Info with a BagIt-Profile-Identifier")
    return data


def check_profile(bag: Path, profile_path: Path) -> ProfileCheck:
    """Check ``bag`` against the profile in ``profile_path`` with bagit-profile."""
    import bagit
    import bagit_profile

    data = load_profile(profile_path)
    wanted = data["BagIt-Profile-Info"]["BagIt-Profile-Identifier"]
    declared = first(read_bag_info(bag), "BagIt-Profile-Identifier")
    result = ProfileCheck(wanted)
    if declared != wanted:
        result.note = (
            f"the bag declares profile {declared or '(none)'}, not {wanted}; "
            "checked against its rules all the same"
        )
    # bagit and bagit-profile log every finding at ERROR on the root logger;
    # we report them ourselves, once, so keep them off the terminal.
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        try:
            profile = bagit_profile.Profile(declared or wanted, profile=data)
        except bagit_profile.ProfileValidationError as exc:
            raise UsageError(f"{profile_path}: not a valid BagIt profile ({exc})") from None
        try:
            parsed = bagit.Bag(str(bag))
        except bagit.BagError as exc:
            result.problems.append(f"not a bag bagit-python can read ({exc})")
            return result
        try:
            profile.validate_serialization(str(bag))
        except bagit_profile.ProfileValidationError as exc:
            result.problems.append(str(exc))
        profile.validate(parsed)
        result.problems += [
            str(e.value if hasattr(e, "value") else e) for e in profile.report.errors
        ]
    finally:
        logging.disable(previous)
    return result
