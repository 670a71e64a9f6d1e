-- Personal data's lifecycle (docs/personal-data.md): erasure of a customer, retention per
-- business. Both run as the schema owner (SECURITY DEFINER): the library's role may call them
-- and has no privilege to clear history itself. History tables allow an UPDATE only when it
-- erases their personal columns (append_only.sql, refuse_change_but_erasure), so these are
-- the only writes that make history forget, and they leave every chained byte as it was.

-- Counts of two runs added key by key: {"customers": 1} + {"customers": 2, "refunds": 1}.
CREATE OR REPLACE FUNCTION counts_add(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(jsonb_object_agg(k, coalesce((a ->> k)::bigint, 0) + coalesce((b ->> k)::bigint, 0)), '{}')
    FROM (SELECT jsonb_object_keys(a) UNION SELECT jsonb_object_keys(b)) keys (k)
$$;

-- Erase one customer of a business: every trace of their name, contact details, the reasons
-- given and the ip addresses and user agents of the changes to their bookings, waitlist
-- entries and series, the reasons of their refunds and failed payments, the personal parts of
-- their notifications and the errors their deliveries logged. Their bookings, payments,
-- waitlist entries and counts stay, under the customer's id: no figure changes. Logged in customer_erasures (an audited row that holds no
-- personal data). Refused (BK020) while they hold a paid booking ahead, unless p_force. Erasing
-- an erased customer returns their erasure: safe to repeat, as `booking customers reapply` does.
CREATE OR REPLACE FUNCTION customer_erase(p_business uuid, p_customer uuid, p_force boolean, p_cause text,
                                          p_by text, p_channel change_channel, p_now timestamptz,
                                          p_id uuid DEFAULT NULL)
RETURNS customer_erasures
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  cust     customers;
  done     customer_erasures;
  ahead    integer;
  first_at timestamptz;
  theirs   uuid[];
  entries  uuid[];
  cleared  jsonb := '{}';
  n        bigint;
