"""Recapture: an edited seed is captured again and bagged as a new version."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from strongroom.bag.baginfo import first, read_bag_info
from strongroom.bag.record import bag_capture_record
from strongroom.core.archive import Archive
from strongroom.core.collection import DEFAULT_COLLECTION_ID, CaptureSettings, Collection, Seed
from strongroom.errors import ProblemFound
from strongroom.watch.baseline import Target


def settings_for(
    archive: Archive,
    target: Target,
    collection: Collection | None,
    problems: list[str] | None = None,
) -> CaptureSettings:
    """The capture settings that govern politeness: the collection's, else the bag's,
    else the defaults. Why a bag's capture record was not used goes to ``problems``."""
    if collection is not None:
        return collection.capture
    if target.bag_id:
        record, problem = bag_capture_record(archive.bag_dir(target.bag_id))
        if problem and problems is not None and problem not in problems:
            problems.append(problem)
        recorded = record.settings if record else None
        if isinstance(recorded, dict):
            known = {
                k: v
                for k, v in recorded.items()
                if k in CaptureSettings.__dataclass_fields__
                and isinstance(v, type(getattr(CaptureSettings(), k)))
            }
            try:
                return CaptureSettings(**known)
            except TypeError:
                pass
    return CaptureSettings()


def one_seed_collection(
    archive: Archive, target: Target, collection: Collection | None
) -> Collection:
    """The collection a recapture runs with: the original one narrowed to this seed."""
    seed = target.seed or Seed(url=target.url)
    if collection is not None:
        return dataclasses.replace(collection, seeds=(seed,))
    info = read_bag_info(archive.bag_dir(target.bag_id)) if target.bag_id else []
    cid = first(info, "Bag-Group-Identifier") or DEFAULT_COLLECTION_ID
    return Collection(
        id=cid if re.match(r"^[a-z0-9][a-z0-9._-]{0,63}$", cid) else DEFAULT_COLLECTION_ID,
        title=first(info, "External-Description") or f"Recapture of {target.url}",
        seeds=(seed,),
        capture=dataclasses.replace(settings_for(archive, target, None), depth=0),
    )


def recapture(
    archive: Archive,
    target: Target,
    collection: Collection | None,
    manifests_dir: Path | None = None,
) -> str:
    """Capture the seed again and bag it as a new version of its latest bag."""
    from strongroom.bag.access import current_access
    from strongroom.workflow import JobOptions, archive_seed

    coll = one_seed_collection(archive, target, collection)
    access = current_access(archive, target.bag_id) if target.bag_id else None
    # The same job as `strongroom archive`: screenshot, bag, first fixity check.
    run = archive_seed(
        archive,
        coll,
        JobOptions(manifests_dir=manifests_dir),
        access=access,
        is_version_of=target.bag_id,
    )
    if run.unchanged_since and not run.error:
        return run.unchanged_since  # every payload equals the latest bag's: no new bag
    seed_failures = [f for f in run.failures if f.startswith(target.url + ": ")]
    if run.error or seed_failures or not run.bag_id:
        reasons = "; ".join([run.error, *seed_failures]).strip("; ")
        raise ProblemFound(
            f"recapture {run.capture_id} of {target.url} did not complete"
            + (f": {reasons}" if reasons else "")
        )
    return run.bag_id
