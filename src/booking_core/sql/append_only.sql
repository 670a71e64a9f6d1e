-- Tables that only grow: history is never changed, business data is never deleted (mark it
-- instead). Each refusal is the only trigger of its table, timing and event, so it fires
-- whatever the order (docs/invariants.md, "Trigger order"). Also the one check the guards of
-- the other areas use for the columns of a row that never change (refuse_changed).

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

-- The one change history allows: erasing personal data (docs/personal-data.md). True when the
-- UPDATE from `o` to `n` changes some columns, all among `erasable`, each to NULL or '[erased]'.
CREATE OR REPLACE FUNCTION is_erasure(o jsonb, n jsonb, erasable text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT count(*) > 0 AND bool_and(e.key = ANY (erasable) AND (n -> e.key = 'null' OR n -> e.key = '"[erased]"'))
    FROM jsonb_each(o) e WHERE e.value IS DISTINCT FROM n -> e.key
$$;

-- The columns of each table that hold personal data and may be erased, the one list every
-- guard reads (docs/personal-data.md); NULL for a table with none.
CREATE OR REPLACE FUNCTION erasable_columns(p_table text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE p_table
    WHEN 'booking_audit_log' THEN '{reason,reason_nonce,ip_address,user_agent,client_nonce}'
    WHEN 'booking_state_transitions' THEN '{reason}'
    WHEN 'notification_deliveries' THEN '{error}'
    WHEN 'refunds' THEN '{reason}'
    WHEN 'payments' THEN '{failure_reason}'
  END::text[]
$$;

-- A history table with personal columns: refused as refuse_change() refuses, but for an erasure
-- of its erasable columns.
CREATE OR REPLACE FUNCTION refuse_change_but_erasure() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND is_erasure(to_jsonb(OLD), to_jsonb(NEW), erasable_columns(TG_TABLE_NAME)) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION '% on % is refused: % is append-only (only its personal data can be erased: booking customers erase)',
    TG_OP, TG_TABLE_NAME, TG_TABLE_NAME USING ERRCODE = 'BK006';
END $$;

-- Refuse an UPDATE that changes any of `columns` of a row (BK007, with the guard's message):
-- what each table's guard says never changes, stated as a list of columns.
CREATE OR REPLACE FUNCTION refuse_changed(old_row anyelement, new_row anyelement, columns text[], message text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  o jsonb := to_jsonb(old_row);
  n jsonb := to_jsonb(new_row);
BEGIN
  IF NOT o ?& columns THEN
    RAISE EXCEPTION 'refuse_changed: % has no column among %', pg_typeof(old_row), columns
      USING ERRCODE = 'undefined_column';
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(columns) c WHERE o -> c IS DISTINCT FROM n -> c) THEN
    RAISE EXCEPTION '%', message USING ERRCODE = 'BK007';
  END IF;
END $$;

-- Which table refuses what: append_only refuses UPDATE and DELETE, never_delete refuses
-- DELETE, no_truncate refuses TRUNCATE. Business data (a never_delete table) is changed by
-- marking it (cancel, legacy, superseded), never deleted: refuse_delete says so. History
-- (every other table) is never changed: refuse_change says so. Each trigger is named
-- <table>_<refusal>. A history table that holds personal data refuses every change but the
-- erasure of its erasable_columns() (refuse_change_but_erasure).
DO $$
DECLARE r record;
BEGIN
  FOR r IN
    SELECT t.table_name, u.refusal,
           CASE WHEN 'never_delete' = ANY (t.refusals::text[]) THEN 'refuse_delete'
                WHEN u.refusal = 'append_only' AND erasable_columns(t.table_name) IS NOT NULL
                  THEN 'refuse_change_but_erasure'
                ELSE 'refuse_change' END AS refuse_with
      FROM (VALUES
      ('access_log',                '{append_only,no_truncate}'),
      ('audit_chain',               '{append_only,no_truncate}'),
      ('audit_chain_rehash',        '{append_only,no_truncate}'),
      ('audit_tamper_log',          '{append_only,no_truncate}'),
      ('booking_audit_log',         '{append_only,no_truncate}'),
      ('booking_refusals',          '{append_only}'),
      ('customer_erasures',         '{append_only,no_truncate}'),
      ('retention_runs',            '{append_only,no_truncate}'),
      ('subject_access_requests',   '{append_only,no_truncate}'),
      ('booking_resources',         '{append_only,no_truncate}'),
      ('booking_series',            '{append_only}'),
      ('booking_state_transitions', '{append_only,no_truncate}'),
      ('booking_status_edges',      '{append_only,no_truncate}'),
      ('idempotency_keys',          '{no_truncate}'),
      ('integrity_check_results',   '{append_only}'),
      ('membership_changes',        '{append_only,no_truncate}'),
      ('memberships',               '{no_truncate}'),
      ('notification_deliveries',   '{append_only,no_truncate}'),
      ('payment_status_edges',      '{append_only,no_truncate}'),
      ('price_rules',               '{append_only}'),
      ('refunds',                   '{append_only,no_truncate}'),
      ('refund_obligations',        '{append_only,no_truncate}'),
      ('schedule_rules',            '{append_only,no_truncate}'),
      ('slot_capacity_changes',     '{append_only,no_truncate}'),
      ('slot_keys',                 '{append_only,no_truncate}'),
      ('waitlist_status_edges',     '{append_only}'),
      ('bookings',                  '{never_delete,no_truncate}'),
      ('businesses',                '{never_delete,no_truncate}'),
      ('customers',                 '{never_delete,no_truncate}'),
      ('notification_outbox',       '{never_delete,no_truncate}'),
      ('payments',                  '{never_delete,no_truncate}'),
      ('promo_codes',               '{never_delete}'),
      ('retention_policies',        '{never_delete,no_truncate}'),
      ('resources',                 '{never_delete,no_truncate}'),
      ('schedule_versions',         '{never_delete,no_truncate}'),
      ('services',                  '{never_delete,no_truncate}'),
      ('time_slots',                '{never_delete,no_truncate}'),
      ('waitlist_entries',          '{never_delete,no_truncate}')
      ) AS t (table_name, refusals)
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
