"""What verify can find: one table of stable finding codes, and the finding objects.

Every finding has a short code (``checksum``, ``missing``) that scripts match on,
and a stable reference (``V013``) that documentation and issue reports can cite,
the way ocfl-py numbers its E001/W004 messages. Both are kept in ``CODES``, with
one sentence per code saying what it means. A code is never renumbered or reused;
new codes get the next number. A ``Problem`` whose code is not in the table is a
programming error and raises at once, so that no finding escapes the table.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_Bytes = bytes  # BagReport has a field named ``bytes``
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Code:
    """One row of the table: the stable reference and what the finding means."""

    ref: str
    meaning: str


# code -> reference and meaning. Append only: never renumber, never reuse a number.
CODES: dict[str, Code] = {
    "not-a-bag": Code("V001", "the folder has no bagit.txt, so it is not a BagIt bag"),
    "unreadable": Code("V002", "a file or folder could not be read or listed"),
    "line-too-long": Code("V003", "a tag-file line is too long to be a file name"),
    "bom": Code("V004", "a tag file begins with a byte-order mark"),
    "encoding": Code("V005", "a tag file is not in its declared character encoding"),
    "too-large": Code("V006", "bagit.txt or bag-info.txt is too large to read"),
    "bagit-txt": Code("V007", "bagit.txt does not have exactly its two lines"),
    "version": Code("V008", "the BagIt-Version line is malformed or unknown"),
    "not-regular": Code("V009", "a device, FIFO or socket where a file should be"),
    "bag-info": Code("V010", "a bag-info.txt line is not 'Label: value'"),
    "oxum": Code("V011", "Payload-Oxum disagrees with the payload, or is malformed"),
    "symlink": Code("V012", "a symbolic link in the bag"),
    "algorithm": Code("V013", "a manifest's algorithm is not supported"),
    "structure": Code("V014", "data/ or every payload manifest is missing"),
    "manifest-line": Code("V015", "a manifest line is not 'CHECKSUM FILEPATH'"),
    "unsafe-path": Code("V016", "a listed path is absolute, uses '..' or leaves the bag"),
    "outside-payload": Code("V017", "a payload manifest lists a file outside data/"),
    "duplicate": Code("V018", "a manifest lists one file twice"),
    "fetch": Code("V019", "a fetch.txt line is malformed or lists an unknown file"),
    "missing": Code("V020", "a listed file is missing from the bag"),
    "extra": Code("V021", "a payload file is listed in no payload manifest"),
    "unicode": Code("V022", "a listed name matches a file only after Unicode normalization"),
    "junk": Code("V023", "an operating-system junk file (.DS_Store, Thumbs.db)"),
    "name-clash": Code("V024", "names that collide on macOS or Windows"),
    "checksum": Code("V025", "a file's checksum does not match its manifest"),
    "warc-block": Code("V026", "a WARC record's block digest does not match"),
    "warc-digest": Code("V027", "a WARC record's declared digest cannot be read"),
    "warc-payload": Code("V028", "a WARC record's payload digest does not match"),
    "warc-damaged": Code("V029", "WARC data that cannot be decoded at all"),
    "keyring": Code("V030", "the archive's trusted keys cannot be loaded"),
    "signature": Code("V031", "the tag manifest's signature is not valid"),
    "custody": Code("V032", "the custody log's hash chain is broken"),
    "inventory": Code("V033", "the bag disagrees with the collection inventory"),
    "incomplete": Code("V034", "files listed in fetch.txt are not in the bag (RFC 8493 3)"),
    "control-char": Code("V035", "a NUL or other control character in bag-info.txt"),
    "label-space": Code("V036", "a BagIt 0.97 'Label : value' line (space before colon)"),
    "not-hashed": Code("V037", "a file was not hashed because the payload is already too big"),
    "fetch-size": Code("V038", "a file's size differs from its length in fetch.txt"),
    "custody-missing": Code("V039", "the custody log of an archive bag is missing or empty"),
    "signature-missing": Code("V040", "a signed bag has lost its signature file"),
    "unrecorded": Code("V041", "a bag on disk that the ledger does not know"),
    "bag-missing": Code("V042", "a bag the ledger knows that is not on disk"),
    "inventory-missing": Code("V043", "the bag's collection inventory cannot be found"),
    "warc-record": Code("V044", "a WARC record that a damaged WARC file still holds"),
    "closure": Code("V045", "a declared Depends-On bag is missing, altered or malformed"),
    "revisit-dangling": Code("V046", "a revisit's target is in neither the bag nor its closure"),
    "timestamp": Code("V047", "the RFC 3161 token does not date this tag manifest or is untrusted"),
    "profile": Code("V048", "the bag does not meet the BagIt profile given with --profile"),
}


def show(name: str) -> str:
    """A file name safe to print: undecodable bytes and control characters escaped.

    Names come from hostile bags; a raw ESC or CR in a terminal could forge output.
    """
    name = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", name)


@dataclass
class Problem:
    """One finding. ``message`` is complete on its own: it names file, manifest, algorithm."""

    code: str
    message: str
    file: str | None = None
    manifest: str | None = None
    algorithm: str | None = None
    severity: str = "error"

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"finding code {self.code!r} is not in verify.findings.CODES")

    @property
    def ref(self) -> str:
        """The stable reference of this finding's code (``V025``)."""
        return CODES[self.code].ref

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"ref": self.ref}


