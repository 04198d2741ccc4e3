"""Versions of a seed's bags: the latest one, and whether a re-capture changed anything.

A re-capture of an unchanged page makes no new bag: when every payload digest of
the new capture (responses and revisits, by target URI) equals the latest bag's,
the ledger and that bag's custody log record "unchanged since BAG" instead. A
changed page gets a new bag that names the latest one in ``Is-Version-Of``.
"""

from __future__ import annotations

from pathlib import Path

from strongroom.bag.baginfo import first, read_bag_info, values
from strongroom.bag.closure import bag_warcs, strip_uri
from strongroom.core.archive import Archive
from strongroom.errors import ProblemFound


def latest_bag(archive: Archive, collection_id: str, url: str) -> str | None:
    """The newest bag of ``url`` in a collection (one another bag supersedes is not)."""
    found: list[tuple[str, str, str]] = []  # (bag id, bagging date, is-version-of)
    for bag_id in archive.bag_ids():
        info = read_bag_info(archive.bag_dir(bag_id))
        if first(info, "Bag-Group-Identifier") == collection_id and url in values(info, "Seed-URL"):
            found.append((bag_id, first(info, "Bagging-Date"), first(info, "Is-Version-Of")))
    superseded = {v for _b, _d, v in found if v}
    heads = [f for f in found if f[0] not in superseded] or found
    if not heads:
        return None
    return max(heads, key=lambda f: (f[1], f[0]))[0]


def payloads(paths: list[Path]) -> set[tuple[str, str]]:
    """(target URI, payload digest) of every response, resource and revisit record."""
    from warcio.archiveiterator import ArchiveIterator

    out: set[tuple[str, str]] = set()
    for path in paths:
        try:
            with open(path, "rb") as fh:
                for rec in ArchiveIterator(fh, no_record_parse=True):
                    h = rec.rec_headers
                    if (h.get_header("WARC-Type") or "") in ("response", "resource", "revisit"):
                        out.add(
                            (
                                strip_uri(h.get_header("WARC-Target-URI")),
                                (h.get_header("WARC-Payload-Digest") or "").strip(),
                            )
                        )
        except Exception as exc:  # warcio raises many kinds on damaged data
            raise ProblemFound(f"{path.name}: cannot read WARC ({exc})"[:300]) from None
    return out


def capture_warcs(capture_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in Path(capture_dir).iterdir()
        if p.name.endswith((".warc.gz", ".warc")) and p.is_file() and not p.is_symlink()
    )


def unchanged(archive: Archive, capture_dir: Path, bag_id: str) -> bool:
    """True when the capture's payloads are exactly the bag's (an unreadable bag: False)."""
    try:
        new = payloads(capture_warcs(capture_dir))
        old = payloads(bag_warcs(archive.bag_dir(bag_id)))
    except ProblemFound:
        return False  # a damaged earlier bag is no reason to keep no new one
    return bool(new) and new == old


def record_unchanged(archive: Archive, bag_id: str, capture_id: str) -> None:
    """ "unchanged since BAG" in the bag's custody log and the ledger's events."""
    from strongroom.bag import custody

    detail = {"capture_id": capture_id, "result": f"unchanged since {bag_id}"}
    custody.record_event(
        archive,
        bag_id,
        "recapture",
        outcome="unchanged",
        inputs={"capture_id": capture_id},
        detail=detail,
        ledger_detail=detail,
    )
