-- Money that adds up, history with no gaps, slots whose derived state cannot be written.
--
-- Money: a booking carries what it has received (paid_amount, gross), what went back
-- (refunded_amount) and, once cancelled, the fee its business's policy lets it keep
-- (cancellation_fee); refund_due follows from them. All are derived by triggers from the
-- payment rows and the cancellation, refused when written directly, and a pay-now booking
-- holds seats only when paid_amount covers its amount: a token payment confirms nothing.
--
-- History: a booking's version moves only when something about it changes, and every such
-- change writes its audit row (the audit trigger fires on the same condition), so the
-- number of a booking's audit rows equals its version.
--
-- New payment status: partially_paid (some money received, less than the amount). It is
-- added inside the migration's transaction, where PostgreSQL forbids using a new enum value
-- before commit: nothing below spells it as a literal outside PL/pgSQL bodies (which are
-- parsed at first call), so every use is a branch that names the other values.

ALTER TYPE payment_status ADD VALUE IF NOT EXISTS 'partially_paid' AFTER 'paid';

-- ---------------------------------------------------------------- cancellation policy
ALTER TABLE businesses
  ADD COLUMN free_cancellation_hours integer NOT NULL DEFAULT 24
    CHECK (free_cancellation_hours BETWEEN 0 AND 8760),
  ADD COLUMN late_cancellation_fee_percent numeric(5, 2) NOT NULL DEFAULT 50
    CHECK (late_cancellation_fee_percent BETWEEN 0 AND 100);
COMMENT ON COLUMN businesses.free_cancellation_hours IS
  'A customer who cancels at least this long before the slot starts gets everything back';
COMMENT ON COLUMN businesses.late_cancellation_fee_percent IS
  'Share of the booking amount the business keeps when a customer cancels later than that';

