"""Run the demo: serve the shipped site, archive the demo collection, summarise.

``strongroom demo`` must work on a laptop with no network: the demo site ships
inside the package (``strongroom.demosite``), so does its collection
(``demosite/demo.toml``, a copy of ``collections/demo.toml`` kept identical by a
test, because a wheel install has no ``collections/`` folder). The site is served
on 127.0.0.1 as two "publishers": the Global Voices stand-in as ``127.0.0.1`` and
the RFE/RL stand-in as ``localhost``, so that a designation can match by host.

The main job is chosen in exactly one place, :func:`run_job`; the summary is
built from what the job left in the archive (captures, bags, report), so it does
not depend on the job's return type.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from strongroom.core.archive import Archive
from strongroom.core.collection import Collection, load_collection
from strongroom.core.ui import Output
from strongroom.demosite import SiteServer
from strongroom.errors import UsageError

DEMO_PORT = 8737
# Hosts the demo server answers as; only seeds on these are moved by rebase_collection.
DEMO_HOSTS = ("127.0.0.1", "localhost")
GLOBALVOICES_PATH = (
    "/globalvoices/2015/05/13/ten-years-on-from-andijan-massacre-an-uzbek-pleads-for-freedom/"
)
RFERL_PATH = "/rferl/a/former-uzbek-spy-seeks-asylum/1195372.html"


def packaged_collection_path() -> Path:
    """The demo collection shipped inside the package."""
    return Path(str(resources.files("strongroom.demosite") / "demo.toml"))


def load_demo_collection(path: Path | None = None) -> Collection:
    """Load the demo collection (the packaged copy unless ``path`` is given)."""
    return load_collection(path or packaged_collection_path())


def rebase_collection(collection: Collection, port: int) -> Collection:
    """Move every seed served by the demo site (127.0.0.1, localhost) onto ``port``.

    Host, path and query are kept, so the two "publishers" stay apart; seeds on
    any other host are left alone.
    """
    if not 0 < port < 65536:
        raise UsageError(f"port {port} is not a TCP port (1-65535)")
    seeds = []
    for seed in collection.seeds:
        parts = urlsplit(seed.url)
        host = (parts.hostname or "").lower()
        if host in DEMO_HOSTS:
            parts = parts._replace(netloc=f"{host}:{port}")
            seed = dataclasses.replace(seed, url=urlunsplit(parts))
        seeds.append(seed)
    return dataclasses.replace(collection, seeds=tuple(seeds))


def article_urls(port: int) -> dict[str, str]:
    """The two demo articles as the demo serves them, by publisher."""
    return {
        "globalvoices": f"http://127.0.0.1:{port}{GLOBALVOICES_PATH}",
        "rferl": f"http://localhost:{port}{RFERL_PATH}",
    }


def start_site(port: int = DEMO_PORT) -> SiteServer:
    """Start the demo site on 127.0.0.1 (``port`` 0: a free one); clear error if taken."""
    try:
        return SiteServer(port=port).start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port {port} on 127.0.0.1 is already in use (is `strongroom demo --serve`"
                " still running? stop it with Ctrl-C), or pass --port with another one"
            ) from None
        raise UsageError(f"cannot serve the demo site on port {port}: {exc.strerror}") from None


REPLAY_PORT = 8080
TAKEDOWN_BODY = (
    b"<!doctype html><title>410 Gone</title><h1>Gone</h1>"
    b"<p>This article is no longer available.</p>"
)


@dataclass
class DemoSeed:
    """One demo article and everything the demo made for it."""

    url: str
    publisher: str
    designations: list[str]
    capture_id: str = ""
    bag_id: str = ""
    access: str = ""
    signed: bool = False
    fixity: str = ""
    screenshots: list[str] = field(default_factory=list)
    first_watch: str = ""
    second_watch: str = ""
    replay_url: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class DemoResult:
    """What the demo made and where."""

    archive: Path
    site_url: str
    collection_id: str
    manifests_dir: Path
    seeds: list[DemoSeed] = field(default_factory=list)
    key_fingerprint: str = ""
    new_key: bool = False
    replay_command: str = ""
    report_path: Path | None = None
    problems: list[str] = field(default_factory=list)
    exit_code: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` document."""
        return {
            "archive": str(self.archive),
            "site_url": self.site_url,
            "collection": self.collection_id,
            "seeds": [s.as_dict() for s in self.seeds],
            "manifests": str(self.manifests_dir),
            "signing_key": self.key_fingerprint,
            "replay_command": self.replay_command,
            "report": str(self.report_path) if self.report_path else None,
            "problems": self.problems,
            "exit_code": self.exit_code,
        }


# The demo archive's own settings, written once: a jurisdiction (so the report
# and the replication policy know where this copy is) and an operator pseudonym.
DEMO_CONFIG = """\
# Written by `strongroom demo` for its own archive; config.example.toml explains every field.
[organization]
name = "strongroom demo archive"
contact_name = "Demo desk"
contact_email = "demo@example.org"
jurisdiction = "DE"

[capture]
operator = "demo-operator"
"""


def _ensure_config(archive: Archive) -> None:
    """Give the demo archive a config.toml on first use (never overwrite one)."""
    from strongroom.core.fsutil import atomic_write_text

    if not archive.config_path.exists():
        atomic_write_text(archive.config_path, DEMO_CONFIG)


def _ensure_key(archive: Archive) -> tuple[str, bool]:
    """Make the demo archive's signing key on first use, so its bags are signed."""
    from strongroom.bag.signing import fingerprint, init_keys, load_private_key

    key = load_private_key(archive.keys)
    if key is not None:
        return fingerprint(key.public_key()), False
    return init_keys(archive.keys, comment="strongroom-demo").fingerprint, True


