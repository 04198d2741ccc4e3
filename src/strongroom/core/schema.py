"""The ledger's schema, written once and rendered for SQLite or PostgreSQL.

Tables and indices are written in SQLite's words; ``render`` maps the three
column types that differ (an auto-numbered id, 64-bit integers, floats). The
triggers that keep the per-bag and per-URL summaries differ more (SQLite runs a
statement list, PostgreSQL a PL/pgSQL function), so each is written for both;
their bodies are the same two statements.
"""

from __future__ import annotations

SCHEMA_VERSION = 6

TABLES = """
CREATE TABLE IF NOT EXISTS payload_digests (
    digest        TEXT PRIMARY KEY,          -- 'sha256:<base32>' as in WARC-Payload-Digest
    target_uri    TEXT NOT NULL,
    warc_date     TEXT NOT NULL,
    record_id     TEXT NOT NULL,             -- '<urn:uuid:...>'
    capture_id    TEXT NOT NULL,
    warc_file     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS captures (
    capture_id    TEXT PRIMARY KEY,
    collection_id TEXT NOT NULL,
    started       TEXT NOT NULL,
    ended         TEXT,
    seeds         TEXT NOT NULL,             -- JSON list of seed URLs
    fetched       INTEGER NOT NULL DEFAULT 0,
    failed        INTEGER NOT NULL DEFAULT 0,
    deduplicated  INTEGER NOT NULL DEFAULT 0,
    bytes         INTEGER NOT NULL DEFAULT 0,
    status        TEXT NOT NULL              -- complete | interrupted
);
CREATE TABLE IF NOT EXISTS bags (
    bag_id        TEXT PRIMARY KEY,
    collection_id TEXT NOT NULL,
    capture_id    TEXT,
    created       TEXT NOT NULL,
    access        TEXT NOT NULL,
    seeds         TEXT NOT NULL,             -- JSON list of seed URLs
    is_version_of TEXT,
    origin        TEXT NOT NULL DEFAULT 'local', -- local | received:<partner>
    designations  TEXT                       -- v4: JSON list of labels frozen in bag-info
);
CREATE TABLE IF NOT EXISTS fixity_runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    bag_id        TEXT NOT NULL,
    started       TEXT NOT NULL,
    ended         TEXT NOT NULL,
    mode          TEXT NOT NULL,             -- fast | full | deep
    result        TEXT NOT NULL,             -- valid | invalid | error
    files         INTEGER NOT NULL,
    bytes         INTEGER NOT NULL,
    failures      TEXT NOT NULL              -- JSON list of problem strings
);
CREATE INDEX IF NOT EXISTS fixity_runs_bag ON fixity_runs (bag_id, started);
CREATE INDEX IF NOT EXISTS fixity_runs_bag_id ON fixity_runs (bag_id, id);
-- The latest run of each bag, and the start of its latest good full/deep check,
-- kept by a trigger so that status, the report and ``verify --due`` read one row
-- per bag however long the history grows.
CREATE TABLE IF NOT EXISTS fixity_latest (
    bag_id        TEXT PRIMARY KEY,
    run_id        INTEGER NOT NULL,
    result        TEXT NOT NULL,
    ended         TEXT NOT NULL,
    last_good     TEXT,                      -- MAX(started) of valid full/deep runs
    runs          INTEGER NOT NULL DEFAULT 0,
    started       TEXT,                      -- v5: the latest run's start and mode
    mode          TEXT
);
CREATE TABLE IF NOT EXISTS watch_results (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    url           TEXT NOT NULL,
    collection_id TEXT,
    bag_id        TEXT,
    status        TEXT NOT NULL,
    previous_status TEXT,
    http_status   INTEGER,
    final_url     TEXT,
    similarity    REAL,
    vantage       TEXT NOT NULL,
    evidence      TEXT NOT NULL,             -- JSON
    checked_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS watch_results_url ON watch_results (url, checked_at);
CREATE INDEX IF NOT EXISTS watch_results_status ON watch_results (status, checked_at);
-- The latest watch row of each URL and since when its status holds, kept by a trigger.
CREATE TABLE IF NOT EXISTS watch_latest (
    url           TEXT PRIMARY KEY,
    result_id     INTEGER NOT NULL,
    status        TEXT NOT NULL,
    since         TEXT NOT NULL,
    checked_at    TEXT NOT NULL,
    http_status   INTEGER                    -- v5: the latest row's HTTP status
);
CREATE TABLE IF NOT EXISTS copies (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    bag_id        TEXT NOT NULL,
    partner       TEXT NOT NULL,
    location      TEXT NOT NULL,
    jurisdiction  TEXT NOT NULL,
    verified_at   TEXT NOT NULL,
    status        TEXT NOT NULL,             -- ok | damaged | missing
    UNIQUE (bag_id, partner)
);
CREATE TABLE IF NOT EXISTS events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    time          TEXT NOT NULL,
    bag_id        TEXT,
    event_type    TEXT NOT NULL,             -- PREMIS event type, e.g. 'fixity check'
    outcome       TEXT NOT NULL,
    actor         TEXT NOT NULL,
    detail        TEXT NOT NULL              -- JSON
);
CREATE INDEX IF NOT EXISTS events_bag ON events (bag_id, time);
CREATE INDEX IF NOT EXISTS events_type ON events (event_type, id);
-- v5: the latest event of a type per bag (creation, timestamp, publication) read
-- from the index alone, without a visit to each event's row.
CREATE INDEX IF NOT EXISTS events_type_bag ON events (event_type, bag_id, id);
-- v6: what each bag's latest creation event says (kept by a trigger, filled from the
-- history once), so that status and the report read one small row per bag instead of
-- visiting each bag's event in the history and parsing its detail. NULL: not said.
CREATE TABLE IF NOT EXISTS bag_creation (
    bag_id        TEXT PRIMARY KEY,
    event_id      INTEGER NOT NULL,
    payload_oxum  TEXT,                      -- its Payload-Oxum, when a JSON string
    signed        INTEGER,                   -- 1 signed, 0 not (JSON true/false)
    alone         INTEGER                    -- 1: depends_on is [] (on no other bag)
);
-- The head of each bag's custody log, anchored outside the log: its last entry
-- (sequence number, line hash, byte span) and the last entry whose signature a
-- verify checked. Truncation, deletion and replacement of a log show against it.
CREATE TABLE IF NOT EXISTS custody_heads (
    bag_id        TEXT PRIMARY KEY,
    seq           INTEGER NOT NULL,
    hash          TEXT NOT NULL,             -- 'sha256:<hex>' of the last line's bytes
    start         INTEGER NOT NULL,          -- byte offset of the last line
    "end"         INTEGER NOT NULL,          -- byte offset just after it (the log's size)
    verified_seq  INTEGER NOT NULL DEFAULT 0,
    verified_hash TEXT,
    verified_start INTEGER NOT NULL DEFAULT 0,
    verified_end  INTEGER NOT NULL DEFAULT 0,
    updated       TEXT NOT NULL
);
-- Version 3: nodes and shared rounds. Which node holds (can reach) which bag,
-- and the leases by which nodes share nightly work (kind: verify | watch |
-- timestamp; item: a bag id or a URL). A lease past ``expires`` and not
-- ``done_at`` belonged to a node that died: another node may take it.
CREATE TABLE IF NOT EXISTS holdings (
    bag_id        TEXT NOT NULL,
    node          TEXT NOT NULL,
    jurisdiction  TEXT NOT NULL DEFAULT '',
    since         TEXT NOT NULL,
    seen          TEXT NOT NULL,
    PRIMARY KEY (bag_id, node)
);
CREATE TABLE IF NOT EXISTS leases (
    kind          TEXT NOT NULL,
    item          TEXT NOT NULL,
    node          TEXT NOT NULL DEFAULT '',
    claimed_at    TEXT NOT NULL DEFAULT '',
    expires       TEXT NOT NULL DEFAULT '',
    done_at       TEXT,
    PRIMARY KEY (kind, item)
);
"""