BEGIN
  SELECT * INTO cust FROM customers WHERE business_id = p_business AND id = p_customer FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'customer % is not a customer of business %: check the id', p_customer, p_business
      USING ERRCODE = 'BK017';
  END IF;
  IF cust.erased_at IS NOT NULL THEN
    SELECT * INTO done FROM customer_erasures WHERE business_id = p_business AND customer_id = p_customer;
    RETURN done;
  END IF;
  SELECT count(*), min(ts.starts_at) INTO ahead, first_at
    FROM bookings b JOIN time_slots ts ON ts.business_id = b.business_id AND ts.id = b.slot_id
   WHERE b.business_id = p_business AND b.customer_id = p_customer AND b.status IN ('draft', 'confirmed')
     AND b.paid_amount > b.refunded_amount AND ts.starts_at > p_now;
  IF ahead > 0 AND NOT p_force THEN
    RAISE EXCEPTION 'customer % holds % paid booking(s) ahead (the first at % UTC): cancel them first (`booking cancel` refunds what the policy allows), or erase with --force to keep them, pseudonymous',
      p_customer, ahead, to_char(first_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') USING ERRCODE = 'BK020';
  END IF;

  theirs := ARRAY(SELECT id FROM bookings WHERE business_id = p_business AND customer_id = p_customer);
  entries := ARRAY(SELECT id FROM waitlist_entries WHERE business_id = p_business AND customer_id = p_customer
                   UNION ALL SELECT id FROM booking_series WHERE business_id = p_business AND customer_id = p_customer);

  UPDATE customers SET name = '(erased)', email = NULL, phone = NULL, erased_at = p_now
   WHERE business_id = p_business AND id = p_customer;
  cleared := cleared || jsonb_build_object('customers', 1);

  UPDATE booking_audit_log
     SET reason = NULL, reason_nonce = NULL, ip_address = NULL, user_agent = NULL, client_nonce = NULL
   WHERE business_id = p_business AND (reason_nonce IS NOT NULL OR client_nonce IS NOT NULL)
     AND id IN (SELECT a.id FROM booking_audit_log a WHERE a.business_id = p_business AND a.booking_id = ANY (theirs)
                UNION ALL
                SELECT a.id FROM booking_audit_log a
                 WHERE a.business_id = p_business AND a.entity_type IN ('waitlist', 'series')
                   AND a.entity_id = ANY (entries));
  GET DIAGNOSTICS n = ROW_COUNT;
  cleared := cleared || jsonb_build_object('booking_audit_log', n);

  UPDATE booking_state_transitions SET reason = NULL
   WHERE business_id = p_business AND booking_id = ANY (theirs) AND reason IS NOT NULL;
  GET DIAGNOSTICS n = ROW_COUNT;
  cleared := cleared || jsonb_build_object('booking_state_transitions', n);

  UPDATE payments SET failure_reason = '[erased]'
   WHERE business_id = p_business AND booking_id = ANY (theirs)
     AND failure_reason IS NOT NULL AND failure_reason <> '[erased]';
  GET DIAGNOSTICS n = ROW_COUNT;
  cleared := cleared || jsonb_build_object('payments', n);

  UPDATE refunds r SET reason = '[erased]'
    FROM payments p
   WHERE p.business_id = p_business AND p.booking_id = ANY (theirs)
     AND r.business_id = p.business_id AND r.payment_id = p.id AND r.reason <> '[erased]';
  GET DIAGNOSTICS n = ROW_COUNT;
  cleared := cleared || jsonb_build_object('refunds', n);

  UPDATE notification_outbox
     SET payload = outbox_redact(payload),
         last_error = CASE WHEN last_error IS NOT NULL THEN '[erased]' END
   WHERE business_id = p_business AND customer_id = p_customer
     AND (payload IS DISTINCT FROM outbox_redact(payload) OR last_error IS DISTINCT FROM '[erased]' AND last_error IS NOT NULL);
  GET DIAGNOSTICS n = ROW_COUNT;
  cleared := cleared || jsonb_build_object('notification_outbox', n);

  UPDATE notification_deliveries d SET error = '[erased]'
    FROM notification_outbox o
   WHERE o.business_id = p_business AND o.customer_id = p_customer
     AND d.business_id = o.business_id AND d.outbox_id = o.id AND d.error IS NOT NULL AND d.error <> '[erased]';
  GET DIAGNOSTICS n = ROW_COUNT;
  cleared := cleared || jsonb_build_object('notification_deliveries', n);

  INSERT INTO customer_erasures (business_id, id, customer_id, erased_at, erased_by, channel, cause, forced, cleared)
  VALUES (p_business, coalesce(p_id, gen_random_uuid()), p_customer, p_now, p_by, p_channel, p_cause,
          p_force AND ahead > 0, cleared)
  RETURNING * INTO done;
  RETURN done;
END $$;
REVOKE ALL ON FUNCTION customer_erase(uuid, uuid, boolean, text, text, change_channel, timestamptz, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION customer_erase(uuid, uuid, boolean, text, text, change_channel, timestamptz, uuid)
  TO booking_app;

-- The customers of a business with no activity since p_cutoff: created before it, with no
-- booking changed or taking place since, and no waitlist entry joined since.
CREATE OR REPLACE FUNCTION customers_inactive_since(p_business uuid, p_cutoff timestamptz)
RETURNS SETOF uuid
LANGUAGE sql STABLE AS $$
  SELECT c.id FROM customers c
   WHERE c.business_id = p_business AND c.erased_at IS NULL AND c.created_at < p_cutoff
     AND NOT EXISTS (SELECT 1 FROM bookings b JOIN time_slots ts ON ts.business_id = b.business_id AND ts.id = b.slot_id
                      WHERE b.business_id = c.business_id AND b.customer_id = c.id
                        AND (b.updated_at >= p_cutoff OR ts.starts_at >= p_cutoff))
     AND NOT EXISTS (SELECT 1 FROM waitlist_entries w
                      WHERE w.business_id = c.business_id AND w.customer_id = c.id AND w.joined_at >= p_cutoff)
   ORDER BY c.id
$$;

-- What a retention policy clears at p_now, per table: inactive customers erased (each as
-- customer_erase() does), delivered notifications' payloads purged, audit rows' ip addresses
-- and user agents dropped.
CREATE OR REPLACE FUNCTION retention_apply(pol retention_policies, p_now timestamptz, p_by text,
                                           p_channel change_channel)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  cleared jsonb := '{}';
  who     uuid;
  n       bigint;
  e       customer_erasures;
BEGIN
  IF pol.erase_inactive_after_months IS NOT NULL THEN
    n := 0;
    FOR who IN SELECT * FROM customers_inactive_since(pol.business_id,
                                                      p_now - make_interval(months => pol.erase_inactive_after_months))
    LOOP
      e := customer_erase(pol.business_id, who, false, 'retention', p_by, p_channel, p_now);
      cleared := counts_add(cleared, e.cleared - 'customers');
      n := n + 1;
    END LOOP;
    cleared := counts_add(cleared, jsonb_build_object('customers', n));
  END IF;
  IF pol.purge_payloads_after_days IS NOT NULL THEN
    UPDATE notification_outbox SET payload = outbox_redact(payload)
     WHERE business_id = pol.business_id
       AND delivered_at IS NOT NULL AND (payload ? 'reason' OR (payload -> 'booking') ? 'cancellation_token')
       AND delivered_at < p_now - make_interval(days => pol.purge_payloads_after_days);
    GET DIAGNOSTICS n = ROW_COUNT;
    cleared := counts_add(cleared, jsonb_build_object('notification_outbox', n));
  END IF;
  IF pol.drop_client_after_days IS NOT NULL THEN
    UPDATE booking_audit_log SET ip_address = NULL, user_agent = NULL, client_nonce = NULL
     WHERE business_id = pol.business_id AND client_nonce IS NOT NULL
       AND occurred_at < p_now - make_interval(days => pol.drop_client_after_days);
    GET DIAGNOSTICS n = ROW_COUNT;
    cleared := counts_add(cleared, jsonb_build_object('booking_audit_log_client', n));
  END IF;
  RETURN cleared;
END $$;

-- Run a business's retention policy at p_now and log the run. A dry run does the same work in
-- a subtransaction it then rolls back: its counts are exactly what a run would clear.
CREATE OR REPLACE FUNCTION retention_run(p_business uuid, p_now timestamptz, p_dry_run boolean, p_by text,
                                         p_channel change_channel)
RETURNS retention_runs
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  pol     retention_policies;
  started timestamptz := clock_timestamp();
  cleared jsonb;
  run     retention_runs;
BEGIN
  SELECT * INTO pol FROM retention_policies WHERE business_id = p_business;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'business % has no retention policy: set one with `booking retention set`', p_business
      USING ERRCODE = 'BK017';
  END IF;
  BEGIN
    cleared := retention_apply(pol, p_now, p_by, p_channel);
    IF p_dry_run THEN
      RAISE EXCEPTION 'dry run' USING ERRCODE = 'BK099';
    END IF;
  EXCEPTION WHEN SQLSTATE 'BK099' THEN
    NULL;  -- rolled back: the counts stand, nothing was cleared
  END;
  INSERT INTO retention_runs (business_id, started_at, finished_at, dry_run, run_by, cleared)
  VALUES (p_business, started, clock_timestamp(), p_dry_run, p_by, cleared)
  RETURNING * INTO run;
  RETURN run;
END $$;
REVOKE ALL ON FUNCTION retention_run(uuid, timestamptz, boolean, text, change_channel) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION retention_run(uuid, timestamptz, boolean, text, change_channel) TO booking_app;

-- Customers: a customer once erased stays erased (nothing of them comes back).
CREATE OR REPLACE FUNCTION customers_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.erased_at IS NOT NULL THEN
    RAISE EXCEPTION 'customer % was erased at %: nothing of them comes back; add a new customer', OLD.id, OLD.erased_at
      USING ERRCODE = 'BK007';
  END IF;
  PERFORM refuse_changed(OLD, NEW, '{business_id,id,created_at}',
    'a customer''s id, business and creation time never change: add a new customer');
  RETURN NEW;
END $$;

-- Erasure log, policies, runs and subject access requests hold no personal data; the erasure
-- log is append-only (append_only.sql), audited (audit.sql) and read by `booking customers reapply`.
SELECT define_trigger('customers_10_guard', 'customers', 'BEFORE UPDATE', 'customers_guard');
