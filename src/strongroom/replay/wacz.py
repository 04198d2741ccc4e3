"""WACZ export of one bag, with the ``wacz`` library (the bag is only read).

The same access policy as every other way out of the archive: a dark bag is
refused unless overridden with a reason, and every export is logged.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from strongroom.core.archive import Archive
from strongroom.core.fsutil import tmp_name
from strongroom.errors import PolicyRefused, ProblemFound, UsageError
from strongroom.replay.collection import ReplayBag, read_bag


@dataclass
class WaczResult:
    path: Path
    bag_id: str
    access: str
    pages: int
    warcs: int
    size: int
    override: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "bag_id": self.bag_id,
            "access": self.access,
            "pages": self.pages,
            "warcs": self.warcs,
            "size": self.size,
            "override": self.override,
        }


def _check_output(output: Path) -> Path:
    """The absolute .wacz path to write; its folder is created."""
    output = Path(output).absolute()
    if output.exists() and output.is_dir():
        raise UsageError(f"{output} is a folder; give a file name ending in .wacz")
    if not output.name.endswith(".wacz"):
        raise UsageError(f"{output}: the output file name must end in .wacz")
    output.parent.mkdir(parents=True, exist_ok=True)
    return output


def _package(
    bag: ReplayBag,
    bag_id: str,
    pages: list[str],
    output: Path,
    extra: list[Path],
    bag_dir: Path,
) -> None:
    """Run ``wacz create`` into a temporary file, fsync it, and rename it into place."""
    tmp = tmp_name(output)
    pages_file = tmp.with_name(tmp.name + ".pages.jsonl")
    lines = [json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "Pages"})]
    from strongroom.bag.pages import page_entries  # <title> and text, for search

    entries = page_entries(bag_dir, bag.warcs, pages)
    lines += [json.dumps(e, ensure_ascii=False) for e in entries]
    pages_file.write_text("\n".join(lines) + "\n", "utf-8")
    args = ["create", "-o", str(tmp), "--title", bag.title or bag_id, "--desc", bag_id]
    args += ["-p", str(pages_file)] if pages else ["--detect-pages"]
    args += [str(w) for w in (*bag.warcs, *extra)]
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
    output = _check_output(output)
    pages = list(dict.fromkeys([*bag.pages, *bag.seeds]))
    extra = [w for d in deps for w in d.warcs]
    _package(bag, bag_id, pages, output, extra, archive.bag_dir(bag_id))
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
    return WaczResult(output, bag_id, bag.access, len(pages), len(bag.warcs), size, override)


_OPENNESS = {"public": 0, "restricted": 1, "dark": 2}


def _export_closure(archive: Archive, bag: ReplayBag, override: bool) -> list[ReplayBag]:
    """The bags whose records ``bag``'s revisits need, checked against the export policy.

    A dependency more closed than the bag itself may not leave with it (unless
    ``override``): the export is refused, naming it.
    """
    from strongroom.bag.closure import closure

    deps = [read_bag(archive, d) for d in closure(archive, bag.bag_id)]
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
