"""The ledger's named methods on both engines: embedded SQLite and a real PostgreSQL."""

from __future__ import annotations

import pytest

from strongroom.core.backends import LedgerLocation, parse_ledger_url, redact
from strongroom.core.ledger import SCHEMA_VERSION, Ledger
from strongroom.core.rows import WatchRow
from strongroom.errors import UsageError


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request, tmp_path):
    if request.param == "sqlite":
        led = Ledger(tmp_path / "ledger.sqlite")
    else:
        url = request.getfixturevalue("pg_url")
        led = Ledger(LedgerLocation("postgresql", url=url), migrate=True)
    try:
        yield led
    finally:
        led.close()


def test_bags_captures_and_payload_index(ledger):
    ledger.record_capture(
        "C1", collection_id="c", started="2026-01-01T00:00:00Z", ended=None,
        seeds=["https://a.example/"], stats={"fetched": 3, "bytes": 5_000_000_000},
        status="complete",
    )  # fmt: skip
    ledger.record_bag(
        "c-C1", collection_id="c", capture_id="C1", created="2026-01-01T00:00:01Z",
        access="public", seeds=["https://a.example/"],
    )  # fmt: skip
    ledger.record_bag(  # the same id again refreshes the row, it does not add one
        "c-C1", collection_id="c", capture_id="C1", created="2026-01-01T00:00:01Z",
        access="restricted", seeds=["https://a.example/"],
    )  # fmt: skip
    assert ledger.bags()["c-C1"]["access"] == "restricted"
    assert ledger.bag_ids() == {"c-C1"}
    ledger.set_access("c-C1", "dark")
    assert ledger.bags()["c-C1"]["access"] == "dark"
    row = ("sha256:AAA", "https://a.example/", "2026-01-01T00:00:00Z", "<urn:uuid:1>", "C1", "w")
    ledger.index_payloads([row, row])  # a payload's first record stays the one
    assert ledger.prior_payload("sha256:AAA") == (
        "<urn:uuid:1>", "https://a.example/", "2026-01-01T00:00:00Z"
    )  # fmt: skip
    assert ledger.payload_locations("sha256:AAA") == [("C1", "w")]


def test_fixity_history_and_the_latest_summary_by_trigger(ledger):
    for n, (mode, result) in enumerate([("full", "valid"), ("fast", "invalid")]):
        run_id = ledger.record_fixity_run(
            "b1", started=f"2026-01-0{n + 1}T00:00:00Z", ended=f"2026-01-0{n + 1}T00:01:00Z",
            mode=mode, result=result, files=2, nbytes=3 * 2**31, failures=["x"] if n else [],
        )  # fmt: skip
        assert run_id > 0
    latest = ledger.latest_fixity()["b1"]
    assert (latest.result, latest.runs, latest.last_good) == ("invalid", 2, "2026-01-01T00:00:00Z")
    history = ledger.fixity_history("b1")
    assert [h["result"] for h in history] == ["valid", "invalid"]
    assert history[0]["bytes"] == 3 * 2**31  # 64-bit sizes survive on both engines
    assert ledger.last_good_checks() == {"b1": "2026-01-01T00:00:00Z"}


def _watch(url, status, when, bag="b1"):
    return WatchRow(
        url=url, collection_id="c", bag_id=bag, status=status, previous_status=None,
        http_status=200, final_url=url, similarity=0.987654321, vantage="direct",
        evidence={"reason": "ünïcode ✓", "n": 1}, checked_at=when, actor="op", detail={"k": 1},
    )  # fmt: skip


def test_watch_results_summaries_and_events(ledger):
    ledger.record_watch_results(
        [_watch("u", "ok", "2026-01-01T00:00:00Z"), _watch("u", "ok", "2026-01-02T00:00:00Z")]
    )
    ledger.record_watch_results([_watch("u", "gone", "2026-01-03T00:00:00Z")])
    latest = ledger.watch_latest("u")["u"]
    assert (latest.status, latest.since) == ("gone", "2026-01-03T00:00:00Z")
    last = ledger.last_watch("u")
    assert last["evidence"]["reason"] == "ünïcode ✓"
    assert abs(last["similarity"] - 0.987654321) < 1e-12  # a double, not PostgreSQL's 4-byte REAL
    assert [e["event_type"] for e in ledger.events("b1")] == ["watch"] * 3
    assert [r["status"] for r in ledger.status_changes(["gone"])] == ["gone"]