# Version 6: what the latest creation event of each bag says, in its own row
# (bag_creation), filled from the history once. The same three values as the
# trigger takes from a new event's detail: a detail that is not valid JSON says
# nothing (NULLs), and neither does a value of the wrong JSON type.
SQLITE_CREATION = (
    "CASE WHEN json_valid({d}) THEN CASE WHEN json_type({d}, '$.payload_oxum') = 'text'"
    " THEN json_extract({d}, '$.payload_oxum') END END,"
    " CASE WHEN json_valid({d}) THEN CASE json_type({d}, '$.signed')"
    " WHEN 'true' THEN 1 WHEN 'false' THEN 0 END END,"
    " CASE WHEN json_valid({d}) THEN json_extract({d}, '$.depends_on') = '[]' END"
)
POSTGRES_CREATION = (
    "CASE WHEN jsonb_typeof({d} -> 'payload_oxum') = 'string' THEN {d} ->> 'payload_oxum' END,"
    " CASE WHEN jsonb_typeof({d} -> 'signed') = 'boolean'"
    " THEN ({d} ->> 'signed')::boolean::int END,"
    " (({d} -> 'depends_on') = '[]'::jsonb)::int"
)
# SQLite cannot replace a trigger: each is dropped and made again, so that a
# ledger of an older version gets this version's body.
SQLITE_TRIGGERS = (
    """
DROP TRIGGER IF EXISTS fixity_latest_ins;
CREATE TRIGGER fixity_latest_ins AFTER INSERT ON fixity_runs BEGIN
    INSERT OR IGNORE INTO fixity_latest (bag_id, run_id, result, ended, last_good, runs)
        VALUES (NEW.bag_id, NEW.id, NEW.result, NEW.ended, NULL, 0);
    UPDATE fixity_latest SET run_id = NEW.id, result = NEW.result, ended = NEW.ended,
        started = NEW.started, mode = NEW.mode, runs = runs + 1,
        last_good = CASE WHEN NEW.result = 'valid' AND NEW.mode IN ('full', 'deep')
                          AND (last_good IS NULL OR NEW.started > last_good)
                         THEN NEW.started ELSE last_good END
        WHERE bag_id = NEW.bag_id;
END;
DROP TRIGGER IF EXISTS watch_latest_ins;
CREATE TRIGGER watch_latest_ins AFTER INSERT ON watch_results BEGIN
    INSERT OR IGNORE INTO watch_latest (url, result_id, status, since, checked_at, http_status)
        VALUES (NEW.url, NEW.id, NEW.status, NEW.checked_at, NEW.checked_at, NEW.http_status);
    UPDATE watch_latest SET
        since = CASE WHEN status = NEW.status THEN since ELSE NEW.checked_at END,
        http_status = NEW.http_status,
        result_id = NEW.id, status = NEW.status, checked_at = NEW.checked_at
        WHERE url = NEW.url AND result_id != NEW.id;
END;
DROP TRIGGER IF EXISTS bag_creation_ins;
CREATE TRIGGER bag_creation_ins AFTER INSERT ON events
WHEN NEW.event_type = 'creation' AND NEW.bag_id IS NOT NULL BEGIN
    INSERT OR REPLACE INTO bag_creation (bag_id, event_id, payload_oxum, signed, alone)
        VALUES (NEW.bag_id, NEW.id, """
    + SQLITE_CREATION.format(d="NEW.detail")
    + """);
END;
"""
)

