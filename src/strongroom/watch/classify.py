"""Classification: what one vantage point's answer says about a seed, one rule at a time."""

from __future__ import annotations

import dataclasses
import functools
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from strongroom.watch.live import Client, Fetch
from strongroom.watch.statuses import (
    BLOCKED_451,
    EDITED,
    GEO_BLOCKED,
    GONE,
    HOME_SIMILARITY,
    NOT_FOUND,
    OK,
    REDIRECT_HOME,
    SEES_PAGE,
    SOFT404_SIMILARITY,
    SOFT_404,
    UNREACHABLE,
)
from strongroom.watch.text import (
    Page,
    block_page_phrase,
    diff_snippets,
    legal_labels,
    similarity,
    title_error_phrase,
    words,
)


def _site(host: str | None) -> str:
    host = (host or "").lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


_INDEX_FILE = re.compile(r"(?:^|/)(?:index|default)\.(?:html?|php|aspx?|jsp)$", re.IGNORECASE)


def home_redirect_reason(seed_url: str, final_url: str) -> str | None:
    """Why ``final_url`` is the site's home or a section page of ``seed_url``, or None.

    The rule: same site (``www.`` ignored) and the final path, without an index
    file name, is ``/`` (home) or a parent folder of the seed's path (a section,
    e.g. ``/rferl/`` for ``/rferl/a/123.html``). Pages with fewer path segments
    that are not parents are checked against the home page's text by the caller.
    """
    s, f = urlsplit(seed_url), urlsplit(final_url)
    if _site(s.hostname) != _site(f.hostname):
        return None
    fpath = _INDEX_FILE.sub("/", f.path or "/")
    if fpath in ("", "/"):
        return "redirects to the site's home page"
    folder = fpath if fpath.endswith("/") else fpath + "/"
    spath = s.path or "/"
    if spath.startswith(folder) and spath.rstrip("/") != fpath.rstrip("/"):
        return f"redirects to the section page {fpath}"
    return None


def _segments(url: str) -> int:
    return len([p for p in urlsplit(url).path.split("/") if p])


def parse_blocked_by(link_header: str) -> str | None:
    """The target of ``Link: <...>; rel="blocked-by"`` (RFC 7725), if any."""
    from requests.utils import parse_header_links

    try:
        links = parse_header_links(link_header or "")
    except Exception:
        # A hostile Link header is just not evidence.
        return None
    for link in links:
        rels = (link.get("rel") or "").lower().split()
        if "blocked-by" in rels:
            return (link.get("url") or "").strip()[:2048] or None
    return None


def probe_url(seed_url: str) -> str:
    """A URL beside the seed that cannot exist: ``/<seed dir>/strongroom-probe-<uuid4>``."""
    parts = urlsplit(seed_url)
    folder = parts.path.rsplit("/", 1)[0] if "/" in parts.path else ""
    path = f"{folder}/strongroom-probe-{uuid.uuid4()}"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


@dataclass
class VantageResult:
    vantage: str
    status: str
    http_status: int | None
    final_url: str | None
    similarity: float | None
    evidence: dict[str, Any]


def compare(baseline: Page | None, live: Page, threshold: float) -> tuple[str, dict[str, Any]]:
    """ok or edited: the article's words and any legal label that was not there before."""
    ev: dict[str, Any] = {"title": live.title[:300], "text_sha256": live.text_sha256}
    new_labels: list[str] = []
    if baseline is None:
        ev["baseline"] = "no recorded response for this seed in its bag"
        return OK, ev
    before_labels = set(legal_labels(baseline.visible + " " + baseline.text))
    new_labels = [
        lb for lb in legal_labels(live.visible + " " + live.text) if lb not in before_labels
    ]
    sim = similarity(baseline.text, live.text)
    ev["similarity"] = round(sim, 4)
    ev["baseline_words"] = len(words(baseline.text))
    ev["live_words"] = len(words(live.text))
    changed = words(baseline.text) != words(live.text) and (1.0 - sim) > threshold
    if changed:
        ev["diff"] = diff_snippets(baseline.text, live.text)
    if new_labels:
        ev["legal_label"] = new_labels
    if changed or new_labels:
        reasons = []
        if changed:
            reasons.append(f"main text changed (similarity {sim:.3f})")
        if new_labels:
            reasons.append("legal label appeared: " + ", ".join(new_labels))
        ev["reason"] = "; ".join(reasons)
        return EDITED, ev
    return OK, ev