-- What the business keeps when a booking is cancelled: nothing when the business cancels
-- (any actor but the customer) or the customer cancels in time, else the late fee.
-- booking_core.domain.money.cancellation_fee is the same rule (a test compares them).
CREATE FUNCTION booking_cancellation_fee(p_amount numeric, p_actor actor_type, p_cancelled_at timestamptz,
                                         p_starts_at timestamptz, p_free_hours integer, p_late_percent numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN p_actor <> 'customer' THEN 0
    WHEN p_cancelled_at <= p_starts_at - make_interval(hours => p_free_hours) THEN 0
    ELSE round(p_amount * p_late_percent / 100, 2)
  END::numeric(12, 2)
$$;

-- A booking's payment status from its money: `unpaid` (pending or failed, from the attempts)
-- until something is received; `paid` once what it keeps covers its amount (an overpayment
-- returned leaves it paid); otherwise partly refunded or partly paid.
-- booking_core.domain.money.payment_status is the same rule (a test compares them).
CREATE FUNCTION payment_status_of(p_amount numeric, p_paid numeric, p_refunded numeric, p_unpaid payment_status)
RETURNS payment_status
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RETURN CASE
    WHEN p_paid = 0 THEN p_unpaid
    WHEN p_refunded >= p_paid THEN 'refunded'
    WHEN p_paid - p_refunded >= p_amount THEN 'paid'
    WHEN p_refunded > 0 THEN 'partially_refunded'
    ELSE 'partially_paid'
  END::payment_status;
END $$;

-- ---------------------------------------------------------------- the booking's money
ALTER TABLE bookings
  ADD COLUMN paid_amount numeric(12, 2) NOT NULL DEFAULT 0 CHECK (paid_amount >= 0),
  ADD COLUMN refunded_amount numeric(12, 2) NOT NULL DEFAULT 0,
  ADD COLUMN cancellation_fee numeric(12, 2);
COMMENT ON COLUMN bookings.paid_amount IS
  'Derived: money received, the amounts of its paid payments (refunds do not lower it)';
COMMENT ON COLUMN bookings.refunded_amount IS 'Derived: money returned, the sum of its payments'' refunds';
COMMENT ON COLUMN bookings.cancellation_fee IS
  'Derived at cancellation from the business''s policy: what the business may keep';

-- Existing rows, from their payments and cancellations. Triggers off: this fills derived
-- columns the guards below would refuse, and is no change anyone made.
ALTER TABLE bookings DISABLE TRIGGER USER;
UPDATE bookings b
   SET paid_amount = m.paid, refunded_amount = m.refunded
  FROM (SELECT business_id, booking_id,
               coalesce(sum(amount) FILTER (WHERE status IN ('paid', 'partially_refunded', 'refunded')), 0) AS paid,
               sum(refunded_amount) AS refunded
          FROM payments GROUP BY business_id, booking_id) m
 WHERE m.business_id = b.business_id AND m.booking_id = b.id;
UPDATE bookings b
   SET cancellation_fee = coalesce((
         SELECT booking_cancellation_fee(b.amount, t.actor_type, t.occurred_at, ts.starts_at,
                                         biz.free_cancellation_hours, biz.late_cancellation_fee_percent)
           FROM booking_state_transitions t
           JOIN time_slots ts ON ts.business_id = b.business_id AND ts.id = b.slot_id
           JOIN businesses biz ON biz.id = b.business_id
          WHERE t.business_id = b.business_id AND t.booking_id = b.id AND t.to_status = 'cancelled'
          ORDER BY t.id DESC LIMIT 1), 0)
 WHERE b.status IN ('cancelled', 'refunded');
ALTER TABLE bookings ENABLE TRIGGER USER;

ALTER TABLE bookings
  ADD CONSTRAINT bookings_refunds_within_paid CHECK (refunded_amount BETWEEN 0 AND paid_amount),
  ADD CONSTRAINT bookings_fee_on_cancellation CHECK (
    (cancellation_fee IS NOT NULL) = (status IN ('cancelled', 'refunded'))
    AND (cancellation_fee IS NULL OR cancellation_fee BETWEEN 0 AND amount)),
  -- The money and the status say the same thing. The last branch is partially_paid.
  -- NOT VALID (here and below): rows written under the old rules keep their statuses (the new
  -- value cannot be written in this transaction) and are found by the integrity checks; every
  -- row written from now on is held.
  ADD CONSTRAINT bookings_payment_status_matches_money CHECK (
    CASE payment_status
      WHEN 'pending' THEN paid_amount = 0
      WHEN 'failed' THEN paid_amount = 0
      WHEN 'paid' THEN paid_amount > refunded_amount AND paid_amount - refunded_amount >= amount
      WHEN 'refunded' THEN paid_amount > 0 AND refunded_amount = paid_amount
      WHEN 'partially_refunded' THEN refunded_amount > 0 AND paid_amount > refunded_amount AND paid_amount - refunded_amount < amount
      ELSE paid_amount > 0 AND paid_amount < amount AND refunded_amount = 0
    END) NOT VALID,
  -- A token payment confirms nothing: a pay-now booking holds seats only once paid in full.
  DROP CONSTRAINT pay_now_paid_before_seat,
  ADD CONSTRAINT pay_now_paid_before_seat CHECK (
    payment_method <> 'pay_now' OR status IN ('draft', 'cancelled', 'refunded') OR paid_amount >= amount) NOT VALID;

-- What the business owes back: on a cancelled booking what it received less what it returned
-- and the fee it may keep; on any other booking an overpayment.
ALTER TABLE bookings ADD COLUMN refund_due numeric(12, 2) GENERATED ALWAYS AS (
  greatest(paid_amount - refunded_amount
           - CASE WHEN status IN ('cancelled', 'refunded') THEN cancellation_fee ELSE amount END, 0)) STORED;
COMMENT ON COLUMN bookings.refund_due IS 'Derived: money the business owes back (cancellation refund or overpayment)';

-- ---------------------------------------------------------------- booking guards
CREATE OR REPLACE FUNCTION bookings_before() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  actor actor_type := booking_ctx_actor_type();
  edge_actors actor_type[];
  starts timestamptz;
  biz businesses;
BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.version := 1;
    NEW.created_at := coalesce(NEW.created_at, booking_ctx_occurred_at());
    NEW.updated_at := NEW.created_at;
    IF NEW.payment_status <> 'pending' OR NEW.paid_amount <> 0 OR NEW.refunded_amount <> 0
       OR NEW.cancellation_fee IS NOT NULL THEN
      RAISE EXCEPTION 'a new booking has received and owes nothing: record a payment to change that'
        USING ERRCODE = 'BK007';
    END IF;
    SELECT actors INTO edge_actors FROM booking_status_edges WHERE from_status IS NULL AND to_status = NEW.status;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'a booking cannot be created as %: create it as draft or confirmed', NEW.status
        USING ERRCODE = 'BK004';
    END IF;
    RETURN NEW;
  END IF;

  -- An update that changes nothing is no change: same version, nothing to audit.
  IF (to_jsonb(NEW) - '{version,updated_at,refund_due}'::text[])
     = (to_jsonb(OLD) - '{version,updated_at,refund_due}'::text[]) THEN
    NEW.version := OLD.version;
    NEW.updated_at := OLD.updated_at;
    RETURN NEW;
  END IF;
  IF (NEW.business_id, NEW.id, NEW.customer_id, NEW.created_at, NEW.cancellation_token,
      NEW.idempotency_key, NEW.payment_method, NEW.currency)
     IS DISTINCT FROM
     (OLD.business_id, OLD.id, OLD.customer_id, OLD.created_at, OLD.cancellation_token,
      OLD.idempotency_key, OLD.payment_method, OLD.currency) THEN
    RAISE EXCEPTION 'a booking''s identity, customer, token, idempotency key, payment method and currency never change: cancel and book anew'
      USING ERRCODE = 'BK007';
  END IF;
  -- The money columns follow the payment rows: only the payments trigger (depth > 1) moves them.
  IF (NEW.payment_status, NEW.paid_amount, NEW.refunded_amount)
     IS DISTINCT FROM (OLD.payment_status, OLD.paid_amount, OLD.refunded_amount) AND pg_trigger_depth() < 2 THEN
    RAISE EXCEPTION 'a booking''s payment status, paid and refunded amounts are derived from its payments: record a payment or refund instead'
      USING ERRCODE = 'BK007';
  END IF;
  IF NEW.status <> OLD.status THEN
    SELECT actors INTO edge_actors FROM booking_status_edges
     WHERE from_status = OLD.status AND to_status = NEW.status;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'a booking cannot go from % to %', OLD.status, NEW.status USING ERRCODE = 'BK004';
    END IF;
    IF NOT actor = ANY (edge_actors) THEN
      RAISE EXCEPTION 'a % actor cannot move a booking from % to %: only % can', actor, OLD.status, NEW.status,
        array_to_string(edge_actors, ', ') USING ERRCODE = 'BK005';
    END IF;
  END IF;
  IF NEW.slot_id <> OLD.slot_id AND OLD.status NOT IN ('draft', 'confirmed') THEN
    RAISE EXCEPTION 'a % booking cannot be rescheduled: only draft and confirmed ones can', OLD.status
      USING ERRCODE = 'BK004';
  END IF;
  -- The fee is fixed the moment the booking is cancelled, by the policy of that moment.
  IF NEW.status = 'cancelled' AND OLD.status <> 'cancelled' THEN
    SELECT starts_at INTO starts FROM time_slots WHERE business_id = OLD.business_id AND id = OLD.slot_id;
    SELECT * INTO biz FROM businesses WHERE id = NEW.business_id;
    NEW.cancellation_fee := booking_cancellation_fee(NEW.amount, actor, booking_ctx_occurred_at(), starts,
                                                     biz.free_cancellation_hours, biz.late_cancellation_fee_percent);
  ELSIF NEW.cancellation_fee IS DISTINCT FROM OLD.cancellation_fee THEN
    RAISE EXCEPTION 'a booking''s cancellation fee is fixed by its business''s policy when it is cancelled'
      USING ERRCODE = 'BK007';
  END IF;
  IF NEW.amount <> OLD.amount THEN
    NEW.payment_status := payment_status_of(NEW.amount, NEW.paid_amount, NEW.refunded_amount,
      CASE WHEN OLD.payment_status IN ('pending', 'failed') THEN OLD.payment_status ELSE 'pending' END);
  END IF;
  NEW.version := OLD.version + 1;
  NEW.updated_at := booking_ctx_occurred_at();
  RETURN NEW;
END $$;

-- ---------------------------------------------------------------- payments -> booking
-- The booking's money and status, recomputed from all its payments in the same statement as
-- any payment change: the two cannot drift.
CREATE OR REPLACE FUNCTION booking_payment_status(p_business uuid, p_booking uuid) RETURNS payment_status
LANGUAGE sql STABLE AS $$
  SELECT payment_status_of(b.amount,
           coalesce(sum(p.amount) FILTER (WHERE p.status IN ('paid', 'partially_refunded', 'refunded')), 0),
           coalesce(sum(p.refunded_amount), 0),
           CASE WHEN bool_or(p.status = 'failed') AND NOT bool_or(p.status = 'pending') THEN 'failed'
                ELSE 'pending' END::payment_status)
    FROM bookings b LEFT JOIN payments p ON p.business_id = b.business_id AND p.booking_id = b.id
   WHERE b.business_id = p_business AND b.id = p_booking
   GROUP BY b.amount
$$;

CREATE OR REPLACE FUNCTION payments_after() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  paid numeric;
  refunded numeric;
  unpaid payment_status;
BEGIN
  SELECT coalesce(sum(amount) FILTER (WHERE status IN ('paid', 'partially_refunded', 'refunded')), 0),
         coalesce(sum(refunded_amount), 0),
         CASE WHEN bool_or(status = 'failed') AND NOT bool_or(status = 'pending') THEN 'failed'
              ELSE 'pending' END::payment_status
    INTO paid, refunded, unpaid
    FROM payments WHERE business_id = NEW.business_id AND booking_id = NEW.booking_id;
  UPDATE bookings
     SET paid_amount = paid, refunded_amount = refunded,
         payment_status = payment_status_of(amount, paid, refunded, unpaid)
   WHERE business_id = NEW.business_id AND id = NEW.booking_id
     AND (paid_amount, refunded_amount, payment_status)
         IS DISTINCT FROM (paid, refunded, payment_status_of(amount, paid, refunded, unpaid));
  RETURN NULL;
END $$;

-- ---------------------------------------------------------------- slots
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
  IF (NEW.business_id, NEW.id, NEW.service_id, NEW.resource_id, NEW.starts_at, NEW.ends_at,
      NEW.local_date, NEW.local_start, NEW.created_at)
     IS DISTINCT FROM
     (OLD.business_id, OLD.id, OLD.service_id, OLD.resource_id, OLD.starts_at, OLD.ends_at,
      OLD.local_date, OLD.local_start, OLD.created_at) THEN
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

COMMENT ON COLUMN time_slots.local_date IS
  'Derived: the local date of starts_at in the business''s timezone (a moved DST-gap time is stored as moved)';
COMMENT ON COLUMN time_slots.local_start IS 'Derived: the local wall-clock time of starts_at in the business''s timezone';

-- ---------------------------------------------------------------- timezones
-- CET, EET, MET and WET are IANA zones with summer time, but `AT TIME ZONE` reads them as
-- PostgreSQL's fixed-offset abbreviations: slots in them could not be read back in SQL.
-- booking_core.domain.values.READ_AS_ABBREVIATIONS is the same list (a test compares it with
-- pg_timezone_abbrevs).
CREATE OR REPLACE FUNCTION booking_is_valid_timezone(tz text) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = tz) AND tz NOT IN ('CET', 'EET', 'MET', 'WET')
$$;

-- ---------------------------------------------------------------- privileges
-- The triggers write the derived columns as the caller; their guards refuse anyone else.
GRANT UPDATE (paid_amount, refunded_amount, cancellation_fee) ON bookings TO booking_app;
GRANT UPDATE (free_cancellation_hours, late_cancellation_fee_percent) ON businesses TO booking_app;
