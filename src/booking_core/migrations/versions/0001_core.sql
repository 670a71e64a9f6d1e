-- The booking core schema: every invariant the database can hold, it holds.
--
-- Keys: every table carries business_id and every primary/unique key starts with it,
-- so the schema can be distributed by business (Citus). Ids are UUIDv7 made by the
-- library (time-ordered, so bookings can be range-partitioned by month on id);
-- gen_random_uuid() is only the default for raw SQL.
--
-- Custom SQLSTATEs (mapped to typed errors in booking_core.adapters.errors):
--   BK001 capacity exceeded      BK002 legacy slot          BK003 unknown slot
--   BK004 illegal transition     BK005 actor not allowed    BK006 append-only / never delete
--   BK007 derived or immutable column written directly     BK008 idempotency key reused
--   BK009 currency mismatch      BK010 refund exceeds payment
--   BK011 invalid timezone       BK012 slot already started BK013 party above the service maximum

-- ---------------------------------------------------------------- types
CREATE TYPE booking_status AS ENUM
  ('draft', 'confirmed', 'checked_in', 'completed', 'no_show', 'cancelled', 'refunded');
CREATE TYPE payment_method AS ENUM ('pay_now', 'pay_on_arrival');
CREATE TYPE payment_status AS ENUM ('pending', 'paid', 'failed', 'refunded', 'partially_refunded');
CREATE TYPE actor_type AS ENUM ('customer', 'admin', 'system', 'database');
CREATE TYPE change_channel AS ENUM ('api', 'ui', 'cli', 'batch', 'sql');

-- ---------------------------------------------------------------- change context
-- Who/why/how of the current transaction, set by the library with set_config(..., true).
-- A change made with raw SQL and no context is attributed to the database user, channel sql.
CREATE FUNCTION booking_ctx(key text) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('booking.' || key, true), '') $$;

CREATE FUNCTION booking_ctx_actor_type() RETURNS actor_type
LANGUAGE sql STABLE AS $$ SELECT coalesce(booking_ctx('actor_type'), 'database')::actor_type $$;

CREATE FUNCTION booking_ctx_actor_id() RETURNS text
LANGUAGE sql STABLE AS $$ SELECT coalesce(booking_ctx('actor_id'), session_user::text) $$;

CREATE FUNCTION booking_ctx_channel() RETURNS change_channel
LANGUAGE sql STABLE AS $$ SELECT coalesce(booking_ctx('channel'), 'sql')::change_channel $$;

-- The event time: the library passes its clock (so generated history has real times);
-- raw SQL gets the transaction time.
CREATE FUNCTION booking_ctx_occurred_at() RETURNS timestamptz
LANGUAGE sql STABLE AS $$ SELECT coalesce(booking_ctx('occurred_at')::timestamptz, now()) $$;

CREATE FUNCTION booking_is_valid_timezone(tz text) RETURNS boolean
LANGUAGE sql STABLE AS $$ SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = tz) $$;