@dataclass
class _Answer:
    """One vantage point's answer for one URL, as the rules below see it."""

    client: Client
    url: str
    fetch: Fetch
    baseline: Page | None
    threshold: float
    evidence: dict[str, Any]

    @functools.cached_property
    def live(self) -> Page:
        # Decoding and text extraction cost the most CPU; rules that decide on
        # the status line alone never pay for them.
        return self.fetch.page()

    @property
    def code(self) -> int:
        return self.fetch.http_status or 0

    def result(self, status: str, sim: float | None = None, **more: Any) -> VantageResult:
        self.evidence.update(more)
        if self.fetch.http_status is not None:
            self.evidence["http_status"] = self.fetch.http_status
        return VantageResult(
            self.client.vantage,
            status,
            self.fetch.http_status,
            self.fetch.final_url,
            sim,
            self.evidence,
        )


def _failed(a: _Answer) -> VantageResult | None:
    """No HTTP answer at all; a broken proxy says nothing about the page."""
    if not a.fetch.error:
        return None
    if a.fetch.error.startswith("proxy error") and a.client.vantage != "direct":
        return a.result(UNREACHABLE, reason=a.fetch.error, vantage_failed=True)
    return a.result(UNREACHABLE, reason=a.fetch.error)


def _legal_block(a: _Answer) -> VantageResult | None:
    """HTTP 451, with the blocking party from the ``blocked-by`` link when given."""
    if a.code != 451:
        return None
    blocked_by = parse_blocked_by(a.fetch.headers.get("link", ""))
    reason = "HTTP 451 Unavailable For Legal Reasons"
    if blocked_by:
        reason += f"; blocked by {blocked_by} (may be an ISP, not the publisher)"
    return a.result(BLOCKED_451, blocked_by=blocked_by, reason=reason)


def _removed(a: _Answer) -> VantageResult | None:
    """410 and 404 are removals."""
    if a.code == 410:
        return a.result(GONE, reason="HTTP 410 Gone")
    if a.code == 404:
        return a.result(NOT_FOUND, reason="HTTP 404 Not Found")
    return None


def _not_served(a: _Answer) -> VantageResult | None:
    """403, 429, 5xx...: the page cannot be seen now, but nothing says it was removed."""
    if 200 <= a.code < 300:
        return None
    return a.result(UNREACHABLE, reason=f"HTTP {a.code} from the server")


def _redirected_home(a: _Answer) -> VantageResult | None:
    """Redirected to the home page or a section front, by URL or by the text served there."""
    if not a.fetch.hops:
        return None
    final = a.fetch.final_url or a.url
    why = home_redirect_reason(a.url, final)
    if why is None and _segments(final) < _segments(a.url):
        home = a.client.get(urlunsplit((*urlsplit(final)[:2], "/", "", "")))
        if home.http_status == 200 and not home.error:
            sim_home = similarity(home.page().text, a.live.text)
            if sim_home >= HOME_SIMILARITY:
                why = f"redirect target's text matches the home page ({sim_home:.2f})"
    if not why:
        return None
    return a.result(REDIRECT_HOME, reason=why, title=a.live.title[:300])


def _block_page(a: _Answer) -> VantageResult | None:
    """A filter's page served in place of the article (geo-blocked when another vantage sees it)."""
    block = block_page_phrase(a.live)
    if not block or (a.baseline and block_page_phrase(a.baseline)):
        return None
    return a.result(UNREACHABLE, reason=f"a block page ({block!r})", title=a.live.title[:300])