POSTGRES_TRIGGERS = (
    """
CREATE OR REPLACE FUNCTION strongroom_fixity_latest_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO fixity_latest (bag_id, run_id, result, ended, last_good, runs)
        VALUES (NEW.bag_id, NEW.id, NEW.result, NEW.ended, NULL, 0) ON CONFLICT DO NOTHING;
    UPDATE fixity_latest SET run_id = NEW.id, result = NEW.result, ended = NEW.ended,
        started = NEW.started, mode = NEW.mode, runs = runs + 1,
        last_good = CASE WHEN NEW.result = 'valid' AND NEW.mode IN ('full', 'deep')
                          AND (last_good IS NULL OR NEW.started > last_good)
                         THEN NEW.started ELSE last_good END
        WHERE bag_id = NEW.bag_id;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS fixity_latest_ins ON fixity_runs;
CREATE TRIGGER fixity_latest_ins AFTER INSERT ON fixity_runs
    FOR EACH ROW EXECUTE FUNCTION strongroom_fixity_latest_ins();
CREATE OR REPLACE FUNCTION strongroom_watch_latest_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO watch_latest (url, result_id, status, since, checked_at, http_status)
        VALUES (NEW.url, NEW.id, NEW.status, NEW.checked_at, NEW.checked_at, NEW.http_status)
        ON CONFLICT DO NOTHING;
    UPDATE watch_latest SET
        since = CASE WHEN status = NEW.status THEN since ELSE NEW.checked_at END,
        http_status = NEW.http_status,
        result_id = NEW.id, status = NEW.status, checked_at = NEW.checked_at
        WHERE url = NEW.url AND result_id != NEW.id;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS watch_latest_ins ON watch_results;
CREATE TRIGGER watch_latest_ins AFTER INSERT ON watch_results
    FOR EACH ROW EXECUTE FUNCTION strongroom_watch_latest_ins();
CREATE OR REPLACE FUNCTION strongroom_jsonb(t TEXT) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN t::jsonb;
EXCEPTION WHEN others THEN
    RETURN NULL;  -- a detail that is not JSON says nothing (and must not fail its insert)
END $$;
CREATE OR REPLACE FUNCTION strongroom_bag_creation_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bag_creation (bag_id, event_id, payload_oxum, signed, alone)
        VALUES (NEW.bag_id, NEW.id, """
    + POSTGRES_CREATION.format(d="strongroom_jsonb(NEW.detail)")
    + """)
        ON CONFLICT (bag_id) DO UPDATE SET event_id = excluded.event_id,
            payload_oxum = excluded.payload_oxum, signed = excluded.signed,
            alone = excluded.alone;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS bag_creation_ins ON events;
CREATE TRIGGER bag_creation_ins AFTER INSERT ON events
    FOR EACH ROW WHEN (NEW.event_type = 'creation' AND NEW.bag_id IS NOT NULL)
    EXECUTE FUNCTION strongroom_bag_creation_ins();
"""
)

