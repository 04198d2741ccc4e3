"""Writing the report as a small site, atomically: an index and each collection's pages.

The pages of one report go into a new folder beside the index,
``<index stem>-pages-<generation>/``, which is filled, made durable and only
then named; the index, which links that folder, then replaces the previous
index by rename (temp file, fsync, rename). A crash at any instant leaves the
previous index with its own, untouched pages folder, or the new index with its
complete folder. Older pages folders go once the new index is in place (a
crash before that leaves one, which the next report removes).
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from strongroom.bag.publish import crash_point
from strongroom.core.fsutil import atomic_write_text, staging_dir
from strongroom.report import rows

_SLUG = re.compile(r"[^A-Za-z0-9_-]+")


def _generation() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(4)


def _pages_re(stem: str) -> re.Pattern[str]:
    return re.compile(re.escape(stem) + r"-pages-\d{8}T\d{6}Z-[0-9a-f]{8}")


def _environment() -> Any:
    """The Jinja2 environment of the report's templates (shipped in the package)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("strongroom", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["status_colour"] = rows.status_colour
    return env


def plan_pages(data: dict[str, Any], folder: str) -> dict[str, list[Any]]:
    """Split each collection's bags into pages; set each collection's ``pages`` (links
    from the index) and return file name -> (collection, page number, its bags)."""
    size = int(data["page_size"])
    by_id = {b.bag_id: b for b in data["bags"]}
    files: dict[str, list[Any]] = {}
    used: set[str] = set()
    for c in data["collections"]:
        slug = _SLUG.sub("_", str(c["id"]))[:60] or "collection"
        while slug in used:  # ids that differ only in characters a file name drops
            slug += "_"
        used.add(slug)
        ids = c["bags"]
        names = []
        for n, start in enumerate(range(0, max(len(ids), 1), size), 1):
            name = f"{slug}-{n}.html"
            names.append(name)
            files[name] = [c, n, [by_id[b] for b in ids[start : start + size]]]
        c["siblings"] = names
        c["pages"] = [f"{folder}/{name}" for name in names]
    return files


def render_page(
    env: Any,
    data: dict[str, Any],
    index_name: str,
    entry: list[Any],
    seeds_by_url: dict[str, dict[str, Any]] | None = None,
) -> str:
    """One page of a collection: its bags (with their copies) and their seeds
    (``seeds_by_url``: the collection's seeds by URL, made once for all its pages)."""
    c, number, bags = entry
    if seeds_by_url is None:
        seeds_by_url = {s["url"]: s for s in c["seeds"]}
    seeds: dict[str, dict[str, Any]] = {}
    for b in bags:
        for url in b.seeds:
            if url not in seeds and url in seeds_by_url:
                s = seeds_by_url[url]
                seeds[url] = s | {"bags": len(s["bags"])}
    page = env.get_template("report-page.html.j2")
    bag_rows, copy_notes = rows.bag_table(bags)
    return str(
        page.render(
            data, c=c, number=number, index=f"../{index_name}",
            seed_rows=rows.seed_rows(list(seeds.values())), bag_rows=bag_rows,
            copy_notes=copy_notes,
        )
    )  # fmt: skip


def write_site(index: Path, data: dict[str, Any]) -> list[Path]:
    """Write the index at ``index`` and its pages beside it (see the module docstring);
    return the page files written."""
    env = _environment()
    stem = index.stem
    folder = f"{stem}-pages-{_generation()}"
    files = plan_pages(data, folder)
    index.parent.mkdir(parents=True, exist_ok=True)
    by_url: dict[str, dict[str, dict[str, Any]]] = {}
    with staging_dir(index.parent / folder) as tmp:
        for name, entry in files.items():
            c = entry[0]
            if c["id"] not in by_url:
                by_url[c["id"]] = {s["url"]: s for s in c["seeds"]}
            page = render_page(env, data, index.name, entry, by_url[c["id"]])
            (tmp / name).write_text(page, "utf-8")
    crash_point("report-after-pages")
    try:
        atomic_write_text(index, str(env.get_template("report.html.j2").render(data)))
    except BaseException:
        # the previous index still links its own pages: these new ones would be litter
        # on a full disk (the next report would remove them)
        shutil.rmtree(index.parent / folder, ignore_errors=True)
        raise
    keep = _pages_re(stem)
    for old in index.parent.iterdir():
        stale = old.name != folder and keep.fullmatch(old.name)
        if stale and old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
    return [index.parent / folder / name for name in files]