@dataclass
class ChecksumMismatch(Problem):
    """A file whose checksum differs from the one its manifest records."""

    expected: str = ""
    found: str = ""


@dataclass
class WarcRecordDamage(Problem):
    """A damaged WARC record, located so that the archivist learns which page it is."""

    offset: int | None = None
    target_uri: str | None = None


@dataclass
class BagReport:
    """Everything ``validate_bag`` found about one bag."""

    path: Path
    mode: str
    version: str | None = None
    encoding: str | None = None
    algorithms: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    files: int = 0  # payload files present
    bytes: int = 0  # payload bytes present
    hashed_files: int = 0
    hashed_bytes: int = 0
    fetch_pending: list[str] = field(default_factory=list)
    bag_info: list[tuple[str, str]] = field(default_factory=list)
    warc_records: int = 0
    oxum: tuple[int, int] | None = None  # Payload-Oxum as declared: (octets, streamcount)
    # Read once, for the checks outside the bag (signature, inventory): the bytes of
    # the tag manifests as validated, and the scanned tree (``verify.tree.Tree``).
    # Neither is part of the report's output; ``forget_files`` drops them.
    tag_bytes: dict[str, _Bytes] = field(default_factory=dict, repr=False, compare=False)
    tree: Any = field(default=None, repr=False, compare=False)

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def complete(self) -> bool:
        return not self.fetch_pending

    def info(self, label: str) -> list[str]:
        """Values of a bag-info label (case-insensitive), in file order."""
        want = label.lower()
        return [v for k, v in self.bag_info if k.lower() == want]

    def has(self, code: str) -> bool:
        """Whether any problem (not warning) has ``code``."""
        return any(p.code == code for p in self.problems)

    def error(self, code: str, message: str, **where: str | None) -> None:
        self.problems.append(
            Problem(code, message, where.get("file"), where.get("manifest"), where.get("algorithm"))
        )

    def warn(self, code: str, message: str, **where: str | None) -> None:
        self.warnings.append(
            Problem(
                code,
                message,
                where.get("file"),
                where.get("manifest"),
                where.get("algorithm"),
                severity="warning",
            )
        )

    def forget_files(self) -> None:
        """Drop what was read for the outside checks (before the report travels)."""
        self.tag_bytes = {}
        self.tree = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "mode": self.mode,
            "valid": self.valid,
            "complete": self.complete,
            "version": self.version,
            "encoding": self.encoding,
            "algorithms": self.algorithms,
            "files": self.files,
            "bytes": self.bytes,
            "hashed_files": self.hashed_files,
            "hashed_bytes": self.hashed_bytes,
            "warc_records": self.warc_records,
            "fetch_pending": self.fetch_pending,
            "problems": [p.to_dict() for p in self.problems],
            "warnings": [w.to_dict() for w in self.warnings],
        }


class Progress:
    """Callbacks for a progress bar; the default does nothing. Called from worker threads."""

    def start(self, total_bytes: int) -> None:
        return None

    def advance(self, nbytes: int) -> None:
        return None
