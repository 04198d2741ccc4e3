"""Tag files: bagit.txt, bag-info.txt and fetch.txt, read strictly in their declared encoding.

Every tag file is hostile input: lines are read with a length cap, decoding
errors and malformed lines become findings, and paths are decoded as RFC 8493
2.1.3 says (only %25, %0A and %0D) before anything checks them.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from strongroom.core.fsutil import is_within, safe_relpath
from strongroom.verify.findings import BagReport, show

KNOWN_VERSIONS = ("0.93", "0.94", "0.95", "0.96", "0.97", "1.0")
MAX_LINE = 64 * 1024  # a manifest line longer than this is hostile, not a file name
MAX_SMALL_TAG = 16 * 1024 * 1024  # bagit.txt / bag-info.txt are read whole; cap them

_BAGIT_VERSION = re.compile(r"^BagIt-Version: ([0-9]+)\.([0-9]+)$")
_BAGIT_ENCODING = re.compile(r"^Tag-File-Character-Encoding: (\S+)$")
_PCT = re.compile(r"%(25|0A|0D)", re.IGNORECASE)
_CONTROL_IN_INFO = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


def decode_path(raw: str) -> str:
    """RFC 8493 2.1.3: only %25, %0A and %0D are encoded in manifest and fetch paths."""
    if "%" not in raw:
        return raw
    return _PCT.sub(lambda m: {"25": "%", "0A": "\n", "0D": "\r"}[m.group(1).upper()], raw)


def strip_dot(path: str) -> str:
    while path.startswith("./"):
        path = path[2:]
    return path


def iter_tag_lines(
    path: Path, encoding: str, report: BagReport, name: str, data: bytes | None = None
) -> Iterator[tuple[int, str]]:
    """Decoded lines of a tag file, streamed; decoding errors and hostile lines are problems.

    ``data``: the file's bytes, when the caller read it already (a small tag
    manifest is read once, and its bytes serve the signature and the inventory).
    """
    if data is not None and _is_utf8(encoding):
        lines = _plain_lines(data)
        if lines is not None:  # the common case, without a text stream
            yield from _numbered(lines, report, name)
            return
    fh: io.BufferedIOBase
    if data is not None:
        fh = io.BytesIO(data)
    else:
        try:
            fh = open(path, "rb")  # noqa: SIM115 - wrapped and closed below
        except OSError as exc:
            report.error("unreadable", f"{name}: cannot read ({exc.strerror})", file=name)
            return
    text = io.TextIOWrapper(fh, encoding=encoding, errors="strict", newline=None)
    number = 0
    try:
        while True:
            line = text.readline(MAX_LINE)
            if not line:
                return
            number += 1
            if len(line) >= MAX_LINE and not line.endswith("\n"):
                report.error(
                    "line-too-long",
                    f"{name} line {number}: longer than {MAX_LINE} characters; stopped reading it",
                    file=name,
                )
                return
            line = line.rstrip("\n")
            if number == 1 and line.startswith("\ufeff"):
                report.warn("bom", f"{name}: begins with a byte-order mark", file=name)
                line = line[1:]
            yield number, line
    except UnicodeDecodeError as exc:
        report.error(
            "encoding",
            f"{name} line {number + 1}: not valid {encoding} ({exc.reason})",
            file=name,
        )
    except OSError as exc:
        report.error("unreadable", f"{name}: cannot read ({exc.strerror})", file=name)
    finally:
        text.close()


def _is_utf8(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False


def _plain_lines(data: bytes) -> list[str] | None:
    """The lines of valid UTF-8 ``data`` as the text stream reads them (universal
    newlines), or None when it is not valid or has a line too long: the stream
    then reads it and names the line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines[-1] == "":
        lines.pop()
    if lines and max(map(len, lines)) >= MAX_LINE:
        return None
    return lines


