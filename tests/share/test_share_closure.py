"""A bag that depends on another travels with its closure (issue 13, share side).

`share` sends the dependencies first under the same policy and refuses the bag
when one may not go; `receive` checks that the dependencies are here; the copy
policy counts a copy only where its whole closure is.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sharekit import (
    FIRST,
    SECOND,
    copy_archive,
    dir_partner,
    make_archive,
    public_key_line,
    write_head,
    write_partners,
)

from strongroom.core.archive import Archive
from strongroom.core.ledger import open_ledger
from strongroom.share.replicate import replication_status


@pytest.fixture
def chain(chain_template: Path, archive_dir: Path, tmp_path: Path) -> Archive:
    """SECOND depends on FIRST; kyiv-mirror takes restricted bags, riga-mirror public only."""
    archive = copy_archive(chain_template, archive_dir)
    for name in ("kyiv", "riga"):
        (tmp_path / name).mkdir()
    write_partners(
        archive,
        dir_partner("kyiv-mirror", "UA", tmp_path / "kyiv"),
        dir_partner("riga-mirror", "LV", tmp_path / "riga", access=("public",)),
    )
    return archive


def test_share_sends_the_dependency_first(cli, chain, tmp_path) -> None:
    r = cli("share", SECOND, "--to", "kyiv-mirror", "--json", "--archive", chain.root)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["dependencies"] == [FIRST]
    assert (tmp_path / "kyiv" / FIRST / "bagit.txt").is_file()
    assert (tmp_path / "kyiv" / SECOND / "bagit.txt").is_file()
    with open_ledger(chain.root) as ledger:
        copies = {(c["bag_id"], c["status"]) for c in ledger.copies()}
    assert copies == {(FIRST, "ok"), (SECOND, "ok")}


def test_a_dependency_that_may_not_go_refuses_the_bag(cli, chain, tmp_path) -> None:
    from strongroom.bag.access import set_access

    set_access(chain, FIRST, "restricted", reason="test")
    r = cli("share", SECOND, "--to", "riga-mirror", "--archive", chain.root)
    assert r.exit_code == 1, r.output
    assert f"depends on {FIRST}" in r.stderr and "restricted" in r.stderr
    assert list((tmp_path / "riga").iterdir()) == []  # nothing was sent


def test_receive_checks_the_dependencies_are_here(cli, chain, tmp_path) -> None:
    write_head(chain, FIRST)
    write_head(chain, SECOND)
    partner = make_archive(tmp_path / "partner", "UA")
    write_partners(
        partner,
        dir_partner("berlin", "DE", tmp_path / "x") | {"public_key": public_key_line(chain)},
    )
    early = cli("receive", chain.bag_dir(SECOND), "--archive", partner.root)
    assert early.exit_code == 1
    assert f"receive {FIRST} first" in early.stderr
    assert cli("receive", chain.bag_dir(FIRST), "--archive", partner.root).exit_code == 0
    later = cli("receive", chain.bag_dir(SECOND), "--archive", partner.root)
    assert later.exit_code == 0, later.output
    assert sorted(partner.bag_ids()) == [FIRST, SECOND]


def test_a_copy_counts_only_where_its_whole_closure_is(chain, tmp_path) -> None:
    from strongroom.share.partners import get_partner
    from strongroom.share.send import record_copy

    kyiv = get_partner(chain, "kyiv-mirror")
    record_copy(chain, SECOND, kyiv, "ok")  # the dependent bag alone at kyiv
    st = replication_status(chain, SECOND)
    assert st.copies == 1  # only the local copy
    assert any("lacks what it depends on" in p and FIRST in p for p in st.problems)
    record_copy(chain, FIRST, kyiv, "ok")
    assert replication_status(chain, SECOND).copies == 2
