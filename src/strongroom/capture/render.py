"""One page in the capture browser: load, behaviours, media, final DOM, live screenshot."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from strongroom.capture import behaviours, media
from strongroom.capture.screenshot import (
    MAX_SCREENSHOT_HEIGHT,
    MAX_TEXT,
    VIEWPORT,
    RecordRef,
    write_derivatives,
)

PAGE_BUDGET = 45.0  # seconds for all behaviours of one page
NAV_TIMEOUT = 30.0


def render_job(bc: Any, ctx: Any, job: Any, result: Any) -> None:
    """Run ``job`` (a :class:`strongroom.capture.browser._Job`) in a new tab of ``ctx``."""
    from playwright.sync_api import Error as PlaywrightError

    crawl = bc.crawl
    page = ctx.new_page()
    try:
        try:
            page.goto(job.url, wait_until="load", timeout=NAV_TIMEOUT * 1000)
        except PlaywrightError as exc:
            if "Timeout" not in str(exc):  # a page whose load never fires is still captured
                raise
        budget = min(PAGE_BUDGET, crawl.settings.resource_time_limit)
        reports, sources = behaviours.run_behaviours(
            page,
            budget=budget,
            should_stop=crawl.stop.is_set,
            idle=lambda quiet, limit: bc.idle(quiet, limit, page),
        )
        started = time.monotonic()
        streams = media_fetch(bc, job, sources)
        reports.append(
            {
                "name": "media-segments",
                "seconds": round(time.monotonic() - started, 2),
                "outcome": "done",
                "detail": {"playlists": streams},
            }
        )
        result.behaviours = reports
        if crawl.stop.is_set():
            return
        result.dom_record_id = write_dom(crawl.sink, job.url, page.content(), job.record_id)
        if crawl.screenshots:
            result.derivatives = _live_derivatives(bc, ctx, page, job)
    finally:
        with contextlib.suppress(Exception):
            page.close()


def _live_derivatives(bc: Any, ctx: Any, page: Any, job: Any) -> list[str]:
    """Screenshot and text of the live render, written under ``<capture>/derivatives``."""
    from strongroom.capture.screenshot import _stamp

    crawl = bc.crawl
    page.evaluate("window.scrollTo(0, 0)")
    height = page.evaluate("document.documentElement.scrollHeight") or VIEWPORT["height"]
    if height > MAX_SCREENSHOT_HEIGHT:
        clip = {"x": 0, "y": 0, "width": VIEWPORT["width"], "height": MAX_SCREENSHOT_HEIGHT}
        shot = page.screenshot(type="png", clip=clip, full_page=True)
    else:
        shot = page.screenshot(type="png", full_page=True)
    text = page.evaluate("document.body ? document.body.innerText : ''") or ""
    written = crawl.recorder.written.get(job.record_id)
    ref = RecordRef(
        uri=job.url,
        warc_file=Path(crawl.folder) / (written.warc_file if written else ""),
        offset=-1,
        record_id=job.record_id,
        warc_date=written.date if written else "",
        status=job.page.status,
        content_type=job.page.content_type,
    )
    stamped = _stamp(ctx, shot, ref, live=True)
    out = Path(crawl.folder) / "derivatives"
    files = write_derivatives(out, ref, stamped, text[:MAX_TEXT], bc.version, live=True)
    return [p.name for p in files]


def media_fetch(bc: Any, job: Any, sources: list[str]) -> list[dict[str, Any]]:
    """Fetch the playlists the page used, the rendition that played and all its segments."""
    result = job.result
    assert result is not None
    limit = bc.crawl.settings.max_bytes
    seen_lists: set[str] = set()
    report: list[dict[str, Any]] = []
    candidates = [
        u
        for u in dict.fromkeys([*sources, *result.requested])
        if media.is_playlist(u, job.answers[u].content_type if u in job.answers else "")
    ]
    stack = list(candidates)
    while stack and not bc.crawl.stop.is_set():
        url = stack.pop(0)
        if url in seen_lists:
            continue
        seen_lists.add(url)
        answer = job.answers.get(url) or bc.fetch(job, url)
        if answer.failure or not answer.body:
            continue
        kind = media.is_playlist(url, answer.content_type)
        text = answer.body.decode("utf-8", "replace")
        parsed = media.parse_hls(text, url) if kind == "hls" else media.parse_dash(text, url)
        if parsed.variants:
            # Every variant playlist (a few lines each), so a player may choose
            # any; segments only for the renditions that played (or the first).
            played = [v for v in parsed.variants if v in result.requested] or parsed.variants[:1]
            stack += played
            for other in parsed.variants:
                if other not in played and other not in job.answers:
                    bc.fetch(job, other)
                    seen_lists.add(other)
        got = 0
        for seg in parsed.segments:
            if job.media_bytes >= limit or bc.crawl.stop.is_set():
                break
            if seg not in job.answers:
                ans = bc.fetch(job, seg)
                job.media_bytes += len(ans.body)
                got += 1
        report.append(
            {"playlist": url, "kind": kind, "segments": len(parsed.segments), "fetched": got}
        )
    return report


def write_dom(sink: Any, url: str, dom: str, concurrent_to: str) -> str:
    """The final DOM as a WARC ``resource`` record linked to the page; its record id.

    Named ``urn:dom:<page URL>`` (as Browsertrix names its text records
    ``urn:text:``), so replay indexes, which take responses and revisits,
    never serve it in place of the page.
    """
    w = sink.write_resource(
        "urn:dom:" + url, dom.encode("utf-8"), "text/html; charset=utf-8", concurrent_to
    )
    return str(w.record_id) if w is not None else ""
