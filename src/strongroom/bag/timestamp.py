"""RFC 3161 trusted timestamps over a bag's tag manifest.

Our Ed25519 signature proves *who* signed a bag, not *when*: a signer can
backdate. A timestamp authority (TSA) countersigns the SHA-512 of
``tagmanifest-sha512.txt`` with its own time; the answer, a DER
``TimeStampResp``, is stored beside it as ``tagmanifest-sha512.txt.tsr``.
Since the tag manifest covers every manifest and tag file, and the manifests
cover every payload byte, the token dates the whole bag. It can be checked
without strongroom::

    openssl ts -verify -data tagmanifest-sha512.txt \\
        -in tagmanifest-sha512.txt.tsr -CAfile tsa-roots.pem

The archive's ``config.toml`` turns it on::

    [timestamp]
    url = "https://tsa.example.org/tsr"     # or urls = ["...", "..."], tried in order
    certificates = "keys/tsa-roots.pem"     # PEM roots to trust (relative to the archive)
    timeout = 10                             # seconds per TSA

Requests and responses are built and parsed by ``rfc3161-client`` (no ASN.1 of
our own), and the chain is checked against the configured roots, at the
token's own time. Offline capture is normal in the field: when no TSA
answers, the bag is made anyway and the ledger records that its timestamp is
pending; ``strongroom timestamp --pending`` adds it later, and says that the
token's time is then later than the bagging.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strongroom.core.collection import _Reader, load_toml
from strongroom.errors import UsageError

TAGMANIFEST = "tagmanifest-sha512.txt"
TOKEN = "tagmanifest-sha512.txt.tsr"
MAX_TOKEN = 1024 * 1024  # a token is a few KiB; anything larger is not one
_IMPRINT = {
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}


class TimestampUnavailable(Exception):
    """No configured TSA gave a usable token (down, refused, or untrusted)."""


@dataclass(frozen=True)
class TimestampSettings:
    """The archive's ``[timestamp]`` table."""

    urls: tuple[str, ...]
    certificates: Path | None
    timeout: float = 10.0

    def roots(self) -> list[Any]:
        """The trusted TSA roots (cryptography certificates)."""
        from cryptography import x509

        if self.certificates is None:
            return []
        try:
            data = self.certificates.read_bytes()
            return list(x509.load_pem_x509_certificates(data))
        except OSError as exc:
            raise UsageError(f"cannot read TSA certificates {self.certificates}: {exc}") from None
        except ValueError as exc:
            raise UsageError(f"{self.certificates}: not PEM certificates ({exc})") from None


def load_settings(archive: Any) -> TimestampSettings | None:
    """``[timestamp]`` from the archive's config.toml, or None when it has none."""
    path: Path = archive.config_path
    if not path.exists():
        return None
    table = load_toml(path).get("timestamp")
    if table is None:
        return None
    r = _Reader(path, table if isinstance(table, dict) else {}, "timestamp.")
    if not isinstance(table, dict):
        raise r.fail("", "a table")
    extra = set(table) - {"url", "urls", "certificates", "timeout"}
    if extra:
        raise r.fail(sorted(extra)[0], "one of url, urls, certificates, timeout")
    urls = [r.str("url")] if "url" in table else []
    more = table.get("urls", [])
    if not isinstance(more, list) or not all(isinstance(u, str) for u in more):
        raise r.fail("urls", "a list of URLs")
    urls += more
    for u in urls:
        if not u.startswith(("http://", "https://")) or len(u) > 2048:
            raise r.fail("url", f"an http(s) URL, got {u[:80]!r}")
    if not urls:
        raise r.fail("url", "the TSA's URL (url = or urls = [...])")
    certs = r.str("certificates")
    cert_path = (archive.root / certs) if certs else None
    timeout = r.float("timeout", 10.0, minimum=0.1)
    if timeout > 600:
        raise r.fail("timeout", "at most 600 seconds")
    return TimestampSettings(tuple(urls), cert_path, timeout)


