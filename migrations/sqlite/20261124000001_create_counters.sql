-- SQLite twin of migrations/postgres: same table, SQLite types.
CREATE TABLE IF NOT EXISTS counters (
    name       TEXT PRIMARY KEY NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    value      INTEGER NOT NULL DEFAULT 0 CHECK (value >= 0),
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
) STRICT;
