-- Waitlists: an entry's state machine, offers of freed seats (first in, first out) and
-- their expiry.

-- An offer holds its seats (so accepting it cannot fail and nobody else takes them); the
-- hold is released when the offer is accepted (the booking takes them in the same
-- transaction), expires or is cancelled.
CREATE OR REPLACE FUNCTION waitlist_entries_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.status <> 'waiting' THEN
      RAISE EXCEPTION 'a waitlist entry starts as waiting' USING ERRCODE = 'BK004';
    END IF;
    RETURN NEW;
  END IF;
  PERFORM refuse_changed(OLD, NEW, '{business_id,id,slot_id,customer_id,party_size,joined_at}',
    'a waitlist entry''s slot, customer, party and place never change: leave and join again');
  IF NEW.status <> OLD.status AND NOT EXISTS (
       SELECT 1 FROM waitlist_status_edges WHERE from_status = OLD.status AND to_status = NEW.status) THEN
    RAISE EXCEPTION 'a waitlist entry cannot go from % to %', OLD.status, NEW.status USING ERRCODE = 'BK004';
  END IF;
  RETURN NEW;
END $$;

-- Offer freed seats to the waiting entries of a slot, first in first out, each to the first
-- entry that fits; returns how many offers were made. Offers take seats through
-- slot_take_seats, so promotion can never exceed capacity. The slot is locked FOR NO KEY
-- UPDATE, the mode every other path uses (the callers hold it already: the slot's own seat
-- update, or the join that locked it first).
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

-- Freed seats (a cancellation, a smaller party, a reschedule away, a capacity increase, an
-- expired offer) are offered at once, whichever path freed them.
CREATE OR REPLACE FUNCTION time_slots_promote() RETURNS trigger
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

-- The offer sweep: expire offers past their time (each passing its seats on) and close the
-- queues of slots that have started, in every business not frozen for writes; returns how many offers expired. Every slot involved
-- is locked first, in id order, and only then its entries, in queue order. An offer falling due after the slots were chosen waits
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
       AND NOT business_frozen(ts.business_id)  -- a frozen business waits for its unfreeze
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

-- Triggers (their firing order is their names': docs/invariants.md, "Trigger order").
SELECT define_trigger('waitlist_entries_10_guard', 'waitlist_entries', 'BEFORE INSERT OR UPDATE',
                      'waitlist_entries_guard');
-- Only when a slot has more seats free than before.
SELECT define_trigger('time_slots_30_promote', 'time_slots', 'AFTER UPDATE OF booked_seats, max_capacity',
                      'time_slots_promote', 'NEW.max_capacity - NEW.booked_seats > OLD.max_capacity - OLD.booked_seats');
