-- SQLite twin of migrations/postgres: a counter's hits per UTC quarter-hour, the HyperLogLog
-- registers of its unique visitors per UTC day, and the daily salts. No address, User-Agent
-- or visitor hash is stored (see the PostgreSQL file). WITHOUT ROWID keeps each counter's
-- rows together in primary-key order, so a history is one range read.
CREATE TABLE counter_history (
    namespace TEXT NOT NULL,
    key       TEXT NOT NULL,
    -- Quarter-hours since the Unix epoch (UTC).
    quarter   INTEGER NOT NULL,
    hits      INTEGER NOT NULL CHECK (hits >= 0),
    PRIMARY KEY (namespace, key, quarter)
) STRICT, WITHOUT ROWID;
CREATE INDEX counter_history_by_quarter ON counter_history (quarter);

CREATE TABLE visitor_registers (
    namespace TEXT NOT NULL,
    key       TEXT NOT NULL,
    -- UTC days since the Unix epoch.
    day       INTEGER NOT NULL,
    register  INTEGER NOT NULL CHECK (register BETWEEN 0 AND 16383),
    rank      INTEGER NOT NULL CHECK (rank BETWEEN 1 AND 51),
    PRIMARY KEY (namespace, key, day, register)
) STRICT, WITHOUT ROWID;
CREATE INDEX visitor_registers_by_day ON visitor_registers (day);

CREATE TABLE visitor_salts (
    day  INTEGER PRIMARY KEY,
    salt BLOB NOT NULL CHECK (length(salt) = 32)
) STRICT;