def _numbered(lines: list[str], report: BagReport, name: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(lines, 1):
        if number == 1 and line.startswith("\ufeff"):
            report.warn("bom", f"{name}: begins with a byte-order mark", file=name)
            line = line[1:]
        yield number, line


def quick_read(path: str, limit: int) -> bytes | None:
    """A regular file's bytes in one open, fstat and read (no symlink followed, no FIFO
    waited on), or None: anything else (missing, a link, too large, unreadable)
    is left to the careful path, which says what is wrong."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        # The size fstat gave, in one read: the bytes the file held then. A read
        # that returns less (the file shrank) or more (it grew) is left to the
        # careful path.
        data = os.read(fd, st.st_size + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if len(data) == st.st_size else None


def _lstat_mode(path: Path) -> int | None:
    """The file's type and mode, not following a symlink (None: it is not there)."""
    try:
        return os.lstat(path).st_mode
    except OSError:
        return None


def _regular(path: Path) -> bool:
    """A regular file, not a symlink (one lstat, where is_file and is_symlink are two)."""
    mode = _lstat_mode(path)
    return mode is not None and stat.S_ISREG(mode)


def read_small(path: Path, report: BagReport, name: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SMALL_TAG + 1)
    except OSError as exc:
        report.error("unreadable", f"{name}: cannot read ({exc.strerror})", file=name)
        return None
    if len(data) > MAX_SMALL_TAG:
        report.error("too-large", f"{name}: larger than {MAX_SMALL_TAG} bytes", file=name)
        return None
    return data


def check_bagit_txt(root: Path, report: BagReport) -> str:
    """Parse bagit.txt strictly; return the tag-file encoding to use (UTF-8 if unusable)."""
    name = "bagit.txt"
    data = quick_read(f"{os.fspath(root)}/{name}", MAX_SMALL_TAG)
    if data is None:
        path = root / name
        if not _regular(path):
            report.error(
                "not-a-bag", f"{name}: missing; {show(str(root))} is not a BagIt bag", file=name
            )
            return "utf-8"
        data = read_small(path, report, name)
        if data is None:
            return "utf-8"
    encoding = "utf-8"
    if data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        report.error(
            "bom", f"{name}: begins with a byte-order mark (RFC 8493 forbids it)", file=name
        )
        data = data.lstrip(codecs.BOM_UTF8)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        report.error("encoding", f"{name}: not valid UTF-8", file=name)
        return encoding
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) != 2:
        report.error(
            "bagit-txt",
            f"{name}: must have exactly two lines (BagIt-Version, Tag-File-Character-Encoding),"
            f" found {len(lines)}",
            file=name,
        )
    m = _BAGIT_VERSION.match(lines[0]) if lines else None
    if not m:
        first = show(lines[0]) if lines else ""
        report.error(
            "version",
            f"{name} line 1: expected 'BagIt-Version: M.N' exactly, found {first!r}",
            file=name,
        )
    else:
        version = f"{int(m.group(1))}.{m.group(2)}"
        report.version = version
        if version not in KNOWN_VERSIONS:
            report.error(
                "version",
                f"{name} line 1: unknown BagIt version {version}"
                f" (known: {', '.join(KNOWN_VERSIONS)})",
                file=name,
            )
    m = _BAGIT_ENCODING.match(lines[1]) if len(lines) > 1 else None
    if not m:
        second = show(lines[1]) if len(lines) > 1 else ""
        report.error(
            "encoding",
            f"{name} line 2: expected 'Tag-File-Character-Encoding: NAME' exactly,"
            f" found {second!r}",
            file=name,
        )
    else:
        try:
            codecs.lookup(m.group(1))
            encoding = m.group(1)
            report.encoding = encoding
        except LookupError:
            report.error(
                "encoding",
                f"{name} line 2: unknown character encoding {show(m.group(1))!r}",
                file=name,
            )
    return encoding


def check_bag_info(root: Path, encoding: str, report: BagReport) -> None:
    name = "bag-info.txt"
    data = quick_read(f"{os.fspath(root)}/{name}", MAX_SMALL_TAG)
    if data is None:
        found = _read_bag_info(root, report)
        if found is None:
            return
        name, data = found
    _parse_bag_info(data, name, encoding, report)


def _read_bag_info(root: Path, report: BagReport) -> tuple[str, bytes] | None:
    """(name, bytes) of bag-info.txt (or 0.96's package-info.txt); None: absent, or
    a problem that is reported."""
    name = "bag-info.txt"
    path = root / name
    mode = _lstat_mode(path)
    if mode is None or (stat.S_ISLNK(mode) and not path.exists()):
        # 0.96 and earlier called it package-info.txt
        if (root / "package-info.txt").is_file():
            name, path = "package-info.txt", root / "package-info.txt"
            mode = _lstat_mode(path)
        else:
            return None
    if mode is None or not stat.S_ISREG(mode):
        report.error("not-regular", f"{name}: not a regular file", file=name)
        return None
    data = read_small(path, report, name)
    return None if data is None else (name, data)


