-- Idempotency that survives anything (issue 13).
--
-- Every keyed write (book, book with resources, series, waitlist join, record / confirm /
-- refund a payment, cancel) does, in this order, before it judges anything else:
--   1. idempotency_lock(): a transaction-scoped advisory lock on (business, key). A retry
--      with the same key waits here, holding no other lock, until the first request has
--      committed or rolled back: first in the lock order (docs/invariants.md), and a waiter
--      holds nothing another path could want, so it closes no cycle;
--   2. idempotency_lookup(): the key's row, if the first request committed. Same operation
--      and same request fingerprint -> the stored result (the caller returns what the first
--      request made, as it stands now, and writes nothing); anything else -> BK008;
--   3. (bookings and payments only) the key on the booking or payment row itself, for keys
--      older than this table or purged from it;
--   4. its own judgement and writes, then idempotency_record() in the same transaction.
-- A refused request rolls back its key with everything else: only a success is remembered.
--
-- Retention: a row here is kept until idempotency_purge() removes it (`booking idempotency
-- purge`, default: rows older than 30 days). A booking's or payment's key also stays on its
-- row for ever (UNIQUE (business_id, idempotency_key)), so those keys replay for ever.

-- ---------------------------------------------------------------- the keys
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

-- Rows never change; they leave only through idempotency_purge().
CREATE FUNCTION idempotency_keys_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('booking.idempotency_purge', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION '% on idempotency_keys is refused: keys are append-only, purge old ones with idempotency_purge()',
    TG_OP USING ERRCODE = 'BK006';
END $$;
CREATE TRIGGER idempotency_keys_guard BEFORE UPDATE OR DELETE ON idempotency_keys
  FOR EACH ROW EXECUTE FUNCTION idempotency_keys_guard();
CREATE TRIGGER idempotency_keys_no_truncate BEFORE TRUNCATE ON idempotency_keys
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- The fingerprint of a request: jsonb's text is canonical (keys sorted, no duplicates, fixed
-- spacing), so equal requests hash alike whoever built them.
CREATE FUNCTION idempotency_fingerprint(p_request jsonb) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$ SELECT sha256(convert_to(p_request::text, 'UTF8')) $$;

CREATE FUNCTION idempotency_lock(p_business uuid, p_key text) RETURNS void
LANGUAGE sql AS $$ SELECT pg_advisory_xact_lock(hashtextextended('idempotency:' || p_business::text || ':' || p_key, 0)) $$;

-- What the first request with this key recorded (NULL: the key is unused here); BK008 when
-- the key was used for another operation or another request.
CREATE FUNCTION idempotency_lookup(p_business uuid, p_key text, p_operation text, p_request jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
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

-- Lock the key, then look it up: the first thing every keyed write does.
CREATE FUNCTION idempotency_begin(p_business uuid, p_key text, p_operation text, p_request jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM idempotency_lock(p_business, p_key);
  RETURN idempotency_lookup(p_business, p_key, p_operation, p_request);
END $$;

CREATE FUNCTION idempotency_record(p_business uuid, p_key text, p_operation text, p_request jsonb,
                                   p_result jsonb, p_at timestamptz) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO idempotency_keys (business_id, key, operation, request_hash, result, created_at)
  VALUES (p_business, p_key, p_operation, idempotency_fingerprint(p_request), p_result, p_at)
$$;

-- Forget keys recorded before p_before; returns how many. A retry of a forgotten key is
-- judged as a new request, except that a booking's or payment's key still finds its row.
CREATE FUNCTION idempotency_purge(p_before timestamptz) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  n integer;
BEGIN
  PERFORM set_config('booking.idempotency_purge', 'on', true);
  DELETE FROM idempotency_keys WHERE created_at < p_before;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM set_config('booking.idempotency_purge', '', true);
  RETURN n;
END $$;

-- ---------------------------------------------------------------- bookings
-- The booking a key already stands for (NULL: none), replayed before anything is judged: the
-- key's row; else a booking carrying the key (made before 0010, or its row purged), which
-- must be for the same slot, customer and party.
CREATE FUNCTION booking_replay(p_business uuid, p_key text, p_operation text, p_request jsonb,
                               p_slot uuid, p_customer uuid, p_party integer) RETURNS bookings
LANGUAGE plpgsql AS $$
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

-- booking_insert: the judgement and the insert of one booking, no key lookup (that is
-- booking_create's and booking_create_multi's first step). Its ON CONFLICT is the last line
-- for a key written behind the library's back between the lookup and the insert.
CREATE FUNCTION booking_insert(
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

-- Create a booking, or return the one an earlier request with the same key made (replayed):
-- the key is looked up before the slot is even read, so a retry of a booking that took the
-- last seat, or whose slot has since started, left the schedule or whose booking was
-- cancelled, returns that booking.
CREATE OR REPLACE FUNCTION booking_create(
  p_business uuid, p_id uuid, p_slot uuid, p_customer uuid, p_party integer,
  p_idempotency_key text, p_actor_type actor_type, p_actor_id text, p_channel change_channel,
  p_reason text, p_occurred_at timestamptz, p_promo_code text DEFAULT NULL,
  p_series uuid DEFAULT NULL, p_occurrence integer DEFAULT NULL, p_status booking_status DEFAULT NULL)
RETURNS TABLE (booking bookings, replayed boolean)
LANGUAGE plpgsql AS $$
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

-- A multi-resource booking in one statement (the judgement is 0007's, unchanged): the key
-- first, before the arguments' shape, the slots or their locks.
CREATE OR REPLACE FUNCTION booking_create_multi(
  p_business uuid, p_id uuid, p_slot uuid, p_customer uuid, p_party integer,
  p_resources uuid[], p_quantities integer[],
  p_idempotency_key text, p_actor_type actor_type, p_actor_id text, p_channel change_channel,
  p_reason text, p_occurred_at timestamptz)
RETURNS TABLE (booking bookings, replayed boolean)
LANGUAGE plpgsql AS $$
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

-- ---------------------------------------------------------------- privileges
GRANT SELECT, INSERT ON idempotency_keys TO booking_app;
REVOKE ALL ON FUNCTION idempotency_purge(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION idempotency_purge(timestamptz) TO booking_app;
