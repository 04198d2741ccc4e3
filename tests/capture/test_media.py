"""Streaming playlists: the URLs a rendition needs, from hostile input too."""

from __future__ import annotations

from strongroom.capture import media

MASTER = """#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=300000
low/index.m3u8
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",URI="audio/en.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=900000
https://cdn.example/high/index.m3u8
"""
MEDIA = """#EXTM3U
#EXT-X-TARGETDURATION:4
#EXT-X-KEY:METHOD=AES-128,URI="key.bin"
#EXT-X-MAP:URI="init.mp4"
#EXTINF:4.0,
seg0.ts
#EXTINF:4.0,
/abs/seg1.ts
#EXT-X-ENDLIST
"""


def test_hls_master_lists_variants_and_media_lists_segments_keys_and_init() -> None:
    m = media.parse_hls(MASTER, "https://news.example/v/master.m3u8")
    assert m.variants == [
        "https://news.example/v/low/index.m3u8",
        "https://news.example/v/audio/en.m3u8",
        "https://cdn.example/high/index.m3u8",
    ]
    assert m.segments == []
    p = media.parse_hls(MEDIA, "https://news.example/v/low/index.m3u8")
    assert p.segments == [
        "https://news.example/v/low/key.bin",
        "https://news.example/v/low/init.mp4",
        "https://news.example/v/low/seg0.ts",
        "https://news.example/abs/seg1.ts",
    ]


def test_dash_segment_template_number_timeline_and_list() -> None:
    number = """<MPD mediaPresentationDuration="PT10S"><Period><AdaptationSet>
    <SegmentTemplate media="v/$RepresentationID$/$Number%03d$.m4s"
      initialization="v/$RepresentationID$/init.mp4" startNumber="1" duration="4" timescale="1"/>
    <Representation id="720p" bandwidth="2000000"/><Representation id="360p"/>
    </AdaptationSet></Period></MPD>"""
    got = media.parse_dash(number, "https://n.example/a/manifest.mpd")
    assert got.segments == [
        "https://n.example/a/v/720p/init.mp4",
        "https://n.example/a/v/720p/001.m4s",
        "https://n.example/a/v/720p/002.m4s",
        "https://n.example/a/v/720p/003.m4s",
    ]
    timeline = """<MPD><BaseURL>https://cdn.example/x/</BaseURL>
    <SegmentTemplate media="t$Time$.m4s"><SegmentTimeline><S t="0" d="10" r="2"/></SegmentTimeline>
    </SegmentTemplate><Representation id="a"/></MPD>"""
    assert media.parse_dash(timeline, "https://n.example/m.mpd").segments == [
        "https://cdn.example/x/t0.m4s",
        "https://cdn.example/x/t10.m4s",
        "https://cdn.example/x/t20.m4s",
    ]
    seglist = '<MPD><SegmentList><Initialization sourceURL="i.mp4"/><SegmentURL media="s1.m4s"/>'
    seglist += '<SegmentURL media="s2.m4s"/></SegmentList></MPD>'
    assert media.parse_dash(seglist, "https://n.example/m.mpd").segments == [
        "https://n.example/i.mp4",
        "https://n.example/s1.m4s",
        "https://n.example/s2.m4s",
    ]


def test_hostile_playlists_are_bounded_and_never_raise() -> None:
    huge = "#EXTM3U\n" + "seg.ts\n" * 100_000
    assert len(media.parse_hls(huge, "http://x/p.m3u8").segments) <= media.MAX_SEGMENTS
    endless = '<MPD><SegmentTemplate media="$Number$.m4s"><SegmentTimeline>'
    endless += '<S d="1" r="999999999"/></SegmentTimeline></SegmentTemplate></MPD>'
    assert len(media.parse_dash(endless, "http://x/m.mpd").segments) <= media.MAX_SEGMENTS
    for junk in ("", "\x00\xff garbage", "<MPD", '<MPD mediaPresentationDuration="PTxS">'):
        media.parse_hls(junk, "http://x/")
        media.parse_dash(junk, "http://x/")
    assert media.is_playlist("http://x/a.m3u8?token=1", "") == "hls"
    assert media.is_playlist("http://x/a", "application/dash+xml") == "dash"
    assert media.is_playlist("http://x/a.mp4", "video/mp4") == ""