def run_demo(archive: Archive, output: Output, port: int = DEMO_PORT) -> DemoResult:
    """The whole workflow on the demo site: archive, watch, a takedown, replay, report.

    1. serve the demo site on 127.0.0.1, on the same port every time (the seeds'
       URLs include it, so a second run adds captures of the same two seeds, not
       two new seeds), and sign with the demo archive's own key;
    2. capture, screenshot, bag and verify each article (``strongroom archive``);
    3. watch both live pages (both ``ok``), then take the RFE/RL article down on
       the demo site (it answers 410) and watch again: ``gone`` is news;
    4. build the pywb replay collection and write the archive report.

    The inventory manifests go to ``<archive>/manifests`` so that running the
    demo from a checkout never dirties the repository's own ``manifests/``.
    """
    from strongroom.report import html as report

    archive.ensure()
    _ensure_config(archive)
    result = DemoResult(
        archive=archive.root,
        site_url="",
        collection_id="demo",
        manifests_dir=archive.root / "manifests",
    )
    result.key_fingerprint, result.new_key = _ensure_key(archive)
    if result.new_key:
        output.info(f"made a signing key for the demo archive: {result.key_fingerprint}")
    server = start_site(port)
    try:
        collection = rebase_collection(load_demo_collection(), server.port)
        result.site_url = server.url
        result.collection_id = collection.id
        output.info(f"demo site serving on {server.url}")
        _archive_step(archive, collection, result, output)
        if result.exit_code:
            return result
        _watch_step(archive, collection, server, result, output)
    finally:
        with contextlib.suppress(OSError):
            server.stop()
    _replay_step(archive, result)
    result.report_path, _data = report.write_report(archive)
    return result


def _archive_step(
    archive: Archive, collection: Collection, result: DemoResult, output: Output
) -> None:
    """Capture, bag and verify both articles; one ``DemoSeed`` each.

    As ``strongroom archive`` runs it: with the browser when Chromium is
    installed, statically (and one warning) otherwise.
    """
    from strongroom.capture.browser import choose_browser
    from strongroom.capture.crawl import CaptureOptions
    from strongroom.workflow import JobOptions, archive_collection

    use_browser, warning = choose_browser(None, collection.capture.browser, True)
    if warning:
        output.warn(warning)
    options = JobOptions(
        manifests_dir=result.manifests_dir, capture=CaptureOptions(browser=use_browser)
    )
    job = archive_collection(archive, collection, options, notify=output.info)
    by_url = {s.url: s for s in job.seeds}
    for seed in collection.seeds:
        run = by_url.get(seed.url)
        demo_seed = DemoSeed(
            url=seed.url,
            publisher=seed.publisher,
            designations=[d.label() for d in collection.designations_for(seed.host)],
        )
        result.seeds.append(demo_seed)
        if run and run.unchanged_since:  # a second run: the page is as the bag has it
            _existing_bag(archive, demo_seed, run.unchanged_since, run.capture_id)
        elif run:
            demo_seed.capture_id, demo_seed.bag_id = run.capture_id, run.bag_id
            demo_seed.access, demo_seed.signed = run.access, bool(run.signed)
            demo_seed.fixity, demo_seed.screenshots = run.verify_result, run.screenshots
        if run:
            result.problems += [*run.failures, *([run.error] if run.error else [])]
    result.exit_code = job.exit_code


def _existing_bag(archive: Archive, demo_seed: DemoSeed, bag_id: str, capture_id: str) -> None:
    """Describe a seed whose re-capture was unchanged: its existing bag stands."""
    from strongroom.bag.access import current_access

    bag_dir = archive.bag_dir(bag_id)
    demo_seed.capture_id, demo_seed.bag_id = capture_id, bag_id
    demo_seed.access = current_access(archive, bag_id)
    demo_seed.signed = (bag_dir / "tagmanifest-sha512.txt.sig").is_file()
    demo_seed.fixity = "unchanged since this bag: no new bag"
    folder = bag_dir / "data" / "derivatives"
    demo_seed.screenshots = sorted(p.name for p in folder.glob("*.png")) if folder.is_dir() else []


def _watch_step(
    archive: Archive,
    collection: Collection,
    server: SiteServer,
    result: DemoResult,
    output: Output,
) -> None:
    """Watch both pages, take the RFE/RL article down on the site, watch again."""
    from strongroom.demosite import Override
    from strongroom.watch import run as watch

    first = watch.watch(archive, collection)
    output.info("simulating a takedown: the demo RFE/RL article now answers 410 Gone")
    server.set_override(RFERL_PATH, Override(status=410, body=TAKEDOWN_BODY))
    second = watch.watch(archive, collection)
    for demo_seed in result.seeds:
        url = demo_seed.url
        demo_seed.first_watch = next((r.status for r in first.results if r.url == url), "")
        demo_seed.second_watch = next((r.status for r in second.results if r.url == url), "")


def _replay_step(archive: Archive, result: DemoResult) -> None:
    """Build the pywb collections and note each article's replay URL."""
    from strongroom.replay import pywb as replay

    built = replay.build(archive, [s.bag_id for s in result.seeds if s.bag_id])
    base = f"http://127.0.0.1:{REPLAY_PORT}"
    for rs in built.seeds:
        for demo_seed in result.seeds:
            if demo_seed.bag_id == rs.bag_id:
                demo_seed.replay_url = replay.replay_url(base, rs)
    result.replay_command = f"strongroom replay --archive {archive.root}"
