-- Bookings: the guards of a booking row and the one-statement booking functions.

-- The booking row's rules: creation only as draft or confirmed with no money; identity,
-- customer, token hash, key, payment method and currency never change; status moves along
-- booking_status_edges by an allowed actor; money columns move only with the payments
-- trigger; the cancellation fee is fixed at cancellation. version counts real changes (an
-- update that changes nothing keeps it, and writes no audit row).
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
  PERFORM refuse_changed(OLD, NEW,
    '{business_id,id,customer_id,created_at,cancellation_token_hash,idempotency_key,payment_method,currency}',
    'a booking''s identity, customer, token, idempotency key, payment method and currency never change: cancel and book anew');
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

-- The price lock: a booking's series, unit price and discount never change, its amount moves
-- only with its party at the locked unit price, and a multi-resource booking is never moved.
CREATE OR REPLACE FUNCTION bookings_beyond_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM refuse_changed(OLD, NEW, '{series_id,occurrence,unit_price,promo_code,price_rule_id,discount}',
    'a booking''s series, locked unit price and discount never change');
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

-- The booking a key already stands for (NULL: none), replayed before anything is judged: the
-- key's row; else a booking carrying the key (recorded before the keys table existed, or its row purged), which
-- must be for the same slot, customer and party.
CREATE OR REPLACE FUNCTION booking_replay(p_business uuid, p_key text, p_operation text, p_request jsonb,
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
-- booking_create's and booking_create_multi's first step) and no change context (their
-- callers set it, booking_ctx_set). Its ON CONFLICT is the last line for a key written
-- behind the library's back between the lookup and the insert.
--
-- The booking's cancellation token is drawn here and only its hash stored
-- (booking_token_hash()): the token is returned beside the row, once (issued_token; NULL
-- for a replay), and left in the transaction's setting booking.issued_token for the
-- notification of this booking (outbox_enqueue() takes it and clears it).
CREATE OR REPLACE FUNCTION booking_insert(p_business uuid, p_id uuid, p_slot uuid, p_customer uuid, p_party integer,
                                          p_idempotency_key text, p_occurred_at timestamptz,
                                          p_promo_code text DEFAULT NULL, p_series uuid DEFAULT NULL,
                                          p_occurrence integer DEFAULT NULL, p_status booking_status DEFAULT NULL)
RETURNS TABLE (booking bookings, replayed boolean, issued_token uuid)
LANGUAGE plpgsql AS $$
DECLARE
  b            bookings;
  tok          uuid := gen_random_uuid();
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
  -- Set before the insert: the insert's own trigger writes the booking's notification.
  PERFORM set_config('booking.issued_token', tok::text, true);
  INSERT INTO bookings (business_id, id, slot_id, customer_id, party_size, status, payment_method,
                        amount, currency, cancellation_token_hash, unit_price, discount, promo_code, price_rule_id,
                        series_id, occurrence, idempotency_key, created_at, updated_at)
  VALUES (p_business, p_id, p_slot, p_customer, p_party,
          coalesce(p_status, CASE svc_method WHEN 'pay_now' THEN 'draft' ELSE 'confirmed' END::booking_status),
          svc_method, q.amount, q.currency, booking_token_hash(tok), q.unit_price, q.discount, p_promo_code,
          q.price_rule_id, p_series, p_occurrence, p_idempotency_key, p_occurred_at, p_occurred_at)
  ON CONFLICT (business_id, idempotency_key) DO NOTHING
  RETURNING * INTO b;
  IF FOUND THEN
    IF p_promo_code IS NOT NULL THEN
      UPDATE promo_codes SET uses = uses + 1 WHERE business_id = p_business AND code = p_promo_code;
    END IF;
    booking := b; replayed := false; issued_token := tok; RETURN NEXT; RETURN;
  END IF;
  PERFORM set_config('booking.issued_token', '', true);  -- no booking of ours holds it
  SELECT * INTO b FROM bookings WHERE business_id = p_business AND idempotency_key = p_idempotency_key;
  IF (b.slot_id, b.customer_id, b.party_size) IS DISTINCT FROM (p_slot, p_customer, p_party) THEN
    RAISE EXCEPTION 'idempotency key % was used for a different booking: use a new key for a new request',
      p_idempotency_key USING ERRCODE = 'BK008';
  END IF;
  booking := b; replayed := true; issued_token := NULL; RETURN NEXT;
