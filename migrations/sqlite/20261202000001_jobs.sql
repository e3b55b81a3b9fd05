-- SQLite twin of migrations/postgres: the same tables, columns, checks and indexes in SQLite
-- types, so that src/store/sql_queue.rs runs the same statements on both. BINARY, SQLite's
-- default collation, is byte order, in which UUIDv7 ids sort by creation time. Booleans are
-- INTEGER 0 or 1. The tables keep their rowid: job rows hold free text and chunks up to 1 MiB,
-- which WITHOUT ROWID tables store poorly.
CREATE TABLE jobs (
    id               TEXT NOT NULL PRIMARY KEY,
    kind             TEXT NOT NULL
                     CHECK (kind IN ('export', 'import', 'copy', 'maintenance')),
    status           TEXT NOT NULL
                     CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    params           TEXT NOT NULL,
    progress_done    INTEGER NOT NULL CHECK (progress_done >= 0),
    progress_total   INTEGER CHECK (progress_total >= 0),
    progress_message TEXT NOT NULL,
    attempts         INTEGER NOT NULL CHECK (attempts >= 0),
    max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
    error            TEXT,
    result           TEXT,
    worker           TEXT,
    lease_token      TEXT,
    lease_until      INTEGER,
    run_after        INTEGER NOT NULL,
    cancel_requested INTEGER NOT NULL CHECK (cancel_requested IN (0, 1)),
    checkpoint       TEXT,
    unique_key       TEXT UNIQUE,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    updated_at       INTEGER NOT NULL
) STRICT;

-- A claim's two kinds of candidates (SQLite's OR optimization reads each through its index),
-- and the listings with a status filter.
CREATE INDEX jobs_queued_run_after ON jobs (status, run_after);
CREATE INDEX jobs_running_lease_until ON jobs (status, lease_until);
CREATE INDEX jobs_status_id ON jobs (status, id);

CREATE TABLE job_workers (
    name        TEXT NOT NULL PRIMARY KEY,
    concurrency INTEGER NOT NULL CHECK (concurrency >= 0),
    started_at  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL
) STRICT;

-- No foreign key to `jobs`: an import's input is uploaded before its job is queued.
CREATE TABLE job_chunks (
    job_id TEXT NOT NULL,
    part   TEXT NOT NULL,
    seq    INTEGER NOT NULL CHECK (seq >= 0),
    data   BLOB NOT NULL,
    PRIMARY KEY (job_id, part, seq)
) STRICT;
