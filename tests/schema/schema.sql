CREATE TYPE public.actor_type AS ENUM (
    'customer',
    'admin',
    'system',
    'database'
);

CREATE TYPE public.booking_status AS ENUM (
    'draft',
    'confirmed',
    'checked_in',
    'completed',
    'no_show',
    'cancelled',
    'refunded'
);

CREATE TYPE public.change_channel AS ENUM (
    'api',
    'ui',
    'cli',
    'batch',
    'sql'
);

CREATE TYPE public.payment_method AS ENUM (
    'pay_now',
    'pay_on_arrival'
);

CREATE TYPE public.payment_status AS ENUM (
    'pending',
    'paid',
    'partially_paid',
    'failed',
    'refunded',
    'partially_refunded'
);

CREATE TYPE public.refusal_reason AS ENUM (
    'full',
    'legacy',
    'invalid',
    'started',
    'unknown_slot'
);

CREATE FUNCTION public.audit_action(entity text, op text, o jsonb, n jsonb) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    AS $$
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

CREATE TABLE public.booking_audit_log (
    business_id uuid NOT NULL,
    id bigint NOT NULL,
    entity_type text NOT NULL,
    entity_id uuid NOT NULL,
    booking_id uuid,
    action text NOT NULL,
    old_values jsonb,
    new_values jsonb,
    reason text,
    performed_by public.actor_type NOT NULL,
    performed_by_id text NOT NULL,
    channel public.change_channel NOT NULL,
    ip_address inet,
    user_agent text,
    occurred_at timestamp with time zone NOT NULL,
    recorded_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT booking_audit_log_action_check CHECK ((action ~ '^[a-z_]+(\.[a-z_]+)+$'::text))
);

CREATE FUNCTION public.audit_row_hash(prev bytea, a public.booking_audit_log) RETURNS bytea
    LANGUAGE sql IMMUTABLE
    AS $$
  SELECT sha256(prev || convert_to(concat_ws('|',
    a.id, a.business_id, quote_nullable(a.entity_type), a.entity_id, quote_nullable(a.booking_id),
    quote_nullable(a.action), quote_nullable(a.old_values::text), quote_nullable(a.new_values::text),
    quote_nullable(a.reason), a.performed_by, quote_nullable(a.performed_by_id), a.channel,
    quote_nullable(host(a.ip_address)), quote_nullable(a.user_agent),
    extract(epoch FROM a.occurred_at), extract(epoch FROM a.recorded_at)), 'UTF8'))
$$;

CREATE FUNCTION public.audit_seal(p_business uuid) RETURNS integer
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.audit_verify(p_business uuid) RETURNS TABLE(links bigint, unsealed bigint, first_bad_seq bigint, problem text)
    LANGUAGE plpgsql STABLE
    AS $$
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

CREATE FUNCTION public.audit_write() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.booking_cancellation_fee(p_amount numeric, p_actor public.actor_type, p_cancelled_at timestamp with time zone, p_starts_at timestamp with time zone, p_free_hours integer, p_late_percent numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE
    AS $$
  SELECT CASE
    WHEN p_actor <> 'customer' THEN 0
    WHEN p_cancelled_at <= p_starts_at - make_interval(hours => p_free_hours) THEN 0
    ELSE round(p_amount * p_late_percent / 100, 2)
  END::numeric(12, 2)
$$;

CREATE TABLE public.bookings (
    business_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    slot_id uuid NOT NULL,
    customer_id uuid NOT NULL,
    party_size integer NOT NULL,
    status public.booking_status NOT NULL,
    payment_method public.payment_method NOT NULL,
    payment_status public.payment_status DEFAULT 'pending'::public.payment_status NOT NULL,
    amount numeric(12,2) DEFAULT 0 NOT NULL,
    currency character(3) NOT NULL,
    cancellation_token uuid DEFAULT gen_random_uuid() NOT NULL,
    idempotency_key text,
    version integer DEFAULT 1 NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    unit_price numeric(12,2),
    discount numeric(12,2) DEFAULT 0 NOT NULL,
    promo_code text,
    price_rule_id uuid,
    series_id uuid,
    occurrence integer,
    paid_amount numeric(12,2) DEFAULT 0 NOT NULL,
    refunded_amount numeric(12,2) DEFAULT 0 NOT NULL,
    cancellation_fee numeric(12,2),
    refund_due numeric(12,2) GENERATED ALWAYS AS (GREATEST(((paid_amount - refunded_amount) -
CASE
    WHEN (status = ANY (ARRAY['cancelled'::public.booking_status, 'refunded'::public.booking_status])) THEN cancellation_fee
    ELSE amount
END), (0)::numeric)) STORED,
    CONSTRAINT bookings_amount_check CHECK ((amount >= (0)::numeric)),
    CONSTRAINT bookings_currency_check CHECK ((currency ~ '^[A-Z]{3}$'::text)),
    CONSTRAINT bookings_discount_check CHECK ((discount >= (0)::numeric)),
    CONSTRAINT bookings_fee_on_cancellation CHECK ((((cancellation_fee IS NOT NULL) = (status = ANY (ARRAY['cancelled'::public.booking_status, 'refunded'::public.booking_status]))) AND ((cancellation_fee IS NULL) OR ((cancellation_fee >= (0)::numeric) AND (cancellation_fee <= amount))))),
    CONSTRAINT bookings_idempotency_key_check CHECK (((length(idempotency_key) >= 1) AND (length(idempotency_key) <= 200))),
    CONSTRAINT bookings_occurrence_check CHECK ((occurrence >= 0)),
    CONSTRAINT bookings_paid_amount_check CHECK ((paid_amount >= (0)::numeric)),
    CONSTRAINT bookings_party_size_check CHECK (((party_size >= 1) AND (party_size <= 100))),
    CONSTRAINT bookings_refunds_within_paid CHECK (((refunded_amount >= (0)::numeric) AND (refunded_amount <= paid_amount))),
    CONSTRAINT bookings_series_has_occurrence CHECK (((series_id IS NULL) = (occurrence IS NULL))),
    CONSTRAINT bookings_unit_price_check CHECK ((unit_price >= (0)::numeric))
);

COMMENT ON COLUMN public.bookings.paid_amount IS 'Derived: money received, the amounts of its paid payments (refunds do not lower it)';

COMMENT ON COLUMN public.bookings.refunded_amount IS 'Derived: money returned, the sum of its payments'' refunds';

COMMENT ON COLUMN public.bookings.cancellation_fee IS 'Derived at cancellation from the business''s policy: what the business may keep';

COMMENT ON COLUMN public.bookings.refund_due IS 'Derived: money the business owes back (cancellation refund or overpayment)';

CREATE FUNCTION public.booking_create(p_business uuid, p_id uuid, p_slot uuid, p_customer uuid, p_party integer, p_idempotency_key text, p_actor_type public.actor_type, p_actor_id text, p_channel public.change_channel, p_reason text, p_occurred_at timestamp with time zone, p_promo_code text DEFAULT NULL::text, p_series uuid DEFAULT NULL::uuid, p_occurrence integer DEFAULT NULL::integer, p_status public.booking_status DEFAULT NULL::public.booking_status) RETURNS TABLE(booking public.bookings, replayed boolean)
    LANGUAGE plpgsql
    AS $$
DECLARE
  req  jsonb;
  b    bookings;
  made record;
BEGIN
  IF p_idempotency_key IS NOT NULL THEN
    req := jsonb_build_object('slot', p_slot, 'customer', p_customer, 'party', p_party, 'promo', p_promo_code,
                              'series', p_series, 'occurrence', p_occurrence, 'status', p_status);
    b := booking_replay(p_business, p_idempotency_key, 'book', req, p_slot, p_customer, p_party);
    IF b.id IS NOT NULL THEN
      booking := b; replayed := true; RETURN NEXT; RETURN;
    END IF;
  END IF;
  SELECT * INTO made FROM booking_insert(p_business, p_id, p_slot, p_customer, p_party, p_idempotency_key,
                                         p_actor_type, p_actor_id, p_channel, p_reason, p_occurred_at,
                                         p_promo_code, p_series, p_occurrence, p_status);
  IF p_idempotency_key IS NOT NULL AND NOT made.replayed THEN
    PERFORM idempotency_record(p_business, p_idempotency_key, 'book', req,
                               jsonb_build_object('booking_id', (made.booking).id), p_occurred_at);
  END IF;
  booking := made.booking; replayed := made.replayed; RETURN NEXT;
END $$;

CREATE FUNCTION public.booking_create_multi(p_business uuid, p_id uuid, p_slot uuid, p_customer uuid, p_party integer, p_resources uuid[], p_quantities integer[], p_idempotency_key text, p_actor_type public.actor_type, p_actor_id text, p_channel public.change_channel, p_reason text, p_occurred_at timestamp with time zone) RETURNS TABLE(booking public.bookings, replayed boolean)
    LANGUAGE plpgsql
    AS $$
DECLARE
  main     time_slots;
  unknown  text;
  missing  jsonb;
  made     record;
  chosen   uuid[];
  req      jsonb;
  b        bookings;
BEGIN
  IF p_idempotency_key IS NOT NULL THEN
    req := jsonb_build_object(
      'slot', p_slot, 'customer', p_customer, 'party', p_party,
      'resources', (SELECT jsonb_agg(jsonb_build_array(r, q) ORDER BY r, q)
                      FROM unnest(p_resources, p_quantities) AS u (r, q)));
    b := booking_replay(p_business, p_idempotency_key, 'book_with_resources', req, p_slot, p_customer, p_party);
    IF b.id IS NOT NULL THEN
      booking := b; replayed := true; RETURN NEXT; RETURN;
    END IF;
  END IF;
  IF cardinality(p_resources) IS DISTINCT FROM cardinality(p_quantities) OR coalesce(cardinality(p_resources), 0) = 0
     OR EXISTS (SELECT 1 FROM unnest(p_quantities) q WHERE q IS NULL OR q < 1)
     OR (SELECT count(DISTINCT r) FROM unnest(p_resources) r) <> cardinality(p_resources) THEN
    RAISE EXCEPTION 'a multi-resource booking names each further resource once, with a quantity of at least 1: use booking_create() for one resource'
      USING ERRCODE = 'BK017';
  END IF;
  SELECT * INTO main FROM time_slots WHERE business_id = p_business AND id = p_slot;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'slot % does not exist in this business: list its slots', p_slot USING ERRCODE = 'BK003';
  END IF;
  SELECT string_agg(r::text, ', ') INTO unknown FROM unnest(p_resources) r
   WHERE NOT EXISTS (SELECT 1 FROM resources x WHERE x.business_id = p_business AND x.id = r);
  IF unknown IS NOT NULL THEN
    RAISE EXCEPTION 'unknown resource %: list the business''s resources', unknown USING ERRCODE = 'BK016';
  END IF;
  IF main.resource_id = ANY (p_resources) THEN
    RAISE EXCEPTION 'the slot''s own resource is booked by the party: list only further resources'
      USING ERRCODE = 'BK017';
  END IF;
  PERFORM set_config('lock_timeout', '5s', true);

  -- Each further resource's slot at exactly the booking's time (the freest, if several).
  SELECT array_agg((SELECT ts.id FROM time_slots ts
                     WHERE ts.business_id = p_business AND ts.resource_id = w.resource_id
                       AND ts.starts_at = main.starts_at AND ts.ends_at = main.ends_at
                     ORDER BY ts.is_legacy, ts.max_capacity - ts.booked_seats DESC, ts.id LIMIT 1)
                   ORDER BY w.ord)
    INTO chosen
    FROM unnest(p_resources) WITH ORDINALITY AS w (resource_id, ord);

  WITH locked AS MATERIALIZED (
    -- Every slot involved, locked in id order: the deadlock-free order.
    SELECT ts.id, ts.is_legacy, ts.max_capacity - ts.booked_seats AS free
      FROM time_slots ts
     WHERE ts.business_id = p_business AND ts.id = ANY (chosen || p_slot)
     ORDER BY ts.id
       FOR NO KEY UPDATE
  ), judged AS (
    SELECT w.ord, w.resource_id, x.name, w.quantity AS needed, w.slot_id,
           CASE WHEN l.id IS NULL OR l.is_legacy THEN 0 ELSE greatest(l.free, 0) END AS free
      FROM unnest(p_resources, p_quantities, chosen) WITH ORDINALITY AS w (resource_id, quantity, slot_id, ord)
      JOIN resources x ON x.business_id = p_business AND x.id = w.resource_id
      LEFT JOIN locked l ON l.id = w.slot_id
    UNION ALL
    SELECT cardinality(p_resources) + 1, main.resource_id, 'the slot itself', p_party, p_slot,
           CASE WHEN l.is_legacy THEN 0 ELSE greatest(l.free, 0) END
      FROM locked l WHERE l.id = p_slot
  )
  SELECT jsonb_agg(jsonb_build_object(
           'resource_id', resource_id, 'resource', name, 'needed', needed, 'free', free,
           'why', CASE WHEN slot_id IS NULL THEN 'no slot at that time' ELSE 'not enough free' END)
         ORDER BY ord)
    INTO missing
    FROM judged WHERE free < needed;
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'not every resource is free at that time (%): pick another time',
      (SELECT string_agg(format('%s needs %s, has %s', m->>'resource', m->>'needed', m->>'free'), '; ')
         FROM jsonb_array_elements(missing) m)
      USING ERRCODE = 'BK018', DETAIL = jsonb_build_object('missing', missing)::text;
  END IF;

  SELECT * INTO made FROM booking_insert(p_business, p_id, p_slot, p_customer, p_party, p_idempotency_key,
                                         p_actor_type, p_actor_id, p_channel, p_reason, p_occurred_at);
  IF NOT made.replayed THEN
    INSERT INTO booking_resources (business_id, booking_id, slot_id, quantity)
    SELECT p_business, (made.booking).id, w.slot_id, w.quantity
      FROM unnest(chosen, p_quantities) AS w (slot_id, quantity)
     ORDER BY w.slot_id;
    IF p_idempotency_key IS NOT NULL THEN
      PERFORM idempotency_record(p_business, p_idempotency_key, 'book_with_resources', req,
                                 jsonb_build_object('booking_id', (made.booking).id), p_occurred_at);
    END IF;
  END IF;
  booking := made.booking; replayed := made.replayed; RETURN NEXT;
END $$;

CREATE FUNCTION public.booking_ctx(key text) RETURNS text
    LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('booking.' || key, true), '') $$;

