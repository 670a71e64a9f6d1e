-- Row-level security: a person reads only the businesses they are a member of (docs/access.md).
--
-- booking_reader is the role the dashboard, the exports and every person-facing reader use: it
-- cannot bypass row security (NOBYPASSRLS, owns nothing) and it reads a business's rows only
-- when the transaction's person (the setting booking.person, set by the reader from the login)
-- holds a membership of that business. With no person set, it reads nothing. The library's
-- roles (booking_app, booking_readonly) keep reading every row: a policy of their own says so.
-- The table owner (migrations, the checker) is not subject to row security.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'booking_reader') THEN
    CREATE ROLE booking_reader NOLOGIN NOBYPASSRLS;
  END IF;
END $$;
GRANT USAGE ON SCHEMA public TO booking_reader;

-- Every table holding a business's data: row security on, the members' policy for the reader,
-- everything for the library's roles; and what of it the reader may read. Personal data and
-- bearer secrets are left out of the reader's columns (customers' names and e-mail addresses,
-- cancellation tokens, audit images, ip addresses and user agents, notification payloads): a
-- member reads them through the views of sql/access.sql, masked by their role.
DO $$
DECLARE r record;
BEGIN
  FOR r IN
    SELECT * FROM (VALUES
      ('businesses',                'id',          NULL),
      ('customers',                 'business_id', '{business_id,id,created_at}'),
      ('services',                  'business_id', NULL),
      ('resources',                 'business_id', NULL),
      ('schedule_versions',         'business_id', NULL),
      ('schedule_rules',            'business_id', NULL),
      ('time_slots',                'business_id', NULL),
      ('slot_keys',                 'business_id', NULL),
      ('slot_capacity_changes',     'business_id', NULL),
      ('booking_series',            'business_id', NULL),
      ('bookings',                  'business_id', '{business_id,id,slot_id,customer_id,party_size,status,payment_method,payment_status,amount,currency,idempotency_key,version,created_at,updated_at,unit_price,discount,promo_code,price_rule_id,series_id,occurrence,paid_amount,refunded_amount,cancellation_fee,refund_due}'),
      ('booking_state_transitions', 'business_id', NULL),
      ('booking_resources',         'business_id', NULL),
      ('booking_refusals',          'business_id', NULL),
      ('payments',                  'business_id', NULL),
      ('refunds',                   'business_id', NULL),
      ('refund_obligations',        'business_id', NULL),
      ('price_rules',               'business_id', NULL),
      ('promo_codes',               'business_id', NULL),
      ('waitlist_entries',          'business_id', NULL),
      ('booking_audit_log',         'business_id', '{business_id,id,entity_type,entity_id,booking_id,action,reason,performed_by,performed_by_id,channel,occurred_at,recorded_at}'),
      ('audit_chain',               'business_id', NULL),
      ('notification_outbox',       'business_id', '{business_id,id,event_type,booking_id,delivery_id,created_at,available_at,attempts,last_error,delivered_at,dead_at}'),
      ('notification_deliveries',   'business_id', NULL),
      ('idempotency_keys',          'business_id', '{}'),
      ('integrity_violations',      'business_id', NULL),
      ('audit_chain_verified',      'business_id', NULL),
      ('audit_tamper_log',          'business_id', '{}')
    ) AS t (table_name, key, columns)
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', r.table_name);
    EXECUTE format('CREATE POLICY %I ON %I TO booking_app, booking_readonly USING (true) WITH CHECK (true)',
                   r.table_name || '_library', r.table_name);
    EXECUTE format('CREATE POLICY %I ON %I FOR SELECT TO booking_reader USING (%I IN (SELECT m.business_id'
                   ' FROM memberships m WHERE m.person = lower(current_setting(''booking.person'', true))))',
                   r.table_name || '_members', r.table_name, r.key);
    IF r.columns IS NULL THEN
      EXECUTE format('GRANT SELECT ON %I TO booking_reader', r.table_name);
    ELSIF r.columns <> '{}' THEN
      EXECUTE format('GRANT SELECT (%s) ON %I TO booking_reader',
                     (SELECT string_agg(quote_ident(c), ', ') FROM unnest(r.columns::text[]) c), r.table_name);
    END IF;
  END LOOP;
END $$;

-- Memberships and their changes: a person reads their own (an admin page reads them through
-- the library's role).
ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
CREATE POLICY memberships_library ON memberships TO booking_app, booking_readonly USING (true) WITH CHECK (true);
CREATE POLICY memberships_own ON memberships FOR SELECT TO booking_reader
  USING (person = lower(current_setting('booking.person', true)));
ALTER TABLE membership_changes ENABLE ROW LEVEL SECURITY;
CREATE POLICY membership_changes_library ON membership_changes TO booking_app, booking_readonly
  USING (true) WITH CHECK (true);
CREATE POLICY membership_changes_own ON membership_changes FOR SELECT TO booking_reader
  USING (person = lower(current_setting('booking.person', true)));
GRANT SELECT ON memberships, membership_changes TO booking_reader;

-- Reference data with no business: the state machines' edges.
GRANT SELECT ON booking_status_edges, payment_status_edges, waitlist_status_edges TO booking_reader;
