"""Collection and designation files: parse TOML into typed, validated objects.

A collection (``collections/<id>.toml``) names what to capture and why: its
seeds, the capture settings, and the legal designations of the publishers.
Every mistake is reported as ``<file>: field '<field>': expected <what>`` so an
archivist can fix it without reading code.
"""

from __future__ import annotations

import builtins
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from strongroom.errors import ConfigError, UsageError

ACCESS_LEVELS = ("public", "restricted", "dark")
SCOPES = ("page", "prefix", "host", "domain")
DEDUP_MODES = ("capture", "archive")
DESIGNATION_KINDS = (
    "undesirable",
    "foreign-agent",
    "extremist",
    "terrorist",
    "blocked",
    "other",
)
DEFAULT_COLLECTION_ID = "adhoc"
# Patterns, compiled when a collection file is first read (re keeps them): a
# capture of URLs given on the command line never needs them.
_ID = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_ISO3166 = r"^[A-Z]{2}$"
_LANG = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
DEFAULT_USER_AGENT = "strongroom/{version} (+https://github.com/strongroom; web archiving)"


@dataclass(frozen=True)
class Seed:
    """One page the collection exists to preserve."""

    url: str
    title: str = ""
    publisher: str = ""
    published: dt.date | None = None
    language: str = ""

    @property
    def host(self) -> str:
        return (urlsplit(self.url).hostname or "").lower()


@dataclass(frozen=True)
class CaptureSettings:
    """How to capture: scope, depth, politeness and limits."""

    scope: str = "host"
    depth: int = 0
    page_requisites: bool = True
    delay: float = 0.0
    concurrency: int = 4
    max_pages_per_host: int = 500
    max_url_length: int = 2048
    timeout: float = 30.0
    resource_time_limit: float = 300.0
    max_bytes: int = 512 * 1024 * 1024
    retries: int = 3
    obey_robots: bool = True
    user_agent: str = ""
    operator: str = ""
    # "capture": revisit records only point inside the same capture, so every bag
    # stands alone; "archive": they may point at earlier bags (declared Depends-On).
    dedup: str = "capture"
    browser: bool | None = None  # [capture] browser = true|false; None: the command decides

    def as_dict(self) -> dict[str, Any]:
        """Every setting, for warcinfo and provenance."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Designation:
    """A legal designation of a publisher in one jurisdiction."""

    organization: str
    hosts: tuple[str, ...]
    jurisdiction: str
    kind: str
    since: dt.date | None = None
    source: str = ""

    def matches_host(self, host: str) -> bool:
        """True for one of the hosts or any subdomain of them."""
        host = host.lower().rstrip(".")
        return any(host == h or host.endswith("." + h) for h in self.hosts)

    def label(self) -> str:
        """The bag-info ``Designation`` value: ``RFE/RL; RU; undesirable; since 2024-02-20``."""
        since = f"; since {self.since.isoformat()}" if self.since else ""
        return f"{self.organization}; {self.jurisdiction}; {self.kind}{since}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "organization": self.organization,
            "hosts": list(self.hosts),
            "jurisdiction": self.jurisdiction,
            "kind": self.kind,
            "since": self.since.isoformat() if self.since else None,
            "source": self.source,
        }


@dataclass(frozen=True)
class Curator:
    name: str = ""
    email: str = ""
    organization: str = ""


@dataclass(frozen=True)
class Collection:
    """A validated collection definition."""

    id: str
    title: str
    description: str = ""
    curator: Curator = field(default_factory=Curator)
    access: str = "public"
    embargo_until: dt.date | None = None
    seeds: tuple[Seed, ...] = ()
    capture: CaptureSettings = field(default_factory=CaptureSettings)
    designations: tuple[Designation, ...] = ()
    edit_threshold: float = 0.0
    path: Path | None = None

    def designations_for(self, host: str) -> list[Designation]:
        """The designations that apply to a publisher host."""
        return [d for d in self.designations if d.matches_host(host)]


def adhoc_collection(urls: list[str], settings: CaptureSettings | None = None) -> Collection:
    """A collection for a capture of bare URLs given on the command line."""
    seeds = tuple(Seed(url=validate_url(u, "url")) for u in urls)
    return Collection(
        id=DEFAULT_COLLECTION_ID,
        title="Ad-hoc captures",
        seeds=seeds,
        capture=settings or CaptureSettings(),
    )


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@``, for messages."""
    return re.sub(r"(?<=://)[^/?#@\s]*@", "***@", url)