END $$;

-- Create a booking, or return the one an earlier request with the same key made (replayed):
-- the key is looked up before the slot is even read, so a retry of a booking that took the
-- last seat, or whose slot has since started, left the schedule or whose booking was
-- cancelled, returns that booking. A new booking comes with its cancellation token
-- (issued_token), shown this once; a replay returns the booking without it (NULL).
CREATE OR REPLACE FUNCTION booking_create(
  p_business uuid, p_id uuid, p_slot uuid, p_customer uuid, p_party integer,
  p_idempotency_key text, p_actor_type actor_type, p_actor_id text, p_channel change_channel,
  p_reason text, p_occurred_at timestamptz, p_promo_code text DEFAULT NULL,
  p_series uuid DEFAULT NULL, p_occurrence integer DEFAULT NULL, p_status booking_status DEFAULT NULL)
RETURNS TABLE (booking bookings, replayed boolean, issued_token uuid)
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
      booking := b; replayed := true; issued_token := NULL; RETURN NEXT; RETURN;
    END IF;
  END IF;
  PERFORM booking_ctx_set(p_actor_type, p_actor_id, p_channel, p_reason, p_occurred_at);
  SELECT * INTO made FROM booking_insert(p_business, p_id, p_slot, p_customer, p_party, p_idempotency_key,
                                         p_occurred_at, p_promo_code, p_series, p_occurrence, p_status);
  IF p_idempotency_key IS NOT NULL AND NOT made.replayed THEN
    PERFORM idempotency_record(p_business, p_idempotency_key, 'book', req,
                               jsonb_build_object('booking_id', (made.booking).id), p_occurred_at);
  END IF;
  booking := made.booking; replayed := made.replayed; issued_token := made.issued_token; RETURN NEXT;
END $$;

-- A multi-resource booking in one statement, as booking_create() is for one resource: the
-- key first, before the arguments' shape, the slots or their locks. Every slot (the
-- booking's own and one per further resource, at exactly the same time) is locked in id
-- order under the lock timeout, so concurrent multi-resource bookings neither overbook nor
-- deadlock; availability is judged under those locks; anything short refuses the whole
-- booking with the list of what is missing (BK018, its DETAIL a JSON object:
-- {"missing": [...]}). Its token as booking_create()'s: returned once, never on a replay.
CREATE OR REPLACE FUNCTION booking_create_multi(
  p_business uuid, p_id uuid, p_slot uuid, p_customer uuid, p_party integer,
  p_resources uuid[], p_quantities integer[],
  p_idempotency_key text, p_actor_type actor_type, p_actor_id text, p_channel change_channel,
  p_reason text, p_occurred_at timestamptz)
RETURNS TABLE (booking bookings, replayed boolean, issued_token uuid)
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
      booking := b; replayed := true; issued_token := NULL; RETURN NEXT; RETURN;
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

  PERFORM booking_ctx_set(p_actor_type, p_actor_id, p_channel, p_reason, p_occurred_at);
  SELECT * INTO made FROM booking_insert(p_business, p_id, p_slot, p_customer, p_party, p_idempotency_key,
                                         p_occurred_at);
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
  booking := made.booking; replayed := made.replayed; issued_token := made.issued_token; RETURN NEXT;
END $$;

-- Triggers (their firing order is their names': docs/invariants.md, "Trigger order").
SELECT define_trigger('bookings_10_guard', 'bookings', 'BEFORE INSERT OR UPDATE', 'bookings_before');
SELECT define_trigger('bookings_20_price_lock', 'bookings', 'BEFORE UPDATE', 'bookings_beyond_guard');
