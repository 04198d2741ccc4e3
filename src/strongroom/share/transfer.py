"""Moving bags and files to and from partners: directory copies and rsync over SSH.

Every transfer lands under a ``.tmp-`` name at the destination and is renamed
when complete, so a partner never sees half a bag under its real name. Copies
are then confirmed against *our* manifests (not the copied ones), so a copy
whose manifests were damaged in transit cannot vouch for itself.

SSH always runs with ``BatchMode=yes`` (never a password prompt in cron),
``StrictHostKeyChecking=accept-new`` and the archive's own
``keys/known_hosts``, so a partner's host key is pinned on first contact.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strongroom.core.fsutil import TMP_PREFIX, fsync_dir, fsync_tree, is_within, safe_relpath
from strongroom.errors import ProblemFound, UsageError

if TYPE_CHECKING:
    from strongroom.share.partners import Partner

BLOCK = 1024 * 1024
SSH_TIMEOUT = 3600  # seconds for one rsync or remote check; a stuck link must end
# coreutils program for each BagIt algorithm we can check remotely
SUM_PROGRAMS = {"sha512": "sha512sum", "sha256": "sha256sum", "sha1": "sha1sum", "md5": "md5sum"}


class AlreadyThere(ProblemFound):
    """The destination already holds a copy under the bag's name; ``where`` is its path."""

    def __init__(self, message: str, where: Path | str) -> None:
        super().__init__(message)
        self.where = where


# --- manifests ----------------------------------------------------------------------
def _decode(raw: str) -> str:
    """RFC 8493 2.1.3: only %25, %0A and %0D are percent-encoded in manifests."""
    out = []
    i = 0
    while i < len(raw):
        chunk = raw[i : i + 3].upper()
        if chunk in ("%25", "%0A", "%0D"):
            out.append({"%25": "%", "%0A": "\n", "%0D": "\r"}[chunk])
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return "".join(out)


def manifest_digests(bag_dir: Path, *, tag: bool = False) -> dict[str, dict[str, str]]:
    """rel path -> {algorithm: hex} from every payload (or tag) manifest of a bag.

    The strict checks live in :mod:`strongroom.verify.validate`; this reader is only
    used on bags that validation has already passed, and on our own bags, and
    it refuses unsafe paths all the same.
    """
    prefix = "tagmanifest-" if tag else "manifest-"
    out: dict[str, dict[str, str]] = {}
    for man in sorted(bag_dir.glob(f"{prefix}*.txt")):
        if man.is_symlink() or not man.is_file():
            continue
        alg = man.name[len(prefix) : -len(".txt")].lower()
        if alg.replace("-", "_") not in hashlib.algorithms_guaranteed:
            continue
        text = man.read_bytes().decode("utf-8", "replace").lstrip("\ufeff")
        for line in text.splitlines():
            digest, _, raw = line.strip("\r").partition(" ")
            raw = raw.lstrip(" \t").lstrip("*")
            if not digest or not raw:
                continue
            rel = _decode(raw)
            while rel.startswith("./"):
                rel = rel[2:]
            if safe_relpath(rel):
                out.setdefault(rel, {})[alg] = digest.lower()
    return out


def hash_file(path: Path, algorithms: list[str], limit: int | None = None) -> dict[str, str]:
    """Hash a file with every algorithm in one read; ProblemFound past ``limit`` bytes."""
    hashes = {a: hashlib.new(a.replace("-", "_")) for a in algorithms}
    seen = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(BLOCK):
            seen += len(chunk)
            if limit is not None and seen > limit:
                raise ProblemFound(f"{path}: larger than the {limit} bytes expected")
            for h in hashes.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hashes.items()}


def compare_tree(reference: Path, copy: Path) -> list[str]:
    """Hash every file ``reference``'s manifests list at ``copy``; list each mismatch.

    Includes the tag manifests themselves and the tag-manifest signature, which
    no manifest covers.
    """
    problems: list[str] = []
    wanted = manifest_digests(reference) | manifest_digests(reference, tag=True)
    extra = [
        p.name
        for p in sorted(reference.iterdir())
        if p.is_file() and p.name.startswith("tagmanifest-")
    ]
    for name in extra:
        wanted[name] = {"sha512": hash_file(reference / name, ["sha512"])["sha512"]}
    for rel, digests in sorted(wanted.items()):
        target = copy / rel
        if target.is_symlink() or not target.is_file() or not is_within(copy, target):
            problems.append(f"{rel}: missing at the destination")
            continue
        found = hash_file(target, sorted(digests))
        bad = [a for a, d in digests.items() if found[a] != d]
        if bad:
            problems.append(f"{rel}: {', '.join(bad)} checksum differs at the destination")
    return problems


