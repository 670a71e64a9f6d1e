-- ---------------------------------------------------------------- tenants and catalogue
CREATE TABLE businesses (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name        text NOT NULL CHECK (length(btrim(name)) > 0),
  timezone    text NOT NULL,
  currency    char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  created_at  timestamptz NOT NULL DEFAULT now(),
  waitlist_offer_minutes integer NOT NULL DEFAULT 15 CHECK (waitlist_offer_minutes BETWEEN 1 AND 10080),
  free_cancellation_hours integer NOT NULL DEFAULT 24 CHECK (free_cancellation_hours BETWEEN 0 AND 8760),
  late_cancellation_fee_percent numeric(5, 2) NOT NULL DEFAULT 50
    CHECK (late_cancellation_fee_percent BETWEEN 0 AND 100)
);
COMMENT ON COLUMN businesses.free_cancellation_hours IS
  'A customer who cancels at least this long before the slot starts gets everything back';
COMMENT ON COLUMN businesses.late_cancellation_fee_percent IS
  'Share of the booking amount the business keeps when a customer cancels later than that';

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
-- The exporter reads the next 30 days of slots per business at every scrape: an index-only
-- scan with the seat figures included; and over-booked slots are found without a scan.
CREATE INDEX time_slots_horizon ON time_slots (business_id, starts_at) INCLUDE (booked_seats, max_capacity, is_legacy);
CREATE INDEX time_slots_over_capacity ON time_slots (business_id, starts_at) WHERE booked_seats > max_capacity;
-- enqueue_reminders runs every minute: find the window's slots by time across businesses,
-- then their bookings (bookings_slot), instead of scanning every booking.
CREATE INDEX time_slots_starts_for_reminders ON time_slots (starts_at);
COMMENT ON COLUMN time_slots.local_date IS
  'Derived: the local date of starts_at in the business''s timezone (a moved DST-gap time is stored as moved)';
COMMENT ON COLUMN time_slots.local_start IS 'Derived: the local wall-clock time of starts_at in the business''s timezone';

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
  -- The price locked in when the booking is made; NULL on bookings made before prices were
  -- locked (amount is their price).
  unit_price         numeric(12, 2) CHECK (unit_price >= 0),
  discount           numeric(12, 2) NOT NULL DEFAULT 0 CHECK (discount >= 0),
  promo_code         text,
  price_rule_id      uuid,
  series_id          uuid,
  occurrence         integer CHECK (occurrence >= 0),
  paid_amount        numeric(12, 2) NOT NULL DEFAULT 0 CHECK (paid_amount >= 0),
  refunded_amount    numeric(12, 2) NOT NULL DEFAULT 0,
  cancellation_fee   numeric(12, 2),
  -- What the business owes back: on a cancelled booking what it received less what it returned
  -- and the fee it may keep; on any other booking an overpayment.
  refund_due         numeric(12, 2) GENERATED ALWAYS AS (
    greatest(paid_amount - refunded_amount
             - CASE WHEN status IN ('cancelled', 'refunded') THEN cancellation_fee ELSE amount END, 0)) STORED,
  PRIMARY KEY (business_id, id),
  UNIQUE (business_id, idempotency_key),
  FOREIGN KEY (business_id, slot_id) REFERENCES slot_keys (business_id, id),
  FOREIGN KEY (business_id, customer_id) REFERENCES customers (business_id, id),
  CONSTRAINT bookings_series_fk FOREIGN KEY (business_id, series_id) REFERENCES booking_series (business_id, id),
  CONSTRAINT bookings_series_has_occurrence CHECK ((series_id IS NULL) = (occurrence IS NULL)),
  CONSTRAINT bookings_refunds_within_paid CHECK (refunded_amount BETWEEN 0 AND paid_amount),
  CONSTRAINT bookings_fee_on_cancellation CHECK (
    (cancellation_fee IS NOT NULL) = (status IN ('cancelled', 'refunded'))
    AND (cancellation_fee IS NULL OR cancellation_fee BETWEEN 0 AND amount))
);
-- NOT VALID: rows written before these rules keep their statuses and are found by the
-- integrity checks; every row written since is held.
ALTER TABLE bookings
  -- The money and the status say the same thing. The last branch is partially_paid.
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
  ADD CONSTRAINT pay_now_paid_before_seat CHECK (
    payment_method <> 'pay_now' OR status IN ('draft', 'cancelled', 'refunded') OR paid_amount >= amount) NOT VALID;