-- ---------------------------------------------------------------- tenants and catalogue
CREATE TABLE businesses (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name        text NOT NULL CHECK (length(btrim(name)) > 0),
  timezone    text NOT NULL,
  currency    char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE customers (
  business_id uuid NOT NULL REFERENCES businesses (id),
  id          uuid NOT NULL DEFAULT gen_random_uuid(),
  name        text NOT NULL,
  email       text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (business_id, id)
);

CREATE TABLE services (
  business_id    uuid NOT NULL REFERENCES businesses (id),
  id             uuid NOT NULL DEFAULT gen_random_uuid(),
  name           text NOT NULL CHECK (length(btrim(name)) > 0),
  kind           text NOT NULL DEFAULT 'appointment',
  max_party_size integer NOT NULL DEFAULT 1 CHECK (max_party_size BETWEEN 1 AND 100),
  price          numeric(12, 2) NOT NULL DEFAULT 0 CHECK (price >= 0),
  currency       char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  payment_method payment_method NOT NULL DEFAULT 'pay_on_arrival',
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (business_id, id),
  UNIQUE (business_id, name)
);

CREATE TABLE resources (
  business_id uuid NOT NULL REFERENCES businesses (id),
  id          uuid NOT NULL DEFAULT gen_random_uuid(),
  name        text NOT NULL CHECK (length(btrim(name)) > 0),
  kind        text NOT NULL DEFAULT 'room' CHECK (kind IN ('room', 'table', 'staff', 'equipment')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (business_id, id),
  UNIQUE (business_id, name)
);

-- ---------------------------------------------------------------- schedules (temporal data)
CREATE TABLE schedule_versions (
  business_id     uuid NOT NULL REFERENCES businesses (id),
  id              uuid NOT NULL DEFAULT gen_random_uuid(),
  version_number  integer NOT NULL CHECK (version_number > 0),
  effective_date  date NOT NULL,
  horizon_date    date NOT NULL,
  note            text,
  created_by      text NOT NULL,
  created_by_type actor_type NOT NULL,
  created_at      timestamptz NOT NULL,
  is_active       boolean NOT NULL DEFAULT false,
  PRIMARY KEY (business_id, id),
  UNIQUE (business_id, version_number),
  CHECK (horizon_date >= effective_date)
);
-- One active (latest published) version per business.
CREATE UNIQUE INDEX schedule_versions_one_active ON schedule_versions (business_id) WHERE is_active;

CREATE TABLE schedule_rules (
  business_id         uuid NOT NULL,
  id                  uuid NOT NULL DEFAULT gen_random_uuid(),
  schedule_version_id uuid NOT NULL,
  service_id          uuid NOT NULL,
  resource_id         uuid NOT NULL,
  iso_weekday         smallint NOT NULL CHECK (iso_weekday BETWEEN 1 AND 7),
  local_start         time NOT NULL,
  duration            interval NOT NULL CHECK (duration > interval '0' AND duration <= interval '24 hours'),
  capacity            integer NOT NULL CHECK (capacity BETWEEN 1 AND 10000),
  PRIMARY KEY (business_id, id),
  UNIQUE (business_id, schedule_version_id, service_id, resource_id, iso_weekday, local_start),
  FOREIGN KEY (business_id, schedule_version_id) REFERENCES schedule_versions (business_id, id),
  FOREIGN KEY (business_id, service_id) REFERENCES services (business_id, id),
  FOREIGN KEY (business_id, resource_id) REFERENCES resources (business_id, id)
);

CREATE TABLE time_slots (
  business_id         uuid NOT NULL,
  id                  uuid NOT NULL DEFAULT gen_random_uuid(),
  schedule_version_id uuid NOT NULL,
  service_id          uuid NOT NULL,
  resource_id         uuid NOT NULL,
  -- The wall-clock time the schedule asked for, and the instant it resolved to.
  local_date          date NOT NULL,
  local_start         time NOT NULL,
  starts_at           timestamptz NOT NULL,
  ends_at             timestamptz NOT NULL,
  max_capacity        integer NOT NULL CHECK (max_capacity BETWEEN 0 AND 10000),
  -- Seats held by bookings; maintained only by the bookings trigger.
  booked_seats        integer NOT NULL DEFAULT 0 CHECK (booked_seats >= 0),
  is_legacy           boolean NOT NULL DEFAULT false,
  legacy_since        timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (business_id, id),
  UNIQUE (business_id, service_id, resource_id, starts_at),
  FOREIGN KEY (business_id, schedule_version_id) REFERENCES schedule_versions (business_id, id),
  FOREIGN KEY (business_id, service_id) REFERENCES services (business_id, id),
  FOREIGN KEY (business_id, resource_id) REFERENCES resources (business_id, id),
  CHECK (ends_at > starts_at),
  CHECK (is_legacy = (legacy_since IS NOT NULL))
);
CREATE INDEX time_slots_business_starts ON time_slots (business_id, starts_at);

-- Every capacity change of a slot, with the seats booked at that moment: an
-- over-committed slot is explained by a reduction here, an overbooked one is not.
CREATE TABLE slot_capacity_changes (
  business_id          uuid NOT NULL,
  id                   uuid NOT NULL DEFAULT gen_random_uuid(),
  slot_id              uuid NOT NULL,
  old_capacity         integer NOT NULL,
  new_capacity         integer NOT NULL,
  booked_seats_at_change integer NOT NULL,
  changed_at           timestamptz NOT NULL,
  actor_type           actor_type NOT NULL,
  actor_id             text NOT NULL,
  reason               text,
  PRIMARY KEY (business_id, id),
  FOREIGN KEY (business_id, slot_id) REFERENCES time_slots (business_id, id)
);
CREATE INDEX slot_capacity_changes_slot ON slot_capacity_changes (business_id, slot_id);

-- ---------------------------------------------------------------- bookings
CREATE TABLE bookings (
  business_id        uuid NOT NULL,
  id                 uuid NOT NULL DEFAULT gen_random_uuid(),
  slot_id            uuid NOT NULL,
  customer_id        uuid NOT NULL,
  party_size         integer NOT NULL CHECK (party_size BETWEEN 1 AND 100),
  status             booking_status NOT NULL,
  payment_method     payment_method NOT NULL,
  payment_status     payment_status NOT NULL DEFAULT 'pending',
  amount             numeric(12, 2) NOT NULL DEFAULT 0 CHECK (amount >= 0),
  currency           char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  cancellation_token uuid NOT NULL DEFAULT gen_random_uuid(),
  idempotency_key    text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
  version            integer NOT NULL DEFAULT 1,
  created_at         timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL,
  PRIMARY KEY (business_id, id),
  UNIQUE (business_id, idempotency_key),
  FOREIGN KEY (business_id, slot_id) REFERENCES time_slots (business_id, id),
  FOREIGN KEY (business_id, customer_id) REFERENCES customers (business_id, id),
  -- Bookings confirmed without payment: a pay-now booking holds a seat only once paid.
  CONSTRAINT pay_now_paid_before_seat CHECK (
    payment_method <> 'pay_now'
    OR status IN ('draft', 'cancelled', 'refunded')
    OR payment_status IN ('paid', 'partially_refunded', 'refunded')
  )
);
CREATE INDEX bookings_slot ON bookings (business_id, slot_id);
CREATE INDEX bookings_customer_status ON bookings (business_id, customer_id, status);

-- Statuses that hold seats in their slot.
CREATE FUNCTION booking_holds_seat(s booking_status) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT s IN ('confirmed', 'checked_in', 'completed', 'no_show') $$;

-- The state machine: the edges, and which actors may walk them (NULL = creation).
CREATE TABLE booking_status_edges (
  from_status booking_status,
  to_status   booking_status NOT NULL,
  actors      actor_type[] NOT NULL,
  UNIQUE NULLS NOT DISTINCT (from_status, to_status)
);
INSERT INTO booking_status_edges VALUES
  (NULL, 'draft',            '{customer,admin,system,database}'),
  (NULL, 'confirmed',        '{customer,admin,system,database}'),
  ('draft', 'confirmed',     '{customer,admin,system,database}'),
  ('draft', 'cancelled',     '{customer,admin}'),
  ('confirmed', 'checked_in','{admin,system,database}'),
  ('confirmed', 'no_show',   '{admin,system,database}'),
  ('confirmed', 'cancelled', '{customer,admin}'),
  ('checked_in', 'completed','{admin,system,database}'),
  ('cancelled', 'refunded',  '{admin,system,database}'),
  ('no_show', 'refunded',    '{admin}');

CREATE TABLE booking_state_transitions (
  business_id uuid NOT NULL,
  id          bigint GENERATED ALWAYS AS IDENTITY,
  booking_id  uuid NOT NULL,
  from_status booking_status,
  to_status   booking_status NOT NULL,
  reason      text,
  actor_type  actor_type NOT NULL,
  actor_id    text NOT NULL,
  channel     change_channel NOT NULL,
  occurred_at timestamptz NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (business_id, id),
  FOREIGN KEY (business_id, booking_id) REFERENCES bookings (business_id, id)
);
CREATE INDEX booking_state_transitions_booking ON booking_state_transitions (business_id, booking_id, id);

-- ---------------------------------------------------------------- payments
CREATE TABLE payments (
  business_id     uuid NOT NULL,
  id              uuid NOT NULL DEFAULT gen_random_uuid(),
  booking_id      uuid NOT NULL,
  amount          numeric(12, 2) NOT NULL CHECK (amount > 0),
  currency        char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  status          payment_status NOT NULL DEFAULT 'pending',
  refunded_amount numeric(12, 2) NOT NULL DEFAULT 0,
  provider_ref    text,
  idempotency_key text,
  failure_reason  text,
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL,
  PRIMARY KEY (business_id, id),
  UNIQUE (business_id, idempotency_key),
  FOREIGN KEY (business_id, booking_id) REFERENCES bookings (business_id, id),
  CHECK (refunded_amount >= 0 AND refunded_amount <= amount),
  CONSTRAINT payment_status_matches_amounts CHECK (
    CASE status
      WHEN 'refunded' THEN refunded_amount = amount
      WHEN 'partially_refunded' THEN refunded_amount > 0 AND refunded_amount < amount
      ELSE refunded_amount = 0
    END
  )
);
CREATE INDEX payments_booking ON payments (business_id, booking_id);

CREATE TABLE payment_status_edges (
  from_status payment_status,
  to_status   payment_status NOT NULL,
  UNIQUE NULLS NOT DISTINCT (from_status, to_status)
);
INSERT INTO payment_status_edges VALUES
  (NULL, 'pending'), (NULL, 'paid'), (NULL, 'failed'),
  ('pending', 'paid'), ('pending', 'failed'),
  ('paid', 'partially_refunded'), ('paid', 'refunded'),
  ('partially_refunded', 'partially_refunded'), ('partially_refunded', 'refunded');

-- Refunds are an immutable ledger; each one moves its payment's refunded_amount.
CREATE TABLE refunds (
  business_id uuid NOT NULL,
  id          uuid NOT NULL DEFAULT gen_random_uuid(),
  payment_id  uuid NOT NULL,
  amount      numeric(12, 2) NOT NULL CHECK (amount > 0),
  currency    char(3) NOT NULL,
  reason      text NOT NULL,
  created_at  timestamptz NOT NULL,
  PRIMARY KEY (business_id, id),
  FOREIGN KEY (business_id, payment_id) REFERENCES payments (business_id, id)
);
CREATE INDEX refunds_payment ON refunds (business_id, payment_id);

-- ---------------------------------------------------------------- audit
CREATE TABLE booking_audit_log (
  business_id  uuid NOT NULL,
  id           bigint GENERATED ALWAYS AS IDENTITY,
  entity_type  text NOT NULL,
  entity_id    uuid NOT NULL,
  booking_id   uuid,
  action       text NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)+$'),
  old_values   jsonb,
  new_values   jsonb,
  reason       text,
  performed_by actor_type NOT NULL,
  performed_by_id text NOT NULL,
  channel      change_channel NOT NULL,
  ip_address   inet,
  user_agent   text,
  occurred_at  timestamptz NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (business_id, id)
);
CREATE INDEX booking_audit_log_booking ON booking_audit_log (business_id, booking_id, id);
CREATE INDEX booking_audit_log_entity ON booking_audit_log (business_id, entity_id, id);

-- The hash chain: sealed in batches by audit_seal() so the booking path never waits on
-- a per-business chain head. Each sealed audit row gets one link.
CREATE TABLE audit_chain (
  business_id uuid NOT NULL,
  seq         bigint NOT NULL CHECK (seq > 0),
  audit_id    bigint NOT NULL,
  prev_hash   bytea NOT NULL,
  hash        bytea NOT NULL,
  sealed_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (business_id, seq),
  UNIQUE (business_id, audit_id),
  FOREIGN KEY (business_id, audit_id) REFERENCES booking_audit_log (business_id, id)
);

CREATE FUNCTION audit_row_hash(prev bytea, a booking_audit_log) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
  SELECT sha256(prev || convert_to(concat_ws('|',
    a.id, a.business_id, quote_nullable(a.entity_type), a.entity_id, quote_nullable(a.booking_id),
    quote_nullable(a.action), quote_nullable(a.old_values::text), quote_nullable(a.new_values::text),
    quote_nullable(a.reason), a.performed_by, quote_nullable(a.performed_by_id), a.channel,
    quote_nullable(host(a.ip_address)), quote_nullable(a.user_agent),
    extract(epoch FROM a.occurred_at), extract(epoch FROM a.recorded_at)), 'UTF8'))
$$;

-- Seal every committed, unsealed audit row of a business, in id order; returns the count.
CREATE FUNCTION audit_seal(p_business uuid) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  head_seq  bigint;
  head_hash bytea;
  prev_hash bytea;
  r         booking_audit_log;
  n         integer := 0;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('audit_seal:' || p_business::text, 0));
  SELECT seq, hash INTO head_seq, head_hash FROM audit_chain
   WHERE business_id = p_business ORDER BY seq DESC LIMIT 1;
  head_seq := coalesce(head_seq, 0);
  head_hash := coalesce(head_hash, '\x'::bytea);
  prev_hash := head_hash;
  FOR r IN
    SELECT a.* FROM booking_audit_log a
     WHERE a.business_id = p_business
       AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.business_id = a.business_id AND c.audit_id = a.id)
     ORDER BY a.id
  LOOP
    head_seq := head_seq + 1;
    head_hash := audit_row_hash(prev_hash, r);
    INSERT INTO audit_chain (business_id, seq, audit_id, prev_hash, hash)
    VALUES (p_business, head_seq, r.id, prev_hash, head_hash);
    prev_hash := head_hash;
    n := n + 1;
  END LOOP;
  RETURN n;