def _parse_bag_info(data: bytes, name: str, encoding: str, report: BagReport) -> None:
    if encoding.lower().replace("-", "").replace("_", "") in ("utf8",) and data.startswith(
        codecs.BOM_UTF8
    ):
        report.warn("bom", f"{name}: begins with a byte-order mark", file=name)
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        report.error("encoding", f"{name}: not valid {encoding} ({exc.reason})", file=name)
        return
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if _CONTROL_IN_INFO.search(text):
        _control_characters(lines, name, report)
    entries: list[list[str]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if line[0] in " \t":
            if not entries:
                report.error(
                    "bag-info",
                    f"{name} line {number}: continuation line with no label before it",
                    file=name,
                )
                continue
            entries[-1][1] += " " + line.strip()  # RFC 8493 2.2.2: folded value
            continue
        label, sep, value = line.partition(":")
        if sep and label.strip() and label != label.rstrip() and _allows_label_space(report):
            report.warn(
                "label-space",
                f"{name} line {number}: space before the colon in {show(line[:80])!r}"
                f" (BagIt {report.version} allows it; 1.0 does not); read as"
                f" {show(label.rstrip())!r}",
                file=name,
            )
            label = label.rstrip()
        if not sep or not label.strip() or label != label.strip():
            report.error(
                "bag-info",
                f"{name} line {number}: expected 'Label: value', found {show(line[:80])!r}",
                file=name,
            )
            continue
        entries.append([label, value.strip()])
    report.bag_info = [(k, v) for k, v in entries]


def _allows_label_space(report: BagReport) -> bool:
    """BagIt 0.97 and earlier allow whitespace between a label and its colon."""
    return report.version is not None and report.version != "1.0"


def _control_characters(lines: list[str], name: str, report: BagReport) -> bool:
    """A NUL (or another control character but tab) in bag-info is an error; True if any.

    Such bytes end strings in C tools and hide text in terminals, so a value that
    holds one means something different to each program that reads it.
    """
    found = False
    for number, line in enumerate(lines, 1):
        bad = sorted(set(_CONTROL_IN_INFO.findall(line)))  # one scan of the line
        if bad:
            what = ", ".join("NUL" if c == "\x00" else f"\\x{ord(c):02x}" for c in bad)
            report.error(
                "control-char",
                f"{name} line {number}: control character(s) {what} in {show(line[:80])!r}",
                file=name,
            )
            found = True
    return found


def parse_oxum(report: BagReport) -> tuple[int, int] | None:
    values = report.info("Payload-Oxum")
    if not values:
        return None
    if len(values) > 1:
        report.error(
            "oxum", "bag-info.txt: Payload-Oxum appears more than once", file="bag-info.txt"
        )
        return None
    m = re.match(r"^(\d+)\.(\d+)$", values[0])
    if not m:
        report.error(
            "oxum",
            f"bag-info.txt: Payload-Oxum {show(values[0])!r} is not OCTETS.STREAMCOUNT",
            file="bag-info.txt",
        )
        return None
    return int(m.group(1)), int(m.group(2))


def read_fetch(
    root: Path, encoding: str, report: BagReport, tree: Any = None
) -> dict[str, int | None]:
    """fetch.txt entries: rel -> declared length (None for '-').

    ``tree``: the bag's scan (``verify.tree.Tree``), which knows whether it is there.
    """
    name = "fetch.txt"
    out: dict[str, int | None] = {}
    seen = tree.top_exists(name) if tree is not None else None
    if seen is False or (seen is None and not (root / name).exists()):
        return out
    for number, line in iter_tag_lines(root / name, encoding, report, name):
        if not line.strip():
            continue
        parts = line.split(None, 2)
        where = f"{name} line {number}"
        if len(parts) != 3 or not _URL.match(parts[0]):
            report.error(
                "fetch",
                f"{where}: expected 'URL LENGTH FILEPATH', found {show(line[:80])!r}",
                file=name,
            )
            continue
        _url, length, raw_path = parts
        rel = strip_dot(decode_path(raw_path))
        if not safe_relpath(rel) or not rel.startswith("data/") or not is_within(root, root / rel):
            report.error(
                "unsafe-path",
                f"{show(rel)}: {where}: path is absolute, uses '..' or '~', or is outside"
                " data/; not fetched or opened",
                file=rel,
                manifest=name,
            )
            continue
        if length != "-" and not length.isdigit():
            report.error(
                "fetch", f"{show(rel)}: {where}: length {show(length)!r} is not a number", file=rel
            )
            continue
        out[rel] = None if length == "-" else int(length)
    return out