def test_events_copies_and_custody_heads(ledger):
    first = ledger.record_event("fixity check", "valid", bag_id="b1", detail={"a": 1})
    second = ledger.record_event("replication", "ok", bag_id="b1")
    assert second > first
    assert [e["detail"] for e in ledger.events("b1", types=["fixity check"])] == [{"a": 1}]
    assert ledger.count_events() == 2
    ledger.record_copy("b1", partner="p", location="/x", jurisdiction="UA", status="ok")
    ledger.record_copy("b1", partner="p", location="/y", jurisdiction="UA", status="damaged")
    assert [(c["location"], c["status"]) for c in ledger.copies("b1")] == [("/y", "damaged")]
    ledger.set_custody_head("b1", seq=3, hash="sha256:h", start=10, end=20)
    ledger.mark_custody_verified("b1", seq=3, hash="sha256:h", start=10, end=20)
    head = ledger.custody_head("b1")
    assert (head.seq, head.end, head.verified_seq) == (3, 20, 3)


def test_pending_ingestions_are_the_open_ones_among_many_closed(ledger):
    """A receiver's history of finished ingestions hides none of its open intents,
    and a bag received again counts by its latest event."""
    ledger.begin_batch()  # one commit for the history, not one fsync per event
    for n in range(500):
        for outcome in ("pending", "success"):
            ledger.record_event("ingestion", outcome, bag_id=f"r{n}", detail={"bag_id": f"r{n}"})
    ledger.record_event("ingestion", "pending", bag_id="again", detail={"bag_id": "again", "n": 1})
    ledger.record_event("ingestion", "abandoned", bag_id="again", detail={"reconciled": True})
    ledger.record_event("ingestion", "pending", bag_id="open", detail={"bag_id": "open"})
    ledger.record_event("ingestion", "pending", bag_id="again", detail={"bag_id": "again", "n": 2})
    ledger.record_event("publication", "pending", bag_id="made", detail={"bag_id": "made"})
    ledger.record_event("ingestion", "pending", detail={"bag_id": None})  # about no bag
    ledger.commit_batch()
    # in the order the bags were first received, each with its latest intent
    assert ledger.pending_ingestions() == [{"bag_id": "again", "n": 2}, {"bag_id": "open"}]
    ledger.record_event("ingestion", "success", bag_id="again")
    ledger.record_event("ingestion", "quarantined", bag_id="open")
    assert ledger.pending_ingestions() == []
    assert ledger.open_intents() == {"made"}


def test_a_statement_that_fails_leaves_nothing_behind(ledger):
    with pytest.raises(Exception), ledger.transaction() as c:  # noqa: B017
        c.execute(
            "INSERT INTO events (time, bag_id, event_type, outcome, actor, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            ("t", "b", "e", "o", "a", "{}"),
        )
        c.execute("INSERT INTO no_such_table VALUES (1)")
    assert ledger.count_events() == 0


def test_leases_one_holder_at_a_time_until_done_or_expired(ledger):
    start = "2026-01-01T00:00:00.000000Z"
    assert ledger.claim("verify", "b1", "kyiv-1", round_start=start, ttl=60)
    assert not ledger.claim("verify", "b1", "berlin-1", round_start=start, ttl=60)
    ledger.finish("verify", "b1", "kyiv-1")
    # Done in this round: nobody takes it again until a later round begins.
    assert not ledger.claim("verify", "b1", "berlin-1", round_start=start, ttl=60)
    from strongroom.core.shared import precise_now

    assert ledger.claim("verify", "b1", "berlin-1", round_start=precise_now(), ttl=60)
    # An expired claim (its node died) is free for another node.
    assert ledger.claim("verify", "b2", "kyiv-1", round_start=start, ttl=-1)
    assert ledger.claim("verify", "b2", "berlin-1", round_start=start, ttl=60)


def test_holdings_and_nodes(ledger):
    ledger.record_holdings("kyiv-1", "UA", ["b1", "b2"])
    ledger.record_holdings("berlin-1", "DE", ["b2"])
    ledger.record_holdings("kyiv-1", "UA", ["b1"])  # b2 left this node
    nodes = ledger.nodes()
    assert {n: v["bags"] for n, v in nodes.items()} == {"berlin-1": 1, "kyiv-1": 1}
    assert ledger.holders("b2") == ["berlin-1"]


def test_schema_version_is_recorded(ledger):
    assert ledger.schema_version() == SCHEMA_VERSION