CREATE FUNCTION public.booking_ctx_actor_id() RETURNS text
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(booking_ctx('actor_id'), session_user::text) $$;

CREATE FUNCTION public.booking_ctx_actor_type() RETURNS public.actor_type
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(booking_ctx('actor_type'), 'database')::actor_type $$;

CREATE FUNCTION public.booking_ctx_channel() RETURNS public.change_channel
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(booking_ctx('channel'), 'sql')::change_channel $$;

CREATE FUNCTION public.booking_ctx_occurred_at() RETURNS timestamp with time zone
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(booking_ctx('occurred_at')::timestamptz, now()) $$;

CREATE FUNCTION public.booking_holds_seat(s public.booking_status) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT s IN ('confirmed', 'checked_in', 'completed', 'no_show') $$;

CREATE FUNCTION public.booking_insert(p_business uuid, p_id uuid, p_slot uuid, p_customer uuid, p_party integer, p_idempotency_key text, p_actor_type public.actor_type, p_actor_id text, p_channel public.change_channel, p_reason text, p_occurred_at timestamp with time zone, p_promo_code text DEFAULT NULL::text, p_series uuid DEFAULT NULL::uuid, p_occurrence integer DEFAULT NULL::integer, p_status public.booking_status DEFAULT NULL::public.booking_status) RETURNS TABLE(booking public.bookings, replayed boolean)
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.booking_is_valid_timezone(tz text) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$
  SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = tz) AND tz NOT IN ('CET', 'EET', 'MET', 'WET')
$$;

CREATE FUNCTION public.booking_payment_status(p_business uuid, p_booking uuid) RETURNS public.payment_status
    LANGUAGE sql STABLE
    AS $$
  SELECT payment_status_of(b.amount,
           coalesce(sum(p.amount) FILTER (WHERE p.status IN ('paid', 'partially_refunded', 'refunded')), 0),
           coalesce(sum(p.refunded_amount), 0),
           CASE WHEN bool_or(p.status = 'failed') AND NOT bool_or(p.status = 'pending') THEN 'failed'
                ELSE 'pending' END::payment_status)
    FROM bookings b LEFT JOIN payments p ON p.business_id = b.business_id AND p.booking_id = b.id
   WHERE b.business_id = p_business AND b.id = p_booking
   GROUP BY b.amount
$$;

CREATE FUNCTION public.booking_price(p_business uuid, p_service uuid, p_starts timestamp with time zone, p_local_date date, p_local_start time without time zone, p_default numeric, p_currency character, p_party integer, p_promo text, p_at timestamp with time zone, OUT unit_price numeric, OUT discount numeric, OUT amount numeric, OUT currency character, OUT price_rule_id uuid) RETURNS record
    LANGUAGE plpgsql STABLE
    AS $$
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

CREATE FUNCTION public.booking_quote(p_business uuid, p_slot uuid, p_party integer, p_promo text, p_at timestamp with time zone, OUT unit_price numeric, OUT discount numeric, OUT amount numeric, OUT currency character, OUT price_rule_id uuid) RETURNS record
    LANGUAGE sql STABLE
    AS $$
  SELECT p.* FROM time_slots ts
    JOIN services sv ON sv.business_id = ts.business_id AND sv.id = ts.service_id
   CROSS JOIN LATERAL booking_price(ts.business_id, ts.service_id, ts.starts_at, ts.local_date, ts.local_start,
                                    sv.price, sv.currency, p_party, p_promo, p_at) p
   WHERE ts.business_id = p_business AND ts.id = p_slot
$$;

CREATE FUNCTION public.booking_replay(p_business uuid, p_key text, p_operation text, p_request jsonb, p_slot uuid, p_customer uuid, p_party integer) RETURNS public.bookings
    LANGUAGE plpgsql
    AS $$
DECLARE
  prior jsonb;
  b     bookings;
BEGIN
  prior := idempotency_begin(p_business, p_key, p_operation, p_request);
  IF prior IS NOT NULL THEN
    SELECT * INTO b FROM bookings WHERE business_id = p_business AND id = (prior->>'booking_id')::uuid;
    RETURN b;
  END IF;
  SELECT * INTO b FROM bookings WHERE business_id = p_business AND idempotency_key = p_key;
  IF FOUND AND (b.slot_id, b.customer_id, b.party_size) IS DISTINCT FROM (p_slot, p_customer, p_party) THEN
    RAISE EXCEPTION 'idempotency key % was used for a different booking: use a new key for a new request',
      p_key USING ERRCODE = 'BK008';
  END IF;
  RETURN b;
END $$;

CREATE FUNCTION public.booking_resources_seats() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE st booking_status;
BEGIN
  SELECT status INTO st FROM bookings WHERE business_id = NEW.business_id AND id = NEW.booking_id;
  IF booking_holds_seat(st) THEN
    PERFORM slot_take_seats(NEW.business_id, NEW.slot_id, NEW.quantity);
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION public.bookings_before() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.bookings_beyond_guard() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.bookings_outbox() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE tz text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.status = 'confirmed' THEN
      PERFORM outbox_enqueue(NEW.business_id, 'booking.confirmed', NEW.id, NULL);
    END IF;
    RETURN NULL;
  END IF;
  IF NEW.status <> OLD.status THEN
    IF OLD.status = 'draft' AND NEW.status = 'confirmed' THEN
      PERFORM outbox_enqueue(NEW.business_id, 'booking.confirmed', NEW.id, NULL);
    ELSIF NEW.status = 'cancelled' THEN
      PERFORM outbox_enqueue(NEW.business_id, 'booking.cancelled', NEW.id,
                             jsonb_build_object('previous_status', OLD.status));
    END IF;
  END IF;
  IF NEW.slot_id <> OLD.slot_id THEN
    SELECT timezone INTO tz FROM businesses WHERE id = NEW.business_id;
    PERFORM outbox_enqueue(NEW.business_id, 'booking.rescheduled', NEW.id,
                           jsonb_build_object('previous_slot', outbox_slot_json(OLD.business_id, OLD.slot_id, tz)));
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION public.bookings_seats() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
  old_hold   integer := 0;
  new_hold   integer := 0;
  hands_over boolean := false;
  extra      uuid[];
  r          booking_resources;
BEGIN
  IF TG_OP = 'UPDATE' AND booking_holds_seat(OLD.status) THEN old_hold := OLD.party_size; END IF;
  IF booking_holds_seat(NEW.status) THEN new_hold := NEW.party_size; END IF;
  IF new_hold > 0 AND (TG_OP = 'INSERT' OR old_hold = 0) THEN
    hands_over := EXISTS (SELECT 1 FROM waitlist_entries
                           WHERE business_id = NEW.business_id AND booking_id = NEW.id AND status = 'offered');
  END IF;
  IF TG_OP = 'UPDATE' AND (old_hold > 0) <> (new_hold > 0) THEN
    SELECT array_agg(slot_id) INTO extra FROM booking_resources
     WHERE business_id = NEW.business_id AND booking_id = NEW.id;
  END IF;
  IF hands_over OR extra IS NOT NULL OR (TG_OP = 'UPDATE' AND NEW.slot_id <> OLD.slot_id) THEN
    PERFORM slot_lock(NEW.business_id,
                      ARRAY[NEW.slot_id, CASE WHEN TG_OP = 'UPDATE' THEN OLD.slot_id END] || coalesce(extra, '{}'));
  END IF;
  -- A waitlist offer's hold passes to the booking it became (same transaction, slot locked).
  -- The release must not offer those seats to the next in line: they are this booking's.
  IF hands_over THEN
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
  IF hands_over THEN
    PERFORM set_config('booking.suppress_promote', '', true);
  END IF;
  -- Extra resources follow the booking into and out of holding seats (their slots are locked above).
  IF extra IS NOT NULL THEN
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

CREATE FUNCTION public.businesses_validate() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.enqueue_reminders(p_now timestamp with time zone, p_lead interval) RETURNS integer
    LANGUAGE plpgsql
    AS $$
DECLARE
  r record;
  n integer := 0;
