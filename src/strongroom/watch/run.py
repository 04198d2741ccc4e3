"""Watch the live sources: re-check every seed and classify what happened to it.

For each seed the archive holds, the baseline is the page as recorded in the
seed's latest bag (read from its WARC files). The live page is fetched again,
politely, from one or more vantage points, and the seed gets exactly one status:

``ok``, ``edited``, ``redirect-home``, ``soft-404``, ``not-found``, ``gone``,
``blocked-451``, ``unreachable``, ``geo-blocked``.

Every result becomes a PREMIS-style ``watch`` event in the ledger
(``watch_results`` and ``events``) and in the custody log of the seed's latest
bag. The bag itself is only ever read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from strongroom.core.archive import Archive
from strongroom.core.collection import Collection, validate_url
from strongroom.core.ledger import Ledger, open_ledger, utcnow
from strongroom.errors import UsageError
from strongroom.watch.baseline import Target, load_baseline, targets
from strongroom.watch.classify import check_vantage, combine
from strongroom.watch.live import Client
from strongroom.watch.recapture import recapture, settings_for
from strongroom.watch.results import WatchResult, is_news, previous, record
from strongroom.watch.statuses import EDITED, UNREACHABLE


@dataclass
class WatchRun:
    results: list[WatchResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def changed(self) -> list[WatchResult]:
        return [r for r in self.results if r.changed]


def watch(
    archive: Archive,
    collection: Collection | None = None,
    *,
    proxies: Sequence[str] = (),
    timeout: float | None = None,
    do_recapture: bool = False,
    manifests_dir: Path | None = None,
    on_result: Callable[[WatchResult], None] | None = None,
) -> WatchRun:
    """Check every seed live and record the results; see the module docstring."""
    from strongroom.core.fsutil import exclusive_lock

    for p in proxies:
        if urlsplit(p).scheme not in ("http", "https", "socks5", "socks5h", "socks4"):
            raise UsageError(f"--proxy {p!r}: expected http://, https:// or socks5h:// URL")
    archive.require()
    found = targets(archive, collection)
    run = WatchRun()
    if not found:
        return run
    threshold = collection.edit_threshold if collection else 0.0
    with exclusive_lock(archive.locks / "watch.lock") as taken:
        if not taken:
            raise UsageError("another watch is running on this archive; try again later")
        clients: dict[tuple[str | None, str, float, float], Client] = {}
        with open_ledger(archive.root) as ledger:
            for target in found:
                settings = settings_for(archive, target, collection)
                to = timeout if timeout is not None else settings.timeout
                vantages: list[Client] = []
                for proxy in (None, *proxies):
                    key = (proxy, settings.user_agent, to, settings.delay)
                    if key not in clients:
                        clients[key] = Client(
                            proxy=proxy,
                            user_agent=settings.user_agent,
                            timeout=to,
                            delay=settings.delay,
                        )
                    vantages.append(clients[key])
                result = check_target(archive, ledger, target, vantages, threshold, run.problems)
                # Every edited seed is recaptured (not only new edits): its latest bag differs
                # from the live page, so a new version is due. Takedowns are not recaptured:
                # an error page must never become the baseline of a seed.
                if do_recapture and result.bag_id and result.status == EDITED:
                    try:
                        result.recaptured_as = recapture(archive, target, collection, manifests_dir)
                    except Exception as exc:
                        # A failed recapture must not lose the watch result.
                        msg = getattr(exc, "message", None) or str(exc)
                        result.evidence["recapture_error"] = msg
                        run.problems.append(f"{target.url}: recapture failed: {msg}")
                record(archive, ledger, result)
                run.results.append(result)
                if on_result:
                    on_result(result)
        for c in clients.values():
            c.close()
    return run


def check_target(
    archive: Archive,
    ledger: Ledger,
    target: Target,
    clients: Sequence[Client],
    threshold: float,
    problems: list[str] | None = None,
) -> WatchResult:
    """Check one seed from every vantage point; compare with its last watch."""
    if problems is None:
        problems = []
    try:
        validate_url(target.url, "Seed-URL")
    except UsageError as exc:
        return WatchResult(
            target.url,
            UNREACHABLE,
            None,
            None,
            None,
            None,
            "direct",
            {"reason": f"not a URL that can be checked: {exc}"},
            utcnow(),
            target.bag_id,
            target.collection_id,
            changed=False,
        )
    baseline_error = None
    baseline = None
    if target.bag_id:
        try:
            baseline = load_baseline(archive, target.bag_id, target.url)
        except UsageError as exc:
            baseline_error = exc.message
    per = [check_vantage(c, target.url, baseline, threshold) for c in clients]
    merged = combine(per)
    for r in per:
        if r.evidence.get("vantage_failed"):
            problems.append(f"vantage {r.vantage} failed for {target.url}: {r.evidence['reason']}")
    evidence = dict(merged.evidence)
    if baseline_error:
        evidence["baseline_error"] = baseline_error
    prev = previous(ledger, target.url)
    prev_status = prev["status"] if prev else None
    return WatchResult(
        url=target.url,
        status=merged.status,
        previous_status=prev_status,
        http_status=merged.http_status,
        final_url=merged.final_url,
        similarity=merged.similarity,
        vantage=merged.vantage,
        evidence=evidence,
        checked_at=utcnow(),
        bag_id=target.bag_id,
        collection_id=target.collection_id,
        changed=is_news(merged.status, evidence, target.bag_id, prev),
    )