# Where PostgreSQL keeps the schema version (SQLite uses PRAGMA user_version).
POSTGRES_META = """
CREATE TABLE IF NOT EXISTS strongroom_meta (
    key           TEXT PRIMARY KEY,
    value         TEXT NOT NULL
);
"""
# Run once when a version-1 ledger is upgraded: fill the per-bag and per-URL
# summaries from the history written before the triggers existed.
MIGRATE_1_2 = """
INSERT OR REPLACE INTO fixity_latest (bag_id, run_id, result, ended, last_good, runs)
SELECT f.bag_id, f.id, f.result, f.ended,
       (SELECT MAX(g.started) FROM fixity_runs g WHERE g.bag_id = f.bag_id
        AND g.result = 'valid' AND g.mode IN ('full', 'deep')),
       (SELECT COUNT(*) FROM fixity_runs g WHERE g.bag_id = f.bag_id)
FROM fixity_runs f JOIN (SELECT bag_id, MAX(id) AS id FROM fixity_runs GROUP BY bag_id) m
  ON f.id = m.id;
INSERT OR REPLACE INTO watch_latest (url, result_id, status, since, checked_at)
SELECT w.url, w.id, w.status,
       COALESCE((SELECT MIN(x.checked_at) FROM watch_results x WHERE x.url = w.url
                 AND x.id > COALESCE((SELECT MAX(y.id) FROM watch_results y
                                      WHERE y.url = w.url AND y.status != w.status), 0)),
                w.checked_at),
       w.checked_at
FROM watch_results w JOIN (SELECT url, MAX(id) AS id FROM watch_results GROUP BY url) m
  ON w.id = m.id;
"""

