-- SQLite twin of migrations/postgres: the same columns and the same move of old rows (valid
-- names to the namespace `default`, the others left in `legacy_counters`), SQLite types.
-- BINARY, SQLite's default collation, is already byte order; WITHOUT ROWID keeps the rows in
-- primary-key order, so keyset paging reads them in place. SQLite has no regular expressions:
-- the name rule is a length and a GLOB that finds any character outside the set.
ALTER TABLE counters RENAME TO legacy_counters;

CREATE TABLE counters (
    namespace         TEXT NOT NULL
                      CHECK (length(namespace) BETWEEN 3 AND 64
                             AND namespace NOT GLOB '*[^A-Za-z0-9_.-]*'),
    key               TEXT NOT NULL
                      CHECK (length(key) BETWEEN 3 AND 64 AND key NOT GLOB '*[^A-Za-z0-9_.-]*'),
    value             INTEGER NOT NULL CHECK (value >= 0),
    -- Milliseconds since the Unix epoch.
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    -- SHA-256 of the owner's token; NULL for a counter made by its first hit.
    owner_hash        BLOB CHECK (length(owner_hash) = 32),
    enable_reset      INTEGER NOT NULL CHECK (enable_reset IN (0, 1)),
    update_lowerbound INTEGER NOT NULL,
    update_upperbound INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
) STRICT, WITHOUT ROWID;

-- The old `updated_at` is CURRENT_TIMESTAMP text: UTC, whole seconds.
INSERT INTO counters (namespace, key, value, created_at, updated_at, owner_hash,
                      enable_reset, update_lowerbound, update_upperbound)
SELECT 'default', name, value, at, at, NULL, 0, 0, 1
FROM (SELECT name, value,
             COALESCE(CAST(strftime('%s', updated_at) AS INTEGER),
                      CAST(strftime('%s', 'now') AS INTEGER)) * 1000 AS at
      FROM legacy_counters
      WHERE length(name) BETWEEN 3 AND 64 AND name NOT GLOB '*[^A-Za-z0-9_.-]*') AS valid;

DELETE FROM legacy_counters
WHERE length(name) BETWEEN 3 AND 64 AND name NOT GLOB '*[^A-Za-z0-9_.-]*';