def validate_url(url: str, where: str = "url") -> str:
    """Refuse anything but an absolute http(s) URL with a host; return it unchanged.

    A URL with a user name or password is refused too: the credentials would be
    sent and recorded in the WARC, the capture record and the ledger. Messages
    never repeat them.
    """
    if not isinstance(url, str) or not url.strip():
        raise UsageError(f"{where}: expected an http:// or https:// URL, got nothing")
    shown = redact_url(url)
    if any(c in url for c in "\r\n\t\x00 "):
        raise UsageError(
            f"{where}: {shown!r} is malformed (contains whitespace or control characters)"
        )
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise UsageError(f"{where}: {shown!r} is malformed ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        what = scheme + ":" if scheme else "no scheme"
        raise UsageError(f"{where}: {shown!r} uses {what}; only http:// and https:// are captured")
    if not parts.hostname:
        raise UsageError(f"{where}: {shown!r} has no host")
    if "@" in parts.netloc:
        raise UsageError(
            f"{where}: {shown!r} holds a user name or password; credentials are never "
            "recorded, so remove them from the URL"
        )
    return url


class _Reader:
    """Typed access to one TOML table, naming the file and field in every error."""

    def __init__(self, path: Path, data: dict[str, Any], prefix: str = "") -> None:
        self.path = path
        self.data = data
        self.prefix = prefix

    def name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def fail(self, key: str, expected: str) -> ConfigError:
        return ConfigError(self.path, self.name(key), expected)

    def str(
        self,
        key: builtins.str,
        default: builtins.str | None = None,
        *,
        required: builtins.bool = False,
    ) -> builtins.str:
        if key not in self.data:
            if required:
                raise self.fail(key, "a string (it is required)")
            return default or ""
        v = self.data[key]
        if not isinstance(v, str):
            raise self.fail(key, f"a string, got {type(v).__name__}")
        return v

    def choice(
        self, key: builtins.str, choices: tuple[builtins.str, ...], default: builtins.str
    ) -> builtins.str:
        v = self.str(key, default)
        if v not in choices:
            raise self.fail(key, f"one of {', '.join(choices)}; got {v!r}")
        return v

    def int(
        self,
        key: builtins.str,
        default: builtins.int,
        minimum: builtins.int = 0,
        maximum: builtins.int = 2**53,
    ) -> builtins.int:
        v = self.data.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or not minimum <= v <= maximum:
            shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:40] + "..."
            raise self.fail(key, f"a whole number from {minimum} to {maximum}, got {shown}")
        return v

    def float(
        self,
        key: builtins.str,
        default: builtins.float,
        minimum: builtins.float = 0.0,
        maximum: builtins.float = 1e15,
    ) -> builtins.float:
        v = self.data.get(key, default)
        # Written as `not minimum <= v <= maximum` so that nan is refused too.
        if isinstance(v, bool) or not isinstance(v, int | float) or not minimum <= v <= maximum:
            shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:40] + "..."
            raise self.fail(key, f"a number from {minimum:g} to {maximum:g}, got {shown}")
        return builtins.float(v)

    def bool(self, key: builtins.str, default: builtins.bool) -> builtins.bool:
        v = self.data.get(key, default)
        if not isinstance(v, bool):
            raise self.fail(key, f"true or false, got {v!r}")
        return v

    def date(self, key: builtins.str) -> dt.date | None:
        if key not in self.data:
            return None
        v = self.data[key]
        if isinstance(v, dt.datetime):
            return v.date()
        if isinstance(v, dt.date):
            return v
        if isinstance(v, str):
            try:
                return dt.date.fromisoformat(v)
            except ValueError:
                pass
        raise self.fail(key, f"a date like 2024-02-20, got {v!r}")

    def table(self, key: builtins.str) -> _Reader:
        v = self.data.get(key, {})
        if not isinstance(v, dict):
            raise self.fail(key, "a table")
        return _Reader(self.path, v, f"{self.prefix}{key}.")

    def tables(self, key: builtins.str) -> list[_Reader]:
        v = self.data.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
            raise self.fail(key, f"an array of tables ([[{key}]])")
        return [_Reader(self.path, x, f"{self.prefix}{key}[{i}].") for i, x in enumerate(v)]

    def unknown(self, known: set[builtins.str]) -> None:
        extra = sorted(set(self.data) - known)
        if extra:
            raise self.fail(extra[0], f"one of the known fields ({', '.join(sorted(known))})")


