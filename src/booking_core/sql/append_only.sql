-- Tables that only grow: history is never changed, business data is never deleted (mark it
-- instead). Each refusal is the only trigger of its table, timing and event, so it fires
-- whatever the order (docs/invariants.md, "Trigger order").

CREATE OR REPLACE FUNCTION refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% on % is refused: % is append-only, record a new entry instead',
    TG_OP, TG_TABLE_NAME, TG_TABLE_NAME USING ERRCODE = 'BK006';
END $$;

CREATE OR REPLACE FUNCTION refuse_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% on % is refused: booking data is never deleted, mark it instead (cancel, legacy)',
    TG_OP, TG_TABLE_NAME USING ERRCODE = 'BK006';
END $$;

-- Which table refuses what, and with which message: append_only refuses UPDATE and DELETE,
-- never_delete refuses DELETE, no_truncate refuses TRUNCATE. History (refuse_change) is never
-- changed; business data (refuse_delete) is changed by marking it (cancel, legacy,
-- superseded), never deleted. Each trigger is named <table>_<refusal>.
DO $$
DECLARE r record;
BEGIN
  FOR r IN
    SELECT t.table_name, u.refusal, t.refuse_with
      FROM (VALUES
      ('audit_chain',               '{append_only,no_truncate}', 'refuse_change'),
      ('booking_audit_log',         '{append_only,no_truncate}', 'refuse_change'),
      ('booking_refusals',          '{append_only}', 'refuse_change'),
      ('booking_resources',         '{append_only,no_truncate}', 'refuse_change'),
      ('booking_series',            '{append_only}', 'refuse_change'),
      ('booking_state_transitions', '{append_only,no_truncate}', 'refuse_change'),
      ('booking_status_edges',      '{append_only,no_truncate}', 'refuse_change'),
      ('idempotency_keys',          '{no_truncate}', 'refuse_change'),
      ('integrity_check_results',   '{append_only}', 'refuse_change'),
      ('notification_deliveries',   '{append_only,no_truncate}', 'refuse_change'),
      ('payment_status_edges',      '{append_only,no_truncate}', 'refuse_change'),
      ('price_rules',               '{append_only}', 'refuse_change'),
      ('refunds',                   '{append_only,no_truncate}', 'refuse_change'),
      ('refund_obligations',        '{append_only,no_truncate}', 'refuse_change'),
      ('schedule_rules',            '{append_only,no_truncate}', 'refuse_change'),
      ('slot_capacity_changes',     '{append_only,no_truncate}', 'refuse_change'),
      ('slot_keys',                 '{append_only,no_truncate}', 'refuse_change'),
      ('waitlist_status_edges',     '{append_only}', 'refuse_change'),
      ('bookings',                  '{never_delete,no_truncate}', 'refuse_delete'),
      ('businesses',                '{never_delete,no_truncate}', 'refuse_delete'),
      ('customers',                 '{never_delete,no_truncate}', 'refuse_delete'),
      ('notification_outbox',       '{never_delete,no_truncate}', 'refuse_delete'),
      ('payments',                  '{never_delete,no_truncate}', 'refuse_delete'),
      ('promo_codes',               '{never_delete}', 'refuse_delete'),
      ('resources',                 '{never_delete,no_truncate}', 'refuse_delete'),
      ('schedule_versions',         '{never_delete,no_truncate}', 'refuse_delete'),
      ('services',                  '{never_delete,no_truncate}', 'refuse_delete'),
      ('time_slots',                '{never_delete,no_truncate}', 'refuse_delete'),
      ('waitlist_entries',          '{never_delete,no_truncate}', 'refuse_delete')
      ) AS t (table_name, refusals, refuse_with)
      CROSS JOIN unnest(t.refusals::text[]) AS u (refusal)
  LOOP
    EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE %s ON %I FOR EACH %s EXECUTE FUNCTION %I()',
                   r.table_name || '_' || r.refusal,
                   CASE r.refusal WHEN 'append_only' THEN 'UPDATE OR DELETE' WHEN 'never_delete' THEN 'DELETE'
                                  ELSE 'TRUNCATE' END,
                   r.table_name,
                   CASE r.refusal WHEN 'no_truncate' THEN 'STATEMENT' ELSE 'ROW' END,
                   r.refuse_with);
  END LOOP;
END $$;