def _location(request, tmp_path, engine: str) -> LedgerLocation:
    """A fresh ledger's place on ``engine`` (the PostgreSQL one from the pg_url fixture)."""
    if engine == "sqlite":
        return LedgerLocation("sqlite", tmp_path / "ledger.sqlite")
    return LedgerLocation("postgresql", url=request.getfixturevalue("pg_url"))


def _as_version_3(led: Ledger) -> None:
    """Make ``led`` look as strongroom 3 left it: bags without designations, with a row."""
    with led.transaction() as c:
        c.execute("ALTER TABLE bags DROP COLUMN designations")
        c.execute(
            "INSERT INTO bags (bag_id, collection_id, capture_id, created, access, seeds)"
            " VALUES ('old', 'c', NULL, '2025-01-01T00:00:00Z', 'public', '[]')"
        )
        if led.dialect == "postgresql":
            c.execute("UPDATE strongroom_meta SET value = '3' WHERE key = 'schema_version'")
        else:
            c.execute("PRAGMA user_version=3")


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_version_3_ledger_is_brought_to_this_version_keeping_its_rows(request, tmp_path, engine):
    where = _location(request, tmp_path, engine)
    with Ledger(where, migrate=True) as led:
        _as_version_3(led)
    if engine == "postgresql":  # a shared ledger changes only by `strongroom ledger migrate`
        with pytest.raises(UsageError, match=r"at schema version 3.*ledger migrate"):
            Ledger(where)
        with Ledger(where, migrate=True) as led:
            assert led.migrated_from == 3
    with Ledger(where) as led:  # SQLite: on open, as for every earlier version
        assert led.schema_version() == SCHEMA_VERSION == 6
        assert led.migrate() == (6, 6)
        assert led.bag("old")["designations"] is None  # recorded before: read bag-info
        led.record_bag("new", collection_id="c", capture_id=None, created="t",
                       access="restricted", seeds=["u"], designations=["X (UA)"])  # fmt: skip
        assert led.bags()["new"]["designations"] == ["X (UA)"]
        assert led.bag("old")["collection_id"] == "c"


TABLES = ("payload_digests", "captures", "bags", "fixity_runs", "fixity_latest",
          "watch_results", "watch_latest", "copies", "events", "custody_heads", "holdings",
          "leases")  # fmt: skip


def _fill(led: Ledger) -> None:
    """A row in every table, as a year of use would leave them."""
    led.record_capture(
        "C1",
        collection_id="c",
        started="2025-01-01T00:00:00Z",
        ended="2025-01-01T00:05:00Z",
        seeds=["u"],
        stats={},
        status="complete",
    )
    led.record_bag(
        "b1",
        collection_id="c",
        capture_id="C1",
        created="2025-01-01T00:06:00Z",
        access="public",
        seeds=["u"],
        designations=[],
    )
    for day, mode in (("02", "full"), ("03", "fast")):
        led.record_fixity_run(
            "b1",
            started=f"2025-01-{day}T00:00:00Z",
            ended=f"2025-01-{day}T00:01:00Z",
            mode=mode,
            result="valid",
            files=1,
            nbytes=1,
            failures=[],
        )
    led.record_watch_results([_watch("u", "ok", "2025-01-04T00:00:00Z")])
    led.record_event("creation", "success", bag_id="b1", detail={"payload_oxum": "10.1"})
    led.record_copy("b1", partner="p", location="/x", jurisdiction="UA", status="ok")
    led.set_custody_head("b1", seq=1, hash="sha256:h", start=0, end=10)
    led.record_holdings("n1", "UA", ["b1"])
    led.claim("verify", "b1", "n1", round_start="2025-01-01T00:00:00.000000Z", ttl=60)
    led.index_payloads([("sha256:A", "u", "2025-01-01T00:00:00Z", "<urn:uuid:1>", "C1", "w")])


def _as_version_5(led: Ledger) -> None:
    """Make ``led`` look as strongroom 5 left it: no per-bag creation summary, and no
    trigger keeping one."""
    with led.transaction() as c:
        if led.dialect == "sqlite":
            c.execute("DROP TRIGGER bag_creation_ins")
            c.execute("PRAGMA user_version=5")
        else:
            c.execute("DROP TRIGGER bag_creation_ins ON events")
            c.execute("DROP FUNCTION strongroom_bag_creation_ins()")
            c.execute("UPDATE strongroom_meta SET value = '5' WHERE key = 'schema_version'")
        c.execute("DROP TABLE bag_creation")


