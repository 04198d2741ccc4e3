"""Replay through pywb, access rules from bag access levels, and WACZ export.

We do not write a replay engine: pywb is the field's standard one. This module
builds what pywb needs inside ``<archive>/replay/`` and starts it:

* one pywb collection per (strongroom collection, access group): ``<id>`` holds
  the public bags, ``<id>-restricted`` the restricted ones. Grouping by access
  keeps pywb's URL-keyed rules exact: a restricted capture of a stylesheet can
  never block (or unlock) the same stylesheet in a public bag;
* ``collections/<name>/indexes/index.cdxj`` made by cdxj-indexer from the bags'
  WARCs, which are referenced in place (``archive_paths``); bags stay read-only;
* ``collections/<name>/acl/access.aclj``: pywb access-control rules. Restricted
  (and embargoed) collections answer 451 ``block`` unless the request carries
  ``X-Pywb-ACL-User: staff``, a header set by the archivist's reverse proxy.
  Dark bags are never indexed, and their URLs get ``exclude`` rules (404, not
  listed) in the public collection as a second line of defence;
* ``config.yaml`` naming exactly those collections.

The replay folder is a derived cache: every build replaces it whole, so a bag
that turned dark since the last build disappears from replay at once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from strongroom.bag.baginfo import first, read_bag_info, values
from strongroom.core.archive import Archive
from strongroom.core.collection import Collection
from strongroom.core.fsutil import atomic_write_text, fsync_tree, tmp_name
from strongroom.errors import PolicyRefused, ProblemFound, UsageError

STAFF_HEADER = "X-Pywb-ACL-User"  # pywb reads it as HTTP_X_PYWB_ACL_USER
STAFF_USER = "staff"
DEFAULT_PORT = 8080
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_CAPTURE_ID_RE = re.compile(r"-(\d{8}T\d{6}Z-[0-9a-f]{6})$")
MAX_TAG_JSON = 16 * 1024 * 1024

NGINX_SNIPPET = f"""\
# Public replay: never pass a staff header through from the outside.
location / {{
    proxy_pass http://127.0.0.1:{DEFAULT_PORT};
    proxy_set_header {STAFF_HEADER} "";
}}
# Staff replay, behind your own authentication: restricted bags become visible.
location /staff/ {{
    auth_basic "strongroom staff";
    auth_basic_user_file /etc/nginx/strongroom.htpasswd;
    proxy_pass http://127.0.0.1:{DEFAULT_PORT}/;
    proxy_set_header {STAFF_HEADER} {STAFF_USER};
}}"""


@dataclass
class ReplayBag:
    """What replay needs to know about one bag."""

    bag_id: str
    collection_id: str
    access: str
    warcs: list[Path]
    seeds: list[str]
    pages: list[str]
    title: str = ""
    embargo_until: dt.date | None = None


@dataclass
class ReplayCollection:
    """One pywb collection: its name, access group and bags."""

    name: str
    collection_id: str
    group: str  # public | restricted
    bags: list[ReplayBag] = field(default_factory=list)
    embargo_until: dt.date | None = None
    excluded_urls: list[str] = field(default_factory=list)
    sources: list[ReplayBag] = field(default_factory=list)  # bags holding revisit originals

    @property
    def blocked(self) -> bool:
        return self.group == "restricted" or self.embargo_until is not None


@dataclass
class ReplaySeed:
    """A seed with where to see it."""

    url: str
    collection: str
    timestamp: str
    bag_id: str
    access: str
    embargo_until: dt.date | None = None

    def path(self) -> str:
        return f"/{self.collection}/{self.timestamp}/{self.url}"


@dataclass
class ReplayBuild:
    """The result of ``build``: the pywb folder, its collections, and the seeds."""

    root: Path
    collections: list[ReplayCollection]
    seeds: list[ReplaySeed]
    dark: list[str]

    def as_dict(self, base: str = "") -> dict[str, Any]:
        return {
            "replay_root": str(self.root),
            "collections": [
                {
                    "name": c.name,
                    "collection_id": c.collection_id,
                    "access": c.group,
                    "embargo_until": c.embargo_until.isoformat() if c.embargo_until else None,
                    "bags": [b.bag_id for b in c.bags],
                }
                for c in self.collections
            ],
            "seeds": [
                {
                    "url": s.url,
                    "bag_id": s.bag_id,
                    "access": s.access,
                    "replay_url": base + s.path() if base else s.path(),
                }
                for s in self.seeds
            ],
            "dark_bags": self.dark,
        }


# --- reading bags -------------------------------------------------------------
def _tag_capture_json(bag_dir: Path) -> dict[str, Any]:
    path = bag_dir / "tags" / "capture.json"
    if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_TAG_JSON:
        return {}
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _date(value: object) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def read_bag(archive: Archive, bag_id: str) -> ReplayBag:
    """Collect a bag's WARCs, seeds, pages and current access level."""
    from strongroom.core.policy import current_access

    bag_dir = archive.bag_dir(bag_id)
    if not (bag_dir / "bagit.txt").is_file():
        raise UsageError(f"no bag {bag_id!r} in {archive.bags}")
    warc_dir = bag_dir / "data" / "warc"
    warcs = (
        sorted(
            p
            for p in warc_dir.iterdir()
            # A symlink in a bag could point anywhere on this machine: not served.
            if p.is_file() and not p.is_symlink() and p.name.endswith((".warc.gz", ".warc"))
        )
        if warc_dir.is_dir()
        else []
    )
    info = read_bag_info(bag_dir)
    meta = _tag_capture_json(bag_dir)
    coll = meta.get("collection") if isinstance(meta.get("collection"), dict) else {}
    m = _CAPTURE_ID_RE.search(bag_id)
    collection_id = str(coll.get("id") or (bag_id[: m.start()] if m else bag_id))
    seeds = values(info, "Seed-URL") or [
        str(s.get("url")) for s in meta.get("seeds") or [] if isinstance(s, dict) and s.get("url")
    ]
    pages = [
        str(p.get("final_url") or p.get("url"))
        for p in meta.get("pages") or []
        if isinstance(p, dict) and (p.get("final_url") or p.get("url"))
    ]
    return ReplayBag(
        bag_id=bag_id,
        collection_id=re.sub(r"[^a-z0-9._-]", "-", collection_id.lower()) or "bags",
        access=current_access(archive, bag_id),
        warcs=warcs,
        seeds=seeds,
        pages=pages,
        title=str(coll.get("title") or first(info, "External-Description")),
        embargo_until=_date(first(info, "Embargo-Until") or coll.get("embargo_until")),
    )


