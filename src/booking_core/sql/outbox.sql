-- The notification outbox: events written by triggers in the change's own transaction, and
-- the delivery log that settles them.

-- A timestamptz as local ISO 8601 with its UTC offset in zone tz: 2030-01-10T14:00:00+01:00.
CREATE OR REPLACE FUNCTION outbox_local_iso(ts timestamptz, tz text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  local_ts timestamp := ts AT TIME ZONE tz;
  s integer := extract(epoch FROM local_ts - (ts AT TIME ZONE 'UTC'))::integer;
BEGIN
  RETURN to_char(local_ts, 'YYYY-MM-DD"T"HH24:MI:SS')
         || CASE WHEN s < 0 THEN '-' ELSE '+' END
         || lpad((abs(s) / 3600)::text, 2, '0') || ':' || lpad((abs(s) % 3600 / 60)::text, 2, '0');
END $$;

CREATE OR REPLACE FUNCTION outbox_slot_json(p_business uuid, p_slot uuid, tz text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
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

-- A payload without what is personal or secret in it: the change's free-text reason and the
-- cancellation token (the customer is named by id only since migration 0014; a payload
-- written before keeps only the id too). The one change an outbox row's payload may see:
-- retention purges delivered payloads to this, an erasure every payload of the customer.
CREATE OR REPLACE FUNCTION outbox_redact(p jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN p ? 'customer' THEN jsonb_set(r, '{customer}', jsonb_build_object('id', p #> '{customer,id}'))
              ELSE r END
    FROM (SELECT p - 'reason' #- '{booking,cancellation_token}' AS r) x
$$;

-- The payload as sent: the customer's contact details are read from `customers` at sending
-- time, never stored in the outbox (an erased customer has none left to read).
CREATE OR REPLACE FUNCTION outbox_with_contact(p jsonb, p_business uuid, p_customer uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN p_customer IS NULL THEN p
              ELSE p || jsonb_build_object('customer', (
                SELECT jsonb_build_object('id', c.id, 'name', c.name, 'email', c.email, 'phone', c.phone)
                  FROM customers c WHERE c.business_id = p_business AND c.id = p_customer)) END
$$;

-- An outbox row's event never changes; only its delivery bookkeeping moves, attempts go up
-- one at a time with a logged delivery, and delivered/dead are final.
CREATE OR REPLACE FUNCTION notification_outbox_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM refuse_changed(OLD, NEW, '{business_id,id,event_type,booking_id,customer_id,delivery_id,created_at}',
    'a notification''s event, payload and delivery id never change: enqueue a new notification');
  IF NEW.payload IS DISTINCT FROM OLD.payload AND NEW.payload IS DISTINCT FROM outbox_redact(OLD.payload) THEN
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

-- Logging an attempt settles its outbox row in the same statement: attempts follow the log,
-- so the dispatcher writes one row per attempt and the two can never disagree.
CREATE OR REPLACE FUNCTION notification_deliveries_settle() RETURNS trigger
LANGUAGE plpgsql AS $$
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

-- Render an event's payload (business, booking, customer by id, party, slot in local time) and
-- write it to the outbox; returns the outbox id (NULL when a reminder was already queued).
-- The booking's cancellation token is in the payload only when its booking was made in this
-- transaction: booking_insert() leaves the token it issued in booking.issued_token, and the
-- first notification of the booking whose hash it is takes it and clears it, so it reaches
-- the customer once and never another booking's notification. Otherwise the database has
-- only the token's hash, and the payload has no token.
CREATE OR REPLACE FUNCTION outbox_enqueue(p_business uuid, p_event text, p_booking uuid, p_extra jsonb)
RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
  biz      businesses;
  bk       bookings;
  v_customer uuid := (p_extra #>> '{customer,id}')::uuid;
  v_id     uuid := outbox_uuid7();
  v_deliv  uuid := gen_random_uuid();
  v_payload jsonb;
  v_token  uuid;
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
    v_customer := bk.customer_id;
    v_token := nullif(current_setting('booking.issued_token', true), '')::uuid;
    IF booking_token_hash(v_token) = bk.cancellation_token_hash THEN
      PERFORM set_config('booking.issued_token', '', true);
    ELSE
      v_token := NULL;
    END IF;
    v_payload := v_payload || jsonb_build_object(
      'booking', jsonb_build_object('id', bk.id, 'status', bk.status, 'party_size', bk.party_size,
                                    'version', bk.version, 'amount', bk.amount::text, 'currency', bk.currency,
                                    'payment_method', bk.payment_method, 'payment_status', bk.payment_status)
                 || CASE WHEN v_token IS NOT NULL THEN jsonb_build_object('cancellation_token', v_token)
                         ELSE '{}'::jsonb END,
      'customer', jsonb_build_object('id', bk.customer_id),
      'party_size', bk.party_size,
      'slot', outbox_slot_json(p_business, bk.slot_id, biz.timezone));
  END IF;
  IF booking_ctx('reason') IS NOT NULL THEN
    v_payload := v_payload || jsonb_build_object('reason', booking_ctx('reason'));
  END IF;
  v_payload := v_payload || coalesce(p_extra, '{}'::jsonb);
  INSERT INTO notification_outbox (business_id, id, event_type, booking_id, customer_id, payload, delivery_id)
  VALUES (p_business, v_id, p_event, p_booking, v_customer, v_payload, v_deliv)
  ON CONFLICT (business_id, booking_id, event_type, (payload #>> '{slot,id}'))
    WHERE event_type = 'booking.reminder_due' DO NOTHING
  RETURNING id INTO inserted;
  RETURN inserted;
END $$;

-- Booking events, in the booking's own statement. AFTER: the row is final. It fires before
-- bookings_30_seats (docs/invariants.md, "Trigger order"): the payload reads the booking,
-- not the seat counters, and the customer hears of the change before any offer it frees.
CREATE OR REPLACE FUNCTION bookings_outbox() RETURNS trigger
LANGUAGE plpgsql AS $$
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

-- A slot leaving the schedule (publish of a version without it) affects every draft or
-- confirmed booking still ahead on it: tell each customer, in the publish transaction.
CREATE OR REPLACE FUNCTION time_slots_outbox() RETURNS trigger
LANGUAGE plpgsql AS $$
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

-- Queue booking.reminder_due for every confirmed booking whose slot starts in (now, now + lead];
-- safe to run repeatedly and concurrently (the partial unique index skips repeats). Returns
-- how many reminders were queued by this call.
CREATE OR REPLACE FUNCTION enqueue_reminders(p_now timestamptz, p_lead interval) RETURNS integer
LANGUAGE plpgsql AS $$
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

-- A customer hears of an offer (and until when it holds their seats) in the transaction that made it.
CREATE OR REPLACE FUNCTION waitlist_outbox() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE tz text;
BEGIN
  IF NEW.status = 'offered' AND OLD.status IS DISTINCT FROM 'offered' THEN
    SELECT timezone INTO tz FROM businesses WHERE id = NEW.business_id;
    PERFORM outbox_enqueue(NEW.business_id, 'waitlist.offer', NULL, jsonb_build_object(
      'waitlist_entry_id', NEW.id,
      'customer', jsonb_build_object('id', NEW.customer_id),
      'party_size', NEW.party_size,
      'offer_expires_at', outbox_local_iso(NEW.offer_expires_at, tz),
      'slot', outbox_slot_json(NEW.business_id, NEW.slot_id, tz)));
  END IF;
  RETURN NULL;
END $$;

-- Triggers (their firing order is their names': docs/invariants.md, "Trigger order").
SELECT define_trigger('notification_outbox_10_guard', 'notification_outbox', 'BEFORE UPDATE',
                      'notification_outbox_guard');
SELECT define_trigger('notification_deliveries_10_settle', 'notification_deliveries', 'AFTER INSERT',
                      'notification_deliveries_settle');
-- Only what a customer hears of: a change of status or slot, a slot leaving the schedule, an offer.
SELECT define_trigger('bookings_20_outbox', 'bookings', 'AFTER INSERT OR UPDATE OF status, slot_id', 'bookings_outbox');
SELECT define_trigger('time_slots_20_outbox', 'time_slots', 'AFTER UPDATE OF is_legacy', 'time_slots_outbox',
                      'NEW.is_legacy AND NOT OLD.is_legacy');
SELECT define_trigger('waitlist_entries_20_outbox', 'waitlist_entries', 'AFTER UPDATE OF status', 'waitlist_outbox');
