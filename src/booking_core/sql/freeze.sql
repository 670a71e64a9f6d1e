-- A write freeze per business: ops stop every write to a business's bookings, payments,
-- slots, schedules, catalogue and waitlists while they assess and repair an incident
-- (docs/runbooks: "data corruption: stop writes, assess scope, restore, verify, resume").
-- Set and cleared on the business row (`booking freeze` / `booking unfreeze`), so the audit
-- trail records who froze it, when and why (business.frozen / business.unfrozen).
--
-- A repair made during the freeze says so in its own transaction:
--   SET LOCAL booking.freeze_repair = '<what is being repaired>';
-- and is audited like any other change. The library never sets it.

-- Whether a business is frozen for writes now.
CREATE OR REPLACE FUNCTION business_frozen(p_business uuid) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN coalesce((SELECT frozen_at IS NOT NULL FROM businesses WHERE id = p_business), false);
END $$;

CREATE OR REPLACE FUNCTION refuse_write_when_frozen() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  b businesses;
BEGIN
  SELECT * INTO b FROM businesses WHERE id = NEW.business_id;
  IF b.frozen_at IS NOT NULL AND coalesce(current_setting('booking.freeze_repair', true), '') = '' THEN
    RAISE EXCEPTION 'business % is frozen for writes since % (%): nothing changes until ops run `booking unfreeze`',
      b.name, to_char(b.frozen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'), b.frozen_reason
      USING ERRCODE = 'BK019',
            DETAIL = json_build_object('business_id', b.id, 'frozen_at', b.frozen_at, 'reason', b.frozen_reason)::text;
  END IF;
  RETURN NEW;
END $$;

-- The first BEFORE trigger of every write its table allows (00 sorts first: docs/invariants.md,
-- "Trigger order"): INSERT on the append-only tables, INSERT and UPDATE on the others. Their
-- deletes (and an append-only table's updates) are refused whatever the freeze, by append_only.sql.
-- A slot's writes are checked when a caller makes them (trigger depth 0), not when a booking,
-- resource allocation or waitlist entry moves its seat counter: that write was checked on its
-- own table already, and the counter's move runs under the slot's lock, on every booking. The
-- slot's guard refuses any counter move a caller makes (schedules.sql).
DO $$
DECLARE
  t record;
BEGIN
  FOR t IN
    SELECT * FROM (VALUES
      ('schedule_rules', 'INSERT', NULL),
      ('slot_capacity_changes', 'INSERT', NULL),
      ('booking_series', 'INSERT', NULL),
      ('booking_resources', 'INSERT', NULL),
      ('refunds', 'INSERT', NULL),
      ('price_rules', 'INSERT', NULL),
      ('customers', 'INSERT OR UPDATE', NULL),
      ('services', 'INSERT OR UPDATE', NULL),
      ('resources', 'INSERT OR UPDATE', NULL),
      ('schedule_versions', 'INSERT OR UPDATE', NULL),
      ('time_slots', 'INSERT OR UPDATE', 'pg_trigger_depth() = 0'),
      ('bookings', 'INSERT OR UPDATE', NULL),
      ('payments', 'INSERT OR UPDATE', NULL),
      ('promo_codes', 'INSERT OR UPDATE', NULL),
      ('waitlist_entries', 'INSERT OR UPDATE', NULL)
      ) AS f (table_name, events, only_when)
  LOOP
    EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE %s ON %I FOR EACH ROW %s EXECUTE FUNCTION refuse_write_when_frozen()',
                   t.table_name || '_00_frozen', t.events, t.table_name, 'WHEN (' || t.only_when || ')');
  END LOOP;
END $$;