def select_bags(
    archive: Archive, *, bag_ids: Iterable[str] = (), collection: Collection | None = None
) -> list[str]:
    """The bags to replay: those named, those of a collection, or every bag."""
    archive.require()
    known = archive.bag_ids()
    wanted = [b.rstrip("/").rsplit("/", 1)[-1] for b in bag_ids]
    for b in wanted:
        if b not in known:
            raise UsageError(f"no bag {b!r} in {archive.bags} (see `strongroom status`)")
    if collection is not None:
        chosen = [b for b in known if read_bag(archive, b).collection_id == collection.id]
        if not chosen:
            raise UsageError(f"no bags of collection {collection.id!r} in {archive.bags}")
        return sorted(set(chosen) | set(wanted))
    if wanted:
        return wanted
    if not known:
        raise UsageError(f"no bags in {archive.bags}; run `strongroom archive -c FILE` first")
    return known


# --- building the pywb folder ------------------------------------------------------
def surt_key(url: str) -> str:
    """pywb's SURT key for a URL (as in its CDXJ and ACL files)."""
    from pywb.utils.canonicalize import canonicalize

    return canonicalize(url)


def acl_lines(coll: ReplayCollection) -> list[str]:
    """pywb access rules for one collection, in the reverse order pywb searches."""
    rules: list[str] = []
    if coll.blocked:
        # The collection's default is "block" (config.yaml). pywb stops searching
        # rules at the first key below the URL's top-level label, so a block and
        # an allow on one key cannot both be reached; hence: default block, and
        # "*," (every URL) allowed for the staff user only.
        rules.append(f'*, - {{"access": "allow", "user": "{STAFF_USER}"}}')
    for url in coll.excluded_urls:
        with contextlib.suppress(Exception):
            rules.append(f'{surt_key(url)} - {{"access": "exclude"}}')
    return sorted(set(rules), reverse=True)