def _error_title(a: _Answer) -> VantageResult | None:
    """An error page served with 200, by its title (unless the article's own title says so)."""
    phrase = title_error_phrase(a.live.title)
    if not phrase or (a.baseline and title_error_phrase(a.baseline.title)):
        return None
    return a.result(SOFT_404, reason=f"error page: title says {phrase!r}", title=a.live.title[:300])


def _text(a: _Answer) -> VantageResult:
    """The article itself: ok, edited, or a soft 404 that any URL of the site would get."""
    status, cmp_ev = compare(a.baseline, a.live, a.threshold)
    a.evidence.update(cmp_ev)
    sim = cmp_ev.get("similarity")
    if status == OK:
        return a.result(OK, sim)
    probe = a.client.get(probe_url(a.url))
    a.evidence["probe"] = {"url": probe.url, "http_status": probe.http_status}
    if probe.http_status and 200 <= probe.http_status < 300 and not probe.error:
        sim_probe = similarity(probe.page().text, a.live.text)
        a.evidence["probe"]["similarity"] = round(sim_probe, 4)
        if sim_probe >= SOFT404_SIMILARITY:
            reason = f"page matches a URL that cannot exist (similarity {sim_probe:.2f})"
            return a.result(SOFT_404, sim, reason=reason)
    return a.result(EDITED, sim)


# In order: the first rule that recognises the answer decides the status.
RULES: tuple[Callable[[_Answer], VantageResult | None], ...] = (
    _failed,
    _legal_block,
    _removed,
    _not_served,
    _redirected_home,
    _block_page,
    _error_title,
)


def check_vantage(
    client: Client, url: str, baseline: Page | None, threshold: float, *, reserved: bool = False
) -> VantageResult:
    """Fetch ``url`` from one vantage point and classify it (probing when needed).

    ``reserved``: the first request's politeness slot is already taken.
    """
    f = client.get(url, reserved=reserved)
    ev: dict[str, Any] = {"hops": f.hops}
    if f.truncated:
        ev["truncated"] = True
    answer = _Answer(client, url, f, baseline, threshold, ev)
    for rule in RULES:
        decided = rule(answer)
        if decided is not None:
            return decided
    return _text(answer)


def combine(results: Sequence[VantageResult]) -> VantageResult:
    """One status from several vantage points.

    When one sees the article and another gets 451, a failure or a block
    page, the seed is ``geo-blocked``, kept apart from removals. Otherwise the
    first (direct) vantage's answer stands; all answers stay in the evidence.
    """
    primary = results[0]
    if len(results) == 1:
        return primary
    per = {
        r.vantage: {"status": r.status, "http_status": r.http_status, "final_url": r.final_url}
        | ({"reason": r.evidence["reason"]} if "reason" in r.evidence else {})
        | ({"blocked_by": r.evidence["blocked_by"]} if r.evidence.get("blocked_by") else {})
        for r in results
    }
    usable = [r for r in results if not r.evidence.get("vantage_failed")]
    seeing = [r for r in usable if r.status in SEES_PAGE]
    blocked = [r for r in usable if r.status not in SEES_PAGE]
    evidence = dict(primary.evidence) | {"vantages": per}
    failed = [r.vantage for r in results if r.evidence.get("vantage_failed")]
    if failed:
        evidence["failed_vantages"] = failed
    if seeing and blocked:
        evidence["reason"] = (
            "seen from "
            + ", ".join(r.vantage for r in seeing)
            + "; not from "
            + ", ".join(f"{r.vantage} ({r.status})" for r in blocked)
        )
        evidence["seen_status"] = seeing[0].status
        return VantageResult(
            ",".join(r.vantage for r in results),
            GEO_BLOCKED,
            seeing[0].http_status,
            seeing[0].final_url,
            seeing[0].similarity,
            evidence,
        )
    return dataclasses.replace(
        primary, vantage=",".join(r.vantage for r in results), evidence=evidence
    )
