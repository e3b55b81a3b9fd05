-- Live counts across replicas: every change to a counter's value is announced on the channel
-- `tally_counters`, which each tally process LISTENs to while anyone follows a counter's
-- events (src/store/postgres_feed.rs). A trigger rather than a NOTIFY in each statement: no
-- statement changes, none gains a round trip, and a change made by any writer (an import, a
-- copy, psql) is announced too.
--
-- The payload is `value namespace key` (names never hold a space). NOTIFY is sent when the
-- transaction commits, in commit order, and never for one that rolls back. An UPDATE that
-- leaves the value as it was (a restore of the same value) announces nothing.
CREATE FUNCTION tally_counter_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        -- A deleted counter reads as 0.
        PERFORM pg_notify('tally_counters', '0 ' || OLD.namespace || ' ' || OLD.key);
    ELSE
        PERFORM pg_notify('tally_counters', NEW.value || ' ' || NEW.namespace || ' ' || NEW.key);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER counters_announce_insert
    AFTER INSERT ON counters
    FOR EACH ROW EXECUTE FUNCTION tally_counter_changed();

CREATE TRIGGER counters_announce_update
    AFTER UPDATE OF value ON counters
    FOR EACH ROW WHEN (OLD.value IS DISTINCT FROM NEW.value)
    EXECUTE FUNCTION tally_counter_changed();

CREATE TRIGGER counters_announce_delete
    AFTER DELETE ON counters
    FOR EACH ROW EXECUTE FUNCTION tally_counter_changed();
