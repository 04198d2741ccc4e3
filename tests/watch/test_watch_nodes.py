"""Two nodes on one PostgreSQL ledger share a `watch --all` round: each seed once."""

from __future__ import annotations

import subprocess
import sys

import pytest
from watchkit import make_bag, serve_article

from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger


@pytest.mark.slow
def test_two_nodes_watch_each_seed_once(tmp_path, site, pg_url):
    roots = [tmp_path / "node1", tmp_path / "node2"]
    for n, root in enumerate(roots, 1):
        root.mkdir()
        (root / "config.toml").write_text(f'[ledger]\nurl = "{pg_url}"\n[node]\nname = "node{n}"\n')
    with open_ledger(roots[0], migrate=True):
        pass
    urls = [serve_article(site, f"/news/{i}.html") for i in range(6)]
    for i, url in enumerate(urls):
        make_bag(roots[0], url, bag_id=f"test-20240513T10000{i}Z-aaaaaa")
    Archive(roots[1]).ensure()
    (roots[1] / "bags").rmdir()
    subprocess.run(["cp", "-al", str(roots[0] / "bags"), str(roots[1] / "bags")], check=True)
    subprocess.run(["cp", "-a", str(roots[0] / "keys"), str(roots[1] / "keys")], check=True)
    cmd = [sys.executable, "-m", "strongroom", "watch", "--all", "--quiet", "--timeout", "5"]
    procs = [
        subprocess.Popen([*cmd, "--archive", str(r)], stderr=subprocess.PIPE, text=True)
        for r in roots
    ]
    for p in procs:
        _out, err = p.communicate(timeout=300)
        assert p.returncode in (0, 1), err
        assert "Traceback" not in err
    with open_ledger(roots[0]) as led:
        watched = [e["detail"]["url"] for e in led.events(types=["watch"])]
        leases = led.leases("watch")
    assert sorted(watched) == sorted(urls), "every seed once, none twice"
    assert sorted(x.item for x in leases) == sorted(urls)
    assert {x.node for x in leases} <= {"node1", "node2"}
