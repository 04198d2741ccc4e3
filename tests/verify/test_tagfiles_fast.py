"""The short ways verify --fast reads tag files find what the careful ways find.

A small UTF-8 tag file is split without a text stream, and tag files, entries and
logs are read with one open, fstat and read; each hostile case below must give
the same lines and the same findings as the stream, or go the careful way.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from strongroom.verify.findings import BagReport
from strongroom.verify.tagfiles import MAX_LINE, iter_tag_lines, quick_read

HOSTILE = {
    "crlf": b"abc  data/a\r\ndef  data/b\r\n",
    "lone cr": b"abc  data/a\rdef  data/b\r",
    "mixed": b"a\r\n\rb\n\nc",
    "bom": b"\xef\xbb\xbfabc  data/a\n",
    "no final newline": b"abc  data/a\ndef  data/b",
    "empty": b"",
    "only newlines": b"\n\n\r\n",
    "bad utf-8 on line 3": b"a\nb\n\xff\xfe\nd\n",
    "truncated utf-8": b"a\n\xe2\x82",
    "line too long": b"a\n" + b"x" * MAX_LINE + b"\nb\n",
    "line just short enough": b"x" * (MAX_LINE - 1) + b"\n",
    "nul and controls": b"a\x00b\n\x1b[31mred\n",
    "unicode separators": "a\u2028b\x85c\x0cd\n".encode(),
}


def _findings(report: BagReport) -> list[tuple[str, str, str]]:
    return [(p.code, p.message, p.severity) for p in report.problems + report.warnings]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_the_short_split_reads_what_the_stream_reads(tmp_path: Path, name: str) -> None:
    data = HOSTILE[name]
    path = tmp_path / "manifest-sha512.txt"
    path.write_bytes(data)
    streamed, short = BagReport(path=tmp_path, mode="fast"), BagReport(path=tmp_path, mode="fast")
    want = list(iter_tag_lines(path, "UTF-8", streamed, path.name))
    got = list(iter_tag_lines(path, "UTF-8", short, path.name, data))
    assert got == want
    assert _findings(short) == _findings(streamed)


def test_quick_read_takes_only_a_regular_file_it_can_read_whole(tmp_path: Path) -> None:
    plain = tmp_path / "bagit.txt"
    plain.write_bytes(b"BagIt-Version: 1.0\n")
    assert quick_read(str(plain), 1024) == b"BagIt-Version: 1.0\n"
    assert quick_read(str(plain), 4) is None  # too large: the careful path says so
    assert quick_read(str(tmp_path / "absent"), 1024) is None
    link = tmp_path / "link"
    link.symlink_to(plain)
    assert quick_read(str(link), 1024) is None  # never followed
    assert quick_read(str(tmp_path), 1024) is None  # a folder
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert quick_read(str(fifo), 1024) is None  # not waited on
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert quick_read(str(empty), 1024) == b""