def load_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file, turning I/O and syntax errors into clear usage errors."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None
    import tomllib  # here: a capture of an archive without config files never needs it

    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: invalid TOML ({exc})") from None
    except RecursionError:
        # tomllib parses nested arrays recursively; a hostile file must not crash us.
        raise UsageError(f"{path}: invalid TOML (values nested too deeply)") from None


def parse_designations(r: _Reader) -> tuple[Designation, ...]:
    """Parse ``[[designations]]`` tables from any file that has them."""
    out = []
    for t in r.tables("designations"):
        t.unknown({"organization", "hosts", "jurisdiction", "kind", "since", "source"})
        hosts = t.data.get("hosts")
        if (
            not isinstance(hosts, list)
            or not hosts
            or not all(isinstance(h, str) and h and "/" not in h for h in hosts)
        ):
            raise t.fail("hosts", 'a non-empty list of host names, e.g. ["rferl.org"]')
        juris = t.str("jurisdiction", required=True)
        if not re.match(_ISO3166, juris):
            raise t.fail("jurisdiction", f"an ISO 3166 alpha-2 code such as RU, got {juris!r}")
        kind = t.str("kind", required=True)
        if not re.match(r"^[a-z][a-z-]{1,40}$", kind):
            raise t.fail("kind", f"a lower-case kind such as {', '.join(DESIGNATION_KINDS)}")
        source = t.str("source")
        if source:
            validate_url_field(t, "source", source)
        out.append(
            Designation(
                organization=t.str("organization", required=True),
                hosts=tuple(h.lower().rstrip(".") for h in hosts),
                jurisdiction=juris,
                kind=kind,
                since=t.date("since"),
                source=source,
            )
        )
    return tuple(out)


def validate_url_field(r: _Reader, key: str, value: str) -> None:
    try:
        validate_url(value, key)
    except UsageError:
        raise r.fail(key, f"an http:// or https:// URL, got {value!r}") from None


# The sane range of every number in [capture], shared by collection files and the
# command line (CaptureOptions.apply): an absurd value is refused before any work
# starts, never discovered as a 24 GB thread pool or a year-long sleep.
CAPTURE_LIMITS: dict[str, tuple[float, float]] = {
    "depth": (0, 10_000),
    "delay": (0.0, 3600.0),
    "concurrency": (1, 64),
    "max_pages_per_host": (1, 10_000_000),
    "max_url_length": (16, 65_536),
    "timeout": (0.1, 3600.0),
    "resource_time_limit": (0.1, 86_400.0),
    "max_bytes": (1, 2**40),
    "retries": (0, 20),
}


def check_capture_limits(settings: CaptureSettings) -> str | None:
    """The first setting outside its range, as a message; None when all are sane."""
    for name, (lo, hi) in CAPTURE_LIMITS.items():
        v = getattr(settings, name)
        if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
            return f"{name} must be from {lo:g} to {hi:g}, got {str(v)[:40]}"
    return None