def _index(warcs: list[Path], out: Path) -> None:
    """Sorted CDXJ of ``warcs`` into ``out`` with cdxj-indexer (file names only)."""
    from cdxj_indexer.main import write_cdx_index

    try:
        # Without dir_root cdxj-indexer records each WARC's base name, which pywb
        # resolves against the bags' data/warc folders listed in archive_paths.
        with open(out, "w", encoding="utf-8") as fh:
            # Only responses and revisits are replayable; the capture's JSON metadata
            # records share the page's URL and would otherwise be served instead.
            opts = {"sort": True, "post_append": True, "records": "response,revisit"}
            write_cdx_index(fh, [str(w) for w in warcs], opts)
    except Exception as exc:  # cdxj-indexer raises many kinds on damaged WARCs
        raise ProblemFound(f"cannot index {warcs[0].parent}: {exc}") from None
    lines = sorted(set(out.read_text("utf-8").splitlines()))
    out.write_text("".join(line + "\n" for line in lines if line.strip()), "utf-8")


def _first_capture(cdxj: Path) -> dict[tuple[str, str], str]:
    """(URL, WARC file name) -> earliest 14-digit timestamp, from an index.

    Keyed by file too, so that each bag's replay URL names its own capture, not
    the earliest capture of that URL in the whole collection.
    """
    found: dict[tuple[str, str], str] = {}
    for line in cdxj.read_text("utf-8").splitlines():
        parts = line.split(" ", 2)
        if len(parts) < 3:
            continue
        try:
            obj = json.loads(parts[2])
        except ValueError:
            continue
        url, name = obj.get("url"), Path(str(obj.get("filename", ""))).name
        if url and ((url, name) not in found or parts[1] < found[(url, name)]):
            found[(url, name)] = parts[1]
    return found


def _revisit_sources(
    archive: Archive, index: Path, coll: ReplayCollection, known: list[ReplayBag]
) -> list[ReplayBag]:
    """The bags of this collection's closure (``Depends-On``) that are not in it.

    A bag made with ``[capture] dedup = "archive"`` declares the earlier bags its
    revisit records point into; replay resolves within that closure and nowhere
    else. Only bags at most as closed as the collection qualify: a dark or
    restricted original never becomes replayable through a more open collection.
    """
    from strongroom.bag.closure import closure

    del index  # the closure is declared in bag-info; the index is not searched
    allowed = ("public",) if coll.group == "public" else ("public", "restricted")
    mine = {b.bag_id for b in coll.bags}
    by_id = {b.bag_id: b for b in known}
    out: dict[str, ReplayBag] = {}
    for member in coll.bags:
        for bag_id in closure(archive, member.bag_id):
            if bag_id in mine or bag_id in out:
                continue
            bag = by_id.get(bag_id) or read_bag(archive, bag_id)
            if bag.access in allowed and bag.warcs:
                out[bag_id] = bag
    return list(out.values())


def _yaml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid YAML scalar


