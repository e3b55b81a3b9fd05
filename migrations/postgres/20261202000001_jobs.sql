-- The job queue (src/store/sql_queue.rs): one row per background job, the workers that run
-- them, and the byte chunks of an import's input and an export's result. Times are
-- milliseconds since the Unix epoch, given by the process that made the call.
--
-- `id` is a UUIDv7 in its hyphenated lowercase text: in byte order (COLLATE "C") it sorts by
-- creation time, so "oldest first" (claim) and "newest first" (listings, with the last id of a
-- page as the cursor) are plain comparisons of the primary key.
--
-- `params` and `result` are JSON that tally writes and reads whole (serde_json's text), never
-- queried inside, so they are TEXT: the statements stay the same as SQLite's and the values
-- come back as they were written.
CREATE TABLE jobs (
    id               TEXT COLLATE "C" PRIMARY KEY,
    kind             TEXT NOT NULL
                     CHECK (kind IN ('export', 'import', 'copy', 'maintenance')),
    status           TEXT NOT NULL
                     CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    params           TEXT NOT NULL,
    progress_done    BIGINT NOT NULL CHECK (progress_done >= 0),
    -- NULL until the job has counted its work.
    progress_total   BIGINT CHECK (progress_total >= 0),
    progress_message TEXT NOT NULL,
    -- BIGINT: both are u32 in tally, more than INTEGER holds.
    attempts         BIGINT NOT NULL CHECK (attempts >= 0),
    max_attempts     BIGINT NOT NULL CHECK (max_attempts >= 1),
    error            TEXT,
    result           TEXT,
    -- The holder (`host:pid`), its lease token and how long the lease lasts: all set while
    -- running, all NULL otherwise.
    worker           TEXT,
    lease_token      TEXT,
    lease_until      BIGINT,
    -- A queued job is not claimed before this time (a retry's backoff).
    run_after        BIGINT NOT NULL,
    cancel_requested BOOLEAN NOT NULL,
    checkpoint       TEXT,
    -- Jobs with one key are one job (the periodic maintenance); NULLs never clash.
    unique_key       TEXT UNIQUE,
    created_at       BIGINT NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT,
    updated_at       BIGINT NOT NULL
);

-- A claim reads exactly the claimable rows through these two ranges (a BitmapOr): queued jobs
-- whose backoff is over and running jobs whose lease ran out (the latter also settle_expired's).
CREATE INDEX jobs_queued_run_after ON jobs (status, run_after);
CREATE INDEX jobs_running_lease_until ON jobs (status, lease_until);
-- Listings with a status filter, newest first, paged on the id.
CREATE INDEX jobs_status_id ON jobs (status, id);

CREATE TABLE job_workers (
    -- `host:pid`; byte order, so that the list is in the order the memory queue gives.
    name        TEXT COLLATE "C" PRIMARY KEY,
    concurrency BIGINT NOT NULL CHECK (concurrency >= 0),
    started_at  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL
);

-- No foreign key to `jobs`: an import's input is uploaded before its job is queued, so its
-- chunks exist before the job's row. `purge` deletes a job's chunks with the job.
CREATE TABLE job_chunks (
    -- The collation of `jobs.id`, so that the two compare (in `purge`) without a conflict.
    job_id TEXT COLLATE "C" NOT NULL,
    -- `input`, or `result-<lease token>` for one export attempt.
    part   TEXT NOT NULL,
    seq    BIGINT NOT NULL CHECK (seq >= 0),
    data   BYTEA NOT NULL,
    PRIMARY KEY (job_id, part, seq)
);
