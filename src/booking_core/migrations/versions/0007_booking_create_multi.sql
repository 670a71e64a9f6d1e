-- A multi-resource booking in one statement, as booking_create() is for one resource.
--
-- The library used to run it as eight statements in one transaction, holding every slot's
-- lock across the round trips in between; here the locks are held for the function's own
-- work only. The rules are unchanged: every slot (the booking's own and one per further
-- resource, at exactly the same time) is locked in id order under the lock timeout, so
-- concurrent multi-resource bookings neither overbook nor deadlock; availability is judged
-- under those locks; anything short refuses the whole booking with the list of what is
-- missing (BK018, its DETAIL a JSON object: {"missing": [...]}); a retried idempotency key returns the first
-- booking before anything is judged.
CREATE FUNCTION booking_create_multi(
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
BEGIN
  IF cardinality(p_resources) IS DISTINCT FROM cardinality(p_quantities) OR coalesce(cardinality(p_resources), 0) = 0
     OR EXISTS (SELECT 1 FROM unnest(p_quantities) q WHERE q IS NULL OR q < 1)
     OR (SELECT count(DISTINCT r) FROM unnest(p_resources) r) <> cardinality(p_resources) THEN
    RAISE EXCEPTION 'a multi-resource booking names each further resource once, with a quantity of at least 1: use booking_create() for one resource'
      USING ERRCODE = 'BK017';
  END IF;
  IF p_idempotency_key IS NOT NULL AND EXISTS (
       SELECT 1 FROM bookings WHERE business_id = p_business AND idempotency_key = p_idempotency_key) THEN
    RETURN QUERY SELECT * FROM booking_create(p_business, p_id, p_slot, p_customer, p_party, p_idempotency_key,
                                              p_actor_type, p_actor_id, p_channel, p_reason, p_occurred_at);
    RETURN;
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

  SELECT * INTO made FROM booking_create(p_business, p_id, p_slot, p_customer, p_party, p_idempotency_key,
                                         p_actor_type, p_actor_id, p_channel, p_reason, p_occurred_at);
  IF NOT made.replayed THEN
    INSERT INTO booking_resources (business_id, booking_id, slot_id, quantity)
    SELECT p_business, (made.booking).id, w.slot_id, w.quantity
      FROM unnest(chosen, p_quantities) AS w (slot_id, quantity)
     ORDER BY w.slot_id;
  END IF;
  booking := made.booking; replayed := made.replayed; RETURN NEXT;
END $$;
