"""Many small files: batches on forked workers, the same bag, the same guarantees."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bagkit import CAPTURE_ID, make_capture

from strongroom.bag import make as bagging
from strongroom.bag import payload, premis
from strongroom.bag.manifest import parse_manifest
from strongroom.bag.provenance import FileFacts
from strongroom.core.archive import Archive
from strongroom.errors import UsageError

BAGIT_SCRIPT = Path(sys.executable).parent / "bagit.py"
FILES = {f"d{i % 3}/{i:03d}.txt": f"derivative {i}\n".encode() * (i + 1) for i in range(60)}


@pytest.fixture
def forked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Take the forked path from a few files (it starts at 1,000 in real use)."""
    monkeypatch.setattr(payload, "PROCESS_MIN_FILES", 4)
    monkeypatch.setattr(payload, "BATCH_FILES", 7)


def test_forked_small_files_make_a_bag_bagit_python_validates(forked, archive_dir, tmp_path):
    cap = make_capture(archive_dir, derivatives=FILES)
    result = bagging.bag_capture(Archive(archive_dir), CAPTURE_ID, manifests_dir=tmp_path)
    assert result.files == len(FILES) + 1
    assert result.linked  # same file system: hard links, no copies
    run = subprocess.run(
        [sys.executable, str(BAGIT_SCRIPT), "--validate", str(result.path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    listed = parse_manifest((result.path / "manifest-sha512.txt").read_text())
    for rel, data in FILES.items():
        assert listed[f"data/derivatives/{rel}"] == hashlib.sha512(data).hexdigest()
        assert (cap / "derivatives" / rel).read_bytes() == data


def test_forked_small_files_are_copied_when_links_are_refused(forked, tmp_path):
    src = tmp_path / "src"
    for rel, data in FILES.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    files = [payload.PayloadFile(str(src / rel), rel, False, len(d)) for rel, d in FILES.items()]
    out = tmp_path / "data"
    out.mkdir()
    payload.hash_payload(files, out, ["sha512", "md5"], allow_link=False)
    for f in files:
        data = FILES[f.rel]
        copy = out / f.rel
        assert not f.linked and copy.read_bytes() == data
        assert copy.stat().st_ino != (src / f.rel).stat().st_ino
        assert f.digests == {
            "sha512": hashlib.sha512(data).hexdigest(),
            "md5": hashlib.md5(data).hexdigest(),
        }
        assert f.size == len(data)


def test_a_failing_small_file_in_a_worker_leaves_nothing(
    forked, archive_dir, tmp_path, monkeypatch
):
    cap = make_capture(archive_dir, derivatives=FILES)
    before = {p: (p.read_bytes(), p.stat().st_mode) for p in cap.rglob("*") if p.is_file()}
    real = payload._one_small

    def full_disk(src: str, *args: object) -> object:
        if src.endswith("041.txt"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(payload, "_one_small", full_disk)  # the forked children inherit it
    with pytest.raises(UsageError, match="disk is full"):
        bagging.bag_capture(Archive(archive_dir), CAPTURE_ID, manifests_dir=tmp_path)
    assert sorted(p.name for p in (archive_dir / "bags").iterdir()) == []
    after = {p: (p.read_bytes(), p.stat().st_mode) for p in cap.rglob("*") if p.is_file()}
    assert after == before
    monkeypatch.setattr(payload, "_one_small", real)
    result = bagging.bag_capture(Archive(archive_dir), CAPTURE_ID, manifests_dir=tmp_path)
    assert Archive(archive_dir).bag_ids() == [result.bag_id]


def test_a_worker_that_dies_is_an_error_not_a_short_manifest(
    forked, archive_dir, tmp_path, monkeypatch
):
    make_capture(archive_dir, derivatives=FILES)
    real = payload._one_small

    def dies(src: str, *args: object) -> object:
        if src.endswith("013.txt"):
            os._exit(3)  # as an out-of-memory kill would
        return real(src, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(payload, "_one_small", dies)
    with pytest.raises(UsageError, match="hashing worker"):
        bagging.bag_capture(Archive(archive_dir), CAPTURE_ID, manifests_dir=tmp_path)
    assert Archive(archive_dir).bag_ids() == []
    assert [p.name for p in (archive_dir / "bags").iterdir()] == []


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("data/warc/x-00000.warc.gz", None),
        ("data/derivatives/page 1.png", "data/warc/x-00000.warc.gz"),
        ("data/derivatives/über.pdf", None),
        ("data/derivatives/a.json", None),
        ("data/derivatives/noext", None),
        ("data/derivatives/q\"'.csv", None),
    ],
)
def test_premis_template_writes_what_lxml_writes(path, source):
    f = FileFacts(path=path, size=1234, digests={"sha512": "ab" * 64, "md5": "cd" * 16},
                  is_warc=path.endswith(".warc.gz"))  # fmt: skip
    doc = premis._Doc()
    premis._object(doc, f, source)
    buf = io.BytesIO()
    doc.flush(buf)
    assert premis._object_text(f, source) == buf.getvalue().decode()


@pytest.mark.parametrize("path", ["data/derivatives/a&b.txt", "data/derivatives/<x>", "a\nb"])
def test_premis_template_leaves_text_that_needs_escaping_to_lxml(path):
    f = FileFacts(path=path, size=1, digests={"sha512": "ab" * 64}, is_warc=False)
    assert premis._object_text(f, None) is None
