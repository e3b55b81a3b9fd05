-- Live counts across processes on one SQLite file. SQLite cannot notify another process, so
-- each tally process that has followers reads this table every 250 ms
-- (src/store/sqlite_feed.rs): one row per counter, holding its latest value and a sequence
-- number that every change renews. Triggers keep it, so no statement of tally's changes and
-- every writer's changes are seen (deletes too, as 0). Compared with polling `counters` by
-- `updated_at`, the sequence is exact: it does not depend on clocks, on a writer that computed
-- its time before waiting for the write lock, or on the times an import writes.
--
-- Each change deletes the counter's row and inserts a new one, which AUTOINCREMENT numbers
-- above every number ever used, so a reader that remembers the last number it saw finds
-- exactly the changes after it, in the order they were committed (SQLite has one writer at a
-- time). The table holds one small row per counter that ever existed. (Not `INSERT OR
-- REPLACE`: within a trigger, the conflict handling of the statement that fired it wins, and
-- an upsert's is to fail.)
CREATE TABLE counter_changes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace TEXT NOT NULL,
    key       TEXT NOT NULL,
    value     INTEGER NOT NULL,
    UNIQUE (namespace, key)
);

CREATE TRIGGER counters_announce_insert AFTER INSERT ON counters
BEGIN
    DELETE FROM counter_changes WHERE namespace = NEW.namespace AND key = NEW.key;
    INSERT INTO counter_changes (namespace, key, value) VALUES (NEW.namespace, NEW.key, NEW.value);
END;

CREATE TRIGGER counters_announce_update AFTER UPDATE OF value ON counters
WHEN OLD.value IS NOT NEW.value
BEGIN
    DELETE FROM counter_changes WHERE namespace = NEW.namespace AND key = NEW.key;
    INSERT INTO counter_changes (namespace, key, value) VALUES (NEW.namespace, NEW.key, NEW.value);
END;

CREATE TRIGGER counters_announce_delete AFTER DELETE ON counters
BEGIN
    DELETE FROM counter_changes WHERE namespace = OLD.namespace AND key = OLD.key;
    INSERT INTO counter_changes (namespace, key, value) VALUES (OLD.namespace, OLD.key, 0);
END;
