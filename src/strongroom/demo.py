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
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from strongroom.archive import Archive
from strongroom.collection import Collection, load_collection
from strongroom.demosite import SiteServer
from strongroom.errors import UsageError
from strongroom.ui import Output

DEMO_PORT = 8737
DEFAULT_DEMO_ARCHIVE = "demo-archive"
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


def start_site(port: int = 0) -> SiteServer:
    """Start the demo site on 127.0.0.1 (``port`` 0: a free one); clear error if taken."""
    try:
        return SiteServer(port=port).start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port {port} on 127.0.0.1 is already in use; pass --port with another one"
            ) from None
        raise UsageError(f"cannot serve the demo site on port {port}: {exc.strerror}") from None


@dataclass
class WarcInfo:
    """One WARC file the demo's captures produced."""

    name: str
    size: int
    records: int

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class DemoResult:
    """What the demo made and where; later stages fill the optional parts."""

    archive: Path
    site_url: str
    collection_id: str
    seeds: list[dict[str, Any]]
    manifests_dir: Path
    captures: list[str] = field(default_factory=list)
    capture_dirs: list[Path] = field(default_factory=list)
    warcs: list[WarcInfo] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    bags: list[str] = field(default_factory=list)
    verify: list[dict[str, Any]] = field(default_factory=list)
    replay_url: str | None = None
    report_path: Path | None = None
    exit_code: int = 0

    @property
    def records(self) -> int:
        return sum(w.records for w in self.warcs)

    @property
    def bytes(self) -> int:
        return sum(w.size for w in self.warcs)

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` document."""
        return {
            "archive": str(self.archive),
            "site_url": self.site_url,
            "collection": self.collection_id,
            "seeds": self.seeds,
            "captures": self.captures,
            "capture_dirs": [str(p) for p in self.capture_dirs],
            "warcs": [w.as_dict() for w in self.warcs],
            "records": self.records,
            "bytes": self.bytes,
            "failures": self.failures,
            "bags": self.bags,
            "verify": self.verify,
            "replay_url": self.replay_url,
            "report": str(self.report_path) if self.report_path else None,
            "manifests": str(self.manifests_dir),
            "exit_code": self.exit_code,
        }


def run_job(archive: Archive, collection: Collection, manifests_dir: Path, output: Output) -> Any:
    """The demo's main job: capture -> bag -> verify for every seed (the `archive` command)."""
    from strongroom.workflow import archive_collection

    return archive_collection(archive, collection, manifests_dir=manifests_dir, notify=output.info)


def _job_dict(result: Any) -> dict[str, Any]:
    """The job's result as a dict, whatever shape it has."""
    if result is None:
        return {}
    if isinstance(result, dict):
        return result
    as_dict = getattr(result, "as_dict", None)
    if callable(as_dict):
        value = as_dict()
        return value if isinstance(value, dict) else {}
    return {}


def _read_capture_json(folder: Path) -> dict[str, Any]:
    """A capture's ``capture.json``; empty when missing or unreadable (it is only a summary)."""
    try:
        data = json.loads((folder / "capture.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def summarise(
    archive: Archive,
    collection: Collection,
    site_url: str,
    manifests_dir: Path,
    result: Any,
    before_captures: set[str],
    before_bags: set[str],
) -> DemoResult:
    """Build the summary from what the job added to the archive."""
    job = _job_dict(result)
    captures = [c for c in archive.capture_ids() if c not in before_captures]
    bags = [b for b in archive.bag_ids() if b not in before_bags]
    summary = DemoResult(
        archive=archive.root,
        site_url=site_url,
        collection_id=collection.id,
        seeds=[
            {
                "url": s.url,
                "title": s.title,
                "publisher": s.publisher,
                "designations": [d.label() for d in collection.designations_for(s.host)],
            }
            for s in collection.seeds
        ],
        manifests_dir=manifests_dir,
        captures=captures,
        capture_dirs=[archive.capture_dir(c) for c in captures],
        bags=bags,
    )
    for folder in summary.capture_dirs:
        meta = _read_capture_json(folder)
        for w in meta.get("warcs") or []:
            if isinstance(w, dict):
                summary.warcs.append(
                    WarcInfo(
                        name=str(w.get("name", "")),
                        size=int(w.get("size") or 0),
                        records=int(w.get("records") or 0),
                    )
                )
        summary.failures.extend(f for f in meta.get("failures") or [] if isinstance(f, dict))
    if not summary.warcs:
        # A capture without capture.json (interrupted) still shows its WARC files.
        for folder in summary.capture_dirs:
            for p in sorted(folder.glob("*.warc.gz")):
                summary.warcs.append(WarcInfo(p.name, p.stat().st_size, 0))
    verify = job.get("verify")
    if isinstance(verify, list):
        summary.verify = [v for v in verify if isinstance(v, dict)]
    replay_url = job.get("replay_url")
    summary.replay_url = replay_url if isinstance(replay_url, str) else None
    report = archive.root / "report.html"
    summary.report_path = report if report.is_file() else None
    code = getattr(result, "exit_code", None)
    if not isinstance(code, int):
        code = job.get("exit_code", 0)
    summary.exit_code = code if isinstance(code, int) else 0
    return summary


def run_demo(archive: Archive, output: Output, port: int = 0) -> DemoResult:
    """Serve the demo site, archive the demo collection into ``archive``, stop the site.

    The inventory manifests go to ``<archive>/manifests`` so that running the
    demo from a checkout never dirties the repository's own ``manifests/``.
    """
    archive.ensure()
    manifests_dir = archive.root / "manifests"
    collection = load_demo_collection()
    server = start_site(port)
    try:
        collection = rebase_collection(collection, server.port)
        before_captures = set(archive.capture_ids())
        before_bags = set(archive.bag_ids())
        result = run_job(archive, collection, manifests_dir, output)
        return summarise(
            archive,
            collection,
            server.url,
            manifests_dir,
            result,
            before_captures,
            before_bags,
        )
    finally:
        with contextlib.suppress(OSError):
            server.stop()
