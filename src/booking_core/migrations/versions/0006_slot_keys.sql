-- A slot's identity, apart from its seat counter.
--
-- Every booking takes its seats with an UPDATE of its time_slots row (the counter, the
-- capacity and the legacy flag are checked under that one row lock), and every booking
-- insert also runs its foreign-key check, which locks the referenced row FOR KEY SHARE.
-- When both land on the same row, each check must merge itself with the row's updater
-- into a MultiXact, on the hottest row of the system: measured on 2 cores, 16 clients on
-- one slot made 463 bookings/s with the key on time_slots, 938-982/s with it on slot_keys
-- (bench/hot_slot.py, BENCHMARKS.md).
--
-- So the rows written by booking traffic (bookings, booking_resources, waitlist_entries)
-- reference slot_keys, a row per slot that is written once and never updated, and
-- slot_keys references time_slots: the chain still guarantees that every booking's slot
-- exists, and the counter row sees no key-share lockers. slot_capacity_changes, written
-- together with a time_slots update, keeps referencing time_slots.
CREATE TABLE slot_keys (
  business_id uuid NOT NULL,
  id          uuid NOT NULL,
  PRIMARY KEY (business_id, id),
  FOREIGN KEY (business_id, id) REFERENCES time_slots (business_id, id)
);
COMMENT ON TABLE slot_keys IS
  'One row per time slot, never updated: the target of slot foreign keys, kept off the seat counter row';

INSERT INTO slot_keys (business_id, id) SELECT business_id, id FROM time_slots;

CREATE FUNCTION time_slots_key() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO slot_keys (business_id, id) VALUES (NEW.business_id, NEW.id);
  RETURN NULL;
END $$;
CREATE TRIGGER time_slots_key AFTER INSERT ON time_slots
  FOR EACH ROW EXECUTE FUNCTION time_slots_key();
-- Also under session_replication_role = replica (bulk loads, logical replication): a slot
-- without its key could never be booked.
ALTER TABLE time_slots ENABLE ALWAYS TRIGGER time_slots_key;

CREATE TRIGGER slot_keys_append_only BEFORE UPDATE OR DELETE ON slot_keys
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER slot_keys_no_truncate BEFORE TRUNCATE ON slot_keys
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

GRANT SELECT ON slot_keys TO booking_app, booking_readonly;
GRANT INSERT ON slot_keys TO booking_app;

-- Swapped in one transaction: there is no moment without the constraint. Validation reads
-- the existing rows once; the names stay, so error handling keyed on them is unchanged.
ALTER TABLE bookings
  DROP CONSTRAINT bookings_business_id_slot_id_fkey,
  ADD CONSTRAINT bookings_business_id_slot_id_fkey
    FOREIGN KEY (business_id, slot_id) REFERENCES slot_keys (business_id, id);
ALTER TABLE booking_resources
  DROP CONSTRAINT booking_resources_business_id_slot_id_fkey,
  ADD CONSTRAINT booking_resources_business_id_slot_id_fkey
    FOREIGN KEY (business_id, slot_id) REFERENCES slot_keys (business_id, id);
ALTER TABLE waitlist_entries
  DROP CONSTRAINT waitlist_entries_business_id_slot_id_fkey,
  ADD CONSTRAINT waitlist_entries_business_id_slot_id_fkey
    FOREIGN KEY (business_id, slot_id) REFERENCES slot_keys (business_id, id);
