-- Businesses' timezones, schedule versions and their slots: what never changes once published.

CREATE OR REPLACE FUNCTION businesses_validate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT booking_is_valid_timezone(NEW.timezone) THEN
    RAISE EXCEPTION 'unknown timezone %: use an IANA name such as Europe/Berlin', NEW.timezone
      USING ERRCODE = 'BK011';
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.timezone IS DISTINCT FROM OLD.timezone
     AND EXISTS (SELECT 1 FROM time_slots WHERE business_id = NEW.id) THEN
    RAISE EXCEPTION 'the timezone of a business with slots cannot change: its slots were resolved in %', OLD.timezone
      USING ERRCODE = 'BK007';
  END IF;
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION schedule_versions_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF (to_jsonb(NEW) - 'is_active') <> (to_jsonb(OLD) - 'is_active') THEN
    RAISE EXCEPTION 'a schedule version never changes once created: publish a new version instead'
      USING ERRCODE = 'BK007';
  END IF;
  RETURN NEW;
END $$;

-- A slot's local date and time are derived from its instant in its business's timezone
-- (PostgreSQL resolves a wall time in a DST gap forward and an ambiguous one to standard
-- time, as the library does); a legacy slot comes back only by being carried into the
-- newest schedule version, so a hand-set flag cannot hide that the schedule dropped it.
CREATE OR REPLACE FUNCTION time_slots_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE tz text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.booked_seats <> 0 THEN
      RAISE EXCEPTION 'a new slot starts with no booked seats' USING ERRCODE = 'BK007';
    END IF;
    SELECT timezone INTO tz FROM businesses WHERE id = NEW.business_id;
    IF FOUND AND (NEW.local_date + NEW.local_start) AT TIME ZONE tz <> NEW.starts_at THEN
      RAISE EXCEPTION 'slot at % is % % in %, not the local date and time given: derive them from the instant',
        NEW.starts_at, (NEW.starts_at AT TIME ZONE tz)::date, (NEW.starts_at AT TIME ZONE tz)::time, tz
        USING ERRCODE = 'BK007';
    END IF;
    RETURN NEW;
  END IF;
  -- Stated inline, not through refuse_changed(): every booking updates its slot's seat counter
  -- while holding the slot's row lock, and this row comparison costs a microsecond where the
  -- generic jsonb one costs tens (BENCHMARKS.md, "a regression on the hot slot").
  IF (OLD.business_id, OLD.id, OLD.service_id, OLD.resource_id, OLD.starts_at, OLD.ends_at, OLD.local_date,
      OLD.local_start, OLD.created_at)
     IS DISTINCT FROM (NEW.business_id, NEW.id, NEW.service_id, NEW.resource_id, NEW.starts_at, NEW.ends_at,
                       NEW.local_date, NEW.local_start, NEW.created_at) THEN
    RAISE EXCEPTION 'a slot''s time, service and resource never change: publish a new schedule version instead'
      USING ERRCODE = 'BK007';
  END IF;
  -- booked_seats is derived from bookings: only the bookings trigger (depth > 1) moves it.
  IF NEW.booked_seats <> OLD.booked_seats AND pg_trigger_depth() < 2 THEN
    RAISE EXCEPTION 'time_slots.booked_seats is derived from bookings and cannot be written directly'
      USING ERRCODE = 'BK007';
  END IF;
  IF OLD.is_legacy AND NOT NEW.is_legacy AND (
       NEW.schedule_version_id = OLD.schedule_version_id
       OR NEW.schedule_version_id IS DISTINCT FROM (
         SELECT id FROM schedule_versions WHERE business_id = NEW.business_id
          ORDER BY version_number DESC LIMIT 1)) THEN
    RAISE EXCEPTION 'a legacy slot comes back only when a new schedule version has it again: publish a schedule'
      USING ERRCODE = 'BK007';
  END IF;
  IF NEW.max_capacity <> OLD.max_capacity THEN
    INSERT INTO slot_capacity_changes (business_id, slot_id, old_capacity, new_capacity,
                                       booked_seats_at_change, changed_at, actor_type, actor_id, reason)
    VALUES (NEW.business_id, NEW.id, OLD.max_capacity, NEW.max_capacity, OLD.booked_seats,
            booking_ctx_occurred_at(), booking_ctx_actor_type(), booking_ctx_actor_id(), booking_ctx('reason'));
  END IF;
  NEW.updated_at := now();
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION time_slots_key() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO slot_keys (business_id, id) VALUES (NEW.business_id, NEW.id);
  RETURN NULL;
END $$;

-- Triggers (their firing order is their names': docs/invariants.md, "Trigger order").
SELECT define_trigger('businesses_10_validate', 'businesses', 'BEFORE INSERT OR UPDATE', 'businesses_validate');
SELECT define_trigger('schedule_versions_10_guard', 'schedule_versions', 'BEFORE UPDATE', 'schedule_versions_guard');
SELECT define_trigger('time_slots_10_guard', 'time_slots', 'BEFORE INSERT OR UPDATE', 'time_slots_guard');
SELECT define_trigger('time_slots_20_key', 'time_slots', 'AFTER INSERT', 'time_slots_key');
-- Also under session_replication_role = replica (bulk loads, logical replication): a slot
-- without its key could never be booked.
ALTER TABLE time_slots ENABLE ALWAYS TRIGGER time_slots_20_key;
