"""Nothing written reveals the capturing person or machine, nor any credential.

Captures through a proxy that wants a password, bags the result, then reads
every byte under the archive (WARCs inflated, capture record, ledger, tag
files, custody log) and everything the commands printed.
"""

from __future__ import annotations

import base64
import getpass
import gzip
import json
import socket
from pathlib import Path

from proxy import Proxy

from strongroom.capture.extract import clean_url
from strongroom.demosite import free_port
from strongroom.warc import read

USER, PASSWORD = "alice-operator", "pw-S3cret-9"
TOKEN = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def every_byte(root: Path) -> bytes:
    """All files below ``root``, gzip members inflated."""
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            data = p.read_bytes()
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            out.append(data)
    return b"\n".join(out)


def capture_and_bag(cli, url: str, tmp_path: Path, *extra: str) -> tuple[str, str]:
    res = cli("capture", url, "--json", *extra)
    assert res.exit_code == 0, res.output
    cid = json.loads(res.stdout)["capture_id"]
    bag = cli("bag", cid, "--manifests", tmp_path / "manifests", "--json")
    assert bag.exit_code == 0, bag.output
    return cid, res.output + bag.output


def test_proxy_credentials_are_never_recorded(cli, site, archive_dir, tmp_path):
    with Proxy(USER, PASSWORD) as proxy:
        cid, printed = capture_and_bag(cli, site.url, tmp_path, "--proxy", proxy.url)
        assert site.url in proxy.requests  # it authenticated and went through the proxy
    found = every_byte(archive_dir) + every_byte(tmp_path / "manifests") + printed.encode()
    for secret in (PASSWORD, USER, TOKEN, "Proxy-Authorization"):
        assert secret.encode() not in found, secret
    warcs = sorted((archive_dir / "captures" / cid).glob("*.warc.gz"))
    assert warcs
    for warc in warcs:  # the main process's and each fetch process's
        info = next(r for r in read.iter_records(warc) if r.rec_type == "warcinfo")
        block = info.stream.read()
        assert b"proxy: used (http; address and credentials not recorded)" in block
        assert f"127.0.0.1:{proxy.port}".encode() not in block


def test_dead_proxy_with_credentials_names_neither(cli, site, archive_dir):
    proxy = f"http://{USER}:{PASSWORD}@127.0.0.1:{free_port()}"
    res = cli("capture", site.url, "--proxy", proxy, "--retries", "0")
    assert res.exit_code == 1 and "proxy error" in res.output
    assert PASSWORD not in res.output and USER not in res.output
    assert PASSWORD.encode() not in every_byte(archive_dir)
    bad = cli("capture", site.url, "--proxy", f"gopher://{USER}:{PASSWORD}@x")
    assert bad.exit_code == 2 and "not a proxy URL" in bad.stderr and PASSWORD not in bad.output


def test_url_with_credentials_is_refused_without_repeating_them(cli, site, archive_dir):
    url = site.url.replace("http://", f"http://{USER}:{PASSWORD}@")
    res = cli("capture", url)
    assert res.exit_code == 2 and "user name or password" in res.stderr
    assert PASSWORD not in res.output and USER not in res.output
    assert not (archive_dir / "captures").exists() or not any((archive_dir / "captures").iterdir())


def test_links_with_credentials_are_fetched_without_them():
    assert clean_url("http://u:p@127.0.0.1:8/a#x", "http://127.0.0.1/") == "http://127.0.0.1:8/a"


def test_nothing_reveals_the_capturing_machine(cli, site, archive_dir, tmp_path):
    """WARC headers, warcinfo/request/metadata blocks, tag files, capture record, custody."""
    capture_and_bag(cli, site.url, tmp_path)
    machine = [socket.gethostname(), getpass.getuser(), str(archive_dir), str(tmp_path)]
    machine = [m for m in machine if m]
    (bag,) = [p for p in (archive_dir / "bags").iterdir() if p.is_dir()]
    written: list[tuple[str, bytes]] = []
    for warc in sorted((bag / "data" / "warc").iterdir()):
        for r in read.iter_records(warc, parse_http=False):
            head = "\n".join(f"{k}: {v}" for k, v in r.raw.rec_headers.headers).encode()
            written.append((f"{warc.name}@{r.offset} headers", head))
            if r.rec_type != "response":  # responses hold the site's bytes, not ours
                written.append((f"{warc.name}@{r.offset} {r.rec_type}", r.stream.read()))
    for p in sorted(bag.rglob("*")):
        if p.is_file() and "data" not in p.relative_to(bag).parts:
            written.append((str(p.relative_to(bag)), p.read_bytes()))
    for p in sorted((archive_dir / "bags").glob("*.custody.jsonl")):
        written.append((p.name, p.read_bytes()))
    assert any(name == "tags/capture.json" for name, _ in written)
    for name, data in written:
        for m in machine:
            assert m.encode() not in data, f"{name} reveals {m!r}"
    record = json.loads((bag / "tags" / "capture.json").read_text())
    assert record["version"] == 1 and "path" not in record["collection"]


def test_metadata_records_carry_no_payload_digest(cli, site, archive_dir):
    res = cli("capture", site.url, "--json")
    cid = json.loads(res.stdout)["capture_id"]
    types = {}
    for warc in (archive_dir / "captures" / cid).glob("*.warc.gz"):
        for r in read.iter_records(warc):
            types.setdefault(r.rec_type, []).append(r.payload_digest)
    assert types["metadata"] and not any(types["metadata"])
    assert all(types["response"])
