-- Beyond single bookings: price lock (rules and promo codes), multi-resource bookings,
-- waitlists whose offers hold seats, recurring series. Backward compatible: new tables, and
-- only nullable or defaulted columns on existing ones; no existing row is rewritten.
--
-- New SQLSTATEs: BK014 invalid promo code   BK015 waitlist offer expired or not open
--                BK016 unknown resource

-- ---------------------------------------------------------------- price lock
CREATE TABLE price_rules (
  business_id      uuid NOT NULL,
  id               uuid NOT NULL DEFAULT gen_random_uuid(),
  service_id       uuid NOT NULL,
  name             text NOT NULL,
  amount           numeric(12, 2) NOT NULL CHECK (amount >= 0),
  currency         char(3) NOT NULL,
  -- The slot times the price applies to (a rule never changes; a new rule supersedes it).
  valid_from       timestamptz NOT NULL,
  valid_to         timestamptz,
  iso_weekdays     smallint[] CHECK (iso_weekdays <@ ARRAY[1, 2, 3, 4, 5, 6, 7]::smallint[]),
  local_start_from time,
  local_start_to   time,
  priority         integer NOT NULL DEFAULT 0,
  created_at       timestamptz NOT NULL,
  PRIMARY KEY (business_id, id),
  FOREIGN KEY (business_id, service_id) REFERENCES services (business_id, id),
  CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE INDEX price_rules_service ON price_rules (business_id, service_id, valid_from);

CREATE TABLE promo_codes (
  business_id uuid NOT NULL REFERENCES businesses (id),
  id          uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
  code        text NOT NULL CHECK (code ~ '^[A-Z0-9_-]{3,40}$'),
  percent_off numeric(5, 2) CHECK (percent_off > 0 AND percent_off <= 100),
  amount_off  numeric(12, 2) CHECK (amount_off > 0),
  currency    char(3) NOT NULL,
  valid_from  timestamptz NOT NULL,
  valid_to    timestamptz,
  max_uses    integer CHECK (max_uses > 0),
  uses        integer NOT NULL DEFAULT 0 CHECK (uses >= 0),
  created_at  timestamptz NOT NULL,
  PRIMARY KEY (business_id, code),
  CHECK ((percent_off IS NULL) <> (amount_off IS NULL)),
  CHECK (max_uses IS NULL OR uses <= max_uses)
);

CREATE FUNCTION price_rules_validate() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE svc_currency char(3);
BEGIN
  SELECT currency INTO svc_currency FROM services WHERE business_id = NEW.business_id AND id = NEW.service_id;
  IF FOUND AND svc_currency <> NEW.currency THEN
    RAISE EXCEPTION 'price in % for a service priced in %: give prices in the service''s currency', NEW.currency,
      svc_currency USING ERRCODE = 'BK009';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER price_rules_validate BEFORE INSERT ON price_rules
  FOR EACH ROW EXECUTE FUNCTION price_rules_validate();
CREATE TRIGGER price_rules_append_only BEFORE UPDATE OR DELETE ON price_rules
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER price_rules_audit AFTER INSERT ON price_rules
  FOR EACH ROW EXECUTE FUNCTION audit_write('price');
CREATE TRIGGER promo_codes_never_delete BEFORE DELETE ON promo_codes
  FOR EACH ROW EXECUTE FUNCTION refuse_delete();
CREATE TRIGGER promo_codes_audit AFTER INSERT ON promo_codes
  FOR EACH ROW EXECUTE FUNCTION audit_write('promo');

-- What the booking locks in; NULL on bookings made before this migration (amount is their price).
ALTER TABLE bookings ADD COLUMN unit_price numeric(12, 2) CHECK (unit_price >= 0);
ALTER TABLE bookings ADD COLUMN discount numeric(12, 2) NOT NULL DEFAULT 0 CHECK (discount >= 0);
ALTER TABLE bookings ADD COLUMN promo_code text;
ALTER TABLE bookings ADD COLUMN price_rule_id uuid;
ALTER TABLE bookings ADD COLUMN series_id uuid;
ALTER TABLE bookings ADD COLUMN occurrence integer CHECK (occurrence >= 0);
ALTER TABLE bookings ADD CONSTRAINT bookings_series_has_occurrence CHECK ((series_id IS NULL) = (occurrence IS NULL));

-- The price of `p_party` seats in a slot of a service: the best matching rule (else the
-- service's price), less a promo code. booking_create calls it with what it already read;
-- booking_quote (what a customer is shown) reads the slot first. What is shown is what is locked.
CREATE FUNCTION booking_price(p_business uuid, p_service uuid, p_starts timestamptz, p_local_date date,
                              p_local_start time, p_default numeric, p_currency char(3), p_party integer,
                              p_promo text, p_at timestamptz,
                              OUT unit_price numeric, OUT discount numeric, OUT amount numeric,
                              OUT currency char(3), OUT price_rule_id uuid)
LANGUAGE plpgsql STABLE AS $$
DECLARE pc promo_codes;
BEGIN
  SELECT r.amount, r.id INTO unit_price, price_rule_id FROM price_rules r
   WHERE r.business_id = p_business AND r.service_id = p_service
     AND r.valid_from <= p_starts AND (r.valid_to IS NULL OR p_starts < r.valid_to)
     AND (r.iso_weekdays IS NULL OR extract(isodow FROM p_local_date)::smallint = ANY (r.iso_weekdays))
     AND (r.local_start_from IS NULL OR p_local_start >= r.local_start_from)
     AND (r.local_start_to IS NULL OR p_local_start < r.local_start_to)
   ORDER BY r.priority DESC, r.created_at DESC, r.id DESC LIMIT 1;
  unit_price := coalesce(unit_price, p_default);
  currency := p_currency;
  amount := unit_price * p_party;
  discount := 0;
  IF p_promo IS NOT NULL THEN
    SELECT * INTO pc FROM promo_codes WHERE business_id = p_business AND code = p_promo;
    IF NOT FOUND OR pc.valid_from > p_at OR (pc.valid_to IS NOT NULL AND p_at >= pc.valid_to)
       OR (pc.max_uses IS NOT NULL AND pc.uses >= pc.max_uses) THEN
      RAISE EXCEPTION 'promo code % is not valid now: check the code or book without it', p_promo
        USING ERRCODE = 'BK014';
    END IF;
    IF pc.currency <> currency THEN
      RAISE EXCEPTION 'promo code % is in %, the booking in %', p_promo, pc.currency, currency USING ERRCODE = 'BK009';
    END IF;
    discount := least(amount, coalesce(round(amount * pc.percent_off / 100, 2), pc.amount_off));
  END IF;
  amount := amount - discount;
END $$;

CREATE FUNCTION booking_quote(p_business uuid, p_slot uuid, p_party integer, p_promo text, p_at timestamptz,
                              OUT unit_price numeric, OUT discount numeric, OUT amount numeric,
                              OUT currency char(3), OUT price_rule_id uuid)
LANGUAGE sql STABLE AS $$
  SELECT p.* FROM time_slots ts
    JOIN services sv ON sv.business_id = ts.business_id AND sv.id = ts.service_id
   CROSS JOIN LATERAL booking_price(ts.business_id, ts.service_id, ts.starts_at, ts.local_date, ts.local_start,
                                    sv.price, sv.currency, p_party, p_promo, p_at) p
   WHERE ts.business_id = p_business AND ts.id = p_slot
$$;

-- ---------------------------------------------------------------- multi-resource bookings
-- Further resources a booking holds at its time (room + staff + equipment), each a slot of
-- that resource at the same time, with a quantity. Seats follow the booking's status.
CREATE TABLE booking_resources (
  business_id uuid NOT NULL,
  booking_id  uuid NOT NULL,
  slot_id     uuid NOT NULL,
  quantity    integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
  PRIMARY KEY (business_id, booking_id, slot_id),
  FOREIGN KEY (business_id, booking_id) REFERENCES bookings (business_id, id),
  FOREIGN KEY (business_id, slot_id) REFERENCES time_slots (business_id, id)
);
CREATE INDEX booking_resources_slot ON booking_resources (business_id, slot_id);

CREATE FUNCTION booking_resources_seats() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE st booking_status;
BEGIN
  SELECT status INTO st FROM bookings WHERE business_id = NEW.business_id AND id = NEW.booking_id;
  IF booking_holds_seat(st) THEN
    PERFORM slot_take_seats(NEW.business_id, NEW.slot_id, NEW.quantity);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER booking_resources_seats AFTER INSERT ON booking_resources
  FOR EACH ROW EXECUTE FUNCTION booking_resources_seats();
CREATE TRIGGER booking_resources_append_only BEFORE UPDATE OR DELETE ON booking_resources
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER booking_resources_no_truncate BEFORE TRUNCATE ON booking_resources
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- ---------------------------------------------------------------- waitlists
ALTER TABLE businesses ADD COLUMN waitlist_offer_minutes integer NOT NULL DEFAULT 15
  CHECK (waitlist_offer_minutes BETWEEN 1 AND 10080);

CREATE TABLE waitlist_entries (
  business_id      uuid NOT NULL,
  id               uuid NOT NULL DEFAULT gen_random_uuid(),
  slot_id          uuid NOT NULL,
  customer_id      uuid NOT NULL,
  party_size       integer NOT NULL CHECK (party_size BETWEEN 1 AND 100),
  status           text NOT NULL DEFAULT 'waiting'
                   CHECK (status IN ('waiting', 'offered', 'accepted', 'expired', 'cancelled')),
  joined_at        timestamptz NOT NULL,
  offered_at       timestamptz,
  offer_expires_at timestamptz,
  booking_id       uuid,
  PRIMARY KEY (business_id, id),
  FOREIGN KEY (business_id, slot_id) REFERENCES time_slots (business_id, id),
  FOREIGN KEY (business_id, customer_id) REFERENCES customers (business_id, id),
  -- Deferred: accepting an offer links the booking it is about to create, in one transaction.
  FOREIGN KEY (business_id, booking_id) REFERENCES bookings (business_id, id) DEFERRABLE INITIALLY DEFERRED,
  CHECK ((status = 'waiting') = (offered_at IS NULL) OR status IN ('expired', 'cancelled')),
  CHECK ((offered_at IS NULL) = (offer_expires_at IS NULL))
);
CREATE INDEX waitlist_entries_queue ON waitlist_entries (business_id, slot_id, joined_at, id)
  WHERE status = 'waiting';
CREATE INDEX waitlist_entries_offers ON waitlist_entries (offer_expires_at) WHERE status = 'offered';
-- One live entry per customer and slot.
CREATE UNIQUE INDEX waitlist_entries_one_live ON waitlist_entries (business_id, slot_id, customer_id)
  WHERE status IN ('waiting', 'offered');

CREATE TABLE waitlist_status_edges (from_status text NOT NULL, to_status text NOT NULL, PRIMARY KEY (from_status, to_status));
INSERT INTO waitlist_status_edges VALUES
  ('waiting', 'offered'), ('waiting', 'cancelled'), ('waiting', 'expired'),
  ('offered', 'accepted'), ('offered', 'expired'), ('offered', 'cancelled');
CREATE TRIGGER waitlist_status_edges_append_only BEFORE UPDATE OR DELETE ON waitlist_status_edges
  FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- An offer holds its seats (so accepting it cannot fail and nobody else takes them); the
-- hold is released when the offer is accepted (the booking takes them in the same
-- transaction), expires or is cancelled.
CREATE FUNCTION waitlist_entries_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.status <> 'waiting' THEN
      RAISE EXCEPTION 'a waitlist entry starts as waiting' USING ERRCODE = 'BK004';
    END IF;
    RETURN NEW;
  END IF;
  IF (NEW.business_id, NEW.id, NEW.slot_id, NEW.customer_id, NEW.party_size, NEW.joined_at)
     IS DISTINCT FROM (OLD.business_id, OLD.id, OLD.slot_id, OLD.customer_id, OLD.party_size, OLD.joined_at) THEN
    RAISE EXCEPTION 'a waitlist entry''s slot, customer, party and place never change: leave and join again'
      USING ERRCODE = 'BK007';
  END IF;
  IF NEW.status <> OLD.status AND NOT EXISTS (
       SELECT 1 FROM waitlist_status_edges WHERE from_status = OLD.status AND to_status = NEW.status) THEN
    RAISE EXCEPTION 'a waitlist entry cannot go from % to %', OLD.status, NEW.status USING ERRCODE = 'BK004';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER waitlist_entries_guard BEFORE INSERT OR UPDATE ON waitlist_entries
  FOR EACH ROW EXECUTE FUNCTION waitlist_entries_guard();

CREATE FUNCTION waitlist_entries_seats() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status = OLD.status THEN RETURN NULL; END IF;
  IF NEW.status = 'offered' THEN
    PERFORM slot_take_seats(NEW.business_id, NEW.slot_id, NEW.party_size);
  ELSIF OLD.status = 'offered' THEN
    PERFORM slot_release_seats(NEW.business_id, NEW.slot_id, NEW.party_size);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER waitlist_entries_seats AFTER UPDATE ON waitlist_entries
  FOR EACH ROW EXECUTE FUNCTION waitlist_entries_seats();
CREATE TRIGGER waitlist_entries_audit AFTER INSERT OR UPDATE ON waitlist_entries
  FOR EACH ROW EXECUTE FUNCTION audit_write('waitlist');
CREATE TRIGGER waitlist_entries_never_delete BEFORE DELETE ON waitlist_entries
  FOR EACH ROW EXECUTE FUNCTION refuse_delete();
CREATE TRIGGER waitlist_entries_no_truncate BEFORE TRUNCATE ON waitlist_entries
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_delete();

-- Offer freed seats to the waiting entries of a slot, first in first out, each to the first
-- entry that fits; returns how many offers were made. Offers take seats through
-- slot_take_seats, so promotion can never exceed capacity.
CREATE FUNCTION waitlist_promote(p_business uuid, p_slot uuid) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  s time_slots;
  e waitlist_entries;
  n integer := 0;
  ttl integer;
  at timestamptz := booking_ctx_occurred_at();
BEGIN
  SELECT * INTO s FROM time_slots WHERE business_id = p_business AND id = p_slot FOR UPDATE;
  IF NOT FOUND OR s.is_legacy OR s.starts_at <= at THEN RETURN 0; END IF;
  SELECT waitlist_offer_minutes INTO ttl FROM businesses WHERE id = p_business;
  FOR e IN
    SELECT * FROM waitlist_entries
     WHERE business_id = p_business AND slot_id = p_slot AND status = 'waiting'
     ORDER BY joined_at, id FOR UPDATE
  LOOP
    EXIT WHEN s.max_capacity - s.booked_seats <= 0;
    IF e.party_size <= s.max_capacity - s.booked_seats THEN
      UPDATE waitlist_entries SET status = 'offered', offered_at = at,
             offer_expires_at = least(at + make_interval(mins => ttl), s.starts_at)
       WHERE business_id = p_business AND id = e.id;
      s.booked_seats := s.booked_seats + e.party_size;
      n := n + 1;
    END IF;
  END LOOP;
  RETURN n;
END $$;

-- Freed seats (a cancellation, a smaller party, a reschedule away, a capacity increase, an
-- expired offer) are offered at once, whichever path freed them.
CREATE FUNCTION time_slots_promote() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.max_capacity - NEW.booked_seats) > greatest(OLD.max_capacity - OLD.booked_seats, 0)
     AND booking_ctx('suppress_promote') IS NULL
     AND EXISTS (SELECT 1 FROM waitlist_entries
                  WHERE business_id = NEW.business_id AND slot_id = NEW.id AND status = 'waiting') THEN
    PERFORM waitlist_promote(NEW.business_id, NEW.id);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER time_slots_promote AFTER UPDATE OF booked_seats, max_capacity ON time_slots
  FOR EACH ROW WHEN (NEW.max_capacity - NEW.booked_seats > OLD.max_capacity - OLD.booked_seats)
  EXECUTE FUNCTION time_slots_promote();

-- Every booking moves its slot's counter; auditing that row would find nothing to record
-- (the counter is audited on the booking), so decide that without entering PL/pgSQL.
DROP TRIGGER time_slots_audit ON time_slots;
CREATE TRIGGER time_slots_audit_insert AFTER INSERT ON time_slots
  FOR EACH ROW EXECUTE FUNCTION audit_write('slot');
CREATE TRIGGER time_slots_audit AFTER UPDATE ON time_slots
  -- The guard lets nothing else change: these four are the slot's whole mutable state.
  FOR EACH ROW WHEN ((OLD.max_capacity, OLD.is_legacy, OLD.legacy_since, OLD.schedule_version_id)
                     IS DISTINCT FROM (NEW.max_capacity, NEW.is_legacy, NEW.legacy_since, NEW.schedule_version_id))
  EXECUTE FUNCTION audit_write('slot');

-- Expire offers past their time (each expiry releases seats, which offers them to the next),
-- then close the queues of slots that have started; returns how many offers expired.
CREATE FUNCTION waitlist_expire_offers(p_now timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE n integer;
BEGIN
  UPDATE waitlist_entries SET status = 'expired'
   WHERE status = 'offered' AND offer_expires_at <= p_now;
  GET DIAGNOSTICS n = ROW_COUNT;
  UPDATE waitlist_entries w SET status = 'expired'
    FROM time_slots ts
   WHERE w.status = 'waiting' AND ts.business_id = w.business_id AND ts.id = w.slot_id AND ts.starts_at <= p_now;
  RETURN n;
END $$;

-- ---------------------------------------------------------------- series
CREATE TABLE booking_series (
  business_id      uuid NOT NULL,
  id               uuid NOT NULL DEFAULT gen_random_uuid(),
  customer_id      uuid NOT NULL,
  service_id       uuid NOT NULL,
  resource_id      uuid NOT NULL,
  first_local_date date NOT NULL,
  local_start      time NOT NULL,
  every_days       integer NOT NULL CHECK (every_days BETWEEN 1 AND 366),
  occurrences      integer NOT NULL CHECK (occurrences BETWEEN 1 AND 520),
  party_size       integer NOT NULL CHECK (party_size BETWEEN 1 AND 100),
  mode             text NOT NULL CHECK (mode IN ('all_or_nothing', 'best_effort')),
  created_at       timestamptz NOT NULL,
  PRIMARY KEY (business_id, id),
  FOREIGN KEY (business_id, customer_id) REFERENCES customers (business_id, id),
  FOREIGN KEY (business_id, service_id) REFERENCES services (business_id, id),
  FOREIGN KEY (business_id, resource_id) REFERENCES resources (business_id, id)
);
ALTER TABLE bookings ADD CONSTRAINT bookings_series_fk FOREIGN KEY (business_id, series_id)
  REFERENCES booking_series (business_id, id);
CREATE UNIQUE INDEX bookings_one_per_occurrence ON bookings (business_id, series_id, occurrence)
  WHERE series_id IS NOT NULL AND status NOT IN ('cancelled', 'refunded');
CREATE TRIGGER booking_series_append_only BEFORE UPDATE OR DELETE ON booking_series
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER booking_series_audit AFTER INSERT ON booking_series
  FOR EACH ROW EXECUTE FUNCTION audit_write('series');

-- ---------------------------------------------------------------- bookings: the new columns' rules
CREATE FUNCTION bookings_beyond_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.series_id, NEW.occurrence, NEW.unit_price, NEW.promo_code, NEW.price_rule_id, NEW.discount)
     IS DISTINCT FROM (OLD.series_id, OLD.occurrence, OLD.unit_price, OLD.promo_code, OLD.price_rule_id, OLD.discount) THEN
    RAISE EXCEPTION 'a booking''s series, locked unit price and discount never change' USING ERRCODE = 'BK007';
  END IF;
  -- The price is locked: the total moves only with the party, at the locked unit price.
  IF NEW.amount <> OLD.amount AND (NEW.party_size = OLD.party_size
       OR (OLD.unit_price IS NOT NULL AND NEW.amount <> greatest(OLD.unit_price * NEW.party_size - OLD.discount, 0))) THEN
    RAISE EXCEPTION 'a booking''s price is locked when it is made: later price changes never touch it'
      USING ERRCODE = 'BK007';
  END IF;
  IF NEW.slot_id <> OLD.slot_id AND EXISTS (
       SELECT 1 FROM booking_resources WHERE business_id = NEW.business_id AND booking_id = NEW.id) THEN
    RAISE EXCEPTION 'a booking holding several resources cannot be moved: cancel it and book the new time'
      USING ERRCODE = 'BK004';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER bookings_beyond_guard BEFORE UPDATE ON bookings
  FOR EACH ROW EXECUTE FUNCTION bookings_beyond_guard();

-- Seats now come from three places: bookings, their extra resources, and waitlist offers.
CREATE OR REPLACE FUNCTION bookings_seats() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  old_hold integer := 0;
  new_hold integer := 0;
  r booking_resources;
BEGIN
  IF TG_OP = 'UPDATE' AND booking_holds_seat(OLD.status) THEN old_hold := OLD.party_size; END IF;
  IF booking_holds_seat(NEW.status) THEN new_hold := NEW.party_size; END IF;
  -- A waitlist offer's hold passes to the booking it became (same transaction, slot locked).
  -- The release must not offer those seats to the next in line: they are this booking's.
  IF new_hold > 0 AND (TG_OP = 'INSERT' OR old_hold = 0) THEN
    PERFORM set_config('booking.suppress_promote', 'on', true);
    UPDATE waitlist_entries SET status = 'accepted'
     WHERE business_id = NEW.business_id AND booking_id = NEW.id AND status = 'offered';
  END IF;
  IF TG_OP = 'INSERT' OR NEW.slot_id = OLD.slot_id THEN
    IF new_hold > old_hold THEN
      PERFORM slot_take_seats(NEW.business_id, NEW.slot_id, new_hold - old_hold);
    ELSIF new_hold < old_hold THEN
      PERFORM slot_release_seats(NEW.business_id, NEW.slot_id, old_hold - new_hold);
    END IF;
  ELSIF NEW.slot_id < OLD.slot_id THEN
    IF new_hold > 0 THEN PERFORM slot_take_seats(NEW.business_id, NEW.slot_id, new_hold); END IF;
    IF old_hold > 0 THEN PERFORM slot_release_seats(OLD.business_id, OLD.slot_id, old_hold); END IF;
  ELSE
    IF old_hold > 0 THEN PERFORM slot_release_seats(OLD.business_id, OLD.slot_id, old_hold); END IF;
    IF new_hold > 0 THEN PERFORM slot_take_seats(NEW.business_id, NEW.slot_id, new_hold); END IF;
  END IF;
  PERFORM set_config('booking.suppress_promote', '', true);
  -- Extra resources follow the booking into and out of holding seats, in slot id order.
  IF TG_OP = 'UPDATE' AND (old_hold > 0) <> (new_hold > 0) THEN
    FOR r IN SELECT * FROM booking_resources WHERE business_id = NEW.business_id AND booking_id = NEW.id ORDER BY slot_id
    LOOP
      IF new_hold > 0 THEN
        PERFORM slot_take_seats(r.business_id, r.slot_id, r.quantity);
      ELSE
        PERFORM slot_release_seats(r.business_id, r.slot_id, r.quantity);
      END IF;
    END LOOP;
  END IF;
  IF TG_OP = 'INSERT' OR NEW.status <> OLD.status THEN
    INSERT INTO booking_state_transitions (business_id, booking_id, from_status, to_status, reason,
                                           actor_type, actor_id, channel, occurred_at)
    VALUES (NEW.business_id, NEW.id, CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END, NEW.status,
            booking_ctx('reason'), booking_ctx_actor_type(), booking_ctx_actor_id(), booking_ctx_channel(),
            booking_ctx_occurred_at());
  END IF;
  RETURN NULL;
END $$;

-- Every seat a slot counts, by where it comes from: the integrity checks compare its sum
-- with time_slots.booked_seats.
CREATE VIEW slot_seat_holds AS
SELECT business_id, slot_id, sum(seats)::integer AS seats FROM (
  SELECT business_id, slot_id, party_size AS seats FROM bookings WHERE booking_holds_seat(status)
  UNION ALL
  SELECT r.business_id, r.slot_id, r.quantity FROM booking_resources r
    JOIN bookings b ON b.business_id = r.business_id AND b.id = r.booking_id WHERE booking_holds_seat(b.status)
  UNION ALL
  SELECT business_id, slot_id, party_size FROM waitlist_entries WHERE status = 'offered'
) holds GROUP BY business_id, slot_id;

-- ---------------------------------------------------------------- booking_create with the price lock
DROP FUNCTION booking_create(uuid, uuid, uuid, uuid, integer, text, actor_type, text, change_channel, text, timestamptz);
CREATE FUNCTION booking_create(
  p_business uuid, p_id uuid, p_slot uuid, p_customer uuid, p_party integer,
  p_idempotency_key text, p_actor_type actor_type, p_actor_id text, p_channel change_channel,
  p_reason text, p_occurred_at timestamptz, p_promo_code text DEFAULT NULL,
  p_series uuid DEFAULT NULL, p_occurrence integer DEFAULT NULL, p_status booking_status DEFAULT NULL)
RETURNS TABLE (booking bookings, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
  b            bookings;
  slot_starts  timestamptz;
  svc_name     text;
  svc_max      integer;
  svc_method   payment_method;
  slot_free    integer;
  slot_legacy  boolean;
  slot_date    date;
  slot_local   time;
  svc_id       uuid;
  svc_price    numeric;
  svc_currency char(3);
  q            record;
BEGIN
  PERFORM set_config('booking.actor_type', p_actor_type::text, true),
          set_config('booking.actor_id', p_actor_id, true),
          set_config('booking.channel', p_channel::text, true),
          set_config('booking.reason', coalesce(p_reason, ''), true),
          set_config('booking.occurred_at', p_occurred_at::text, true);
  SELECT ts.starts_at, ts.max_capacity - ts.booked_seats, ts.is_legacy, ts.local_date, ts.local_start,
         sv.id, sv.name, sv.max_party_size, sv.payment_method, sv.price, sv.currency
    INTO slot_starts, slot_free, slot_legacy, slot_date, slot_local, svc_id, svc_name, svc_max, svc_method,
         svc_price, svc_currency
    FROM time_slots ts JOIN services sv ON sv.business_id = ts.business_id AND sv.id = ts.service_id
   WHERE ts.business_id = p_business AND ts.id = p_slot;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'slot % does not exist: list the open slots and pick one', p_slot USING ERRCODE = 'BK003';
  END IF;
  IF p_party > svc_max THEN
    RAISE EXCEPTION 'party of % is more than % takes (at most %): split the party', p_party, svc_name,
      svc_max USING ERRCODE = 'BK013';
  END IF;
  IF slot_starts <= p_occurred_at THEN
    RAISE EXCEPTION 'slot % started at %: pick a slot in the future', p_slot, slot_starts USING ERRCODE = 'BK012';
  END IF;
  -- A draft (pay now) takes its seat only when paid, but is not started for a slot that cannot
  -- take it now: the customer would pay for a refund.
  IF svc_method = 'pay_now' AND coalesce(p_status, 'draft') = 'draft' THEN
    IF slot_legacy THEN
      RAISE EXCEPTION 'slot % is no longer in the schedule (legacy): pick a slot from the current schedule', p_slot
        USING ERRCODE = 'BK002';
    ELSIF slot_free < p_party AND NOT EXISTS (
        SELECT 1 FROM waitlist_entries w WHERE w.business_id = p_business AND w.booking_id = p_id
           AND w.status = 'offered') THEN
      RAISE EXCEPTION 'slot % has % seats free, % requested: choose another slot or a smaller party', p_slot,
        greatest(slot_free, 0), p_party USING ERRCODE = 'BK001';
    END IF;
  END IF;
  q := booking_price(p_business, svc_id, slot_starts, slot_date, slot_local, svc_price, svc_currency, p_party,
                     p_promo_code, p_occurred_at);
  INSERT INTO bookings (business_id, id, slot_id, customer_id, party_size, status, payment_method,
                        amount, currency, unit_price, discount, promo_code, price_rule_id, series_id, occurrence,
                        idempotency_key, created_at, updated_at)
  VALUES (p_business, p_id, p_slot, p_customer, p_party,
          coalesce(p_status, CASE svc_method WHEN 'pay_now' THEN 'draft' ELSE 'confirmed' END::booking_status),
          svc_method, q.amount, q.currency, q.unit_price, q.discount, p_promo_code, q.price_rule_id,
          p_series, p_occurrence, p_idempotency_key, p_occurred_at, p_occurred_at)
  ON CONFLICT (business_id, idempotency_key) DO NOTHING
  RETURNING * INTO b;
  IF FOUND THEN
    IF p_promo_code IS NOT NULL THEN
      UPDATE promo_codes SET uses = uses + 1 WHERE business_id = p_business AND code = p_promo_code;
    END IF;
    booking := b; replayed := false; RETURN NEXT; RETURN;
  END IF;
  SELECT * INTO b FROM bookings WHERE business_id = p_business AND idempotency_key = p_idempotency_key;
  IF (b.slot_id, b.customer_id, b.party_size) IS DISTINCT FROM (p_slot, p_customer, p_party) THEN
    RAISE EXCEPTION 'idempotency key % was used for a different booking: use a new key for a new request',
      p_idempotency_key USING ERRCODE = 'BK008';
  END IF;
  booking := b; replayed := true; RETURN NEXT;
END $$;

-- ---------------------------------------------------------------- audit action names
CREATE OR REPLACE FUNCTION audit_action(entity text, op text, o jsonb, n jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF op = 'INSERT' THEN
    RETURN CASE entity WHEN 'waitlist' THEN 'waitlist.joined' ELSE entity || '.created' END;
  END IF;
  IF entity = 'booking' THEN
    IF o->>'slot_id' IS DISTINCT FROM n->>'slot_id' THEN RETURN 'booking.rescheduled'; END IF;
    IF o->>'status' IS DISTINCT FROM n->>'status' THEN RETURN 'booking.' || (n->>'status'); END IF;
    IF o->>'party_size' IS DISTINCT FROM n->>'party_size' THEN RETURN 'booking.party_size_changed'; END IF;
    IF o->>'payment_status' IS DISTINCT FROM n->>'payment_status' THEN RETURN 'booking.payment_status_changed'; END IF;
  ELSIF entity = 'payment' THEN
    IF o->>'status' IS DISTINCT FROM n->>'status' THEN RETURN 'payment.' || (n->>'status'); END IF;
  ELSIF entity = 'waitlist' THEN
    IF o->>'status' IS DISTINCT FROM n->>'status' THEN RETURN 'waitlist.' || (n->>'status'); END IF;
  ELSIF entity = 'slot' THEN
    IF o->>'is_legacy' IS DISTINCT FROM n->>'is_legacy' THEN
      RETURN CASE WHEN (n->>'is_legacy')::boolean THEN 'slot.made_legacy' ELSE 'slot.restored' END;
    END IF;
    IF o->>'max_capacity' IS DISTINCT FROM n->>'max_capacity' THEN RETURN 'slot.capacity_changed'; END IF;
    IF o->>'schedule_version_id' IS DISTINCT FROM n->>'schedule_version_id' THEN RETURN 'slot.carried_over'; END IF;
  ELSIF entity = 'schedule' THEN
    IF o->>'is_active' IS DISTINCT FROM n->>'is_active' THEN
      RETURN CASE WHEN (n->>'is_active')::boolean THEN 'schedule.published' ELSE 'schedule.superseded' END;
    END IF;
  END IF;
  RETURN entity || '.updated';
END $$;

-- ---------------------------------------------------------------- indexes for the readers
-- The exporter reads the next 30 days of slots per business at every scrape: an index-only
-- scan with the seat figures included; and over-booked slots are found without a scan.
CREATE INDEX time_slots_horizon ON time_slots (business_id, starts_at) INCLUDE (booked_seats, max_capacity, is_legacy);
CREATE INDEX time_slots_over_capacity ON time_slots (business_id, starts_at) WHERE booked_seats > max_capacity;

-- ---------------------------------------------------------------- privileges
GRANT SELECT ON price_rules, promo_codes, booking_resources, waitlist_entries, waitlist_status_edges,
                booking_series, slot_seat_holds TO booking_app, booking_readonly;
GRANT INSERT ON price_rules, promo_codes, booking_resources, waitlist_entries, booking_series TO booking_app;
GRANT UPDATE (uses) ON promo_codes TO booking_app;
GRANT UPDATE (status, offered_at, offer_expires_at, booking_id) ON waitlist_entries TO booking_app;
GRANT UPDATE (waitlist_offer_minutes) ON businesses TO booking_app;
