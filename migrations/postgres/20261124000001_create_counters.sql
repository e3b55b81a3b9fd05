-- One row per named counter. `value` only ever grows, by atomic
-- INSERT ... ON CONFLICT ... DO UPDATE statements (see src/store/postgres.rs).
CREATE TABLE IF NOT EXISTS counters (
    name       TEXT PRIMARY KEY CHECK (char_length(name) BETWEEN 1 AND 128),
    value      BIGINT NOT NULL DEFAULT 0 CHECK (value >= 0),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