def parse_capture_settings(r: _Reader) -> CaptureSettings:
    """Parse the ``[capture]`` table."""
    known = set(CaptureSettings.__dataclass_fields__)
    r.unknown(known)
    d = CaptureSettings()

    def whole(name: str) -> int:
        lo, hi = CAPTURE_LIMITS[name]
        return r.int(name, getattr(d, name), minimum=int(lo), maximum=int(hi))

    def number(name: str) -> float:
        lo, hi = CAPTURE_LIMITS[name]
        return r.float(name, getattr(d, name), minimum=lo, maximum=hi)

    return CaptureSettings(
        scope=r.choice("scope", SCOPES, d.scope),
        depth=whole("depth"),
        page_requisites=r.bool("page_requisites", d.page_requisites),
        delay=number("delay"),
        concurrency=whole("concurrency"),
        max_pages_per_host=whole("max_pages_per_host"),
        max_url_length=whole("max_url_length"),
        timeout=number("timeout"),
        resource_time_limit=number("resource_time_limit"),
        max_bytes=whole("max_bytes"),
        retries=whole("retries"),
        obey_robots=r.bool("obey_robots", d.obey_robots),
        user_agent=r.str("user_agent", d.user_agent),
        operator=r.str("operator", d.operator),
        dedup=r.choice("dedup", DEDUP_MODES, d.dedup),
        browser=r.bool("browser", False) if "browser" in r.data else None,
    )


def load_collection(path: Path) -> Collection:
    """Parse and validate a collection TOML file."""
    path = Path(path)
    r = _Reader(path, load_toml(path))
    r.unknown(
        {
            "id",
            "title",
            "description",
            "curator",
            "access",
            "embargo_until",
            "seeds",
            "capture",
            "designations",
            "watch",
        }
    )
    cid = r.str("id", required=True)
    if not re.match(_ID, cid):
        raise r.fail("id", "lower-case letters, digits, '.', '_' or '-' (at most 64)")
    cur = r.table("curator")
    cur.unknown({"name", "email", "organization"})
    email = cur.str("email")
    if email and "@" not in email:
        raise cur.fail("email", f"an e-mail address, got {email!r}")
    seeds = []
    for s in r.tables("seeds"):
        s.unknown({"url", "title", "publisher", "published", "language"})
        url = s.str("url", required=True)
        validate_url_field(s, "url", url)
        lang = s.str("language")
        if lang and not re.match(_LANG, lang):
            raise s.fail("language", f"a BCP 47 language tag such as en or ru, got {lang!r}")
        seeds.append(
            Seed(
                url=url,
                title=s.str("title"),
                publisher=s.str("publisher"),
                published=s.date("published"),
                language=lang,
            )
        )
    if not seeds:
        raise r.fail("seeds", "at least one [[seeds]] table with a url")
    watch = r.table("watch")
    watch.unknown({"edit_threshold"})
    threshold = watch.float("edit_threshold", 0.0, maximum=1.0)
    if threshold >= 1.0:
        raise watch.fail("edit_threshold", "a fraction of changed text below 1.0, e.g. 0.05")
    return Collection(
        id=cid,
        title=r.str("title", required=True),
        description=r.str("description"),
        curator=Curator(name=cur.str("name"), email=email, organization=cur.str("organization")),
        access=r.choice("access", ACCESS_LEVELS, "public"),
        embargo_until=r.date("embargo_until"),
        seeds=tuple(seeds),
        capture=parse_capture_settings(r.table("capture")),
        designations=parse_designations(r),
        edit_threshold=threshold,
        path=path,
    )


def load_designations_file(path: Path) -> tuple[Designation, ...]:
    """Parse an archive-wide ``designations.toml`` (only ``[[designations]]`` tables)."""
    r = _Reader(Path(path), load_toml(path))
    r.unknown({"designations"})
    return parse_designations(r)
