"""Streaming playlists: which URLs an HLS (.m3u8) or DASH (.mpd) rendition needs.

A player fetches segments as it plays, so a short play in a capture browser
records only the first few. The archive needs the whole rendition that played,
so the recorder parses the playlist and fetches every segment (within
``--max-bytes``). Written here because the field's libraries (m3u8, mpegdash)
are players' or packagers' tools with dependencies of their own, and the part
we need is small: URIs in a line format and a few XML attributes. Input is
hostile: sizes are bounded and nothing is evaluated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urljoin

MAX_PLAYLIST = 4 * 1024 * 1024
MAX_SEGMENTS = 20_000
_ATTR_URI = re.compile(r'URI="([^"]+)"')


@dataclass
class Playlist:
    """What one playlist names: variant playlists (master) or media segments."""

    variants: list[str] = field(default_factory=list)
    segments: list[str] = field(default_factory=list)


def is_playlist(url: str, content_type: str) -> str:
    """``'hls'``, ``'dash'`` or ``''`` for a URL and its Content-Type."""
    ct = content_type.lower()
    path = url.split("?", 1)[0].split("#", 1)[0].lower()
    if "mpegurl" in ct or path.endswith(".m3u8"):
        return "hls"
    if "dash+xml" in ct or path.endswith(".mpd"):
        return "dash"
    return ""


def parse_hls(text: str, base: str) -> Playlist:
    """Variants of a master playlist, or segments (plus init map and keys) of a media one."""
    out = Playlist()
    lines = text[:MAX_PLAYLIST].splitlines()
    expect_variant = False
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if line.startswith("#EXT-X-STREAM-INF"):
                expect_variant = True
            elif line.startswith(("#EXT-X-MAP", "#EXT-X-KEY", "#EXT-X-MEDIA")):
                m = _ATTR_URI.search(line)
                if m:
                    target = out.variants if line.startswith("#EXT-X-MEDIA") else out.segments
                    target.append(urljoin(base, m.group(1)))
            continue
        (out.variants if expect_variant else out.segments).append(urljoin(base, line))
        expect_variant = False
    out.segments = out.segments[:MAX_SEGMENTS]
    return out


def _attr(tag: str, name: str) -> str:
    m = re.search(rf'\b{name}\s*=\s*"([^"]*)"', tag)
    return m.group(1) if m else ""


def _duration(value: str) -> float:
    """ISO 8601 duration (PT1H2M3.5S) in seconds; 0 when absent or malformed."""
    m = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?", value.strip())
    if not m:
        return 0.0
    d, h, mi, s = (float(x) if x else 0.0 for x in m.groups())
    return d * 86400 + h * 3600 + mi * 60 + s


def parse_dash(text: str, base: str, representation: str = "") -> Playlist:
    """Segments of one representation of an MPD (the first, or the one named).

    Handles ``SegmentList``/``SegmentURL``, ``SegmentTemplate`` with
    ``$Number$`` (count from the duration) or a ``SegmentTimeline``, and
    ``BaseURL``. Enough for what news players publish; exotic MPDs yield
    fewer segments, never an error.
    """
    text = text[:MAX_PLAYLIST]
    out = Playlist()
    m = re.search(r"<BaseURL>([^<]+)</BaseURL>", text)
    if m:
        base = urljoin(base, m.group(1).strip())
    reps = re.findall(r"<Representation\b[^>]*>", text)
    rep_tag = next((r for r in reps if _attr(r, "id") == representation), reps[0] if reps else "")
    rep_id, bandwidth = _attr(rep_tag, "id"), _attr(rep_tag, "bandwidth")
    for seg in re.findall(r"<(?:SegmentURL|Initialization)\b[^>]*>", text):
        for name in ("media", "sourceURL"):
            if _attr(seg, name):
                out.segments.append(urljoin(base, _attr(seg, name)))
    tmpl = re.search(r"<SegmentTemplate\b[^>]*>", text)
    if tmpl:
        out.segments += _template_segments(text, tmpl.group(0), base, rep_id, bandwidth)
    out.segments = list(dict.fromkeys(out.segments))[:MAX_SEGMENTS]
    return out


def _template_segments(text: str, tag: str, base: str, rep_id: str, bandwidth: str) -> list[str]:
    def fill(t: str, number: int | None = None, time: int | None = None) -> str:
        t = t.replace("$RepresentationID$", rep_id).replace("$Bandwidth$", bandwidth)
        t = re.sub(r"\$Number(%0(\d+)d)?\$", lambda m: str(number).zfill(int(m.group(2) or 0)), t)
        return t.replace("$Time$", str(time))

    media, init = _attr(tag, "media"), _attr(tag, "initialization")
    start = int(_attr(tag, "startNumber") or 1)
    urls = [urljoin(base, fill(init))] if init else []
    if not media:
        return urls
    timeline = re.findall(r"<S\b[^>]*>", text)
    if timeline:
        t, n = 0, start
        for s in timeline:
            t = int(_attr(s, "t") or t)
            d, r = int(_attr(s, "d") or 0), int(_attr(s, "r") or 0)
            for _ in range(max(0, r) + 1):
                urls.append(urljoin(base, fill(media, n, t)))
                t, n = t + d, n + 1
                if len(urls) >= MAX_SEGMENTS:
                    return urls
        return urls
    scale = int(_attr(tag, "timescale") or 1) or 1
    seg = int(_attr(tag, "duration") or 0) / scale
    mpd = re.search(r"<MPD\b[^>]*>", text)
    total = _duration(_attr(mpd.group(0), "mediaPresentationDuration")) if mpd else 0.0
    count = int(-(-total // seg)) if seg > 0 and total > 0 else 0
    for i in range(min(count, MAX_SEGMENTS)):
        urls.append(urljoin(base, fill(media, start + i)))
    return urls