def build(
    archive: Archive,
    bag_ids: list[str],
    *,
    embargo_until: dt.date | None = None,
    today: dt.date | None = None,
    root: Path | None = None,
) -> ReplayBuild:
    """Build ``<archive>/replay`` for ``bag_ids``; return collections and seed URLs.

    ``embargo_until`` (from the collection file) and each bag's own embargo
    block public replay until that date; staff still see the pages. ``root``
    defaults to ``<archive>/replay``.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    bags = [read_bag(archive, b) for b in bag_ids]
    colls: dict[str, ReplayCollection] = {}
    dark: list[ReplayBag] = []
    for bag in bags:
        if bag.access == "dark":
            dark.append(bag)
            continue
        group = "restricted" if bag.access == "restricted" else "public"
        name = bag.collection_id if group == "public" else f"{bag.collection_id}-restricted"
        coll = colls.setdefault(name, ReplayCollection(name, bag.collection_id, group))
        coll.bags.append(bag)
        until = max((d for d in (embargo_until, bag.embargo_until) if d), default=None)
        if until and until > today:
            coll.embargo_until = max(coll.embargo_until or until, until)
    for coll in colls.values():
        shown = {u for b in coll.bags for u in (*b.seeds, *b.pages)}
        coll.excluded_urls = sorted(
            {
                u
                for b in dark
                if b.collection_id == coll.collection_id
                for u in (*b.seeds, *b.pages)
                if u not in shown
            }
        )

    root = Path(root) if root else archive.replay
    root.mkdir(parents=True, exist_ok=True)
    final = root / "collections"
    staging = tmp_name(final)
    staging.mkdir()
    seeds: list[ReplaySeed] = []
    try:
        for coll in colls.values():
            cdir = staging / coll.name
            (cdir / "indexes").mkdir(parents=True)
            (cdir / "acl").mkdir()
            warcs = [w for b in coll.bags for w in b.warcs]
            index = cdir / "indexes" / "index.cdxj"
            if warcs:
                _index(warcs, index)
                extra = _revisit_sources(archive, index, coll, bags)
                if extra:
                    # Dedup makes a later capture's revisit point at an earlier bag's
                    # record; pywb resolves it through the index, so the earlier
                    # (never stricter) bags are indexed here too.
                    coll.sources = extra
                    _index(warcs + [w for b in extra for w in b.warcs], index)
            else:
                index.write_text("", "utf-8")
            (cdir / "acl" / "access.aclj").write_text(
                "".join(line + "\n" for line in acl_lines(coll)), "utf-8"
            )
            ts = _first_capture(index)
            for bag in coll.bags:
                names = {w.name for w in bag.warcs}
                for url in bag.seeds:
                    stamps = [t for (u, n), t in ts.items() if u == url and n in names]
                    if stamps:
                        seeds.append(
                            ReplaySeed(url, coll.name, min(stamps), bag.bag_id, bag.access)
                        )
                        seeds[-1].embargo_until = coll.embargo_until
        fsync_tree(staging)
        old = tmp_name(final)
        if final.exists():
            os.rename(final, old)
        os.rename(staging, final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    atomic_write_text(root / "config.yaml", _config_yaml(list(colls.values())))
    return ReplayBuild(root, list(colls.values()), seeds, [b.bag_id for b in dark])


def _config_yaml(colls: list[ReplayCollection]) -> str:
    lines = [
        "# Written by `strongroom replay`; rebuilt on every run, do not edit.",
        "# Collections are listed explicitly; bags are referenced in place.",
        "debug: false",
        "framed_replay: true",
        "enable_memento: true",
        "# Only the collections below exist: no auto-discovery of folders.",
        'collections_root: "no-auto-collections"',
        "collections:",
    ]
    if not colls:
        lines[-1] = "collections: {}"
    for c in colls:
        dirs = sorted({str(w.parent) + "/" for b in (*c.bags, *c.sources) for w in b.warcs})
        lines.append(f"  {c.name}:")
        lines.append(f"    index_paths: {_yaml_str(f'collections/{c.name}/indexes/')}")
        lines.append(f"    acl_paths: [{_yaml_str(f'collections/{c.name}/acl/')}]")
        lines.append(f"    default_access: {'block' if c.blocked else 'allow'}")
        lines.append("    archive_paths:")
        for d in dirs or ["./"]:
            lines.append(f"      - {_yaml_str(d)}")
    return "\n".join(lines) + "\n"


# --- serving ---------------------------------------------------------------------
def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class ReplayServer:
    """A running pywb process."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    log: Path

    @property
    def base(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def __enter__(self) -> ReplayServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(
    root: Path,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    staff: str = "header",
    wait: float = 30.0,
) -> ReplayServer:
    """Start pywb on ``root`` (a folder made by ``build``) and wait until it answers.

    ``staff``: ``header`` trusts ``X-Pywb-ACL-User`` from the proxy in front,
    ``all`` treats every request as staff (your own machine only), ``none``
    strips the header so restricted pages are blocked for everyone.
    """
    if staff not in ("header", "all", "none"):
        raise UsageError(f"staff mode must be header, all or none, not {staff!r}")
    if port == 0:
        port = free_port(host if is_loopback(host) else "0.0.0.0")
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port"
            ) from None
    log = root / "pywb.log"
    cmd = [
        sys.executable,
        "-c",
        "from strongroom.replay.pywb import _serve_main; _serve_main()",
        str(root / "config.yaml"),
        host,
        str(port),
        staff,
    ]
    with open(log, "ab") as logfh:
        proc = subprocess.Popen(
            cmd, cwd=root, stdout=logfh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    server = ReplayServer(proc, host, port, log)
    deadline = time.monotonic() + wait
    connect_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text("utf-8", "replace")[-2000:]
            raise ProblemFound(f"pywb exited at start (code {proc.returncode}); log:\n{tail}")
        try:
            with socket.create_connection((connect_host, port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise ProblemFound(f"pywb did not start listening on {host}:{port} within {wait:.0f} s")


def _serve_main() -> None:
    """Entry point of the pywb child process (argv: config host port staff)."""
    from gevent.monkey import patch_all

    patch_all()
    from gevent.pywsgi import WSGIServer
    from pywb.apps.frontendapp import FrontEndApp

    config, host, port, staff = sys.argv[1:5]
    app = FrontEndApp(config_file=config)
    env_key = "HTTP_" + STAFF_HEADER.upper().replace("-", "_")

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        if staff == "all":
            environ[env_key] = STAFF_USER
        elif staff == "none":
            environ.pop(env_key, None)
        return app(environ, start_response)

    WSGIServer((host, int(port)), wrapped, log=None).serve_forever()


def replay_url(base: str, seed: ReplaySeed) -> str:
    """The full replay URL of a seed (the seed URL is kept readable)."""
    return (
        base + f"/{seed.collection}/{seed.timestamp}/" + quote(seed.url, safe=":/?&=%#;,+@!$'()*~")
    )


# --- WACZ -------------------------------------------------------------------------
@dataclass
class WaczResult:
    path: Path
    bag_id: str
    access: str
    pages: int
    warcs: int
    size: int
    override: bool
    closure: tuple[str, ...] = ()  # dependency bags whose WARCs went in too
    external: tuple[str, ...] = ()  # Depends-On-External: revisits no export can resolve

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "bag_id": self.bag_id,
            "access": self.access,
            "pages": self.pages,
            "warcs": self.warcs,
            "size": self.size,
            "override": self.override,
            "closure": list(self.closure),
            "external": list(self.external),
        }


def export_wacz(
    archive: Archive,
    bag_id: str,
    output: Path,
    *,
    override: bool = False,
    reason: str = "",
    actor: str | None = None,
) -> WaczResult:
    """Package a bag's WARCs as a WACZ 1.1.1 file with the ``wacz`` library.

    Dark bags are refused unless ``override`` with a ``reason``; an override is
    logged in the bag's custody log and the ledger. The bag is only read.
    """
    from strongroom.bag import custody
    from strongroom.bag.closure import external

    bag_id = bag_id.rstrip("/").rsplit("/", 1)[-1]
    archive.require()
    bag = read_bag(archive, bag_id)
    if bag.access == "dark" and not override:
        raise PolicyRefused(
            f"bag {bag_id} is dark: it may not leave the archive. To export it anyway, "
            'add --override --reason "why"; the override is logged'
        )
    if override and not reason.strip():
        raise UsageError("--override needs --reason, so the custody log says why")
    if not bag.warcs:
        raise ProblemFound(f"bag {bag_id} has no WARC files under data/warc/")
    deps = _export_closure(archive, bag, override)
    output = Path(output).absolute()
    if output.exists() and output.is_dir():
        raise UsageError(f"{output} is a folder; give a file name ending in .wacz")
    if not output.name.endswith(".wacz"):
        raise UsageError(f"{output}: the output file name must end in .wacz")
    output.parent.mkdir(parents=True, exist_ok=True)
    pages = list(dict.fromkeys([*bag.pages, *bag.seeds]))
    tmp = tmp_name(output)
    pages_file = tmp.with_name(tmp.name + ".pages.jsonl")
    lines = [json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "Pages"})]
    from strongroom.bag.pages import page_entries  # <title> and text, for search

    entries = page_entries(archive.bag_dir(bag_id), bag.warcs, pages)
    lines += [json.dumps(e, ensure_ascii=False) for e in entries]
    pages_file.write_text("\n".join(lines) + "\n", "utf-8")
    args = ["create", "-o", str(tmp), "--title", bag.title or bag_id, "--desc", bag_id]
    args += ["-p", str(pages_file)] if pages else ["--detect-pages"]
    args += [str(w) for w in (*bag.warcs, *(w for d in deps for w in d.warcs))]
    log = io.StringIO()
    try:
        from wacz.main import main as wacz_main

        with contextlib.redirect_stdout(log):
            rc = wacz_main(args)
        if rc not in (0, None) or not tmp.exists():
            raise ProblemFound(f"wacz could not package {bag_id}: {log.getvalue()[-500:]}")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, output)
    except ProblemFound:
        raise
    except Exception as exc:  # the wacz library raises plain exceptions on bad WARCs
        raise ProblemFound(f"wacz could not package {bag_id}: {exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        with contextlib.suppress(FileNotFoundError):
            pages_file.unlink()
    size = output.stat().st_size
    detail = {
        "file": str(output),
        "format": "WACZ 1.1.1",
        "size": size,
        "access": bag.access,
        "override": override,
        **({"closure": [d.bag_id for d in deps]} if deps else {}),
    }
    inputs = {"reason": reason.strip()} if override else {}
    custody.record_event(
        archive, bag_id, "export", outcome="success", inputs=inputs, detail=detail, actor=actor
    )
    return WaczResult(
        output,
        bag_id,
        bag.access,
        len(pages),
        len(bag.warcs),
        size,
        override,
        tuple(d.bag_id for d in deps),
        tuple(external(archive.bag_dir(bag_id))),
    )


_OPENNESS = {"public": 0, "restricted": 1, "dark": 2}


def _export_closure(archive: Archive, bag: ReplayBag, override: bool) -> list[ReplayBag]:
    """The bags whose records ``bag``'s revisits need, checked against the export policy.

    A dependency more closed than the bag itself may not leave with it (unless
    ``override``): the export is refused, naming it.
    """
    from strongroom.bag.closure import closure

    deps = [read_bag(archive, d) for d in closure(archive, bag.bag_id)]  # may raise: incomplete
    for d in deps:
        if _OPENNESS.get(d.access, 2) > _OPENNESS.get(bag.access, 2) and not override:
            raise PolicyRefused(
                f"bag {bag.bag_id} depends on {d.bag_id} (its revisits point there), which is "
                f"{d.access}; its records cannot leave with a {bag.access} export. Export "
                "with --override --reason, or re-capture the page so the bag stands alone"
            )
        if not d.warcs:
            raise ProblemFound(f"bag {bag.bag_id} depends on {d.bag_id}, which has no WARC files")
    return deps


def validate_wacz(path: Path) -> tuple[bool, str]:
    """Run the wacz library's validator; return (ok, its messages)."""
    from wacz.main import main as wacz_main

    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log):
            rc = wacz_main(["validate", "-f", str(path)])
    except Exception as exc:
        return False, f"{log.getvalue()}{exc}"
    return rc == 0, log.getvalue()