# --- directory transport ----------------------------------------------------------
def head_name(bag_id: str) -> str:
    """The file beside a shared bag that holds its custody head, signed by the sender."""
    return f"{bag_id}.custody-head.json"


def send_dir(bag_dir: Path, custody_log: Path, dest_root: Path, head: bytes = b"") -> Path:
    """Copy a bag, its custody log and its signed custody head into a partner folder;
    return the copy's path."""
    bag_id = bag_dir.name
    if not dest_root.is_dir():
        raise UsageError(f"partner folder {dest_root} does not exist (is it mounted?)")
    final = dest_root / bag_id
    final_log = dest_root / f"{bag_id}.custody.jsonl"
    if final.exists() or final.is_symlink() or final_log.exists():
        raise AlreadyThere(
            f"the partner already has {final}; refusing to overwrite an existing copy", final
        )
    tmp = dest_root / f"{TMP_PREFIX}{bag_id}-{secrets.token_hex(4)}"
    tmp_log = dest_root / f"{TMP_PREFIX}{bag_id}.custody.jsonl-{secrets.token_hex(4)}"
    tmp_head = dest_root / f"{TMP_PREFIX}{head_name(bag_id)}-{secrets.token_hex(4)}"
    try:
        # symlinks=True copies a link as a link: a validated bag has none, and a
        # link must never make us copy something from outside the bag.
        shutil.copytree(bag_dir, tmp, symlinks=True)
        fsync_tree(tmp)
        if custody_log.is_file():
            shutil.copyfile(custody_log, tmp_log)
            with open(tmp_log, "rb+") as fh:
                os.fsync(fh.fileno())
        if head:
            with open(tmp_head, "xb") as fh:
                fh.write(head)
                os.fsync(fh.fileno())
        if final.exists() or final_log.exists():
            raise ProblemFound(f"{final} appeared during the copy; refusing to overwrite it")
        os.rename(tmp, final)
        if tmp_log.exists():
            os.rename(tmp_log, final_log)
        if tmp_head.exists():
            os.replace(tmp_head, dest_root / head_name(bag_id))
        fsync_dir(dest_root)
    except OSError as exc:
        raise ProblemFound(f"copy to {dest_root} failed: {exc.strerror or exc}") from None
    finally:
        for leftover in (tmp, tmp_log, tmp_head):
            if leftover.is_dir():
                remove_tree(leftover)
            elif leftover.exists():
                leftover.unlink()
    return final


def remove_tree(path: Path) -> None:
    """Remove a tree whose folders may be read-only (bag payload folders are)."""

    def _onerror(func, p, _exc):  # type: ignore[no-untyped-def]
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o755)
            func(p)

    shutil.rmtree(path, onerror=_onerror)


def confirm_dir(bag_dir: Path, copy: Path) -> list[str]:
    """Re-hash the copy at the destination against our own manifests."""
    return compare_tree(bag_dir, copy)


# --- SSH transport ------------------------------------------------------------------
def ssh_args(partner: Partner, known_hosts: Path) -> list[str]:
    """The ssh command line for a partner, without the target."""
    known_hosts.parent.mkdir(parents=True, exist_ok=True)
    args = ["ssh", "-p", str(partner.port)]
    if partner.ssh_key:
        if not partner.ssh_key.is_file():
            raise UsageError(f"partner {partner.name}: ssh_key {partner.ssh_key} does not exist")
        args += ["-i", str(partner.ssh_key), "-o", "IdentitiesOnly=yes"]
    args += [
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "ConnectTimeout=30",
        "-o",
        "ServerAliveInterval=30",
    ]
    return args