# Version 4: designations join the bag's row, so that status and the report
# read no bag-info (NULL, for a bag recorded before: read its bag-info).
# Version 5: the latest fixity run's start and mode join its summary row, and
# the latest watch row's HTTP status joins the URL's, so that the report reads
# no history row per bag or URL; filled from the history once.
# SQLite has no ADD COLUMN IF NOT EXISTS, so the ledger adds a column only when
# it is missing (a table made at this version already has it).
ADDED_COLUMNS = (
    ("bags", "designations", "TEXT"),
    ("fixity_latest", "started", "TEXT"),
    ("fixity_latest", "mode", "TEXT"),
    ("watch_latest", "http_status", "INTEGER"),
)
MIGRATE_4_5 = """
UPDATE fixity_latest SET
    started = (SELECT r.started FROM fixity_runs r WHERE r.id = fixity_latest.run_id),
    mode = (SELECT r.mode FROM fixity_runs r WHERE r.id = fixity_latest.run_id)
WHERE started IS NULL;
UPDATE watch_latest SET
    http_status = (SELECT w.http_status FROM watch_results w WHERE w.id = watch_latest.result_id)
WHERE http_status IS NULL;
"""

_LATEST_CREATIONS = (
    "WHERE id IN (SELECT MAX(id) FROM events"
    " WHERE event_type = 'creation' AND bag_id IS NOT NULL GROUP BY bag_id)"
)
MIGRATE_5_6 = {
    "sqlite": "INSERT OR REPLACE INTO bag_creation (bag_id, event_id, payload_oxum, signed, alone)"
    f" SELECT bag_id, id, {SQLITE_CREATION.format(d='detail')} FROM events {_LATEST_CREATIONS};\n",
    "postgresql": "INSERT INTO bag_creation (bag_id, event_id, payload_oxum, signed, alone)"
    " SELECT bag_id, id, "
    + POSTGRES_CREATION.format(d="d")
    + f" FROM (SELECT bag_id, id, strongroom_jsonb(detail) AS d FROM events {_LATEST_CREATIONS}) e"
    " WHERE true ON CONFLICT (bag_id) DO UPDATE SET event_id = excluded.event_id,"
    " payload_oxum = excluded.payload_oxum, signed = excluded.signed, alone = excluded.alone;\n",
}


_POSTGRES_TYPES = (
    ("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    ("INTEGER", "BIGINT"),  # sizes in bytes pass 2**31
    ("REAL", "DOUBLE PRECISION"),  # SQLite's REAL is 8 bytes; PostgreSQL's is 4
)


def _tables(dialect: str) -> str:
    if dialect == "sqlite":
        return TABLES
    tables = TABLES
    for sqlite_type, pg_type in _POSTGRES_TYPES:
        tables = tables.replace(sqlite_type, pg_type)
    return POSTGRES_META + tables


def render(dialect: str) -> str:
    """The whole schema (tables, indices, triggers) for ``sqlite`` or ``postgresql``."""
    return _tables(dialect) + (SQLITE_TRIGGERS if dialect == "sqlite" else POSTGRES_TRIGGERS)


def upgrade(dialect: str, before: int, columns: dict[str, set[str]]) -> str:
    """The script that brings a ledger at version ``before`` to ``SCHEMA_VERSION``.

    ``columns``: table -> the columns it has now (SQLite; a table missing from it
    is made by this script, with every column). Every step is idempotent, so the
    script is also right for a new ledger. Columns are added before the
    triggers that write them are made.
    """
    script = _tables(dialect)
    for table, column, kind in ADDED_COLUMNS:
        if dialect == "postgresql":
            script += f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind};\n"
        elif columns.get(table) and column not in columns[table]:
            script += f"ALTER TABLE {table} ADD COLUMN {column} {kind};\n"
    script += SQLITE_TRIGGERS if dialect == "sqlite" else POSTGRES_TRIGGERS
    if before == 1:
        script += MIGRATE_1_2
    if 0 < before < 5:
        script += MIGRATE_4_5
    if 0 < before < 6:
        script += MIGRATE_5_6[dialect]
    return script
