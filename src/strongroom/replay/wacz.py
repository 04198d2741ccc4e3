"""WACZ export of one bag (and its declared closure), under the archive's one exit policy.

Written with the ``wacz`` library; the page list carries each page's title and
text (``bag/pages.py``) so that ReplayWeb.page can search it.
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
from strongroom.core.fsutil import tmp_name, translated
from strongroom.errors import ProblemFound, UsageError
from strongroom.replay.pywb import ReplayBag, read_bag


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
    problems: tuple[str, ...] = ()  # bags whose capture record was not used (bag.record)

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
            "problems": list(self.problems),
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

    The exit policy of :mod:`strongroom.share.policy` decides, as for a share or
    a tar export: a WACZ may go anywhere, so only public bags go without
    ``override`` and a ``reason``; an override is logged in the bag's custody
    log and the ledger. The bag is only read.
    """
    from strongroom.share.policy import Exit, check_exit

    bag_id = bag_id.rstrip("/").rsplit("/", 1)[-1]
    archive.require()
    bag = read_bag(archive, bag_id)
    # the one exit policy (share, tar export, WACZ, replay): a WACZ may go anywhere
    check_exit(archive, bag_id, Exit("export"), override=override, reason=reason or None)
    if not bag.warcs:
        raise ProblemFound(f"bag {bag_id} has no WARC files under data/warc/")
    deps = _export_closure(archive, bag, override, reason)
    output = Path(output).absolute()
    if output.exists() and output.is_dir():
        raise UsageError(f"{output} is a folder; give a file name ending in .wacz")
    if not output.name.endswith(".wacz"):
        raise UsageError(f"{output}: the output file name must end in .wacz")
    pages = list(dict.fromkeys([*bag.pages, *bag.seeds]))
    _package(archive, bag, deps, pages, output)
    from strongroom.bag.closure import external

    size = _record_wacz(archive, bag, deps, output, override, reason, actor)
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
        tuple(b.problem for b in (bag, *deps) if b.problem),
    )


def _package(
    archive: Archive, bag: ReplayBag, deps: list[ReplayBag], pages: list[str], output: Path
) -> None:
    """Write the WACZ at ``output`` (temporary name, fsync, rename): whole or not at all."""
    bag_id = bag.bag_id
    tmp = tmp_name(output)
    pages_file = tmp.with_name(tmp.name + ".pages.jsonl")
    lines = [json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "Pages"})]
    from strongroom.bag.pages import page_entries  # <title> and text, for search

    entries = page_entries(archive.bag_dir(bag_id), bag.warcs, pages)
    lines += [json.dumps(e, ensure_ascii=False) for e in entries]
    args = ["create", "-o", str(tmp), "--title", bag.title or bag_id, "--desc", bag_id]
    args += ["-p", str(pages_file)] if pages else ["--detect-pages"]
    args += [str(w) for w in (*bag.warcs, *(w for d in deps for w in d.warcs))]
    log = io.StringIO()
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        pages_file.write_text("\n".join(lines) + "\n", "utf-8")
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
        if isinstance(exc, OSError) and isinstance(
            problem := translated(f"cannot write {output}", exc), UsageError
        ):
            raise problem from None  # a full or read-only disk: exit 2, nothing left
        raise ProblemFound(f"wacz could not package {bag_id}: {exc}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
        with contextlib.suppress(OSError):
            pages_file.unlink()


def _log_size(archive: Archive, bag_id: str) -> int:
    try:
        return archive.custody_path(bag_id).stat().st_size
    except OSError:
        return -1


def _record_wacz(
    archive: Archive,
    bag: ReplayBag,
    deps: list[ReplayBag],
    output: Path,
    override: bool,
    reason: str,
    actor: str | None,
) -> int:
    """The export in the bag's custody log and the ledger; return the WACZ's size."""
    from strongroom.bag import custody

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
    logged = _log_size(archive, bag.bag_id)
    try:
        custody.record_event(
            archive, bag.bag_id, "export", outcome="success", inputs=inputs, detail=detail,
            actor=actor,
        )  # fmt: skip
    except BaseException:
        if _log_size(archive, bag.bag_id) == logged:
            # an export the custody log does not tell of must not be out (a full disk)
            output.unlink(missing_ok=True)
        raise
    return size


def _export_closure(
    archive: Archive, bag: ReplayBag, override: bool, reason: str
) -> list[ReplayBag]:
    """The bags whose records ``bag``'s revisits need, each under the same exit policy.

    A dependency that may not leave may not leave inside this WACZ either (unless
    ``override``): the export is refused, naming it.
    """
    from strongroom.bag.closure import closure
    from strongroom.share.policy import Exit, ExitRefused, check_exit, exit_reasons

    deps = [read_bag(archive, d) for d in closure(archive, bag.bag_id)]  # may raise: incomplete
    for d in deps:
        why = exit_reasons(archive, d.bag_id, Exit("export"))
        if why and not override:
            raise ExitRefused(
                f"bag {bag.bag_id} depends on {d.bag_id} (its revisits point there), which is "
                f"{d.access}; its records cannot leave with this export ({'; '.join(why)})."
                " Export with --override --reason, or re-capture the page so the bag stands"
                " alone",
                why,
            )
        check_exit(archive, d.bag_id, Exit("export"), override=override, reason=reason or None)
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