def _run(
    args: list[str], what: str, *, input_bytes: bytes | None = None, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    """Run a transport command; a failure becomes a ProblemFound with ssh's own words."""
    try:
        proc = subprocess.run(
            args,
            input=input_bytes,
            capture_output=True,
            timeout=SSH_TIMEOUT,
            check=False,
            stdin=None if input_bytes is not None else subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise UsageError(f"{args[0]} is not installed; it is needed to {what}") from None
    except subprocess.TimeoutExpired:
        raise ProblemFound(f"{what}: no answer within {SSH_TIMEOUT} s") from None
    if check and proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise ProblemFound(f"{what} failed (exit {proc.returncode}): {' | '.join(tail)}")
    return proc


def remote(
    partner: Partner, known_hosts: Path, command: str, what: str, **kw: Any
) -> subprocess.CompletedProcess[bytes]:
    """Run one shell ``command`` on the partner (arguments already quoted)."""
    return _run([*ssh_args(partner, known_hosts), partner.ssh_target, command], what, **kw)


def send_rsync(
    bag_dir: Path, custody_log: Path, partner: Partner, known_hosts: Path, head: bytes = b""
) -> str:
    """rsync a bag, its custody log and its signed custody head to temporary names at
    the partner, then ``mv`` them."""
    bag_id = bag_dir.name
    root = partner.remote_path
    q = shlex.quote
    final, final_log = f"{root}/{bag_id}", f"{root}/{bag_id}.custody.jsonl"
    tmp = f"{root}/{TMP_PREFIX}{bag_id}-{secrets.token_hex(4)}"
    tmp_log = f"{root}/{TMP_PREFIX}{bag_id}.custody.jsonl-{secrets.token_hex(4)}"
    proc = remote(
        partner,
        known_hosts,
        f"test -d {q(root)} || exit 3; test -e {q(final)} && exit 4;"
        f" test -e {q(final_log)} && exit 4; exit 0",
        f"reach {partner.name}",
        check=False,
    )
    if proc.returncode == 3:
        raise ProblemFound(f"partner {partner.name}: folder {root} does not exist")
    if proc.returncode == 4:
        raise AlreadyThere(
            f"partner {partner.name} already has {final}; refusing to overwrite an existing copy",
            final,
        )
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-2:]
        raise ProblemFound(f"cannot reach partner {partner.name}: {' | '.join(tail)}")
    rsh = shlex.join(ssh_args(partner, known_hosts))
    target = partner.ssh_target
    base = ["rsync", "-a", "--partial-dir=.rsync-partial", "-e", rsh]
    try:
        _run([*base, f"{bag_dir}/", f"{target}:{tmp}/"], f"rsync to {partner.name}")
        if custody_log.is_file():
            _run([*base, str(custody_log), f"{target}:{tmp_log}"], f"rsync to {partner.name}")
        tmp_head = f"{tmp}.head"
        if head:
            _send_bytes(base, head, f"{target}:{tmp_head}", partner.name)
        move = f"set -e; test ! -e {q(final)}; mv {q(tmp)} {q(final)};"
        if custody_log.is_file():
            move += f" mv {q(tmp_log)} {q(final_log)};"
        if head:
            move += f" mv {q(tmp_head)} {q(root + '/' + head_name(bag_id))};"
        remote(partner, known_hosts, move + " sync", f"rename the copy at {partner.name}")
    except ProblemFound:
        # best effort: do not leave our temporary names behind at the partner
        remote(
            partner,
            known_hosts,
            f"chmod -R u+w {q(tmp)} 2>/dev/null; rm -rf {q(tmp)} {q(tmp_log)} {q(tmp + '.head')}",
            "clean up",
            check=False,
        )
        raise
    return final


def _send_bytes(base: list[str], data: bytes, dest: str, partner: str) -> None:
    """rsync a small document (the custody head) from a private temporary file."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="strongroom-head-") as folder:
        path = Path(folder) / "head.json"
        path.write_bytes(data)
        _run([*base, str(path), dest], f"rsync to {partner}")


def _check_line(digest: str, rel: str) -> str:
    """One ``sha512sum -c`` line; GNU's escaped form for names with \\ or a newline."""
    if "\\" in rel or "\n" in rel:
        return "\\" + digest + "  " + rel.replace("\\", "\\\\").replace("\n", "\\n") + "\n"
    return f"{digest}  {rel}\n"


def confirm_ssh(bag_dir: Path, partner: Partner, known_hosts: Path) -> tuple[list[str], str]:
    """Check the copy at an SSH partner remotely; return (problems, how it was checked).

    We send a check list generated from *our* manifests on stdin to
    ``sha512sum -c`` rather than running it on the copied ``manifest-sha512.txt``:
    the list also covers tag files and the manifests themselves, and names with
    RFC 8493 %-escapes are decoded correctly (``sha512sum`` does not know them).
    """
    q = shlex.quote
    copy = f"{partner.remote_path}/{bag_dir.name}"
    wanted = manifest_digests(bag_dir) | manifest_digests(bag_dir, tag=True)
    for p in sorted(bag_dir.iterdir()):
        if p.is_file() and p.name.startswith("tagmanifest-"):
            wanted[p.name] = {"sha512": hash_file(p, ["sha512"])["sha512"]}
    lists: dict[str, list[str]] = {}
    for rel, digests in sorted(wanted.items()):
        alg = next((a for a in SUM_PROGRAMS if a in digests), None)
        if alg is None:
            continue
        lists.setdefault(alg, []).append(_check_line(digests[alg], rel))
    problems: list[str] = []
    for alg, lines in lists.items():
        proc = remote(
            partner,
            known_hosts,
            f"cd {q(copy)} && {SUM_PROGRAMS[alg]} -c --quiet --strict -",
            f"check the copy at {partner.name}",
            input_bytes="".join(lines).encode("utf-8", "surrogateescape"),
            check=False,
        )
        if proc.returncode == 255:
            raise ProblemFound(
                f"cannot reach partner {partner.name} to check the copy: "
                + proc.stderr.decode("utf-8", "replace").strip()[-200:]
            )
        if proc.returncode != 0:
            out = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip().splitlines()
            problems += out[:20] or [f"{SUM_PROGRAMS[alg]} exited {proc.returncode}"]
    how = f"{'/'.join(SUM_PROGRAMS[a] for a in lists)} at {partner.name}"
    if partner.remote_strongroom and not problems:
        proc = remote(
            partner,
            known_hosts,
            f"{partner.remote_strongroom} verify {q(copy)} --quiet",
            f"run strongroom verify at {partner.name}",
            check=False,
        )
        if proc.returncode != 0:
            out = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip().splitlines()
            problems += out[:20] or [f"strongroom verify exited {proc.returncode}"]
        how += " and strongroom verify"
    return problems, how


# --- fetching one file for repair --------------------------------------------------
def fetch_file(
    partner: Partner,
    location: str,
    rel: str,
    into: Path,
    known_hosts: Path,
    limit: int | None,
) -> Path:
    """Copy one file of a partner's copy into a new temporary file inside ``into``.

    The caller checks the bytes before using them. Symlinks at the partner are
    never followed, and at most ``limit`` bytes are accepted.
    """
    if not safe_relpath(rel):
        raise ProblemFound(f"{rel!r}: unsafe path; not fetched")
    tmp = into / f"{TMP_PREFIX}{Path(rel).name[:40]}-{secrets.token_hex(4)}"
    if partner.transport == "dir":
        copy_root = Path(location)
        src = copy_root / rel
        if not is_within(copy_root, src):
            raise ProblemFound(f"{src}: leaves the partner's copy (symlinked folder?)")
        try:
            fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise ProblemFound(f"{src}: cannot read ({exc.strerror})") from None
        with os.fdopen(fd, "rb") as fin:
            _copy_bounded(fin, tmp, limit, str(src))
        return tmp
    q = shlex.quote
    copy = location.split(":", 1)[1] if ":" in location else location
    args = [*ssh_args(partner, known_hosts), partner.ssh_target]
    # cat of a file that is not a symlink; ssh streams it to us, bounded below
    args.append(f'f={q(copy + "/" + rel)}; test -L "$f" && exit 5; exec cat -- "$f"')
    try:
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except FileNotFoundError:
        raise UsageError("ssh is not installed; it is needed to fetch from partners") from None
    try:
        assert proc.stdout is not None
        _copy_bounded(proc.stdout, tmp, limit, f"{partner.name}:{rel}")
        _, err = proc.communicate(timeout=SSH_TIMEOUT)
    except BaseException:
        proc.kill()
        proc.wait()
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        why = err.decode("utf-8", "replace").strip()[-200:] or f"exit {proc.returncode}"
        raise ProblemFound(f"cannot fetch {rel} from {partner.name}: {why}")
    return tmp


def _copy_bounded(fin, tmp: Path, limit: int | None, what: str) -> None:  # type: ignore[no-untyped-def]
    written = 0
    try:
        with open(tmp, "xb") as out:
            while chunk := fin.read(BLOCK):
                written += len(chunk)
                if limit is not None and written > limit:
                    raise ProblemFound(f"{what}: larger than the {limit} bytes the bag declares")
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