COMMENT ON COLUMN bookings.paid_amount IS
  'Derived: money received, the amounts of its paid payments (refunds do not lower it)';
COMMENT ON COLUMN bookings.refunded_amount IS 'Derived: money returned, the sum of its payments'' refunds';
COMMENT ON COLUMN bookings.cancellation_fee IS
  'Derived at cancellation from the business''s policy: what the business may keep';
COMMENT ON COLUMN bookings.refund_due IS 'Derived: money the business owes back (cancellation refund or overpayment)';
CREATE INDEX bookings_slot ON bookings (business_id, slot_id);
CREATE INDEX bookings_customer_status ON bookings (business_id, customer_id, status);
CREATE UNIQUE INDEX bookings_one_per_occurrence ON bookings (business_id, series_id, occurrence)
  WHERE series_id IS NOT NULL AND status NOT IN ('cancelled', 'refunded');

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
-- status_not_last_transition: each booking's newest transition (DISTINCT ON ... id DESC)
-- read in index order, with its target status, without touching the table.
CREATE INDEX booking_state_transitions_last
  ON booking_state_transitions (business_id, booking_id, id DESC) INCLUDE (to_status);

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
-- booking_without_created_audit and transition_without_audit: "is there an audit row of
-- this booking with this action?" for every booking and every transition.
CREATE INDEX booking_audit_log_booking_action ON booking_audit_log (business_id, booking_id, action);

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

-- ---------------------------------------------------------------- integrity checks and refused attempts
-- Stored integrity check runs (read by the dashboard and the exporter without re-running),
-- and refused booking attempts (so "attempts refused" is a counter that survives restarts).

CREATE TABLE integrity_check_runs (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  started_at       timestamptz NOT NULL,
  finished_at      timestamptz,
  duration_seconds double precision CHECK (duration_seconds >= 0),
  status           text NOT NULL CHECK (status IN ('running', 'passed', 'failed', 'errored')),
  triggered_by     text NOT NULL DEFAULT 'cli'
);
CREATE INDEX integrity_check_runs_started ON integrity_check_runs (started_at DESC);

CREATE TABLE integrity_check_results (
  run_id          uuid NOT NULL REFERENCES integrity_check_runs (id),
  check_name      text NOT NULL,
  suite           text NOT NULL,
  description     text NOT NULL,
  status          text NOT NULL CHECK (status IN ('passed', 'failed', 'errored')),
  violation_count bigint NOT NULL DEFAULT 0 CHECK (violation_count >= 0),
  -- Up to a few offending rows, each with business_id and the ids needed to find it.
  sample          jsonb NOT NULL DEFAULT '[]',
  error           text,
  duration_seconds double precision,
  PRIMARY KEY (run_id, check_name),
  CHECK ((status = 'errored') = (error IS NOT NULL))
);

CREATE TABLE booking_refusals (
  business_id uuid NOT NULL,
  id          bigint GENERATED ALWAYS AS IDENTITY,
  slot_id     uuid,
  reason      refusal_reason NOT NULL,
  party_size  integer,
  occurred_at timestamptz NOT NULL,
  PRIMARY KEY (business_id, id)
);
CREATE INDEX booking_refusals_time ON booking_refusals (occurred_at);

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
  FOREIGN KEY (business_id, slot_id) REFERENCES slot_keys (business_id, id)
);
CREATE INDEX booking_resources_slot ON booking_resources (business_id, slot_id);

-- ---------------------------------------------------------------- waitlists
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
  FOREIGN KEY (business_id, slot_id) REFERENCES slot_keys (business_id, id),
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
-- The hand-over check runs on every new seat-holding booking: find the offer by its booking.
CREATE INDEX waitlist_entries_booking ON waitlist_entries (business_id, booking_id) WHERE booking_id IS NOT NULL;

CREATE TABLE waitlist_status_edges (from_status text NOT NULL, to_status text NOT NULL, PRIMARY KEY (from_status, to_status));
INSERT INTO waitlist_status_edges VALUES
  ('waiting', 'offered'), ('waiting', 'cancelled'), ('waiting', 'expired'),
  ('offered', 'accepted'), ('offered', 'expired'), ('offered', 'cancelled');