# --- asking a TSA ----------------------------------------------------------------------
def request_token(message: bytes, settings: TimestampSettings) -> bytes:
    """A verified DER TimeStampResp over ``message`` from the first TSA that gives one."""
    import requests
    from rfc3161_client import HashAlgorithm, TimestampRequestBuilder

    req = (
        TimestampRequestBuilder()
        .data(message)
        .hash_algorithm(HashAlgorithm.SHA512)
        .cert_request(cert_request=True)
        .build()
    )
    reasons = []
    for url in settings.urls:
        try:
            resp = requests.post(
                url,
                data=req.as_bytes(),
                headers={"Content-Type": "application/timestamp-query"},
                timeout=settings.timeout,
                stream=True,
            )
            body = resp.raw.read(MAX_TOKEN + 1, decode_content=True)
            resp.close()
            if resp.status_code != 200:
                raise TimestampUnavailable(f"HTTP {resp.status_code}")
            if len(body) > MAX_TOKEN:
                raise TimestampUnavailable("answer too large to be a token")
            check_token(body, message, settings.roots(), nonce=req.nonce)
            return bytes(body)
        except (requests.RequestException, OSError) as exc:
            reasons.append(f"{url}: {type(exc).__name__}")
        except (TimestampUnavailable, TokenInvalid) as exc:
            reasons.append(f"{url}: {exc}")
    raise TimestampUnavailable("; ".join(reasons) or "no TSA configured")


# --- checking a token ------------------------------------------------------------------
class TokenInvalid(Exception):
    """The token does not prove the time of this tag manifest."""


@dataclass
class TokenInfo:
    """What a valid token says."""

    time: dt.datetime
    tsa: str
    serial: int
    trusted: bool  # False when no roots were configured to check the chain against

    def describe(self) -> str:
        when = self.time.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        trust = "" if self.trusted else " (chain not checked: no TSA roots configured)"
        return f"timestamped {when} by {self.tsa}{trust}"


def check_token(
    token: bytes, message: bytes, roots: list[Any], *, nonce: int | None = None
) -> TokenInfo:
    """Check that ``token`` is a granted TSA answer over ``message``, signed by a TSA
    whose chain reaches one of ``roots``; raises TokenInvalid saying why not."""
    from rfc3161_client import VerificationError, VerifierBuilder, decode_timestamp_response

    try:
        resp = decode_timestamp_response(bytes(token))
        info = resp.tst_info
        algo = _IMPRINT.get(info.message_imprint.hash_algorithm.dotted_string)
    except (ValueError, TypeError) as exc:
        raise TokenInvalid(f"not a TimeStampResp ({exc})") from None
    if resp.status not in (0, 1):
        raise TokenInvalid(f"the TSA refused (status {resp.status})")
    if algo is None:
        raise TokenInvalid("unsupported message imprint algorithm")
    if info.message_imprint.message != hashlib.new(algo, message).digest():
        raise TokenInvalid(f"its message imprint is not the {algo} of {TAGMANIFEST}")
    tsa = _tsa_name(resp)
    if not roots:
        return TokenInfo(info.gen_time, tsa, info.serial_number, trusted=False)
    builder = VerifierBuilder()
    for root in roots:
        builder = builder.add_root_certificate(root)
    if nonce is not None:
        builder = builder.nonce(nonce)
    try:
        builder.build().verify_message(resp, message)
    except VerificationError as exc:
        raise TokenInvalid(f"signature or chain not trusted ({exc})") from None
    return TokenInfo(info.gen_time, tsa, info.serial_number, trusted=True)


def _tsa_name(resp: Any) -> str:
    """The signer's subject (the TSA), from the certificate embedded in the token."""
    from cryptography import x509

    try:
        signer = next(iter(resp.signed_data.signer_infos))
        for der in resp.signed_data.certificates:
            cert = x509.load_der_x509_certificate(der)
            if cert.serial_number == signer.serial_number and cert.issuer == signer.issuer:
                return cert.subject.rfc4514_string()
    except (StopIteration, ValueError):
        pass
    return "an unnamed TSA"