def _as_version_4(led: Ledger) -> None:
    """Make ``led`` look as strongroom 4 left it: no run start and mode in the fixity
    summary, no HTTP status in the watch summary, no (event type, bag) index, and
    version 4's triggers."""
    from strongroom.core import schema

    _as_version_5(led)

    def v4(script: str) -> str:
        for new, old in [("started = NEW.started, mode = NEW.mode, ", ""),
                         ("http_status = NEW.http_status,", ""), (", http_status)", ")"),
                         (", NEW.http_status)", ")")]:  # fmt: skip
            script = script.replace(new, old)
        return script

    with led.transaction() as c:
        if led.dialect == "sqlite":
            c.execute("DROP TRIGGER fixity_latest_ins")
            c.execute("DROP TRIGGER watch_latest_ins")
        c.execute("DROP INDEX events_type_bag")
        for table, column in [("fixity_latest", "started"), ("fixity_latest", "mode"),
                              ("watch_latest", "http_status")]:  # fmt: skip
            c.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        if led.dialect == "sqlite":
            for body in v4(schema.SQLITE_TRIGGERS).split("END;")[:2]:
                c.execute(body.split("IF EXISTS", 1)[1].split(";", 1)[1] + "END")
            c.execute("PRAGMA user_version=4")
        else:
            c.executescript(v4(schema.POSTGRES_TRIGGERS))
            c.execute("UPDATE strongroom_meta SET value = '4' WHERE key = 'schema_version'")


def _counts(led: Ledger) -> dict[str, int]:
    return {t: int(led.query(f"SELECT COUNT(*) FROM {t}")[0][0]) for t in TABLES}


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_version_4_ledger_is_brought_to_this_version_keeping_every_row(request, tmp_path, engine):
    where = _location(request, tmp_path, engine)
    with Ledger(where, migrate=True) as led:
        _fill(led)
        before = _counts(led)
        _as_version_4(led)
    with Ledger(where, migrate=True) as led:  # SQLite upgrades on open; PostgreSQL by migrate
        assert led.migrated_from == 4 and led.schema_version() == SCHEMA_VERSION
        assert _counts(led) == before and all(before.values())
        [facts] = led.bag_facts().values()  # the latest run's start and mode, filled in
        assert (facts.fixity_started, facts.fixity_mode) == ("2025-01-03T00:00:00Z", "fast")
        assert (facts.crawl_start, facts.payload) == ("2025-01-01T00:00:00Z", (10, 1))
        assert facts.runs == 2
        led.record_fixity_run("b1", started="2025-02-01T00:00:00Z",
                              ended="2025-02-01T00:01:00Z", mode="deep", result="invalid",
                              files=1, nbytes=1, failures=["x"])  # fmt: skip
        facts = led.bag_facts()["b1"]  # and this version's trigger keeps them
        assert (facts.fixity, facts.fixity_started, facts.fixity_mode) == (
            "invalid", "2025-02-01T00:00:00Z", "deep")  # fmt: skip
        assert facts.last_good == "2025-01-02T00:00:00Z" and facts.runs == 3
        assert led.watch_latest()["u"].http_status == 200  # filled in from the watch rows
        led.record_watch_results([_watch("u", "gone", "2025-02-02T00:00:00Z")])
        assert led.latest_watch_rows()["u"] == {
            "status": "gone", "checked_at": "2025-02-02T00:00:00Z", "http_status": 200}  # fmt: skip


def _creation(led: Ledger, bag_id: str, detail: str) -> None:
    """A creation event with ``detail`` as it stands (not necessarily JSON)."""
    with led.transaction() as c:
        c.execute(
            "INSERT INTO events (time, bag_id, event_type, outcome, actor, detail)"
            " VALUES ('2025-03-01T00:00:00Z', ?, 'creation', 'success', 'op', ?)",
            (bag_id, detail),
        )


