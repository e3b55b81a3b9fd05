-- A counter's history (src/store/history.rs): its hits per UTC quarter-hour, the
-- HyperLogLog registers of its unique visitors per UTC day, and the daily salts that make a
-- visitor's keyed hash (src/store/visitor.rs). Each hit writes its quarter's row and, with a
-- visitor, one register, in the same statement as the increment. No address, User-Agent or
-- visitor hash is stored: a register row says only that some hash picked `register` with
-- `rank` leading zeros (plus one).
--
-- Rows name the counter as `counters` does, (namespace, key), with no foreign key: a hit
-- creates the counter in the same statement, and a delete removes the history with it.
CREATE TABLE counter_history (
    namespace TEXT COLLATE "C" NOT NULL,
    key       TEXT COLLATE "C" NOT NULL,
    -- Quarter-hours since the Unix epoch (UTC).
    quarter   BIGINT NOT NULL,
    hits      BIGINT NOT NULL CHECK (hits >= 0),
    PRIMARY KEY (namespace, key, quarter)
);
-- For the maintenance job, which deletes what is older than HISTORY_DAYS.
CREATE INDEX counter_history_by_quarter ON counter_history (quarter);

CREATE TABLE visitor_registers (
    namespace TEXT COLLATE "C" NOT NULL,
    key       TEXT COLLATE "C" NOT NULL,
    -- UTC days since the Unix epoch.
    day       BIGINT NOT NULL,
    -- 2^14 registers of ranks 1 to 51 (a register at 0 has no row).
    register  SMALLINT NOT NULL CHECK (register BETWEEN 0 AND 16383),
    rank      SMALLINT NOT NULL CHECK (rank BETWEEN 1 AND 51),
    PRIMARY KEY (namespace, key, day, register)
);
CREATE INDEX visitor_registers_by_day ON visitor_registers (day);

-- One random salt per UTC day, shared by every tally on this database; deleted once its day
-- is over (by the next day's first hit and by the maintenance job).
CREATE TABLE visitor_salts (
    day  BIGINT PRIMARY KEY,
    salt BYTEA NOT NULL CHECK (octet_length(salt) = 32)
);
