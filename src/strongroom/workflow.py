"""The main job: capture, bag and verify every seed of a collection.

``strongroom archive -c COLLECTION.toml`` and ``strongroom demo`` run this.
Each seed becomes its own capture and its own bag, so that every page has its
own access level, designations and version history (a later re-capture of one
edited article makes a new bag that points at the old one), and a takedown
notice or a partner's jurisdiction affects only the bags it concerns.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strongroom.core.archive import Archive
from strongroom.core.collection import Collection
from strongroom.core.fsutil import atomic_write_text
from strongroom.core.ledger import utcnow
from strongroom.errors import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, UsageError

Notify = Callable[[str], None]


@dataclass
class SeedRun:
    """What the main job made for one seed."""

    url: str
    capture_id: str = ""
    capture_exit: int = EXIT_OK
    failures: list[str] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    bag_id: str = ""
    bag_path: str = ""
    access: str = ""
    signed: str | None = None
    inventory: str = ""
    verify_result: str = ""
    screenshots: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str = ""
    unchanged_since: str = ""  # no new bag: every payload equals this bag's
    problem: bool = False  # e.g. a screenshot failed on a damaged earlier bag
    skipped: bool = False  # --resume: done by the interrupted run, not captured again

    @property
    def exit_code(self) -> int:
        if self.skipped:
            return EXIT_OK
        if self.error:
            return EXIT_USAGE
        if self.capture_exit == EXIT_USAGE:
            return EXIT_USAGE
        if self.capture_exit or self.problem or self.verify_result not in ("valid", ""):
            return EXIT_PROBLEM
        return EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"exit_code": self.exit_code}


@dataclass
class ArchiveRun:
    """The outcome of ``archive_collection``."""

    collection_id: str
    seeds: list[SeedRun] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return max((s.exit_code for s in self.seeds), default=EXIT_OK)

    @property
    def bag_ids(self) -> list[str]:
        return [s.bag_id for s in self.seeds if s.bag_id]

    def as_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection_id,
            "seeds": [s.as_dict() for s in self.seeds],
            "bags": self.bag_ids,
            "exit_code": self.exit_code,
        }


def _screenshot_step(run: SeedRun, notify: Notify) -> Callable[[Path], None]:
    """A capture post-process that renders screenshots, never failing the capture."""

    def step(capture_dir: Path) -> None:
        from strongroom.capture import screenshot

        try:
            made = screenshot.make_derivatives(capture_dir)
        except screenshot.ChromiumMissing as exc:
            run.warnings.append(f"no screenshot: {exc.message}")
            notify(f"warning: no screenshot: {exc.message}")
            return
        except screenshot.UnresolvedRevisit as exc:  # dedup = "archive", damaged earlier bag
            run.warnings.append(f"no screenshot: {exc.message}")
            run.problem = True
            notify(f"warning: no screenshot: {exc.message}")
            return
        except Exception as exc:  # a browser crash must not lose the capture
            run.warnings.append(f"screenshot failed: {exc}")
            notify(f"warning: screenshot failed: {exc}")
            return
        run.screenshots = [p.name for p in made]

    return step


@dataclass(frozen=True)
class JobOptions:
    """How the main job runs; the defaults are what ``strongroom archive`` does."""

    manifests_dir: Path | None = None
    capture: Any | None = None  # strongroom.capture.crawl.CaptureOptions
    algorithms: tuple[str, ...] = ("sha512",)
    screenshot: bool = True
    verify: bool = True
    force: bool = False  # bag a re-capture even when no payload changed


def archive_seed(
    archive: Archive,
    collection: Collection,
    options: JobOptions | None = None,
    *,
    access: str | None = None,
    is_version_of: str | None = None,
    notify: Notify | None = None,
) -> SeedRun:
    """Capture, bag and verify one seed (``collection`` must hold exactly one).

    A capture with failed fetches is still bagged: the failures are recorded in
    its WARC and capture.json, and partial evidence is evidence; the run's exit
    code is then 1. ``is_version_of`` links a re-capture to the previous bag.
    """
    from strongroom.bag.make import bag_capture
    from strongroom.capture.crawl import CaptureOptions, capture
    from strongroom.verify.fixity import VerifyOptions, resolve_targets, run_verify

    if len(collection.seeds) != 1:
        raise UsageError("archive_seed takes a collection with exactly one seed")
    job = options or JobOptions()
    say = notify or (lambda _m: None)
    seed = collection.seeds[0]
    run = SeedRun(url=seed.url)
    base = job.capture or CaptureOptions()
    opts = dataclasses.replace(
        base,
        post_process=_screenshot_step(run, say) if job.screenshot else base.post_process,
        browser_screenshots=job.screenshot,
    )
    say(f"capturing {seed.url}{' in Chromium' if opts.browser else ''}")
    cap = capture(archive, collection, options=opts)
    run.capture_id = cap.capture_id
    run.capture_exit = cap.exit_code
    run.stats = dict(cap.stats)
    run.failures = [f"{f.url}: {f.reason}" for f in cap.failures]
    if cap.status != "complete":
        run.error = "capture interrupted"
        return run
    from strongroom.bag import versions

    latest = versions.latest_bag(archive, collection.id, seed.url)
    if latest and not job.force and versions.unchanged(archive, cap.path, latest):
        versions.record_unchanged(archive, latest, cap.capture_id)
        run.unchanged_since = latest
        say(f"unchanged since {latest}: no new bag (use --force to make one)")
        return run
    is_version_of = is_version_of or latest  # a changed page: a new version of the latest bag
    try:
        bag = bag_capture(
            archive,
            cap.capture_id,
            algorithms=job.algorithms,
            manifests_dir=job.manifests_dir,
            access=access,
            is_version_of=is_version_of,
        )
    except UsageError as exc:
        run.error = f"bagging failed: {exc.message}"
        return run
    run.bag_id, run.bag_path, run.access = bag.bag_id, str(bag.path), bag.access
    run.signed, run.inventory = bag.signed, str(bag.inventory)
    say(f"bagged {bag.bag_id} ({bag.access}{', signed' if bag.signed else ''})")
    if job.verify:
        checked = run_verify(
            archive,
            resolve_targets(archive, [bag.bag_id]),
            VerifyOptions(mode="full", inventory=bag.inventory),
        )
        run.verify_result = checked.result
        say(f"verified {bag.bag_id}: {checked.result}")
    return run


@dataclass
class RunState:
    """Which seeds one ``archive`` run of a collection has finished, for ``--resume``.

    Kept in ``<archive>/runs/<collection-id>.json``, rewritten atomically after
    each seed, so an interrupted run (Ctrl-C, a crash, a full disk) can be
    continued where it stopped without capturing a finished seed twice.
    """

    path: Path
    started: str
    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    finished: str = ""

    @classmethod
    def begin(cls, archive: Archive, collection_id: str) -> RunState:
        return cls(archive.root / "runs" / f"{collection_id}.json", started=utcnow())

    @classmethod
    def load(cls, archive: Archive, collection_id: str, collection_file: str) -> RunState:
        """The last run's state; a usage error naming the next command when there is none."""
        path = archive.root / "runs" / f"{collection_id}.json"
        try:
            data = json.loads(path.read_bytes()) if path.stat().st_size < 16 << 20 else None
        except (OSError, ValueError):
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("done"), dict):
            raise UsageError(
                f"no earlier run of collection {collection_id!r} to resume in {archive.root};"
                f" start one with: strongroom archive -c {collection_file}"
            )
        done = {str(k): v for k, v in data["done"].items() if isinstance(v, dict)}
        return cls(path, str(data.get("started", "")), done, str(data.get("finished") or ""))

    def save(self) -> None:
        doc = {"started": self.started, "done": self.done, "finished": self.finished or None}
        atomic_write_text(self.path, json.dumps(doc, indent=2, sort_keys=True) + "\n")

    def record(self, run: SeedRun) -> None:
        """Note a finished seed: bagged, or unchanged since its latest bag."""
        if run.bag_id or run.unchanged_since:
            self.done[run.url] = {
                "bag_id": run.bag_id or run.unchanged_since,
                "capture_id": run.capture_id,
                "access": run.access,
                "signed": run.signed,
                "verify_result": run.verify_result,
            }
            self.save()

    def skipped_run(self, url: str) -> SeedRun | None:
        """A ``SeedRun`` standing for a seed this run already finished, or None."""
        done = self.done.get(url)
        if done is None:
            return None
        return SeedRun(
            url=url,
            capture_id=str(done.get("capture_id") or ""),
            bag_id=str(done.get("bag_id") or ""),
            access=str(done.get("access") or ""),
            signed=done.get("signed") or None,
            verify_result=str(done.get("verify_result") or ""),
            skipped=True,
        )


def archive_collection(
    archive: Archive,
    collection: Collection,
    options: JobOptions | None = None,
    *,
    notify: Notify | None = None,
    resume: RunState | None = None,
) -> ArchiveRun:
    """Capture, bag and verify each seed of ``collection``; return what was made.

    An interrupted capture stops the job; a seed that fails does not stop the
    others. With ``resume`` (from :meth:`RunState.load`), seeds that run
    already finished are skipped and listed as such.
    """
    say = notify or (lambda _m: None)
    result = ArchiveRun(collection.id)
    archive.ensure()
    state = resume or RunState.begin(archive, collection.id)
    state.finished = ""
    state.save()
    for seed in collection.seeds:
        skipped = state.skipped_run(seed.url)
        if skipped is not None:
            say(f"skipping {seed.url}: already bagged as {skipped.bag_id}")
            result.seeds.append(skipped)
            continue
        run = archive_seed(
            archive, dataclasses.replace(collection, seeds=(seed,)), options, notify=notify
        )
        result.seeds.append(run)
        state.record(run)
        if run.error == "capture interrupted":
            return result
    state.finished = utcnow()
    state.save()
    return result
