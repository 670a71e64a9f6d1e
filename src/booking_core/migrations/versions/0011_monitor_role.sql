-- booking_monitor: the exporter's role (metrics/collector.py), and any monitoring reader's. It
-- reads every business's counts, states and ids, never personal data or bearer secrets: what
-- booking_readonly reads, less customers' names and e-mail addresses, cancellation tokens,
-- audit row images, ip addresses, user agents and notification payloads. Not BYPASSRLS: where
-- row security is on, a policy of its own lets it read every business.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'booking_monitor') THEN
    CREATE ROLE booking_monitor NOLOGIN NOBYPASSRLS;
  END IF;
END $$;
GRANT USAGE ON SCHEMA public TO booking_monitor;

DO $$
DECLARE
  r record;
  personal constant jsonb := '{"customers": ["name", "email"], "bookings": ["cancellation_token"],
                               "booking_audit_log": ["old_values", "new_values", "ip_address", "user_agent"],
                               "notification_outbox": ["payload"]}';
BEGIN
  FOR r IN
    SELECT c.oid, c.relname, c.relrowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v') AND has_table_privilege('booking_readonly', c.oid, 'SELECT')
     ORDER BY c.relname
  LOOP
    IF personal ? r.relname THEN
      EXECUTE format('GRANT SELECT (%s) ON %I TO booking_monitor',
                     (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute a
                       WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
                         AND NOT (personal -> r.relname) ? a.attname),
                     r.relname);
    ELSE
      EXECUTE format('GRANT SELECT ON %I TO booking_monitor', r.relname);
    END IF;
    IF r.relrowsecurity THEN
      EXECUTE format('CREATE POLICY %I ON %I FOR SELECT TO booking_monitor USING (true)',
                     r.relname || '_monitor', r.relname);
    END IF;
  END LOOP;
END $$;