def _creation_rows(led: Ledger) -> dict[str, tuple]:
    rows = led.query("SELECT bag_id, payload_oxum, signed, alone FROM bag_creation")
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_version_5_ledger_is_brought_to_version_6_keeping_every_row(request, tmp_path, engine):
    where = _location(request, tmp_path, engine)
    with Ledger(where, migrate=True) as led:
        _fill(led)
        led.record_bag("b2", collection_id="c", capture_id=None, created="2025-01-01T00:00:00Z",
                       access="public", seeds=["v"], designations=[])  # fmt: skip
        # b1 bagged again (its latest creation event counts); b2's detail is not JSON
        again = {"payload_oxum": "20.2", "signed": True, "depends_on": []}
        led.record_event("creation", "success", bag_id="b1", detail=again)
        _creation(led, "b2", "{not json")
        before = _counts(led)
        _as_version_5(led)
    with Ledger(where, migrate=True) as led:  # SQLite upgrades on open; PostgreSQL by migrate
        assert led.migrated_from == 5 and led.schema_version() == SCHEMA_VERSION == 6
        assert _counts(led) == before and all(before.values())
        # filled from the history: each bag's latest creation event, a bad detail says nothing
        assert _creation_rows(led) == {"b1": ("20.2", 1, 1), "b2": (None, None, None)}
        facts = led.bag_facts()
        assert (facts["b1"].payload, facts["b1"].signed, facts["b1"].alone) == ((20, 2), True, True)
        assert (facts["b2"].payload, facts["b2"].signed, facts["b2"].alone) == (None, None, False)
        # and this version's trigger keeps it: a new event, a malformed one, a wrong type
        newer = {"payload_oxum": 7, "signed": False, "depends_on": ["b0"]}
        led.record_event("creation", "success", bag_id="b1", detail=newer)
        _creation(led, "b2", '{"payload_oxum": "3.1", "signed": "yes", "depends_on": []}')
        assert _creation_rows(led) == {"b1": (None, 0, 0), "b2": ("3.1", None, 1)}
        _creation(led, "b1", "not json either")  # refused by neither engine's trigger
        assert _creation_rows(led)["b1"] == (None, None, None)
        assert _counts(led)["events"] == before["events"] + 3


def test_an_unmigrated_postgresql_ledger_asks_for_ledger_migrate(pg_url):
    with pytest.raises(UsageError, match="strongroom ledger migrate") as exc:
        Ledger(LedgerLocation("postgresql", url=pg_url))
    assert exc.value.exit_code == 2
    with Ledger(LedgerLocation("postgresql", url=pg_url), migrate=True) as led:
        assert led.schema_version() == SCHEMA_VERSION


def test_a_newer_postgresql_ledger_is_refused(pg_url):
    with (
        Ledger(LedgerLocation("postgresql", url=pg_url), migrate=True) as led,
        led.transaction() as c,
    ):
        c.execute("UPDATE strongroom_meta SET value = ? WHERE key = 'schema_version'",
                  (str(SCHEMA_VERSION + 1),))  # fmt: skip
    with pytest.raises(UsageError, match="newer than this strongroom"):
        Ledger(LedgerLocation("postgresql", url=pg_url))


@pytest.mark.parametrize(
    "url, why",
    [
        ("postgresql://u:secret@127.0.0.1/db", "must not hold a password"),
        ("mysql://127.0.0.1/db", "expected a postgresql://"),
        ("postgresql://127.0.0.1/", "needs a host and a database"),
        ("postgresql://127.0.0.1:99999/db", "not a usable ledger URL"),
        ("postgresql://127.0.0.1/db;drop", "not a plain name"),
    ],
)
def test_hostile_ledger_urls_are_refused_without_echoing_secrets(url, why):
    with pytest.raises(UsageError, match=why) as exc:
        parse_ledger_url(url, "config.toml: [ledger] url")
    assert "secret" not in exc.value.message


def test_printed_urls_never_carry_a_password():
    assert redact("postgresql://u:pw@h:5432/db") == "postgresql://u@h:5432/db"


def test_query_results_read_by_name_and_position(ledger):
    ledger.record_bag("b", collection_id="c", capture_id=None, created="t", access="public",
                      seeds=[])  # fmt: skip
    [row] = ledger.query("SELECT bag_id, access FROM bags")
    assert (row[0], row["access"]) == ("b", "public")
    assert dict(row) == {"bag_id": "b", "access": "public"}


def test_a_batch_commits_all_its_writes_or_none(ledger):
    ledger.begin_batch()
    for i in range(3):
        ledger.record_event("fixity check", "valid", bag_id=f"b{i}")
    assert ledger.count_events() == 3  # the batch's own connection sees them
    ledger.commit_batch()
    ledger.begin_batch()
    ledger.record_event("fixity check", "valid", bag_id="lost")
    ledger.close()  # closed without its commit (a crash): the batch is dropped
    with Ledger(ledger.location, migrate=True) as again:
        assert again.count_events() == 3