END $$;

-- Walk the chain; the first broken link (or NULL when it verifies) and the unsealed count.
CREATE FUNCTION audit_verify(p_business uuid)
RETURNS TABLE (links bigint, unsealed bigint, first_bad_seq bigint, problem text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  expect_prev bytea := '\x'::bytea;
  expect_seq  bigint := 0;
  c           record;
BEGIN
  links := 0; first_bad_seq := NULL; problem := NULL;
  FOR c IN
    SELECT ch.seq, ch.prev_hash, ch.hash, a AS row, a.id IS NULL AS missing
      FROM audit_chain ch
      LEFT JOIN booking_audit_log a ON a.business_id = ch.business_id AND a.id = ch.audit_id
     WHERE ch.business_id = p_business ORDER BY ch.seq
  LOOP
    expect_seq := expect_seq + 1;
    links := links + 1;
    IF first_bad_seq IS NULL THEN
      IF c.seq <> expect_seq THEN
        first_bad_seq := c.seq; problem := 'link missing before this sequence number';
      ELSIF c.prev_hash <> expect_prev THEN
        first_bad_seq := c.seq; problem := 'previous-hash does not match the link before';
      ELSIF c.missing THEN
        first_bad_seq := c.seq; problem := 'audit row deleted';
      ELSIF audit_row_hash(c.prev_hash, c.row) <> c.hash THEN
        first_bad_seq := c.seq; problem := 'audit row altered after sealing';
      END IF;
    END IF;
    expect_prev := c.hash;
  END LOOP;
  SELECT count(*) INTO unsealed FROM booking_audit_log a
   WHERE a.business_id = p_business
     AND NOT EXISTS (SELECT 1 FROM audit_chain c2 WHERE c2.business_id = a.business_id AND c2.audit_id = a.id);
  RETURN NEXT;
END $$;

-- ---------------------------------------------------------------- guards
CREATE FUNCTION refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% on % is refused: % is append-only, record a new entry instead',
    TG_OP, TG_TABLE_NAME, TG_TABLE_NAME USING ERRCODE = 'BK006';
END $$;

CREATE FUNCTION refuse_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% on % is refused: booking data is never deleted, mark it instead (cancel, legacy)',
    TG_OP, TG_TABLE_NAME USING ERRCODE = 'BK006';
END $$;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['booking_audit_log', 'audit_chain', 'booking_state_transitions',
                           'refunds', 'slot_capacity_changes', 'booking_status_edges',
                           'payment_status_edges', 'schedule_rules']
  LOOP
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION refuse_change()',
                   t || '_append_only', t);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()',
                   t || '_no_truncate', t);
  END LOOP;
  FOREACH t IN ARRAY ARRAY['businesses', 'customers', 'services', 'resources', 'schedule_versions',
                           'time_slots', 'bookings', 'payments']
  LOOP
    EXECUTE format('CREATE TRIGGER %I BEFORE DELETE ON %I FOR EACH ROW EXECUTE FUNCTION refuse_delete()',
                   t || '_never_delete', t);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION refuse_delete()',
                   t || '_no_truncate', t);
  END LOOP;
