"""Page behaviours run in Chromium during a browser capture, each bounded in time.

What a reader does, done on purpose so that the page loads what it loads for
them: scroll until the height stops growing, wait for the network to settle,
trigger lazy loading (IntersectionObserver by scrolling every candidate into
view, and the ``data-src``/``data-srcset``/``data-bg`` conventions by copying
the attribute), open ``<details>`` and click visible "load more"/"show
comments" buttons a bounded number of times, play media, and do the same in
every frame (including frames that scripts inserted). Each run is reported as
``{"name", "seconds", "outcome", "detail"}`` and listed in capture.json.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

BEHAVIOURS = ("scroll", "lazy-load", "expand", "media", "frames", "network-idle")
# Seconds each behaviour may take; the page's whole budget bounds them again.
LIMITS = {
    "scroll": 10.0,
    "lazy-load": 5.0,
    "expand": 10.0,
    "media": 6.0,
    "frames": 8.0,
    "network-idle": 5.0,
}
MAX_CLICKS = 5  # per button kind: "load more" buttons can be endless
IDLE_QUIET = 0.5  # seconds without a new request that count as idle

# Scroll in viewport steps until the height stops growing (or time runs out).
SCROLL_JS = """async (limitMs) => {
  const end = Date.now() + limitMs; let last = -1, steps = 0;
  while (Date.now() < end) {
    const h = document.documentElement.scrollHeight;
    for (let y = 0; y < h && Date.now() < end; y += Math.max(200, innerHeight * 0.8)) {
      window.scrollTo(0, y); steps++; await new Promise(r => setTimeout(r, 60));
    }
    window.scrollTo(0, document.documentElement.scrollHeight);
    await new Promise(r => setTimeout(r, 250));
    const now = document.documentElement.scrollHeight;
    if (now === last) break;
    last = now;
  }
  window.scrollTo(0, 0);
  return {steps, height: document.documentElement.scrollHeight};
}"""

# Lazy images: copy data-* into the real attributes, and bring every lazy
# candidate into view so IntersectionObservers fire.
LAZY_JS = """async (limitMs) => {
  const end = Date.now() + limitMs; let copied = 0, viewed = 0;
  const sel = '[data-src],[data-srcset],[data-bg],[data-background]';
  for (const el of document.querySelectorAll(sel)) {
    if (el.dataset.src && el.getAttribute('src') !== el.dataset.src && 'src' in el) {
      el.setAttribute('src', el.dataset.src); copied++; }
    if (el.dataset.srcset && el.getAttribute('srcset') !== el.dataset.srcset) {
      el.setAttribute('srcset', el.dataset.srcset); copied++; }
    const bg = el.dataset.bg || el.dataset.background;
    if (bg && !el.style.backgroundImage) { el.style.backgroundImage = `url("${bg}")`; copied++; }
  }
  for (const img of document.querySelectorAll('img[loading=lazy],iframe[loading=lazy]')) {
    img.loading = 'eager';
  }
  const cands = document.querySelectorAll('img,picture,video,iframe,[data-src],[data-bg],.lazy');
  for (const el of cands) {
    if (Date.now() > end) break;
    el.scrollIntoView({block: 'center'}); viewed++;
    await new Promise(r => setTimeout(r, 15));
  }
  window.scrollTo(0, 0);
  return {copied, viewed};
}"""

# Open <details>, then click visible same-page buttons a bounded number of times.
EXPAND_JS = """async ([limitMs, maxClicks]) => {
  const end = Date.now() + limitMs; let opened = 0, clicks = 0;
  for (const d of document.querySelectorAll('details:not([open])')) { d.open = true; opened++; }
  const words =
    /(load|show|view|see|read)\\s+(more|all|comments?|replies)|more\\s+comments|^more$/i;
  const counts = new Map();
  for (let round = 0; round < maxClicks && Date.now() < end; round++) {
    let clicked = false;
    for (const b of document.querySelectorAll('button,[role=button],a[href="#"],a:not([href])')) {
      const text = (b.innerText || b.getAttribute('aria-label') || '').trim().slice(0, 60);
      if (!words.test(text) || !b.isConnected || b.disabled) continue;
      const r = b.getBoundingClientRect(); if (!r.width || !r.height) continue;
      const key = text.toLowerCase(); const n = counts.get(key) || 0;
      if (n >= maxClicks) continue;
      counts.set(key, n + 1); b.scrollIntoView({block: 'center'});
      b.click(); clicks++; clicked = true;
      await new Promise(r => setTimeout(r, 400));
    }
    if (!clicked) break;
  }
  return {opened, clicks};
}"""

# Play media long enough for manifests and first segments; report the sources.
MEDIA_JS = """async (limitMs) => {
  const media = [...document.querySelectorAll('video,audio')]; const srcs = [];
  for (const m of media) {
    m.muted = true; m.preload = 'auto';
    for (const s of [m.currentSrc, m.src, ...[...m.querySelectorAll('source')].map(s => s.src)]) {
      if (s && !srcs.includes(s)) srcs.push(s); }
    try { const p = m.play(); if (p) p.catch(() => {}); } catch (e) {}
  }
  if (media.length) await new Promise(r => setTimeout(r, Math.min(limitMs, 2500)));
  for (const m of media) { try { m.pause(); } catch (e) {} }
  return {media: media.length, sources: srcs};
}"""


def run_behaviours(
    page: Any,
    *,
    budget: float,
    should_stop: Callable[[], bool],
    idle: Callable[[float, float], bool],
) -> tuple[list[dict[str, Any]], list[str]]:
    """Run every behaviour on ``page`` within ``budget`` seconds.

    ``idle(quiet, limit)`` waits until no request has started for ``quiet``
    seconds (the recorder knows; Chromium's own idle signal does not see
    requests we are still answering). Returns the behaviour reports and the
    media source URLs the page used.
    """
    end = time.monotonic() + budget
    reports: list[dict[str, Any]] = []
    media: list[str] = []
    for name in BEHAVIOURS:
        left = end - time.monotonic()
        if should_stop() or left <= 0:
            reports.append({"name": name, "seconds": 0.0, "outcome": "skipped", "detail": {}})
            continue
        limit = min(LIMITS[name], left)
        started = time.monotonic()
        try:
            detail = _run_one(page, name, limit, idle)
            outcome = "done"
        except Exception as exc:  # a page may break any behaviour; the capture goes on
            detail, outcome = {"error": str(exc).splitlines()[0][:200] if str(exc) else ""}, "error"
        if name == "media":
            media = [str(s) for s in detail.get("sources", [])]
        reports.append(
            {
                "name": name,
                "seconds": round(time.monotonic() - started, 2),
                "outcome": outcome,
                "detail": detail,
            }
        )
        if name != "network-idle":
            idle(IDLE_QUIET, min(2.0, max(0.0, end - time.monotonic())))
    return reports, media


def _run_one(page: Any, name: str, limit: float, idle: Callable[[float, float], bool]) -> Any:
    ms = int(limit * 1000)
    if name == "scroll":
        return page.evaluate(SCROLL_JS, ms)
    if name == "lazy-load":
        return page.evaluate(LAZY_JS, ms)
    if name == "expand":
        return page.evaluate(EXPAND_JS, [ms, MAX_CLICKS])
    if name == "media":
        return page.evaluate(MEDIA_JS, ms)
    if name == "frames":
        return _frames(page, limit)
    return {"idle": idle(IDLE_QUIET, limit)}


def _frames(page: Any, limit: float) -> dict[str, Any]:
    """Scroll, lazy-load and expand inside every child frame (script-inserted too)."""
    end = time.monotonic() + limit
    done = 0
    urls: list[str] = []
    for frame in page.frames:
        if frame == page.main_frame or time.monotonic() > end:
            continue
        ms = int(max(0.2, min(2.0, end - time.monotonic())) * 1000)
        try:
            frame.evaluate(SCROLL_JS, ms)
            frame.evaluate(LAZY_JS, ms)
            frame.evaluate(EXPAND_JS, [ms, 2])
            done += 1
            urls.append(frame.url)
        except Exception:  # a frame that navigated or closed meanwhile
            continue
    return {"frames": done, "urls": urls[:50]}
