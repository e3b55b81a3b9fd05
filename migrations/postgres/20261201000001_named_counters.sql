-- Named counters: a counter is a namespace and a key (each `^[A-Za-z0-9_.-]{3,64}$`, the rule
-- of src/store/name.rs), with its owner's token hash and CountAPI's update rules. Times are
-- milliseconds since the Unix epoch, written by tally, so that they round-trip exactly.
--
-- The old one-column table becomes `legacy_counters`. Every row whose name is a valid key
-- (`visitor_count`, `tick_count`) moves to the namespace `default` under that key, with its
-- value and its last update as both times, no owner and the rules of a counter made by its
-- first hit. A name the new rule refuses (`page:home`, `ab`) cannot be addressed any more; its
-- row stays in `legacy_counters`, which nothing reads, for an operator to rename or drop.
-- Its constraints are renamed with it, so that the new table's get the names they would have
-- had in a fresh database.
ALTER TABLE counters RENAME TO legacy_counters;
ALTER TABLE legacy_counters RENAME CONSTRAINT counters_pkey TO legacy_counters_pkey;
ALTER TABLE legacy_counters RENAME CONSTRAINT counters_name_check TO legacy_counters_name_check;
ALTER TABLE legacy_counters RENAME CONSTRAINT counters_value_check TO legacy_counters_value_check;

-- COLLATE "C": listings and export pages are in byte order of namespace and key, and keyset
-- paging on the primary key uses its index.
CREATE TABLE counters (
    namespace         TEXT COLLATE "C" NOT NULL
                      CHECK (namespace ~ '^[A-Za-z0-9_.-]{3,64}$'),
    key               TEXT COLLATE "C" NOT NULL
                      CHECK (key ~ '^[A-Za-z0-9_.-]{3,64}$'),
    value             BIGINT NOT NULL CHECK (value >= 0),
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    -- SHA-256 of the owner's token; NULL for a counter made by its first hit.
    owner_hash        BYTEA CHECK (octet_length(owner_hash) = 32),
    enable_reset      BOOLEAN NOT NULL,
    update_lowerbound BIGINT NOT NULL,
    update_upperbound BIGINT NOT NULL,
    PRIMARY KEY (namespace, key)
);

INSERT INTO counters (namespace, key, value, created_at, updated_at, owner_hash,
                      enable_reset, update_lowerbound, update_upperbound)
SELECT 'default', name, value, at, at, NULL, false, 0, 1
FROM (SELECT name, value, floor(extract(epoch FROM updated_at) * 1000)::bigint AS at
      FROM legacy_counters
      WHERE name ~ '^[A-Za-z0-9_.-]{3,64}$') AS valid;

DELETE FROM legacy_counters WHERE name ~ '^[A-Za-z0-9_.-]{3,64}$';