END $$;

CREATE FUNCTION businesses_validate() RETURNS trigger
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
CREATE TRIGGER businesses_validate BEFORE INSERT OR UPDATE ON businesses
  FOR EACH ROW EXECUTE FUNCTION businesses_validate();

CREATE FUNCTION schedule_versions_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF (to_jsonb(NEW) - 'is_active') <> (to_jsonb(OLD) - 'is_active') THEN
    RAISE EXCEPTION 'a schedule version never changes once created: publish a new version instead'
      USING ERRCODE = 'BK007';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER schedule_versions_guard BEFORE UPDATE ON schedule_versions
  FOR EACH ROW EXECUTE FUNCTION schedule_versions_guard();

-- ---------------------------------------------------------------- slots
CREATE FUNCTION time_slots_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.booked_seats <> 0 THEN
      RAISE EXCEPTION 'a new slot starts with no booked seats' USING ERRCODE = 'BK007';
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
  IF NEW.max_capacity <> OLD.max_capacity THEN
    INSERT INTO slot_capacity_changes (business_id, slot_id, old_capacity, new_capacity,
                                       booked_seats_at_change, changed_at, actor_type, actor_id, reason)
    VALUES (NEW.business_id, NEW.id, OLD.max_capacity, NEW.max_capacity, OLD.booked_seats,
            booking_ctx_occurred_at(), booking_ctx_actor_type(), booking_ctx_actor_id(), booking_ctx('reason'));
  END IF;
  NEW.updated_at := now();
  RETURN NEW;