-- ---------------------------------------------------------------- notification outbox
-- The transactional outbox: every booking event a customer should hear about is written
-- here by a trigger, in the same transaction as the change, so a committed change always
-- has its notification and a rolled-back one never does. A dispatcher (booking_core.notify)
-- delivers the rows to a webhook; every attempt is logged in notification_deliveries.
--
-- Times in payloads are rendered in the business's timezone when the event is written,
-- so the receiver (e.g. a Make.com scenario) never has to guess a zone.

CREATE TABLE notification_outbox (
  business_id  uuid NOT NULL REFERENCES businesses (id),
  id           uuid NOT NULL DEFAULT outbox_uuid7(),
  event_type   text NOT NULL CHECK (event_type IN (
                 'booking.confirmed', 'booking.cancelled', 'booking.rescheduled', 'booking.reminder_due',
                 'waitlist.offer', 'schedule.booking_affected')),
  booking_id   uuid,
  payload      jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
  -- Sent as the Idempotency-Key header and in the body: a receiver that honours it sees each event once.
  delivery_id  uuid NOT NULL DEFAULT gen_random_uuid(),
  created_at   timestamptz NOT NULL DEFAULT now(),
  -- Wall-clock time of the next attempt (the dispatcher's clock, not the booking's event time).
  available_at timestamptz NOT NULL DEFAULT now(),
  attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  last_error   text,
  delivered_at timestamptz,
  dead_at      timestamptz,
  PRIMARY KEY (business_id, id),
  UNIQUE (business_id, delivery_id),
  FOREIGN KEY (business_id, booking_id) REFERENCES bookings (business_id, id),
  CHECK (delivered_at IS NULL OR dead_at IS NULL)
);
-- The dispatcher's claim: due rows in order, pending ones only.
CREATE INDEX notification_outbox_due ON notification_outbox (available_at, id)
  WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX notification_outbox_booking ON notification_outbox (business_id, booking_id);
CREATE INDEX notification_outbox_dead ON notification_outbox (dead_at) WHERE dead_at IS NOT NULL;
-- One reminder per booking and slot: enqueue_reminders can run any number of times (and a
-- rescheduled booking gets a reminder for its new slot).
CREATE UNIQUE INDEX notification_outbox_one_reminder
  ON notification_outbox (business_id, booking_id, event_type, (payload #>> '{slot,id}'))
  WHERE event_type = 'booking.reminder_due';

-- One row per attempt, never changed: the delivery log.
CREATE TABLE notification_deliveries (
  business_id      uuid NOT NULL,
  outbox_id        uuid NOT NULL,
  attempt          integer NOT NULL CHECK (attempt > 0),
  delivery_id      uuid NOT NULL,
  started_at       timestamptz NOT NULL,
  duration_seconds double precision NOT NULL CHECK (duration_seconds >= 0),
  http_status      integer CHECK (http_status BETWEEN 100 AND 599),
  error            text,
  outcome          text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead')),
  next_attempt_at  timestamptz,
  dispatcher       text NOT NULL,
  PRIMARY KEY (business_id, outbox_id, attempt),
  FOREIGN KEY (business_id, outbox_id) REFERENCES notification_outbox (business_id, id),
  CHECK ((outcome = 'delivered') = (error IS NULL)),
  CHECK ((outcome = 'retry') = (next_attempt_at IS NOT NULL))
);
CREATE INDEX notification_deliveries_started ON notification_deliveries (started_at);

-- The dispatcher's circuit breaker per endpoint (scheme://host:port, never the secret path),
-- so `booking health` in another process can report it and a restarted dispatcher resumes it.
CREATE TABLE notification_circuit (
  endpoint             text PRIMARY KEY,
  state                text NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
  consecutive_failures integer NOT NULL CHECK (consecutive_failures >= 0),
  opened_at            timestamptz,
  retry_at             timestamptz,
  updated_at           timestamptz NOT NULL,
  dispatcher           text NOT NULL
);

-- ---------------------------------------------------------------- idempotency keys
CREATE TABLE idempotency_keys (
  business_id  uuid NOT NULL REFERENCES businesses (id),
  key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
  operation    text NOT NULL,
  request_hash bytea NOT NULL,
  result       jsonb NOT NULL,
  created_at   timestamptz NOT NULL,
  PRIMARY KEY (business_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
COMMENT ON TABLE idempotency_keys IS
  'One row per successful keyed write: which operation, a SHA-256 of its request (canonical jsonb text), and the ids it made or changed (result). Never updated; removed only by idempotency_purge().';