BEGIN
  FOR r IN
    SELECT bk.business_id, bk.id, ts.starts_at
      FROM bookings bk
      JOIN time_slots ts ON ts.business_id = bk.business_id AND ts.id = bk.slot_id
     WHERE bk.status = 'confirmed' AND ts.starts_at > p_now AND ts.starts_at <= p_now + p_lead
       AND NOT EXISTS (SELECT 1 FROM notification_outbox o
                        WHERE o.business_id = bk.business_id AND o.booking_id = bk.id
                          AND o.event_type = 'booking.reminder_due' AND o.payload #>> '{slot,id}' = bk.slot_id::text)
     ORDER BY ts.starts_at, bk.id
  LOOP
    IF outbox_enqueue(r.business_id, 'booking.reminder_due', r.id,
                      jsonb_build_object('reminder_lead', p_lead::text)) IS NOT NULL THEN
      n := n + 1;
    END IF;
  END LOOP;
  RETURN n;
END $$;

CREATE FUNCTION public.idempotency_begin(p_business uuid, p_key text, p_operation text, p_request jsonb) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
BEGIN
  PERFORM idempotency_lock(p_business, p_key);
  RETURN idempotency_lookup(p_business, p_key, p_operation, p_request);
END $$;

CREATE FUNCTION public.idempotency_fingerprint(p_request jsonb) RETURNS bytea
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT sha256(convert_to(p_request::text, 'UTF8')) $$;

CREATE FUNCTION public.idempotency_keys_guard() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('booking.idempotency_purge', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION '% on idempotency_keys is refused: keys are append-only, purge old ones with idempotency_purge()',
    TG_OP USING ERRCODE = 'BK006';
END $$;

CREATE FUNCTION public.idempotency_lock(p_business uuid, p_key text) RETURNS void
    LANGUAGE sql
    AS $$ SELECT pg_advisory_xact_lock(hashtextextended('idempotency:' || p_business::text || ':' || p_key, 0)) $$;

CREATE FUNCTION public.idempotency_lookup(p_business uuid, p_key text, p_operation text, p_request jsonb) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
DECLARE
  k idempotency_keys;
BEGIN
  SELECT * INTO k FROM idempotency_keys WHERE business_id = p_business AND key = p_key;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  IF k.operation <> p_operation THEN
    RAISE EXCEPTION 'idempotency key % was used for another operation (%): use a new key for a new request',
      p_key, k.operation USING ERRCODE = 'BK008';
  END IF;
  IF k.request_hash <> idempotency_fingerprint(p_request) THEN
    RAISE EXCEPTION 'idempotency key % was used for a different % request: use a new key for a new request',
      p_key, p_operation USING ERRCODE = 'BK008';
  END IF;
  RETURN k.result;
END $$;

CREATE FUNCTION public.idempotency_purge(p_before timestamp with time zone) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
    AS $$
DECLARE
  n integer;
BEGIN
  PERFORM set_config('booking.idempotency_purge', 'on', true);
  DELETE FROM idempotency_keys WHERE created_at < p_before;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM set_config('booking.idempotency_purge', '', true);
  RETURN n;
END $$;

CREATE FUNCTION public.idempotency_record(p_business uuid, p_key text, p_operation text, p_request jsonb, p_result jsonb, p_at timestamp with time zone) RETURNS void
    LANGUAGE sql
    AS $$
  INSERT INTO idempotency_keys (business_id, key, operation, request_hash, result, created_at)
  VALUES (p_business, p_key, p_operation, idempotency_fingerprint(p_request), p_result, p_at)
$$;

CREATE FUNCTION public.notification_deliveries_settle() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  UPDATE notification_outbox
     SET attempts = NEW.attempt,
         last_error = coalesce(NEW.error, last_error),
         delivered_at = CASE WHEN NEW.outcome = 'delivered' AND dead_at IS NULL
                             THEN coalesce(delivered_at, NEW.started_at) ELSE delivered_at END,
         dead_at = CASE WHEN NEW.outcome = 'dead' AND delivered_at IS NULL
                        THEN coalesce(dead_at, NEW.started_at) ELSE dead_at END,
         available_at = coalesce(NEW.next_attempt_at, available_at)
   WHERE business_id = NEW.business_id AND id = NEW.outbox_id AND attempts = NEW.attempt - 1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'attempt % of notification % is out of sequence: number attempts after the last logged one',
      NEW.attempt, NEW.outbox_id USING ERRCODE = 'BK007';
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION public.notification_outbox_guard() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  IF (NEW.business_id, NEW.id, NEW.event_type, NEW.booking_id, NEW.payload, NEW.delivery_id, NEW.created_at)
     IS DISTINCT FROM
     (OLD.business_id, OLD.id, OLD.event_type, OLD.booking_id, OLD.payload, OLD.delivery_id, OLD.created_at) THEN
    RAISE EXCEPTION 'a notification''s event, payload and delivery id never change: enqueue a new notification'
      USING ERRCODE = 'BK007';
  END IF;
  IF (OLD.delivered_at IS NOT NULL AND NEW.delivered_at IS DISTINCT FROM OLD.delivered_at)
     OR (OLD.dead_at IS NOT NULL AND NEW.dead_at IS DISTINCT FROM OLD.dead_at) THEN
    RAISE EXCEPTION 'notification % is already delivered or dead: that is final', OLD.id USING ERRCODE = 'BK007';
  END IF;
  IF NEW.attempts <> OLD.attempts AND (NEW.attempts <> OLD.attempts + 1 OR NOT EXISTS (
       SELECT 1 FROM notification_deliveries d
        WHERE d.business_id = NEW.business_id AND d.outbox_id = NEW.id AND d.attempt = NEW.attempts)) THEN
    RAISE EXCEPTION 'notification attempts go up by one with a logged delivery: log the attempt in notification_deliveries'
      USING ERRCODE = 'BK007';
  END IF;
  RETURN NEW;
END $$;

CREATE FUNCTION public.outbox_enqueue(p_business uuid, p_event text, p_booking uuid, p_extra jsonb) RETURNS uuid
    LANGUAGE plpgsql
    AS $$
DECLARE
  biz      businesses;
  bk       bookings;
  cust     customers;
  v_id     uuid := outbox_uuid7();
  v_deliv  uuid := gen_random_uuid();
  v_payload jsonb;
  inserted uuid;
BEGIN
  SELECT * INTO biz FROM businesses WHERE id = p_business;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'business % does not exist: notifications belong to a business', p_business
      USING ERRCODE = '23503';
  END IF;
  v_payload := jsonb_build_object(
    'delivery_id', v_deliv,
    'event', p_event,
    'occurred_at', outbox_local_iso(booking_ctx_occurred_at(), biz.timezone),
    'business', jsonb_build_object('id', biz.id, 'name', biz.name, 'timezone', biz.timezone));
  IF p_booking IS NOT NULL THEN
    SELECT * INTO bk FROM bookings WHERE business_id = p_business AND id = p_booking;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'booking % does not exist in business %', p_booking, p_business USING ERRCODE = '23503';
    END IF;
    SELECT * INTO cust FROM customers WHERE business_id = p_business AND id = bk.customer_id;
    v_payload := v_payload || jsonb_build_object(
      'booking', jsonb_build_object('id', bk.id, 'status', bk.status, 'party_size', bk.party_size,
                                    'version', bk.version, 'amount', bk.amount::text, 'currency', bk.currency,
                                    'payment_method', bk.payment_method, 'payment_status', bk.payment_status,
                                    'cancellation_token', bk.cancellation_token),
      'customer', jsonb_build_object('id', cust.id, 'name', cust.name, 'email', cust.email),
      'party_size', bk.party_size,
      'slot', outbox_slot_json(p_business, bk.slot_id, biz.timezone));
  END IF;
  IF booking_ctx('reason') IS NOT NULL THEN
    v_payload := v_payload || jsonb_build_object('reason', booking_ctx('reason'));
  END IF;
  v_payload := v_payload || coalesce(p_extra, '{}'::jsonb);
  INSERT INTO notification_outbox (business_id, id, event_type, booking_id, payload, delivery_id)
  VALUES (p_business, v_id, p_event, p_booking, v_payload, v_deliv)
  ON CONFLICT (business_id, booking_id, event_type, (payload #>> '{slot,id}'))
    WHERE event_type = 'booking.reminder_due' DO NOTHING
  RETURNING id INTO inserted;
  RETURN inserted;
END $$;

CREATE FUNCTION public.outbox_local_iso(ts timestamp with time zone, tz text) RETURNS text
    LANGUAGE plpgsql STABLE
    AS $$
DECLARE
  local_ts timestamp := ts AT TIME ZONE tz;
  s integer := extract(epoch FROM local_ts - (ts AT TIME ZONE 'UTC'))::integer;
BEGIN
  RETURN to_char(local_ts, 'YYYY-MM-DD"T"HH24:MI:SS')
         || CASE WHEN s < 0 THEN '-' ELSE '+' END
         || lpad((abs(s) / 3600)::text, 2, '0') || ':' || lpad((abs(s) % 3600 / 60)::text, 2, '0');
END $$;

CREATE FUNCTION public.outbox_slot_json(p_business uuid, p_slot uuid, tz text) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    AS $$
DECLARE out jsonb;
BEGIN
  SELECT jsonb_build_object(
           'id', ts.id,
           'starts_at', outbox_local_iso(ts.starts_at, tz),
           'ends_at', outbox_local_iso(ts.ends_at, tz),
           'timezone', tz,
           'local_date', ts.local_date,
           'local_time', to_char(ts.local_start, 'HH24:MI'),
           'starts_at_utc', to_char(ts.starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           'service', sv.name,
           'resource', rs.name,
           'is_legacy', ts.is_legacy)
    INTO out
    FROM time_slots ts
    JOIN services sv ON sv.business_id = ts.business_id AND sv.id = ts.service_id
    JOIN resources rs ON rs.business_id = ts.business_id AND rs.id = ts.resource_id
   WHERE ts.business_id = p_business AND ts.id = p_slot;
  RETURN out;
END $$;

CREATE FUNCTION public.outbox_uuid7() RETURNS uuid
    LANGUAGE plpgsql
    AS $$
BEGIN
  RETURN encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
           PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
           FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid;
END $$;

CREATE FUNCTION public.payment_status_of(p_amount numeric, p_paid numeric, p_refunded numeric, p_unpaid public.payment_status) RETURNS public.payment_status
    LANGUAGE plpgsql IMMUTABLE
    AS $$
BEGIN
  RETURN CASE
    WHEN p_paid = 0 THEN p_unpaid
    WHEN p_refunded >= p_paid THEN 'refunded'
    WHEN p_paid - p_refunded >= p_amount THEN 'paid'
    WHEN p_refunded > 0 THEN 'partially_refunded'
    ELSE 'partially_paid'
  END::payment_status;
END $$;

CREATE FUNCTION public.payments_after() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.payments_before() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.price_rules_validate() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE svc_currency char(3);
BEGIN
  SELECT currency INTO svc_currency FROM services WHERE business_id = NEW.business_id AND id = NEW.service_id;
  IF FOUND AND svc_currency <> NEW.currency THEN
    RAISE EXCEPTION 'price in % for a service priced in %: give prices in the service''s currency', NEW.currency,
      svc_currency USING ERRCODE = 'BK009';
  END IF;
  RETURN NEW;
END $$;

CREATE FUNCTION public.refunds_apply() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  RAISE EXCEPTION '% on % is refused: % is append-only, record a new entry instead',
    TG_OP, TG_TABLE_NAME, TG_TABLE_NAME USING ERRCODE = 'BK006';
END $$;

CREATE FUNCTION public.refuse_delete() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  RAISE EXCEPTION '% on % is refused: booking data is never deleted, mark it instead (cancel, legacy)',
    TG_OP, TG_TABLE_NAME USING ERRCODE = 'BK006';
END $$;

CREATE FUNCTION public.schedule_versions_guard() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  IF (to_jsonb(NEW) - 'is_active') <> (to_jsonb(OLD) - 'is_active') THEN
    RAISE EXCEPTION 'a schedule version never changes once created: publish a new version instead'
      USING ERRCODE = 'BK007';
  END IF;
  RETURN NEW;
END $$;

CREATE FUNCTION public.slot_lock(p_business uuid, p_slots uuid[]) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
  PERFORM 1 FROM time_slots WHERE business_id = p_business AND id = ANY (p_slots) ORDER BY id FOR NO KEY UPDATE;
END $$;

CREATE FUNCTION public.slot_release_seats(p_business uuid, p_slot uuid, p_seats integer) RETURNS void
    LANGUAGE sql
    AS $$
  UPDATE time_slots SET booked_seats = booked_seats - p_seats WHERE business_id = p_business AND id = p_slot
$$;

CREATE FUNCTION public.slot_take_seats(p_business uuid, p_slot uuid, p_seats integer) RETURNS void
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.time_slots_guard() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.time_slots_key() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  INSERT INTO slot_keys (business_id, id) VALUES (NEW.business_id, NEW.id);
  RETURN NULL;
END $$;

CREATE FUNCTION public.time_slots_outbox() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
  r record;
BEGIN
  IF NEW.starts_at <= booking_ctx_occurred_at() THEN
    RETURN NULL;
  END IF;
  FOR r IN
    SELECT id FROM bookings
     WHERE business_id = NEW.business_id AND slot_id = NEW.id AND status IN ('draft', 'confirmed')
     ORDER BY id
  LOOP
    PERFORM outbox_enqueue(NEW.business_id, 'schedule.booking_affected', r.id,
                           jsonb_build_object('change', 'slot_removed_from_schedule',
                                              'schedule_version_id', NEW.schedule_version_id));
  END LOOP;
  RETURN NULL;
END $$;

CREATE FUNCTION public.time_slots_promote() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  IF (NEW.max_capacity - NEW.booked_seats) > greatest(OLD.max_capacity - OLD.booked_seats, 0)
     AND booking_ctx('suppress_promote') IS NULL
     AND EXISTS (SELECT 1 FROM waitlist_entries
                  WHERE business_id = NEW.business_id AND slot_id = NEW.id AND status = 'waiting') THEN
    PERFORM waitlist_promote(NEW.business_id, NEW.id);
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION public.waitlist_entries_guard() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.waitlist_entries_seats() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  IF NEW.status = OLD.status THEN RETURN NULL; END IF;
  IF NEW.status = 'offered' THEN
    PERFORM slot_take_seats(NEW.business_id, NEW.slot_id, NEW.party_size);
  ELSIF OLD.status = 'offered' THEN
    PERFORM slot_release_seats(NEW.business_id, NEW.slot_id, NEW.party_size);
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION public.waitlist_expire_offers(p_now timestamp with time zone) RETURNS integer
    LANGUAGE plpgsql
    AS $$
DECLARE
  n    integer;
  biz  uuid[];
  ids  uuid[];
BEGIN
  WITH locked AS (
    SELECT ts.business_id, ts.id FROM time_slots ts
     WHERE (ts.business_id, ts.id) IN (
             SELECT w.business_id, w.slot_id FROM waitlist_entries w
              WHERE w.status = 'offered' AND w.offer_expires_at <= p_now
             UNION
             SELECT w.business_id, w.slot_id FROM waitlist_entries w
               JOIN time_slots t ON t.business_id = w.business_id AND t.id = w.slot_id
              WHERE w.status = 'waiting' AND t.starts_at <= p_now)
     ORDER BY ts.id, ts.business_id
       FOR NO KEY UPDATE)
  SELECT array_agg(business_id), array_agg(id) INTO biz, ids FROM locked;
  IF ids IS NULL THEN RETURN 0; END IF;

  WITH due AS (
    SELECT w.business_id, w.id FROM waitlist_entries w
      JOIN unnest(biz, ids) AS l (business_id, slot_id) ON l.business_id = w.business_id AND l.slot_id = w.slot_id
     WHERE w.status = 'offered' AND w.offer_expires_at <= p_now
     ORDER BY w.slot_id, w.joined_at, w.id
       FOR UPDATE OF w)
  UPDATE waitlist_entries w SET status = 'expired'
    FROM due WHERE w.business_id = due.business_id AND w.id = due.id;
  GET DIAGNOSTICS n = ROW_COUNT;

  WITH closed AS (
    SELECT w.business_id, w.id FROM waitlist_entries w
      JOIN unnest(biz, ids) AS l (business_id, slot_id) ON l.business_id = w.business_id AND l.slot_id = w.slot_id
      JOIN time_slots ts ON ts.business_id = w.business_id AND ts.id = w.slot_id
     WHERE w.status = 'waiting' AND ts.starts_at <= p_now
     ORDER BY w.slot_id, w.joined_at, w.id
       FOR UPDATE OF w)
  UPDATE waitlist_entries w SET status = 'expired'
    FROM closed WHERE w.business_id = closed.business_id AND w.id = closed.id;
  RETURN n;
END $$;

CREATE FUNCTION public.waitlist_outbox() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE tz text;
BEGIN
  IF NEW.status = 'offered' AND OLD.status IS DISTINCT FROM 'offered' THEN
    SELECT timezone INTO tz FROM businesses WHERE id = NEW.business_id;
    PERFORM outbox_enqueue(NEW.business_id, 'waitlist.offer', NULL, jsonb_build_object(
      'waitlist_entry_id', NEW.id,
      'customer', (SELECT jsonb_build_object('id', c.id, 'name', c.name, 'email', c.email)
                     FROM customers c WHERE c.business_id = NEW.business_id AND c.id = NEW.customer_id),
      'party_size', NEW.party_size,
      'offer_expires_at', outbox_local_iso(NEW.offer_expires_at, tz),
      'slot', outbox_slot_json(NEW.business_id, NEW.slot_id, tz)));
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION public.waitlist_promote(p_business uuid, p_slot uuid) RETURNS integer
    LANGUAGE plpgsql
    AS $$
DECLARE
  s time_slots;
  e waitlist_entries;
  n integer := 0;
  ttl integer;
  at timestamptz := booking_ctx_occurred_at();
BEGIN
  SELECT * INTO s FROM time_slots WHERE business_id = p_business AND id = p_slot FOR NO KEY UPDATE;
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

CREATE TABLE public.alembic_version (
    version_num character varying(32) NOT NULL
);

CREATE TABLE public.audit_chain (
    business_id uuid NOT NULL,
    seq bigint NOT NULL,
    audit_id bigint NOT NULL,
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL,
    sealed_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT audit_chain_seq_check CHECK ((seq > 0))
);

ALTER TABLE public.booking_audit_log ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.booking_audit_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.booking_refusals (
    business_id uuid NOT NULL,
    id bigint NOT NULL,
    slot_id uuid,
    reason public.refusal_reason NOT NULL,
    party_size integer,
    occurred_at timestamp with time zone NOT NULL
);

ALTER TABLE public.booking_refusals ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.booking_refusals_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.booking_resources (
    business_id uuid NOT NULL,
    booking_id uuid NOT NULL,
    slot_id uuid NOT NULL,
    quantity integer NOT NULL,
    CONSTRAINT booking_resources_quantity_check CHECK (((quantity >= 1) AND (quantity <= 1000)))
);

CREATE TABLE public.booking_series (
    business_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    customer_id uuid NOT NULL,
    service_id uuid NOT NULL,
    resource_id uuid NOT NULL,
    first_local_date date NOT NULL,
    local_start time without time zone NOT NULL,
    every_days integer NOT NULL,
    occurrences integer NOT NULL,
    party_size integer NOT NULL,
    mode text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT booking_series_every_days_check CHECK (((every_days >= 1) AND (every_days <= 366))),
    CONSTRAINT booking_series_mode_check CHECK ((mode = ANY (ARRAY['all_or_nothing'::text, 'best_effort'::text]))),
    CONSTRAINT booking_series_occurrences_check CHECK (((occurrences >= 1) AND (occurrences <= 520))),
    CONSTRAINT booking_series_party_size_check CHECK (((party_size >= 1) AND (party_size <= 100)))
);

CREATE TABLE public.booking_state_transitions (
    business_id uuid NOT NULL,
    id bigint NOT NULL,
    booking_id uuid NOT NULL,
    from_status public.booking_status,
    to_status public.booking_status NOT NULL,
    reason text,
    actor_type public.actor_type NOT NULL,
    actor_id text NOT NULL,
    channel public.change_channel NOT NULL,
    occurred_at timestamp with time zone NOT NULL,
    recorded_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE public.booking_state_transitions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.booking_state_transitions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.booking_status_edges (
    from_status public.booking_status,
    to_status public.booking_status NOT NULL,
    actors public.actor_type[] NOT NULL
);

CREATE TABLE public.businesses (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    timezone text NOT NULL,
    currency character(3) NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    waitlist_offer_minutes integer DEFAULT 15 NOT NULL,
    free_cancellation_hours integer DEFAULT 24 NOT NULL,
    late_cancellation_fee_percent numeric(5,2) DEFAULT 50 NOT NULL,
    CONSTRAINT businesses_currency_check CHECK ((currency ~ '^[A-Z]{3}$'::text)),
    CONSTRAINT businesses_free_cancellation_hours_check CHECK (((free_cancellation_hours >= 0) AND (free_cancellation_hours <= 8760))),
    CONSTRAINT businesses_late_cancellation_fee_percent_check CHECK (((late_cancellation_fee_percent >= (0)::numeric) AND (late_cancellation_fee_percent <= (100)::numeric))),
    CONSTRAINT businesses_name_check CHECK ((length(btrim(name)) > 0)),
    CONSTRAINT businesses_waitlist_offer_minutes_check CHECK (((waitlist_offer_minutes >= 1) AND (waitlist_offer_minutes <= 10080)))
);

COMMENT ON COLUMN public.businesses.free_cancellation_hours IS 'A customer who cancels at least this long before the slot starts gets everything back';

COMMENT ON COLUMN public.businesses.late_cancellation_fee_percent IS 'Share of the booking amount the business keeps when a customer cancels later than that';

CREATE TABLE public.customers (
    business_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    email text,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.idempotency_keys (
    business_id uuid NOT NULL,
    key text NOT NULL,
    operation text NOT NULL,
    request_hash bytea NOT NULL,
    result jsonb NOT NULL,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT idempotency_keys_key_check CHECK (((length(key) >= 1) AND (length(key) <= 200)))
);

COMMENT ON TABLE public.idempotency_keys IS 'One row per successful keyed write: which operation, a SHA-256 of its request (canonical jsonb text), and the ids it made or changed (result). Never updated; removed only by idempotency_purge().';

CREATE TABLE public.integrity_check_results (
    run_id uuid NOT NULL,
    check_name text NOT NULL,
    suite text NOT NULL,
    description text NOT NULL,
    status text NOT NULL,
    violation_count bigint DEFAULT 0 NOT NULL,
    sample jsonb DEFAULT '[]'::jsonb NOT NULL,
    error text,
    duration_seconds double precision,
    CONSTRAINT integrity_check_results_check CHECK (((status = 'errored'::text) = (error IS NOT NULL))),
    CONSTRAINT integrity_check_results_status_check CHECK ((status = ANY (ARRAY['passed'::text, 'failed'::text, 'errored'::text]))),
    CONSTRAINT integrity_check_results_violation_count_check CHECK ((violation_count >= 0))
);

CREATE TABLE public.integrity_check_runs (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    started_at timestamp with time zone NOT NULL,
    finished_at timestamp with time zone,
    duration_seconds double precision,
    status text NOT NULL,
    triggered_by text DEFAULT 'cli'::text NOT NULL,
    CONSTRAINT integrity_check_runs_duration_seconds_check CHECK ((duration_seconds >= (0)::double precision)),
    CONSTRAINT integrity_check_runs_status_check CHECK ((status = ANY (ARRAY['running'::text, 'passed'::text, 'failed'::text, 'errored'::text])))
);

CREATE TABLE public.notification_circuit (
    endpoint text NOT NULL,
    state text NOT NULL,
    consecutive_failures integer NOT NULL,
    opened_at timestamp with time zone,
    retry_at timestamp with time zone,
    updated_at timestamp with time zone NOT NULL,
    dispatcher text NOT NULL,
    CONSTRAINT notification_circuit_consecutive_failures_check CHECK ((consecutive_failures >= 0)),
    CONSTRAINT notification_circuit_state_check CHECK ((state = ANY (ARRAY['closed'::text, 'open'::text, 'half_open'::text])))
);

CREATE TABLE public.notification_deliveries (
    business_id uuid NOT NULL,
    outbox_id uuid NOT NULL,
    attempt integer NOT NULL,
    delivery_id uuid NOT NULL,
    started_at timestamp with time zone NOT NULL,
    duration_seconds double precision NOT NULL,
    http_status integer,
    error text,
    outcome text NOT NULL,
    next_attempt_at timestamp with time zone,
    dispatcher text NOT NULL,
    CONSTRAINT notification_deliveries_attempt_check CHECK ((attempt > 0)),
    CONSTRAINT notification_deliveries_check CHECK (((outcome = 'delivered'::text) = (error IS NULL))),
    CONSTRAINT notification_deliveries_check1 CHECK (((outcome = 'retry'::text) = (next_attempt_at IS NOT NULL))),
    CONSTRAINT notification_deliveries_duration_seconds_check CHECK ((duration_seconds >= (0)::double precision)),
    CONSTRAINT notification_deliveries_http_status_check CHECK (((http_status >= 100) AND (http_status <= 599))),
    CONSTRAINT notification_deliveries_outcome_check CHECK ((outcome = ANY (ARRAY['delivered'::text, 'retry'::text, 'dead'::text])))
);

CREATE TABLE public.notification_outbox (
    business_id uuid NOT NULL,
    id uuid DEFAULT public.outbox_uuid7() NOT NULL,
    event_type text NOT NULL,
    booking_id uuid,
    payload jsonb NOT NULL,
    delivery_id uuid DEFAULT gen_random_uuid() NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    available_at timestamp with time zone DEFAULT now() NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    last_error text,
    delivered_at timestamp with time zone,
    dead_at timestamp with time zone,
    CONSTRAINT notification_outbox_attempts_check CHECK ((attempts >= 0)),
    CONSTRAINT notification_outbox_check CHECK (((delivered_at IS NULL) OR (dead_at IS NULL))),
    CONSTRAINT notification_outbox_event_type_check CHECK ((event_type = ANY (ARRAY['booking.confirmed'::text, 'booking.cancelled'::text, 'booking.rescheduled'::text, 'booking.reminder_due'::text, 'waitlist.offer'::text, 'schedule.booking_affected'::text]))),
    CONSTRAINT notification_outbox_payload_check CHECK ((jsonb_typeof(payload) = 'object'::text))
);

CREATE TABLE public.payment_status_edges (
    from_status public.payment_status,
    to_status public.payment_status NOT NULL
);

CREATE TABLE public.payments (
    business_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    booking_id uuid NOT NULL,
    amount numeric(12,2) NOT NULL,
    currency character(3) NOT NULL,
    status public.payment_status DEFAULT 'pending'::public.payment_status NOT NULL,
    refunded_amount numeric(12,2) DEFAULT 0 NOT NULL,
    provider_ref text,
    idempotency_key text,
    failure_reason text,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    CONSTRAINT payment_status_matches_amounts CHECK (
CASE status
    WHEN 'refunded'::public.payment_status THEN (refunded_amount = amount)
    WHEN 'partially_refunded'::public.payment_status THEN ((refunded_amount > (0)::numeric) AND (refunded_amount < amount))
    ELSE (refunded_amount = (0)::numeric)
END),
    CONSTRAINT payments_amount_check CHECK ((amount > (0)::numeric)),
    CONSTRAINT payments_check CHECK (((refunded_amount >= (0)::numeric) AND (refunded_amount <= amount))),
    CONSTRAINT payments_currency_check CHECK ((currency ~ '^[A-Z]{3}$'::text))
);

CREATE TABLE public.price_rules (
    business_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    service_id uuid NOT NULL,
    name text NOT NULL,
    amount numeric(12,2) NOT NULL,
    currency character(3) NOT NULL,
    valid_from timestamp with time zone NOT NULL,
    valid_to timestamp with time zone,
    iso_weekdays smallint[],
    local_start_from time without time zone,
    local_start_to time without time zone,
    priority integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT price_rules_amount_check CHECK ((amount >= (0)::numeric)),
    CONSTRAINT price_rules_check CHECK (((valid_to IS NULL) OR (valid_to > valid_from))),
    CONSTRAINT price_rules_iso_weekdays_check CHECK ((iso_weekdays <@ ARRAY[(1)::smallint, (2)::smallint, (3)::smallint, (4)::smallint, (5)::smallint, (6)::smallint, (7)::smallint]))
);

CREATE TABLE public.promo_codes (
    business_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    code text NOT NULL,
    percent_off numeric(5,2),
    amount_off numeric(12,2),
    currency character(3) NOT NULL,
    valid_from timestamp with time zone NOT NULL,
    valid_to timestamp with time zone,
    max_uses integer,
    uses integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT promo_codes_amount_off_check CHECK ((amount_off > (0)::numeric)),
    CONSTRAINT promo_codes_check CHECK (((percent_off IS NULL) <> (amount_off IS NULL))),
    CONSTRAINT promo_codes_check1 CHECK (((max_uses IS NULL) OR (uses <= max_uses))),
    CONSTRAINT promo_codes_code_check CHECK ((code ~ '^[A-Z0-9_-]{3,40}$'::text)),
    CONSTRAINT promo_codes_max_uses_check CHECK ((max_uses > 0)),
    CONSTRAINT promo_codes_percent_off_check CHECK (((percent_off > (0)::numeric) AND (percent_off <= (100)::numeric))),
    CONSTRAINT promo_codes_uses_check CHECK ((uses >= 0))
);

CREATE TABLE public.refunds (
    business_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    payment_id uuid NOT NULL,
    amount numeric(12,2) NOT NULL,
    currency character(3) NOT NULL,
    reason text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT refunds_amount_check CHECK ((amount > (0)::numeric))
);

CREATE TABLE public.resources (
    business_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    kind text DEFAULT 'room'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT resources_kind_check CHECK ((kind = ANY (ARRAY['room'::text, 'table'::text, 'staff'::text, 'equipment'::text]))),
    CONSTRAINT resources_name_check CHECK ((length(btrim(name)) > 0))
);

CREATE TABLE public.schedule_rules (
    business_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    schedule_version_id uuid NOT NULL,
    service_id uuid NOT NULL,
    resource_id uuid NOT NULL,
    iso_weekday smallint NOT NULL,
    local_start time without time zone NOT NULL,
    duration interval NOT NULL,
    capacity integer NOT NULL,
    CONSTRAINT schedule_rules_capacity_check CHECK (((capacity >= 1) AND (capacity <= 10000))),
    CONSTRAINT schedule_rules_duration_check CHECK (((duration > '00:00:00'::interval) AND (duration <= '24:00:00'::interval))),
    CONSTRAINT schedule_rules_iso_weekday_check CHECK (((iso_weekday >= 1) AND (iso_weekday <= 7)))
);

CREATE TABLE public.schedule_versions (
    business_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    version_number integer NOT NULL,
    effective_date date NOT NULL,
    horizon_date date NOT NULL,
    note text,
    created_by text NOT NULL,
    created_by_type public.actor_type NOT NULL,
    created_at timestamp with time zone NOT NULL,
    is_active boolean DEFAULT false NOT NULL,
    CONSTRAINT schedule_versions_check CHECK ((horizon_date >= effective_date)),
    CONSTRAINT schedule_versions_version_number_check CHECK ((version_number > 0))
);

CREATE TABLE public.schema_definitions (
    area text NOT NULL,
    sha256 text NOT NULL,
    applied_at timestamp with time zone NOT NULL
);

CREATE TABLE public.services (
    business_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    kind text DEFAULT 'appointment'::text NOT NULL,
    max_party_size integer DEFAULT 1 NOT NULL,
    price numeric(12,2) DEFAULT 0 NOT NULL,
    currency character(3) NOT NULL,
    payment_method public.payment_method DEFAULT 'pay_on_arrival'::public.payment_method NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT services_currency_check CHECK ((currency ~ '^[A-Z]{3}$'::text)),
    CONSTRAINT services_max_party_size_check CHECK (((max_party_size >= 1) AND (max_party_size <= 100))),
    CONSTRAINT services_name_check CHECK ((length(btrim(name)) > 0)),
    CONSTRAINT services_price_check CHECK ((price >= (0)::numeric))
);

CREATE TABLE public.slot_capacity_changes (
    business_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    slot_id uuid NOT NULL,
    old_capacity integer NOT NULL,
    new_capacity integer NOT NULL,
    booked_seats_at_change integer NOT NULL,
    changed_at timestamp with time zone NOT NULL,
    actor_type public.actor_type NOT NULL,
    actor_id text NOT NULL,
    reason text
);

CREATE TABLE public.slot_keys (
    business_id uuid NOT NULL,
    id uuid NOT NULL
);

COMMENT ON TABLE public.slot_keys IS 'One row per time slot, never updated: the target of slot foreign keys, kept off the seat counter row';

CREATE TABLE public.waitlist_entries (
    business_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    slot_id uuid NOT NULL,
    customer_id uuid NOT NULL,
    party_size integer NOT NULL,
    status text DEFAULT 'waiting'::text NOT NULL,
    joined_at timestamp with time zone NOT NULL,
    offered_at timestamp with time zone,
    offer_expires_at timestamp with time zone,
    booking_id uuid,
    CONSTRAINT waitlist_entries_check CHECK ((((status = 'waiting'::text) = (offered_at IS NULL)) OR (status = ANY (ARRAY['expired'::text, 'cancelled'::text])))),
    CONSTRAINT waitlist_entries_check1 CHECK (((offered_at IS NULL) = (offer_expires_at IS NULL))),
    CONSTRAINT waitlist_entries_party_size_check CHECK (((party_size >= 1) AND (party_size <= 100))),
    CONSTRAINT waitlist_entries_status_check CHECK ((status = ANY (ARRAY['waiting'::text, 'offered'::text, 'accepted'::text, 'expired'::text, 'cancelled'::text])))
);

CREATE VIEW public.slot_seat_holds AS
 SELECT holds.business_id,
    holds.slot_id,
    (sum(holds.seats))::integer AS seats
   FROM ( SELECT bookings.business_id,
            bookings.slot_id,
            bookings.party_size AS seats
           FROM public.bookings
          WHERE public.booking_holds_seat(bookings.status)
        UNION ALL
         SELECT r.business_id,
            r.slot_id,
            r.quantity
           FROM (public.booking_resources r
             JOIN public.bookings b ON (((b.business_id = r.business_id) AND (b.id = r.booking_id))))
          WHERE public.booking_holds_seat(b.status)
        UNION ALL
         SELECT waitlist_entries.business_id,
            waitlist_entries.slot_id,
            waitlist_entries.party_size
           FROM public.waitlist_entries
          WHERE (waitlist_entries.status = 'offered'::text)) holds
  GROUP BY holds.business_id, holds.slot_id;

CREATE TABLE public.time_slots (
    business_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    schedule_version_id uuid NOT NULL,
    service_id uuid NOT NULL,
    resource_id uuid NOT NULL,
    local_date date NOT NULL,
    local_start time without time zone NOT NULL,
    starts_at timestamp with time zone NOT NULL,
    ends_at timestamp with time zone NOT NULL,
    max_capacity integer NOT NULL,
    booked_seats integer DEFAULT 0 NOT NULL,
    is_legacy boolean DEFAULT false NOT NULL,
    legacy_since timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT time_slots_booked_seats_check CHECK ((booked_seats >= 0)),
    CONSTRAINT time_slots_check CHECK ((ends_at > starts_at)),
    CONSTRAINT time_slots_check1 CHECK ((is_legacy = (legacy_since IS NOT NULL))),
    CONSTRAINT time_slots_max_capacity_check CHECK (((max_capacity >= 0) AND (max_capacity <= 10000)))
);

COMMENT ON COLUMN public.time_slots.local_date IS 'Derived: the local date of starts_at in the business''s timezone (a moved DST-gap time is stored as moved)';

COMMENT ON COLUMN public.time_slots.local_start IS 'Derived: the local wall-clock time of starts_at in the business''s timezone';

CREATE TABLE public.waitlist_status_edges (
    from_status text NOT NULL,
    to_status text NOT NULL
);

ALTER TABLE ONLY public.alembic_version
    ADD CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num);

ALTER TABLE ONLY public.audit_chain
    ADD CONSTRAINT audit_chain_business_id_audit_id_key UNIQUE (business_id, audit_id);

ALTER TABLE ONLY public.audit_chain
    ADD CONSTRAINT audit_chain_pkey PRIMARY KEY (business_id, seq);

ALTER TABLE ONLY public.booking_audit_log
    ADD CONSTRAINT booking_audit_log_pkey PRIMARY KEY (business_id, id);

ALTER TABLE ONLY public.booking_refusals
    ADD CONSTRAINT booking_refusals_pkey PRIMARY KEY (business_id, id);

ALTER TABLE ONLY public.booking_resources
    ADD CONSTRAINT booking_resources_pkey PRIMARY KEY (business_id, booking_id, slot_id);

ALTER TABLE ONLY public.booking_series
    ADD CONSTRAINT booking_series_pkey PRIMARY KEY (business_id, id);

ALTER TABLE ONLY public.booking_state_transitions
    ADD CONSTRAINT booking_state_transitions_pkey PRIMARY KEY (business_id, id);

ALTER TABLE ONLY public.booking_status_edges
    ADD CONSTRAINT booking_status_edges_from_status_to_status_key UNIQUE NULLS NOT DISTINCT (from_status, to_status);

ALTER TABLE ONLY public.bookings
    ADD CONSTRAINT bookings_business_id_idempotency_key_key UNIQUE (business_id, idempotency_key);

ALTER TABLE public.bookings
    ADD CONSTRAINT bookings_payment_status_matches_money CHECK (
CASE payment_status
    WHEN 'pending'::public.payment_status THEN (paid_amount = (0)::numeric)
    WHEN 'failed'::public.payment_status THEN (paid_amount = (0)::numeric)
    WHEN 'paid'::public.payment_status THEN ((paid_amount > refunded_amount) AND ((paid_amount - refunded_amount) >= amount))
    WHEN 'refunded'::public.payment_status THEN ((paid_amount > (0)::numeric) AND (refunded_amount = paid_amount))
    WHEN 'partially_refunded'::public.payment_status THEN ((refunded_amount > (0)::numeric) AND (paid_amount > refunded_amount) AND ((paid_amount - refunded_amount) < amount))
    ELSE ((paid_amount > (0)::numeric) AND (paid_amount < amount) AND (refunded_amount = (0)::numeric))
END) NOT VALID;

ALTER TABLE ONLY public.bookings
    ADD CONSTRAINT bookings_pkey PRIMARY KEY (business_id, id);

ALTER TABLE ONLY public.businesses
    ADD CONSTRAINT businesses_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_pkey PRIMARY KEY (business_id, id);

ALTER TABLE ONLY public.idempotency_keys
    ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (business_id, key);

ALTER TABLE ONLY public.integrity_check_results
    ADD CONSTRAINT integrity_check_results_pkey PRIMARY KEY (run_id, check_name);

ALTER TABLE ONLY public.integrity_check_runs
    ADD CONSTRAINT integrity_check_runs_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.notification_circuit
    ADD CONSTRAINT notification_circuit_pkey PRIMARY KEY (endpoint);

ALTER TABLE ONLY public.notification_deliveries
    ADD CONSTRAINT notification_deliveries_pkey PRIMARY KEY (business_id, outbox_id, attempt);

ALTER TABLE ONLY public.notification_outbox
    ADD CONSTRAINT notification_outbox_business_id_delivery_id_key UNIQUE (business_id, delivery_id);

ALTER TABLE ONLY public.notification_outbox
    ADD CONSTRAINT notification_outbox_pkey PRIMARY KEY (business_id, id);

ALTER TABLE public.bookings
    ADD CONSTRAINT pay_now_paid_before_seat CHECK (((payment_method <> 'pay_now'::public.payment_method) OR (status = ANY (ARRAY['draft'::public.booking_status, 'cancelled'::public.booking_status, 'refunded'::public.booking_status])) OR (paid_amount >= amount))) NOT VALID;

ALTER TABLE ONLY public.payment_status_edges
    ADD CONSTRAINT payment_status_edges_from_status_to_status_key UNIQUE NULLS NOT DISTINCT (from_status, to_status);

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_business_id_idempotency_key_key UNIQUE (business_id, idempotency_key);

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_pkey PRIMARY KEY (business_id, id);

ALTER TABLE ONLY public.price_rules
    ADD CONSTRAINT price_rules_pkey PRIMARY KEY (business_id, id);

ALTER TABLE ONLY public.promo_codes
    ADD CONSTRAINT promo_codes_id_key UNIQUE (id);

ALTER TABLE ONLY public.promo_codes
    ADD CONSTRAINT promo_codes_pkey PRIMARY KEY (business_id, code);

ALTER TABLE ONLY public.refunds
    ADD CONSTRAINT refunds_pkey PRIMARY KEY (business_id, id);

ALTER TABLE ONLY public.resources
    ADD CONSTRAINT resources_business_id_name_key UNIQUE (business_id, name);

ALTER TABLE ONLY public.resources
    ADD CONSTRAINT resources_pkey PRIMARY KEY (business_id, id);

ALTER TABLE ONLY public.schedule_rules
    ADD CONSTRAINT schedule_rules_business_id_schedule_version_id_service_id_r_key UNIQUE (business_id, schedule_version_id, service_id, resource_id, iso_weekday, local_start);

ALTER TABLE ONLY public.schedule_rules
    ADD CONSTRAINT schedule_rules_pkey PRIMARY KEY (business_id, id);

ALTER TABLE ONLY public.schedule_versions
    ADD CONSTRAINT schedule_versions_business_id_version_number_key UNIQUE (business_id, version_number);

ALTER TABLE ONLY public.schedule_versions
    ADD CONSTRAINT schedule_versions_pkey PRIMARY KEY (business_id, id);

ALTER TABLE ONLY public.schema_definitions
    ADD CONSTRAINT schema_definitions_pkey PRIMARY KEY (area);

ALTER TABLE ONLY public.services
    ADD CONSTRAINT services_business_id_name_key UNIQUE (business_id, name);

ALTER TABLE ONLY public.services
    ADD CONSTRAINT services_pkey PRIMARY KEY (business_id, id);

ALTER TABLE ONLY public.slot_capacity_changes
    ADD CONSTRAINT slot_capacity_changes_pkey PRIMARY KEY (business_id, id);

ALTER TABLE ONLY public.slot_keys
    ADD CONSTRAINT slot_keys_pkey PRIMARY KEY (business_id, id);

ALTER TABLE ONLY public.time_slots
    ADD CONSTRAINT time_slots_business_id_service_id_resource_id_starts_at_key UNIQUE (business_id, service_id, resource_id, starts_at);

ALTER TABLE ONLY public.time_slots
    ADD CONSTRAINT time_slots_pkey PRIMARY KEY (business_id, id);

ALTER TABLE ONLY public.waitlist_entries
    ADD CONSTRAINT waitlist_entries_pkey PRIMARY KEY (business_id, id);

ALTER TABLE ONLY public.waitlist_status_edges
    ADD CONSTRAINT waitlist_status_edges_pkey PRIMARY KEY (from_status, to_status);

CREATE INDEX booking_audit_log_booking ON public.booking_audit_log USING btree (business_id, booking_id, id);

CREATE INDEX booking_audit_log_booking_action ON public.booking_audit_log USING btree (business_id, booking_id, action);

CREATE INDEX booking_audit_log_entity ON public.booking_audit_log USING btree (business_id, entity_id, id);

CREATE INDEX booking_refusals_time ON public.booking_refusals USING btree (occurred_at);

CREATE INDEX booking_resources_slot ON public.booking_resources USING btree (business_id, slot_id);

CREATE INDEX booking_state_transitions_booking ON public.booking_state_transitions USING btree (business_id, booking_id, id);

CREATE INDEX booking_state_transitions_last ON public.booking_state_transitions USING btree (business_id, booking_id, id DESC) INCLUDE (to_status);

CREATE INDEX bookings_customer_status ON public.bookings USING btree (business_id, customer_id, status);

CREATE UNIQUE INDEX bookings_one_per_occurrence ON public.bookings USING btree (business_id, series_id, occurrence) WHERE ((series_id IS NOT NULL) AND (status <> ALL (ARRAY['cancelled'::public.booking_status, 'refunded'::public.booking_status])));

CREATE INDEX bookings_slot ON public.bookings USING btree (business_id, slot_id);

CREATE INDEX idempotency_keys_created ON public.idempotency_keys USING btree (created_at);

CREATE INDEX integrity_check_runs_started ON public.integrity_check_runs USING btree (started_at DESC);

CREATE INDEX notification_deliveries_started ON public.notification_deliveries USING btree (started_at);

CREATE INDEX notification_outbox_booking ON public.notification_outbox USING btree (business_id, booking_id);

CREATE INDEX notification_outbox_dead ON public.notification_outbox USING btree (dead_at) WHERE (dead_at IS NOT NULL);

CREATE INDEX notification_outbox_due ON public.notification_outbox USING btree (available_at, id) WHERE ((delivered_at IS NULL) AND (dead_at IS NULL));

CREATE UNIQUE INDEX notification_outbox_one_reminder ON public.notification_outbox USING btree (business_id, booking_id, event_type, ((payload #>> '{slot,id}'::text[]))) WHERE (event_type = 'booking.reminder_due'::text);

CREATE INDEX payments_booking ON public.payments USING btree (business_id, booking_id);

CREATE INDEX price_rules_service ON public.price_rules USING btree (business_id, service_id, valid_from);

CREATE INDEX refunds_payment ON public.refunds USING btree (business_id, payment_id);

CREATE UNIQUE INDEX schedule_versions_one_active ON public.schedule_versions USING btree (business_id) WHERE is_active;

CREATE INDEX slot_capacity_changes_slot ON public.slot_capacity_changes USING btree (business_id, slot_id);

CREATE INDEX time_slots_business_starts ON public.time_slots USING btree (business_id, starts_at);

CREATE INDEX time_slots_horizon ON public.time_slots USING btree (business_id, starts_at) INCLUDE (booked_seats, max_capacity, is_legacy);

CREATE INDEX time_slots_over_capacity ON public.time_slots USING btree (business_id, starts_at) WHERE (booked_seats > max_capacity);

CREATE INDEX time_slots_starts_for_reminders ON public.time_slots USING btree (starts_at);

CREATE INDEX waitlist_entries_booking ON public.waitlist_entries USING btree (business_id, booking_id) WHERE (booking_id IS NOT NULL);

CREATE INDEX waitlist_entries_offers ON public.waitlist_entries USING btree (offer_expires_at) WHERE (status = 'offered'::text);

CREATE UNIQUE INDEX waitlist_entries_one_live ON public.waitlist_entries USING btree (business_id, slot_id, customer_id) WHERE (status = ANY (ARRAY['waiting'::text, 'offered'::text]));

CREATE INDEX waitlist_entries_queue ON public.waitlist_entries USING btree (business_id, slot_id, joined_at, id) WHERE (status = 'waiting'::text);

CREATE TRIGGER audit_chain_append_only BEFORE DELETE OR UPDATE ON public.audit_chain FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON public.audit_chain FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER booking_audit_log_append_only BEFORE DELETE OR UPDATE ON public.booking_audit_log FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER booking_audit_log_no_truncate BEFORE TRUNCATE ON public.booking_audit_log FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER booking_refusals_append_only BEFORE DELETE OR UPDATE ON public.booking_refusals FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER booking_resources_10_seats AFTER INSERT ON public.booking_resources FOR EACH ROW EXECUTE FUNCTION public.booking_resources_seats();

CREATE TRIGGER booking_resources_append_only BEFORE DELETE OR UPDATE ON public.booking_resources FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER booking_resources_no_truncate BEFORE TRUNCATE ON public.booking_resources FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER booking_series_10_audit AFTER INSERT ON public.booking_series FOR EACH ROW EXECUTE FUNCTION public.audit_write('series');

CREATE TRIGGER booking_series_append_only BEFORE DELETE OR UPDATE ON public.booking_series FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER booking_state_transitions_append_only BEFORE DELETE OR UPDATE ON public.booking_state_transitions FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER booking_state_transitions_no_truncate BEFORE TRUNCATE ON public.booking_state_transitions FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER booking_status_edges_append_only BEFORE DELETE OR UPDATE ON public.booking_status_edges FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER booking_status_edges_no_truncate BEFORE TRUNCATE ON public.booking_status_edges FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER bookings_10_audit AFTER INSERT OR UPDATE ON public.bookings FOR EACH ROW EXECUTE FUNCTION public.audit_write('booking');

CREATE TRIGGER bookings_10_guard BEFORE INSERT OR UPDATE ON public.bookings FOR EACH ROW EXECUTE FUNCTION public.bookings_before();

CREATE TRIGGER bookings_20_outbox AFTER INSERT OR UPDATE OF status, slot_id ON public.bookings FOR EACH ROW EXECUTE FUNCTION public.bookings_outbox();

CREATE TRIGGER bookings_20_price_lock BEFORE UPDATE ON public.bookings FOR EACH ROW EXECUTE FUNCTION public.bookings_beyond_guard();

CREATE TRIGGER bookings_30_seats AFTER INSERT OR UPDATE ON public.bookings FOR EACH ROW EXECUTE FUNCTION public.bookings_seats();

CREATE TRIGGER bookings_never_delete BEFORE DELETE ON public.bookings FOR EACH ROW EXECUTE FUNCTION public.refuse_delete();

CREATE TRIGGER bookings_no_truncate BEFORE TRUNCATE ON public.bookings FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_delete();

CREATE TRIGGER businesses_10_audit AFTER INSERT OR UPDATE ON public.businesses FOR EACH ROW EXECUTE FUNCTION public.audit_write('business');

CREATE TRIGGER businesses_10_validate BEFORE INSERT OR UPDATE ON public.businesses FOR EACH ROW EXECUTE FUNCTION public.businesses_validate();

CREATE TRIGGER businesses_never_delete BEFORE DELETE ON public.businesses FOR EACH ROW EXECUTE FUNCTION public.refuse_delete();

CREATE TRIGGER businesses_no_truncate BEFORE TRUNCATE ON public.businesses FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_delete();

CREATE TRIGGER customers_never_delete BEFORE DELETE ON public.customers FOR EACH ROW EXECUTE FUNCTION public.refuse_delete();

CREATE TRIGGER customers_no_truncate BEFORE TRUNCATE ON public.customers FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_delete();

CREATE TRIGGER idempotency_keys_10_guard BEFORE DELETE OR UPDATE ON public.idempotency_keys FOR EACH ROW EXECUTE FUNCTION public.idempotency_keys_guard();

CREATE TRIGGER idempotency_keys_no_truncate BEFORE TRUNCATE ON public.idempotency_keys FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER integrity_check_results_append_only BEFORE DELETE OR UPDATE ON public.integrity_check_results FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER notification_deliveries_10_settle AFTER INSERT ON public.notification_deliveries FOR EACH ROW EXECUTE FUNCTION public.notification_deliveries_settle();

CREATE TRIGGER notification_deliveries_append_only BEFORE DELETE OR UPDATE ON public.notification_deliveries FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER notification_deliveries_no_truncate BEFORE TRUNCATE ON public.notification_deliveries FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER notification_outbox_10_guard BEFORE UPDATE ON public.notification_outbox FOR EACH ROW EXECUTE FUNCTION public.notification_outbox_guard();

CREATE TRIGGER notification_outbox_never_delete BEFORE DELETE ON public.notification_outbox FOR EACH ROW EXECUTE FUNCTION public.refuse_delete();

CREATE TRIGGER notification_outbox_no_truncate BEFORE TRUNCATE ON public.notification_outbox FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_delete();

CREATE TRIGGER payment_status_edges_append_only BEFORE DELETE OR UPDATE ON public.payment_status_edges FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER payment_status_edges_no_truncate BEFORE TRUNCATE ON public.payment_status_edges FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER payments_10_booking_money AFTER INSERT OR UPDATE ON public.payments FOR EACH ROW EXECUTE FUNCTION public.payments_after();

CREATE TRIGGER payments_10_guard BEFORE INSERT OR UPDATE ON public.payments FOR EACH ROW EXECUTE FUNCTION public.payments_before();

CREATE TRIGGER payments_20_audit AFTER INSERT OR UPDATE ON public.payments FOR EACH ROW EXECUTE FUNCTION public.audit_write('payment');

CREATE TRIGGER payments_never_delete BEFORE DELETE ON public.payments FOR EACH ROW EXECUTE FUNCTION public.refuse_delete();

CREATE TRIGGER payments_no_truncate BEFORE TRUNCATE ON public.payments FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_delete();

CREATE TRIGGER price_rules_10_audit AFTER INSERT ON public.price_rules FOR EACH ROW EXECUTE FUNCTION public.audit_write('price');

CREATE TRIGGER price_rules_10_validate BEFORE INSERT ON public.price_rules FOR EACH ROW EXECUTE FUNCTION public.price_rules_validate();

CREATE TRIGGER price_rules_append_only BEFORE DELETE OR UPDATE ON public.price_rules FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER promo_codes_10_audit AFTER INSERT ON public.promo_codes FOR EACH ROW EXECUTE FUNCTION public.audit_write('promo');

CREATE TRIGGER promo_codes_never_delete BEFORE DELETE ON public.promo_codes FOR EACH ROW EXECUTE FUNCTION public.refuse_delete();

CREATE TRIGGER refunds_10_apply AFTER INSERT ON public.refunds FOR EACH ROW EXECUTE FUNCTION public.refunds_apply();

CREATE TRIGGER refunds_20_audit AFTER INSERT ON public.refunds FOR EACH ROW EXECUTE FUNCTION public.audit_write('refund');

CREATE TRIGGER refunds_append_only BEFORE DELETE OR UPDATE ON public.refunds FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER refunds_no_truncate BEFORE TRUNCATE ON public.refunds FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER resources_10_audit AFTER INSERT OR UPDATE ON public.resources FOR EACH ROW EXECUTE FUNCTION public.audit_write('resource');

CREATE TRIGGER resources_never_delete BEFORE DELETE ON public.resources FOR EACH ROW EXECUTE FUNCTION public.refuse_delete();

CREATE TRIGGER resources_no_truncate BEFORE TRUNCATE ON public.resources FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_delete();

CREATE TRIGGER schedule_rules_append_only BEFORE DELETE OR UPDATE ON public.schedule_rules FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER schedule_rules_no_truncate BEFORE TRUNCATE ON public.schedule_rules FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER schedule_versions_10_audit AFTER INSERT OR UPDATE ON public.schedule_versions FOR EACH ROW EXECUTE FUNCTION public.audit_write('schedule');

CREATE TRIGGER schedule_versions_10_guard BEFORE UPDATE ON public.schedule_versions FOR EACH ROW EXECUTE FUNCTION public.schedule_versions_guard();

CREATE TRIGGER schedule_versions_never_delete BEFORE DELETE ON public.schedule_versions FOR EACH ROW EXECUTE FUNCTION public.refuse_delete();

CREATE TRIGGER schedule_versions_no_truncate BEFORE TRUNCATE ON public.schedule_versions FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_delete();

CREATE TRIGGER services_10_audit AFTER INSERT OR UPDATE ON public.services FOR EACH ROW EXECUTE FUNCTION public.audit_write('service');

CREATE TRIGGER services_never_delete BEFORE DELETE ON public.services FOR EACH ROW EXECUTE FUNCTION public.refuse_delete();

CREATE TRIGGER services_no_truncate BEFORE TRUNCATE ON public.services FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_delete();

CREATE TRIGGER slot_capacity_changes_append_only BEFORE DELETE OR UPDATE ON public.slot_capacity_changes FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER slot_capacity_changes_no_truncate BEFORE TRUNCATE ON public.slot_capacity_changes FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER slot_keys_append_only BEFORE DELETE OR UPDATE ON public.slot_keys FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER slot_keys_no_truncate BEFORE TRUNCATE ON public.slot_keys FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_change();

CREATE TRIGGER time_slots_10_audit_insert AFTER INSERT ON public.time_slots FOR EACH ROW EXECUTE FUNCTION public.audit_write('slot');

CREATE TRIGGER time_slots_10_audit_update AFTER UPDATE ON public.time_slots FOR EACH ROW WHEN (((((old.max_capacity IS DISTINCT FROM new.max_capacity) OR (old.is_legacy IS DISTINCT FROM new.is_legacy)) OR (old.legacy_since IS DISTINCT FROM new.legacy_since)) OR (old.schedule_version_id IS DISTINCT FROM new.schedule_version_id))) EXECUTE FUNCTION public.audit_write('slot');

CREATE TRIGGER time_slots_10_guard BEFORE INSERT OR UPDATE ON public.time_slots FOR EACH ROW EXECUTE FUNCTION public.time_slots_guard();

CREATE TRIGGER time_slots_20_key AFTER INSERT ON public.time_slots FOR EACH ROW EXECUTE FUNCTION public.time_slots_key();

ALTER TABLE public.time_slots ENABLE ALWAYS TRIGGER time_slots_20_key;

CREATE TRIGGER time_slots_20_outbox AFTER UPDATE OF is_legacy ON public.time_slots FOR EACH ROW WHEN ((new.is_legacy AND (NOT old.is_legacy))) EXECUTE FUNCTION public.time_slots_outbox();

CREATE TRIGGER time_slots_30_promote AFTER UPDATE OF booked_seats, max_capacity ON public.time_slots FOR EACH ROW WHEN (((new.max_capacity - new.booked_seats) > (old.max_capacity - old.booked_seats))) EXECUTE FUNCTION public.time_slots_promote();

CREATE TRIGGER time_slots_never_delete BEFORE DELETE ON public.time_slots FOR EACH ROW EXECUTE FUNCTION public.refuse_delete();

CREATE TRIGGER time_slots_no_truncate BEFORE TRUNCATE ON public.time_slots FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_delete();

CREATE TRIGGER waitlist_entries_10_audit AFTER INSERT OR UPDATE ON public.waitlist_entries FOR EACH ROW EXECUTE FUNCTION public.audit_write('waitlist');

CREATE TRIGGER waitlist_entries_10_guard BEFORE INSERT OR UPDATE ON public.waitlist_entries FOR EACH ROW EXECUTE FUNCTION public.waitlist_entries_guard();

CREATE TRIGGER waitlist_entries_20_outbox AFTER UPDATE OF status ON public.waitlist_entries FOR EACH ROW EXECUTE FUNCTION public.waitlist_outbox();

CREATE TRIGGER waitlist_entries_30_seats AFTER UPDATE ON public.waitlist_entries FOR EACH ROW EXECUTE FUNCTION public.waitlist_entries_seats();

CREATE TRIGGER waitlist_entries_never_delete BEFORE DELETE ON public.waitlist_entries FOR EACH ROW EXECUTE FUNCTION public.refuse_delete();

CREATE TRIGGER waitlist_entries_no_truncate BEFORE TRUNCATE ON public.waitlist_entries FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_delete();

CREATE TRIGGER waitlist_status_edges_append_only BEFORE DELETE OR UPDATE ON public.waitlist_status_edges FOR EACH ROW EXECUTE FUNCTION public.refuse_change();

ALTER TABLE ONLY public.audit_chain
    ADD CONSTRAINT audit_chain_business_id_audit_id_fkey FOREIGN KEY (business_id, audit_id) REFERENCES public.booking_audit_log(business_id, id);

ALTER TABLE ONLY public.booking_resources
    ADD CONSTRAINT booking_resources_business_id_booking_id_fkey FOREIGN KEY (business_id, booking_id) REFERENCES public.bookings(business_id, id);

ALTER TABLE ONLY public.booking_resources
    ADD CONSTRAINT booking_resources_business_id_slot_id_fkey FOREIGN KEY (business_id, slot_id) REFERENCES public.slot_keys(business_id, id);

ALTER TABLE ONLY public.booking_series
    ADD CONSTRAINT booking_series_business_id_customer_id_fkey FOREIGN KEY (business_id, customer_id) REFERENCES public.customers(business_id, id);

ALTER TABLE ONLY public.booking_series
    ADD CONSTRAINT booking_series_business_id_resource_id_fkey FOREIGN KEY (business_id, resource_id) REFERENCES public.resources(business_id, id);

ALTER TABLE ONLY public.booking_series
    ADD CONSTRAINT booking_series_business_id_service_id_fkey FOREIGN KEY (business_id, service_id) REFERENCES public.services(business_id, id);

ALTER TABLE ONLY public.booking_state_transitions
    ADD CONSTRAINT booking_state_transitions_business_id_booking_id_fkey FOREIGN KEY (business_id, booking_id) REFERENCES public.bookings(business_id, id);

ALTER TABLE ONLY public.bookings
    ADD CONSTRAINT bookings_business_id_customer_id_fkey FOREIGN KEY (business_id, customer_id) REFERENCES public.customers(business_id, id);

ALTER TABLE ONLY public.bookings
    ADD CONSTRAINT bookings_business_id_slot_id_fkey FOREIGN KEY (business_id, slot_id) REFERENCES public.slot_keys(business_id, id);

ALTER TABLE ONLY public.bookings
    ADD CONSTRAINT bookings_series_fk FOREIGN KEY (business_id, series_id) REFERENCES public.booking_series(business_id, id);

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_business_id_fkey FOREIGN KEY (business_id) REFERENCES public.businesses(id);

ALTER TABLE ONLY public.idempotency_keys
    ADD CONSTRAINT idempotency_keys_business_id_fkey FOREIGN KEY (business_id) REFERENCES public.businesses(id);

ALTER TABLE ONLY public.integrity_check_results
    ADD CONSTRAINT integrity_check_results_run_id_fkey FOREIGN KEY (run_id) REFERENCES public.integrity_check_runs(id);

ALTER TABLE ONLY public.notification_deliveries
    ADD CONSTRAINT notification_deliveries_business_id_outbox_id_fkey FOREIGN KEY (business_id, outbox_id) REFERENCES public.notification_outbox(business_id, id);

ALTER TABLE ONLY public.notification_outbox
    ADD CONSTRAINT notification_outbox_business_id_booking_id_fkey FOREIGN KEY (business_id, booking_id) REFERENCES public.bookings(business_id, id);

ALTER TABLE ONLY public.notification_outbox
    ADD CONSTRAINT notification_outbox_business_id_fkey FOREIGN KEY (business_id) REFERENCES public.businesses(id);

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_business_id_booking_id_fkey FOREIGN KEY (business_id, booking_id) REFERENCES public.bookings(business_id, id);

ALTER TABLE ONLY public.price_rules
    ADD CONSTRAINT price_rules_business_id_service_id_fkey FOREIGN KEY (business_id, service_id) REFERENCES public.services(business_id, id);

ALTER TABLE ONLY public.promo_codes
    ADD CONSTRAINT promo_codes_business_id_fkey FOREIGN KEY (business_id) REFERENCES public.businesses(id);

ALTER TABLE ONLY public.refunds
    ADD CONSTRAINT refunds_business_id_payment_id_fkey FOREIGN KEY (business_id, payment_id) REFERENCES public.payments(business_id, id);

ALTER TABLE ONLY public.resources
    ADD CONSTRAINT resources_business_id_fkey FOREIGN KEY (business_id) REFERENCES public.businesses(id);

ALTER TABLE ONLY public.schedule_rules
    ADD CONSTRAINT schedule_rules_business_id_resource_id_fkey FOREIGN KEY (business_id, resource_id) REFERENCES public.resources(business_id, id);

ALTER TABLE ONLY public.schedule_rules
    ADD CONSTRAINT schedule_rules_business_id_schedule_version_id_fkey FOREIGN KEY (business_id, schedule_version_id) REFERENCES public.schedule_versions(business_id, id);

ALTER TABLE ONLY public.schedule_rules
    ADD CONSTRAINT schedule_rules_business_id_service_id_fkey FOREIGN KEY (business_id, service_id) REFERENCES public.services(business_id, id);

ALTER TABLE ONLY public.schedule_versions
    ADD CONSTRAINT schedule_versions_business_id_fkey FOREIGN KEY (business_id) REFERENCES public.businesses(id);

ALTER TABLE ONLY public.services
    ADD CONSTRAINT services_business_id_fkey FOREIGN KEY (business_id) REFERENCES public.businesses(id);

ALTER TABLE ONLY public.slot_capacity_changes
    ADD CONSTRAINT slot_capacity_changes_business_id_slot_id_fkey FOREIGN KEY (business_id, slot_id) REFERENCES public.time_slots(business_id, id);

ALTER TABLE ONLY public.slot_keys
    ADD CONSTRAINT slot_keys_business_id_id_fkey FOREIGN KEY (business_id, id) REFERENCES public.time_slots(business_id, id);

ALTER TABLE ONLY public.time_slots
    ADD CONSTRAINT time_slots_business_id_resource_id_fkey FOREIGN KEY (business_id, resource_id) REFERENCES public.resources(business_id, id);

ALTER TABLE ONLY public.time_slots
    ADD CONSTRAINT time_slots_business_id_schedule_version_id_fkey FOREIGN KEY (business_id, schedule_version_id) REFERENCES public.schedule_versions(business_id, id);

ALTER TABLE ONLY public.time_slots
    ADD CONSTRAINT time_slots_business_id_service_id_fkey FOREIGN KEY (business_id, service_id) REFERENCES public.services(business_id, id);

ALTER TABLE ONLY public.waitlist_entries
    ADD CONSTRAINT waitlist_entries_business_id_booking_id_fkey FOREIGN KEY (business_id, booking_id) REFERENCES public.bookings(business_id, id) DEFERRABLE INITIALLY DEFERRED;

ALTER TABLE ONLY public.waitlist_entries
    ADD CONSTRAINT waitlist_entries_business_id_customer_id_fkey FOREIGN KEY (business_id, customer_id) REFERENCES public.customers(business_id, id);

ALTER TABLE ONLY public.waitlist_entries
    ADD CONSTRAINT waitlist_entries_business_id_slot_id_fkey FOREIGN KEY (business_id, slot_id) REFERENCES public.slot_keys(business_id, id);

GRANT USAGE ON SCHEMA public TO booking_app;
GRANT USAGE ON SCHEMA public TO booking_readonly;

GRANT SELECT,INSERT ON TABLE public.booking_audit_log TO booking_app;
GRANT SELECT ON TABLE public.booking_audit_log TO booking_readonly;

GRANT SELECT,INSERT ON TABLE public.bookings TO booking_app;
GRANT SELECT ON TABLE public.bookings TO booking_readonly;

GRANT UPDATE(slot_id) ON TABLE public.bookings TO booking_app;

GRANT UPDATE(party_size) ON TABLE public.bookings TO booking_app;

GRANT UPDATE(status) ON TABLE public.bookings TO booking_app;

GRANT UPDATE(payment_status) ON TABLE public.bookings TO booking_app;

GRANT UPDATE(amount) ON TABLE public.bookings TO booking_app;

GRANT UPDATE(version) ON TABLE public.bookings TO booking_app;

GRANT UPDATE(updated_at) ON TABLE public.bookings TO booking_app;

GRANT UPDATE(paid_amount) ON TABLE public.bookings TO booking_app;

GRANT UPDATE(refunded_amount) ON TABLE public.bookings TO booking_app;

GRANT UPDATE(cancellation_fee) ON TABLE public.bookings TO booking_app;

REVOKE ALL ON FUNCTION public.idempotency_purge(p_before timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION public.idempotency_purge(p_before timestamp with time zone) TO booking_app;

GRANT SELECT ON TABLE public.alembic_version TO booking_app;
GRANT SELECT ON TABLE public.alembic_version TO booking_readonly;

GRANT SELECT,INSERT ON TABLE public.audit_chain TO booking_app;
GRANT SELECT ON TABLE public.audit_chain TO booking_readonly;

GRANT USAGE ON SEQUENCE public.booking_audit_log_id_seq TO booking_app;

GRANT SELECT,INSERT ON TABLE public.booking_refusals TO booking_app;
GRANT SELECT ON TABLE public.booking_refusals TO booking_readonly;

GRANT USAGE ON SEQUENCE public.booking_refusals_id_seq TO booking_app;

GRANT SELECT,INSERT ON TABLE public.booking_resources TO booking_app;
GRANT SELECT ON TABLE public.booking_resources TO booking_readonly;

GRANT SELECT,INSERT ON TABLE public.booking_series TO booking_app;
GRANT SELECT ON TABLE public.booking_series TO booking_readonly;

GRANT SELECT,INSERT ON TABLE public.booking_state_transitions TO booking_app;
GRANT SELECT ON TABLE public.booking_state_transitions TO booking_readonly;

GRANT USAGE ON SEQUENCE public.booking_state_transitions_id_seq TO booking_app;

GRANT SELECT ON TABLE public.booking_status_edges TO booking_app;
GRANT SELECT ON TABLE public.booking_status_edges TO booking_readonly;

GRANT SELECT,INSERT ON TABLE public.businesses TO booking_app;
GRANT SELECT ON TABLE public.businesses TO booking_readonly;

GRANT UPDATE(name) ON TABLE public.businesses TO booking_app;

GRANT UPDATE(currency) ON TABLE public.businesses TO booking_app;

GRANT UPDATE(waitlist_offer_minutes) ON TABLE public.businesses TO booking_app;

GRANT UPDATE(free_cancellation_hours) ON TABLE public.businesses TO booking_app;

GRANT UPDATE(late_cancellation_fee_percent) ON TABLE public.businesses TO booking_app;

GRANT SELECT,INSERT ON TABLE public.customers TO booking_app;
GRANT SELECT ON TABLE public.customers TO booking_readonly;

GRANT UPDATE(name) ON TABLE public.customers TO booking_app;

GRANT UPDATE(email) ON TABLE public.customers TO booking_app;

GRANT SELECT,INSERT ON TABLE public.idempotency_keys TO booking_app;

GRANT SELECT,INSERT ON TABLE public.integrity_check_results TO booking_app;
GRANT SELECT ON TABLE public.integrity_check_results TO booking_readonly;

GRANT SELECT,INSERT ON TABLE public.integrity_check_runs TO booking_app;
GRANT SELECT ON TABLE public.integrity_check_runs TO booking_readonly;

GRANT UPDATE(finished_at) ON TABLE public.integrity_check_runs TO booking_app;

GRANT UPDATE(duration_seconds) ON TABLE public.integrity_check_runs TO booking_app;

GRANT UPDATE(status) ON TABLE public.integrity_check_runs TO booking_app;

GRANT SELECT,INSERT ON TABLE public.notification_circuit TO booking_app;
GRANT SELECT ON TABLE public.notification_circuit TO booking_readonly;

GRANT UPDATE(state) ON TABLE public.notification_circuit TO booking_app;

GRANT UPDATE(consecutive_failures) ON TABLE public.notification_circuit TO booking_app;

GRANT UPDATE(opened_at) ON TABLE public.notification_circuit TO booking_app;

GRANT UPDATE(retry_at) ON TABLE public.notification_circuit TO booking_app;

GRANT UPDATE(updated_at) ON TABLE public.notification_circuit TO booking_app;

GRANT UPDATE(dispatcher) ON TABLE public.notification_circuit TO booking_app;

GRANT SELECT,INSERT ON TABLE public.notification_deliveries TO booking_app;
GRANT SELECT ON TABLE public.notification_deliveries TO booking_readonly;

GRANT SELECT,INSERT ON TABLE public.notification_outbox TO booking_app;
GRANT SELECT ON TABLE public.notification_outbox TO booking_readonly;

GRANT UPDATE(available_at) ON TABLE public.notification_outbox TO booking_app;

GRANT UPDATE(attempts) ON TABLE public.notification_outbox TO booking_app;

GRANT UPDATE(last_error) ON TABLE public.notification_outbox TO booking_app;

GRANT UPDATE(delivered_at) ON TABLE public.notification_outbox TO booking_app;

GRANT UPDATE(dead_at) ON TABLE public.notification_outbox TO booking_app;

GRANT SELECT ON TABLE public.payment_status_edges TO booking_app;
GRANT SELECT ON TABLE public.payment_status_edges TO booking_readonly;

GRANT SELECT,INSERT ON TABLE public.payments TO booking_app;
GRANT SELECT ON TABLE public.payments TO booking_readonly;

GRANT UPDATE(status) ON TABLE public.payments TO booking_app;

GRANT UPDATE(refunded_amount) ON TABLE public.payments TO booking_app;

GRANT UPDATE(provider_ref) ON TABLE public.payments TO booking_app;

GRANT UPDATE(failure_reason) ON TABLE public.payments TO booking_app;

GRANT UPDATE(updated_at) ON TABLE public.payments TO booking_app;

GRANT SELECT,INSERT ON TABLE public.price_rules TO booking_app;
GRANT SELECT ON TABLE public.price_rules TO booking_readonly;

GRANT SELECT,INSERT ON TABLE public.promo_codes TO booking_app;
GRANT SELECT ON TABLE public.promo_codes TO booking_readonly;

GRANT UPDATE(uses) ON TABLE public.promo_codes TO booking_app;

GRANT SELECT,INSERT ON TABLE public.refunds TO booking_app;
GRANT SELECT ON TABLE public.refunds TO booking_readonly;

GRANT SELECT,INSERT ON TABLE public.resources TO booking_app;
GRANT SELECT ON TABLE public.resources TO booking_readonly;

GRANT UPDATE(name) ON TABLE public.resources TO booking_app;

GRANT UPDATE(kind) ON TABLE public.resources TO booking_app;

GRANT SELECT,INSERT ON TABLE public.schedule_rules TO booking_app;
GRANT SELECT ON TABLE public.schedule_rules TO booking_readonly;

GRANT SELECT,INSERT ON TABLE public.schedule_versions TO booking_app;
GRANT SELECT ON TABLE public.schedule_versions TO booking_readonly;

GRANT UPDATE(is_active) ON TABLE public.schedule_versions TO booking_app;

GRANT SELECT,INSERT ON TABLE public.services TO booking_app;
GRANT SELECT ON TABLE public.services TO booking_readonly;

GRANT UPDATE(name) ON TABLE public.services TO booking_app;

GRANT UPDATE(kind) ON TABLE public.services TO booking_app;

GRANT UPDATE(max_party_size) ON TABLE public.services TO booking_app;

GRANT UPDATE(price) ON TABLE public.services TO booking_app;

GRANT UPDATE(payment_method) ON TABLE public.services TO booking_app;

GRANT SELECT,INSERT ON TABLE public.slot_capacity_changes TO booking_app;
GRANT SELECT ON TABLE public.slot_capacity_changes TO booking_readonly;

GRANT SELECT,INSERT ON TABLE public.slot_keys TO booking_app;
GRANT SELECT ON TABLE public.slot_keys TO booking_readonly;

GRANT SELECT,INSERT ON TABLE public.waitlist_entries TO booking_app;
GRANT SELECT ON TABLE public.waitlist_entries TO booking_readonly;

GRANT UPDATE(status) ON TABLE public.waitlist_entries TO booking_app;

GRANT UPDATE(offered_at) ON TABLE public.waitlist_entries TO booking_app;

GRANT UPDATE(offer_expires_at) ON TABLE public.waitlist_entries TO booking_app;

GRANT UPDATE(booking_id) ON TABLE public.waitlist_entries TO booking_app;

GRANT SELECT ON TABLE public.slot_seat_holds TO booking_app;
GRANT SELECT ON TABLE public.slot_seat_holds TO booking_readonly;

GRANT SELECT,INSERT ON TABLE public.time_slots TO booking_app;
GRANT SELECT ON TABLE public.time_slots TO booking_readonly;

GRANT UPDATE(schedule_version_id) ON TABLE public.time_slots TO booking_app;

GRANT UPDATE(max_capacity) ON TABLE public.time_slots TO booking_app;

GRANT UPDATE(booked_seats) ON TABLE public.time_slots TO booking_app;

GRANT UPDATE(is_legacy) ON TABLE public.time_slots TO booking_app;

GRANT UPDATE(legacy_since) ON TABLE public.time_slots TO booking_app;

GRANT UPDATE(updated_at) ON TABLE public.time_slots TO booking_app;

GRANT SELECT ON TABLE public.waitlist_status_edges TO booking_app;
GRANT SELECT ON TABLE public.waitlist_status_edges TO booking_readonly;