END $$;
CREATE TRIGGER time_slots_guard BEFORE INSERT OR UPDATE ON time_slots
  FOR EACH ROW EXECUTE FUNCTION time_slots_guard();

-- Take seats in a slot, or raise why not. The conditional UPDATE is the whole capacity
-- guarantee: it runs under the slot's row lock and re-checks the latest row.
CREATE FUNCTION slot_take_seats(p_business uuid, p_slot uuid, p_seats integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE s time_slots;
BEGIN
  UPDATE time_slots SET booked_seats = booked_seats + p_seats
   WHERE business_id = p_business AND id = p_slot
     AND NOT is_legacy AND booked_seats + p_seats <= max_capacity;
  IF FOUND THEN RETURN; END IF;
  SELECT * INTO s FROM time_slots WHERE business_id = p_business AND id = p_slot;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'slot % does not exist: list the open slots and pick one', p_slot
      USING ERRCODE = 'BK003';
  ELSIF s.is_legacy THEN
    RAISE EXCEPTION 'slot % is no longer in the schedule (legacy): pick a slot from the current schedule', p_slot
      USING ERRCODE = 'BK002';
  ELSE
    RAISE EXCEPTION 'slot % has % of % seats free, % requested: choose another slot or a smaller party',
      p_slot, greatest(s.max_capacity - s.booked_seats, 0), s.max_capacity, p_seats
      USING ERRCODE = 'BK001',
            DETAIL = json_build_object('slot_id', p_slot, 'free', greatest(s.max_capacity - s.booked_seats, 0),
                                       'requested', p_seats)::text;
  END IF;
END $$;

CREATE FUNCTION slot_release_seats(p_business uuid, p_slot uuid, p_seats integer) RETURNS void
LANGUAGE sql AS $$
  UPDATE time_slots SET booked_seats = booked_seats - p_seats WHERE business_id = p_business AND id = p_slot
$$;

-- ---------------------------------------------------------------- booking triggers
CREATE FUNCTION bookings_before() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  actor actor_type := booking_ctx_actor_type();
  edge_actors actor_type[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.version := 1;
    NEW.created_at := coalesce(NEW.created_at, booking_ctx_occurred_at());
    NEW.updated_at := NEW.created_at;
    IF NEW.payment_status <> 'pending' THEN
      RAISE EXCEPTION 'a new booking has payment_status pending: record a payment to change it'
        USING ERRCODE = 'BK007';
    END IF;
    SELECT actors INTO edge_actors FROM booking_status_edges WHERE from_status IS NULL AND to_status = NEW.status;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'a booking cannot be created as %: create it as draft or confirmed', NEW.status
        USING ERRCODE = 'BK004';
    END IF;
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
  IF NEW.payment_status <> OLD.payment_status AND pg_trigger_depth() < 2 THEN
    RAISE EXCEPTION 'bookings.payment_status is derived from its payments: record a payment or refund instead'
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
  NEW.version := OLD.version + 1;
  NEW.updated_at := booking_ctx_occurred_at();
  RETURN NEW;
END $$;
CREATE TRIGGER bookings_before BEFORE INSERT OR UPDATE ON bookings
  FOR EACH ROW EXECUTE FUNCTION bookings_before();

-- Seat accounting runs AFTER the row is written, so a row skipped by ON CONFLICT never
-- takes seats. Seats are taken before released and slots are locked in id order, so
-- two reschedules between the same slots cannot deadlock.
CREATE FUNCTION bookings_seats() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  old_hold integer := 0;
  new_hold integer := 0;
BEGIN
  IF TG_OP = 'UPDATE' AND booking_holds_seat(OLD.status) THEN old_hold := OLD.party_size; END IF;
  IF booking_holds_seat(NEW.status) THEN new_hold := NEW.party_size; END IF;
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
  IF TG_OP = 'INSERT' OR NEW.status <> OLD.status THEN
    INSERT INTO booking_state_transitions (business_id, booking_id, from_status, to_status, reason,
                                           actor_type, actor_id, channel, occurred_at)
    VALUES (NEW.business_id, NEW.id, CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END, NEW.status,
            booking_ctx('reason'), booking_ctx_actor_type(), booking_ctx_actor_id(), booking_ctx_channel(),
            booking_ctx_occurred_at());
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER bookings_seats AFTER INSERT OR UPDATE ON bookings
  FOR EACH ROW EXECUTE FUNCTION bookings_seats();

-- ---------------------------------------------------------------- payment triggers
CREATE FUNCTION payments_before() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE b_currency char(3);
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT currency INTO b_currency FROM bookings WHERE business_id = NEW.business_id AND id = NEW.booking_id;
    IF FOUND AND b_currency <> NEW.currency THEN
      RAISE EXCEPTION 'payment in % for a booking priced in %: pay in the booking''s currency', NEW.currency, b_currency
        USING ERRCODE = 'BK009';
    END IF;
    IF NEW.refunded_amount <> 0 THEN
      RAISE EXCEPTION 'a new payment has nothing refunded: record a refund instead' USING ERRCODE = 'BK007';
    END IF;
    NEW.created_at := coalesce(NEW.created_at, booking_ctx_occurred_at());
    NEW.updated_at := NEW.created_at;
  ELSE
    IF (NEW.business_id, NEW.id, NEW.booking_id, NEW.amount, NEW.currency, NEW.idempotency_key, NEW.created_at)
       IS DISTINCT FROM
       (OLD.business_id, OLD.id, OLD.booking_id, OLD.amount, OLD.currency, OLD.idempotency_key, OLD.created_at) THEN
      RAISE EXCEPTION 'a payment''s booking, amount and currency never change: record a refund or a new payment'
        USING ERRCODE = 'BK007';
    END IF;
    IF NEW.refunded_amount <> OLD.refunded_amount AND pg_trigger_depth() < 2 THEN
      RAISE EXCEPTION 'payments.refunded_amount is the sum of its refunds: record a refund instead'
        USING ERRCODE = 'BK007';
    END IF;
    NEW.updated_at := booking_ctx_occurred_at();
  END IF;
  IF (TG_OP = 'INSERT' OR NEW.status <> OLD.status) AND NOT EXISTS (
       SELECT 1 FROM payment_status_edges
        WHERE from_status IS NOT DISTINCT FROM (CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END)
          AND to_status = NEW.status) THEN
    RAISE EXCEPTION 'a payment cannot go from % to %', coalesce((CASE WHEN TG_OP = 'UPDATE' THEN OLD.status::text END), 'nothing'), NEW.status
      USING ERRCODE = 'BK004';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER payments_before BEFORE INSERT OR UPDATE ON payments
  FOR EACH ROW EXECUTE FUNCTION payments_before();

-- A booking's payment_status is a function of its payments, recomputed in the same
-- statement as any payment change: the two cannot drift.
CREATE FUNCTION booking_payment_status(p_business uuid, p_booking uuid) RETURNS payment_status
LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN sum(amount) FILTER (WHERE status IN ('paid', 'partially_refunded', 'refunded')) IS NULL THEN
      CASE WHEN bool_or(status = 'failed') AND NOT bool_or(status = 'pending') THEN 'failed' ELSE 'pending' END
    WHEN sum(refunded_amount) = 0 THEN 'paid'
    WHEN sum(refunded_amount) >= sum(amount) FILTER (WHERE status IN ('paid', 'partially_refunded', 'refunded'))
      THEN 'refunded'
    ELSE 'partially_refunded'
  END::payment_status
  FROM payments WHERE business_id = p_business AND booking_id = p_booking
$$;

CREATE FUNCTION payments_after() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE bookings SET payment_status = coalesce(booking_payment_status(NEW.business_id, NEW.booking_id), 'pending')
   WHERE business_id = NEW.business_id AND id = NEW.booking_id
     AND payment_status IS DISTINCT FROM coalesce(booking_payment_status(NEW.business_id, NEW.booking_id), 'pending');
  RETURN NULL;
END $$;
CREATE TRIGGER payments_after AFTER INSERT OR UPDATE ON payments
  FOR EACH ROW EXECUTE FUNCTION payments_after();

CREATE FUNCTION refunds_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE p payments;
BEGIN
  SELECT * INTO p FROM payments WHERE business_id = NEW.business_id AND id = NEW.payment_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'payment % does not exist', NEW.payment_id USING ERRCODE = '23503';
  END IF;
  IF NEW.currency <> p.currency THEN
    RAISE EXCEPTION 'refund in % for a payment in %: refund in the payment''s currency', NEW.currency, p.currency
      USING ERRCODE = 'BK009';
  END IF;
  IF p.status NOT IN ('paid', 'partially_refunded') THEN
    RAISE EXCEPTION 'payment % is %: only a paid payment can be refunded', p.id, p.status USING ERRCODE = 'BK004';
  END IF;
  IF p.refunded_amount + NEW.amount > p.amount THEN
    RAISE EXCEPTION 'refund of % exceeds the % still refundable on payment %: refund at most that',
      NEW.amount, p.amount - p.refunded_amount, p.id USING ERRCODE = 'BK010';
  END IF;
  UPDATE payments SET refunded_amount = refunded_amount + NEW.amount,
         status = CASE WHEN refunded_amount + NEW.amount = amount THEN 'refunded' ELSE 'partially_refunded' END::payment_status
   WHERE business_id = NEW.business_id AND id = NEW.payment_id;
  RETURN NULL;
END $$;
CREATE TRIGGER refunds_apply AFTER INSERT ON refunds
  FOR EACH ROW EXECUTE FUNCTION refunds_apply();

-- ---------------------------------------------------------------- audit triggers
-- Every change to a booking, payment, refund, slot or schedule writes its audit row in
-- the same statement, so no path (library, raw SQL, a future one) can skip it.
CREATE FUNCTION audit_action(entity text, op text, o jsonb, n jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF op = 'INSERT' THEN RETURN entity || '.created'; END IF;
  IF entity = 'booking' THEN
    IF o->>'slot_id' IS DISTINCT FROM n->>'slot_id' THEN RETURN 'booking.rescheduled'; END IF;
    IF o->>'status' IS DISTINCT FROM n->>'status' THEN RETURN 'booking.' || (n->>'status'); END IF;
    IF o->>'party_size' IS DISTINCT FROM n->>'party_size' THEN RETURN 'booking.party_size_changed'; END IF;
    IF o->>'payment_status' IS DISTINCT FROM n->>'payment_status' THEN RETURN 'booking.payment_status_changed'; END IF;
  ELSIF entity = 'payment' THEN
    IF o->>'status' IS DISTINCT FROM n->>'status' THEN RETURN 'payment.' || (n->>'status'); END IF;
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

CREATE FUNCTION audit_write() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  entity text := TG_ARGV[0];
  o jsonb;
  n jsonb := to_jsonb(NEW);
  bid uuid;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    o := to_jsonb(OLD);
    -- Derived bookkeeping (seat counters, timestamps, versions) is audited on the booking itself.
    IF (o - 'booked_seats' - 'updated_at' - 'version') = (n - 'booked_seats' - 'updated_at' - 'version') THEN
      RETURN NULL;
    END IF;
  END IF;
  bid := CASE entity WHEN 'booking' THEN NEW.id
                     WHEN 'payment' THEN (n->>'booking_id')::uuid
                     WHEN 'refund' THEN (SELECT booking_id FROM payments
                                          WHERE business_id = (n->>'business_id')::uuid AND id = (n->>'payment_id')::uuid)
         END;
  INSERT INTO booking_audit_log (business_id, entity_type, entity_id, booking_id, action, old_values, new_values,
                                 reason, performed_by, performed_by_id, channel, ip_address, user_agent, occurred_at)
  VALUES (CASE WHEN entity = 'business' THEN NEW.id ELSE (n->>'business_id')::uuid END,
          entity, NEW.id, bid, audit_action(entity, TG_OP, o, n), o, n,
          booking_ctx('reason'), booking_ctx_actor_type(), booking_ctx_actor_id(), booking_ctx_channel(),
          booking_ctx('ip_address')::inet, booking_ctx('user_agent'), booking_ctx_occurred_at());
  RETURN NULL;
END $$;

CREATE TRIGGER businesses_audit AFTER INSERT OR UPDATE ON businesses
  FOR EACH ROW EXECUTE FUNCTION audit_write('business');
CREATE TRIGGER services_audit AFTER INSERT OR UPDATE ON services
  FOR EACH ROW EXECUTE FUNCTION audit_write('service');
CREATE TRIGGER resources_audit AFTER INSERT OR UPDATE ON resources
  FOR EACH ROW EXECUTE FUNCTION audit_write('resource');
CREATE TRIGGER schedule_versions_audit AFTER INSERT OR UPDATE ON schedule_versions
  FOR EACH ROW EXECUTE FUNCTION audit_write('schedule');
CREATE TRIGGER time_slots_audit AFTER INSERT OR UPDATE ON time_slots
  FOR EACH ROW EXECUTE FUNCTION audit_write('slot');
CREATE TRIGGER bookings_audit AFTER INSERT OR UPDATE ON bookings
  FOR EACH ROW EXECUTE FUNCTION audit_write('booking');
CREATE TRIGGER payments_audit AFTER INSERT OR UPDATE ON payments
  FOR EACH ROW EXECUTE FUNCTION audit_write('payment');
CREATE TRIGGER refunds_audit AFTER INSERT ON refunds
  FOR EACH ROW EXECUTE FUNCTION audit_write('refund');

-- ---------------------------------------------------------------- the one-round-trip booking
-- Create a booking (or return the one an earlier request with the same idempotency key
-- made) in one statement. The service's price is locked in here; pay-now bookings start as
-- draft (no seat until paid), pay-on-arrival ones as confirmed. The triggers above take
-- the seats and write the transition and the audit row.
CREATE FUNCTION booking_create(
  p_business uuid, p_id uuid, p_slot uuid, p_customer uuid, p_party integer,
  p_idempotency_key text, p_actor_type actor_type, p_actor_id text, p_channel change_channel,
  p_reason text, p_occurred_at timestamptz)
RETURNS TABLE (booking bookings, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
  b            bookings;
  slot_starts  timestamptz;
  svc_name     text;
  svc_max      integer;
  svc_method   payment_method;
  svc_price    numeric;
  svc_currency char(3);
BEGIN
  PERFORM set_config('booking.actor_type', p_actor_type::text, true),
          set_config('booking.actor_id', p_actor_id, true),
          set_config('booking.channel', p_channel::text, true),
          set_config('booking.reason', coalesce(p_reason, ''), true),
          set_config('booking.occurred_at', p_occurred_at::text, true);
  SELECT ts.starts_at, sv.name, sv.max_party_size, sv.payment_method, sv.price, sv.currency
    INTO slot_starts, svc_name, svc_max, svc_method, svc_price, svc_currency
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
  INSERT INTO bookings (business_id, id, slot_id, customer_id, party_size, status, payment_method,
                        amount, currency, idempotency_key, created_at, updated_at)
  VALUES (p_business, p_id, p_slot, p_customer, p_party,
          CASE svc_method WHEN 'pay_now' THEN 'draft' ELSE 'confirmed' END::booking_status,
          svc_method, svc_price * p_party, svc_currency, p_idempotency_key, p_occurred_at, p_occurred_at)
  ON CONFLICT (business_id, idempotency_key) DO NOTHING
  RETURNING * INTO b;
  IF FOUND THEN
    booking := b; replayed := false; RETURN NEXT; RETURN;
  END IF;
  SELECT * INTO b FROM bookings WHERE business_id = p_business AND idempotency_key = p_idempotency_key;
  IF (b.slot_id, b.customer_id, b.party_size) IS DISTINCT FROM (p_slot, p_customer, p_party) THEN
    RAISE EXCEPTION 'idempotency key % was used for a different booking: use a new key for a new request',
      p_idempotency_key USING ERRCODE = 'BK008';
  END IF;
  booking := b; replayed := true; RETURN NEXT;
END $$;

-- ---------------------------------------------------------------- roles and privileges
-- booking_app: what the library needs and nothing more (no DELETE anywhere, no UPDATE of
-- history). booking_readonly: the dashboard and exporter.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'booking_app') THEN
    CREATE ROLE booking_app NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'booking_readonly') THEN
    CREATE ROLE booking_readonly NOLOGIN;
  END IF;
END $$;

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO booking_app, booking_readonly;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO booking_app, booking_readonly;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO booking_app;
GRANT INSERT ON businesses, customers, services, resources, schedule_versions, schedule_rules,
                time_slots, bookings, payments, refunds, booking_audit_log, audit_chain,
                booking_state_transitions, slot_capacity_changes TO booking_app;
GRANT UPDATE (name, currency) ON businesses TO booking_app;
GRANT UPDATE (name, email) ON customers TO booking_app;
GRANT UPDATE (name, kind, max_party_size, price, payment_method) ON services TO booking_app;
GRANT UPDATE (name, kind) ON resources TO booking_app;
GRANT UPDATE (is_active) ON schedule_versions TO booking_app;
GRANT UPDATE (schedule_version_id, max_capacity, is_legacy, legacy_since, booked_seats, updated_at) ON time_slots TO booking_app;
GRANT UPDATE (slot_id, party_size, status, payment_status, version, updated_at, amount) ON bookings TO booking_app;
GRANT UPDATE (status, refunded_amount, provider_ref, failure_reason, updated_at) ON payments TO booking_app;