@dataclass
class BagStamp:
    """The timestamp state of one bag, for verify and history."""

    summary: str = ""  # "timestamped ... by ...", "timestamp pending", or ""
    problems: list[str] = field(default_factory=list)
    info: TokenInfo | None = None


def inspect_bag(
    bag: Path, settings: TimestampSettings | None, present: bool | None = None
) -> BagStamp:
    """Check ``bag``'s token, if it has one, against the configured roots.

    ``present``: False when the caller's listing of the bag saw no token (and no
    symbolic link by its name), which spares asking the disk again.
    """
    if present is False:
        return BagStamp()
    tsr = bag / TOKEN
    if not tsr.exists():
        return BagStamp()
    if tsr.is_symlink() or not tsr.is_file() or tsr.stat().st_size > MAX_TOKEN:
        return BagStamp(problems=[f"{TOKEN}: not a regular file of a token's size"])
    try:
        roots = settings.roots() if settings else []
        info = check_token(tsr.read_bytes(), (bag / TAGMANIFEST).read_bytes(), roots)
    except TokenInvalid as exc:
        return BagStamp(problems=[f"{TOKEN}: {exc}"])
    except UsageError as exc:
        return BagStamp(problems=[f"{TOKEN}: {exc.message}"])
    except OSError as exc:
        return BagStamp(problems=[f"{TOKEN}: cannot read it or {TAGMANIFEST} ({exc.strerror})"])
    return BagStamp(summary=info.describe(), info=info)


@dataclass
class StampContext:
    """What ``check_for_verify`` reads once per verify run instead of once per bag."""

    settings: TimestampSettings | None
    error: str | None  # [timestamp] in config.toml is unusable
    pending: set[str]  # bags whose latest timestamp event is pending


def stamp_context(archive: Any, ledger: Any) -> StampContext:
    """The timestamp settings and the pending bags, read once (``ledger``: open ledger)."""
    try:
        settings, error = load_settings(archive), None
    except UsageError as exc:
        settings, error = None, exc.message
    pending = set(ledger.pending_timestamps()) if ledger is not None and settings else set()
    return StampContext(settings, error, pending)


def check_for_verify(
    archive: Any,
    bag: Path,
    bag_id: str | None,
    context: StampContext | None = None,
    present: bool | None = None,
) -> tuple[str, list[str]]:
    """(what to show, problems) for ``verify``: the token against the archive's roots;
    a pending timestamp is shown, not a problem (the bag was made offline).
    ``present``: as for ``inspect_bag``."""
    settings = None
    if bag_id is not None:
        if context is not None:
            if context.error:
                return "", [context.error]
            settings = context.settings
        else:
            try:
                settings = load_settings(archive)
            except UsageError as exc:
                return "", [exc.message]
    stamp = inspect_bag(bag, settings, present)
    if stamp.summary or stamp.problems or bag_id is None or settings is None:
        return stamp.summary, stamp.problems
    if context is not None:
        pending = bag_id in context.pending
    else:
        from strongroom.core.ledger import open_ledger

        with open_ledger(archive.root) as ledger:
            pending = bag_id in ledger.pending_timestamps()
    return ("timestamp pending (run: strongroom timestamp --pending)", []) if pending else ("", [])


def stamp_dir(bag: Path, settings: TimestampSettings) -> TokenInfo:
    """Ask for a token over ``bag``'s tag manifest and write it durably beside it."""
    from strongroom.core.fsutil import atomic_write_bytes

    message = (bag / TAGMANIFEST).read_bytes()
    token = request_token(message, settings)
    atomic_write_bytes(bag / TOKEN, token, mode=0o444)
    return check_token(token, message, settings.roots())


