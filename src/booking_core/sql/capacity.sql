-- Seats: which booking statuses hold them, the one conditional update that takes them, the
-- slot lock order, and the three places seats come from (bookings, their extra resources,
-- waitlist offers).

-- Statuses that hold seats in their slot.
CREATE OR REPLACE FUNCTION booking_holds_seat(s booking_status) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT s IN ('confirmed', 'checked_in', 'completed', 'no_show') $$;

-- Lock these slots of a business in id order (NULLs and repeats ignored): the deadlock-free order.
CREATE OR REPLACE FUNCTION slot_lock(p_business uuid, p_slots uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM time_slots WHERE business_id = p_business AND id = ANY (p_slots) ORDER BY id FOR NO KEY UPDATE;
END $$;

-- Take seats in a slot, or raise why not. The conditional UPDATE is the whole capacity
-- guarantee: it runs under the slot's row lock and re-checks the latest row.
CREATE OR REPLACE FUNCTION slot_take_seats(p_business uuid, p_slot uuid, p_seats integer) RETURNS void
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

CREATE OR REPLACE FUNCTION slot_release_seats(p_business uuid, p_slot uuid, p_seats integer) RETURNS void
LANGUAGE sql AS $$
  UPDATE time_slots SET booked_seats = booked_seats - p_seats WHERE business_id = p_business AND id = p_slot
$$;

-- A booking's seats, from its status and party: AFTER the row is written, so a row skipped by
-- ON CONFLICT never takes seats. Seats come from three places: the booking's slot, its
-- further resources' slots, and a waitlist offer it takes over. The slots are locked up
-- front, in id order, whenever the change touches more than one of them (a reschedule; a
-- multi-resource booking starting or stopping to hold seats) or hands a waitlist offer's
-- hold over to the booking (which writes the entry before the seats); a change on one slot
-- alone locks it with its own seat update, before any entry. Seats are taken before they
-- are released, so two reschedules between the same slots cannot deadlock. It also writes
-- the status transition row: every status change has one.
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

CREATE OR REPLACE FUNCTION booking_resources_seats() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE st booking_status;
BEGIN
  SELECT status INTO st FROM bookings WHERE business_id = NEW.business_id AND id = NEW.booking_id;
  IF booking_holds_seat(st) THEN
    PERFORM slot_take_seats(NEW.business_id, NEW.slot_id, NEW.quantity);
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION waitlist_entries_seats() RETURNS trigger
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

-- Every seat a slot counts, by where it comes from: the integrity checks compare its sum
-- with time_slots.booked_seats.
CREATE OR REPLACE VIEW slot_seat_holds AS
SELECT business_id, slot_id, sum(seats)::integer AS seats FROM (
  SELECT business_id, slot_id, party_size AS seats FROM bookings WHERE booking_holds_seat(status)
  UNION ALL
  SELECT r.business_id, r.slot_id, r.quantity FROM booking_resources r
    JOIN bookings b ON b.business_id = r.business_id AND b.id = r.booking_id WHERE booking_holds_seat(b.status)
  UNION ALL
  SELECT business_id, slot_id, party_size FROM waitlist_entries WHERE status = 'offered'
) holds GROUP BY business_id, slot_id;
GRANT SELECT ON slot_seat_holds TO booking_app, booking_readonly, booking_monitor;

-- Triggers (their firing order is their names': docs/invariants.md, "Trigger order").
-- Seats follow a booking's status, party and slot, its extra resources, and open offers.
SELECT define_trigger('bookings_30_seats', 'bookings', 'AFTER INSERT OR UPDATE', 'bookings_seats');
SELECT define_trigger('booking_resources_10_seats', 'booking_resources', 'AFTER INSERT', 'booking_resources_seats');
SELECT define_trigger('waitlist_entries_30_seats', 'waitlist_entries', 'AFTER UPDATE', 'waitlist_entries_seats');
