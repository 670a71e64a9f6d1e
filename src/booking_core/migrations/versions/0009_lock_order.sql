-- One lock order for every path that touches bookings, slots and waitlist entries
-- (docs/invariants.md, "Lock order"):
--
--   1. bookings, in id order (the row a statement updates is locked by that statement);
--   2. slots, in id order, FOR NO KEY UPDATE: every slot the change touches, before any
--      waitlist entry;
--   3. waitlist entries, only of slots already held, in queue order (joined_at, id).
--
-- Before this migration the waitlist paths took them in other orders (an offer hand-over
-- wrote its entry before its slot, the offer sweep went entry, slot, entry, slot..., a
-- reschedule offered the old slot's seats before locking the new slot, a multi-resource
-- cancel went main slot, its queue, then the other slots in id order), and 32 processes
-- mixing every operation lost 17 transactions to deadlocks in a minute. What contention
-- remains is a lock wait, bounded by the lock timeout (Busy, retryable).
--
-- Only the functions whose lock order changes are replaced; their grants are unchanged
-- (no function has any beyond the default).

-- ---------------------------------------------------------------- the one way to lock slots
-- Lock these slots of a business in id order (NULLs and repeats ignored): the deadlock-free order.
CREATE FUNCTION slot_lock(p_business uuid, p_slots uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM time_slots WHERE business_id = p_business AND id = ANY (p_slots) ORDER BY id FOR NO KEY UPDATE;
END $$;

-- The hand-over check runs on every new seat-holding booking: find the offer by its booking.
CREATE INDEX waitlist_entries_booking ON waitlist_entries (business_id, booking_id) WHERE booking_id IS NOT NULL;

-- ---------------------------------------------------------------- seats of a booking
-- As in 0004, with the slots locked up front whenever the change touches more than one of
-- them (a reschedule; a multi-resource booking starting or stopping to hold seats) or hands
-- a waitlist offer's hold over to the booking (which writes the entry before the seats).
-- A change on one slot alone locks it with its own seat update, before any entry.
CREATE OR REPLACE FUNCTION bookings_seats() RETURNS trigger
LANGUAGE plpgsql AS $$
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

-- ---------------------------------------------------------------- promotion
-- As in 0004; the slot is locked FOR NO KEY UPDATE, the mode every other path uses (the
-- callers hold it already: the slot's own seat update, or the join that locked it first).
CREATE OR REPLACE FUNCTION waitlist_promote(p_business uuid, p_slot uuid) RETURNS integer
LANGUAGE plpgsql AS $$
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

-- ---------------------------------------------------------------- the offer sweep
-- As in 0004 (expire offers past their time, each passing its seats on; close the queues of
-- slots that have started), but every slot involved is locked first, in id order, and only
-- then its entries, in queue order. An offer falling due after the slots were chosen waits
-- for the next sweep.
CREATE OR REPLACE FUNCTION waitlist_expire_offers(p_now timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
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