@dataclass
class Completed:
    """One bag's timestamp added (or still pending) by :func:`complete_pending`."""

    bag_id: str
    info: TokenInfo | None
    created: str  # when the bag was made (ledger), to say that the token is later
    error: str = ""

    def describe(self) -> str:
        if self.info is None:
            return f"{self.bag_id}: still pending ({self.error})"
        when = self.info.time.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        later = f", later than the bagging at {self.created}" if self.created else ""
        return (
            f"{self.bag_id}: {self.info.describe()}{later}; the token proves the bag existed "
            f"by {when}, not when it was made"
        )


def complete_pending(archive: Any, bag_ids: list[str] | None = None) -> list[Completed]:
    """Ask for the tokens the ledger lists as pending (or for ``bag_ids``) and add them.

    The token goes beside the tag manifest of the published bag: it is not in any
    manifest, so the bag's bytes and manifests stay exactly as they were made.
    """
    from strongroom.core.ledger import open_ledger
    from strongroom.core.round import Round

    settings = load_settings(archive)
    if settings is None:
        raise UsageError(
            f"{archive.config_path} has no [timestamp] table; add url and certificates first"
        )
    with open_ledger(archive.root) as ledger:
        wanted = bag_ids if bag_ids is not None else ledger.pending_timestamps()
    done: list[Completed] = []
    # Nodes sharing a ledger share this round too: each bag is claimed first.
    shared = Round(archive, "timestamp")
    for bag_id in wanted:
        with shared.item(bag_id) as mine:
            if mine:
                done.append(_complete_one(archive, bag_id, settings))
    return done


def _complete_one(archive: Any, bag_id: str, settings: TimestampSettings) -> Completed:
    """Add one bag's token, or say why it is still pending."""
    bag = archive.bag_dir(bag_id)
    if not (bag / TAGMANIFEST).is_file():
        return Completed(bag_id, None, "", f"no bag {bag_id} in {archive.bags}")
    if (bag / TOKEN).exists():
        stamp = inspect_bag(bag, settings)
        if stamp.info is not None and not stamp.problems:
            return _record(archive, bag_id, stamp.info, only_if_pending=True)
        return Completed(bag_id, stamp.info, "", "; ".join(stamp.problems))
    try:
        info = stamp_dir(bag, settings)
    except TimestampUnavailable as exc:
        return Completed(bag_id, None, "", str(exc))
    return _record(archive, bag_id, info)


def _record(
    archive: Any, bag_id: str, info: TokenInfo, *, only_if_pending: bool = False
) -> Completed:
    """The token in the bag's custody log, then in the ledger.

    ``only_if_pending``: the token was there already. When the ledger still says
    pending, a run stopped after writing it (a full disk): what that run did not
    record is recorded now, each part once, so a re-run finishes the job.
    """
    from strongroom.bag import custody
    from strongroom.core.ledger import open_ledger

    detail = {"time": info.time.isoformat(), "tsa": info.tsa, "serial": info.serial}
    with open_ledger(archive.root) as ledger:
        logged = None
        if only_if_pending:
            latest = ledger.latest_timestamps().get(bag_id)
            if latest is None or latest[0] != "pending":
                return Completed(bag_id, info, "")  # recorded when it was added
            entries = custody.read_entries(archive.custody_path(bag_id))
            logged = next(
                (e for e in entries if e.get("action") == "timestamp"
                 and (e.get("detail") or {}).get("serial") == info.serial),
                None,
            )  # fmt: skip
        if logged is None:
            custody.record_event(
                archive, bag_id, "timestamp", outcome="success", detail=detail, ledger=ledger
            )
        else:  # the custody line was written, the ledger's event was not
            who = str(logged.get("actor") or "strongroom")
            ledger.record_event(
                "timestamp", "success", bag_id=bag_id, actor=who, detail=detail,
                time=logged.get("time"),
            )  # fmt: skip
        created = ledger.bag_created(bag_id) or ""
    return Completed(bag_id, info, created)
