-- Personal data held where it can be erased (docs/personal-data.md).
--
-- Identity: a customer's name, e-mail address and phone number live in `customers` only. The
-- notification outbox refers to the customer by id (the dispatcher reads the contact details
-- when it sends). The audit trail keeps the free-text reason and the client's ip address and
-- user agent of a change in erasable columns beside a salted SHA-256 commitment: the hash
-- chain covers the commitment, never the data, so erasing the data touches no chained byte.

-- Customers: a phone number, and the moment they were erased (then nothing of them is held).
ALTER TABLE customers
  ADD COLUMN phone text,
  ADD COLUMN erased_at timestamptz,
  ADD CONSTRAINT customers_erased_hold_nothing
    CHECK (erased_at IS NULL OR (name = '(erased)' AND email IS NULL AND phone IS NULL));
GRANT UPDATE (phone) ON customers TO booking_app;
GRANT SELECT (erased_at) ON customers TO booking_reader, booking_monitor;

-- The audit row's personal context: each of the two groups (the reason; the client's ip
-- address and user agent) with a random nonce and the commitment sha256(nonce || data).
-- Erasing a group clears its data and nonce; the commitment stays, chained, and reveals
-- nothing once the nonce is gone.
ALTER TABLE booking_audit_log
  ADD COLUMN reason_nonce bytea,
  ADD COLUMN reason_digest bytea,
  ADD COLUMN client_nonce bytea,
  ADD COLUMN client_digest bytea;
GRANT SELECT (reason_digest, client_digest) ON booking_audit_log TO booking_reader, booking_monitor;
-- Retention drops the client context of old rows: found by this index, which shrinks as it works.
CREATE INDEX booking_audit_log_client_held ON booking_audit_log (business_id, occurred_at)
  WHERE client_nonce IS NOT NULL;
CREATE INDEX booking_audit_log_entity_type ON booking_audit_log (business_id, entity_type, entity_id)
  WHERE entity_type IN ('waitlist', 'series');

-- Each business's chain rehashed by this migration (the chain then covers commitments, not
-- personal data): its head before and after, so a head anchored elsewhere can be matched.
CREATE TABLE audit_chain_rehash (
  business_id   uuid PRIMARY KEY REFERENCES businesses (id),
  links         bigint NOT NULL,
  old_head_hash bytea NOT NULL,
  new_head_hash bytea NOT NULL,
  rehashed_at   timestamptz NOT NULL
);
GRANT SELECT ON audit_chain_rehash TO booking_app, booking_readonly, booking_reader, booking_monitor;

-- The outbox names the customer it is for, so an erasure finds their notifications.
ALTER TABLE notification_outbox ADD COLUMN customer_id uuid;
GRANT SELECT (customer_id) ON notification_outbox TO booking_reader, booking_monitor;
CREATE INDEX notification_outbox_customer ON notification_outbox (business_id, customer_id)
  WHERE customer_id IS NOT NULL;
-- Retention purges delivered payloads that still hold a reason or a token: found by this index.
CREATE INDEX notification_outbox_purgeable ON notification_outbox (business_id, delivered_at)
  WHERE delivered_at IS NOT NULL AND (payload ? 'reason' OR (payload -> 'booking') ? 'cancellation_token');
CREATE INDEX notification_deliveries_outbox ON notification_deliveries (business_id, outbox_id);

-- The erasure log: who was erased, when, by whom and what was cleared (counts), never what
-- they were. It survives in the database; `booking customers erasures` exports it beside the
-- backups, and `booking customers reapply` replays it on a database restored from before.
CREATE TABLE customer_erasures (
  business_id uuid NOT NULL REFERENCES businesses (id),
  id          uuid NOT NULL DEFAULT gen_random_uuid(),
  customer_id uuid NOT NULL,
  erased_at   timestamptz NOT NULL,
  erased_by   text NOT NULL,
  channel     change_channel NOT NULL,
  cause       text NOT NULL CHECK (cause IN ('request', 'retention', 'reapplied')),
  forced      boolean NOT NULL DEFAULT false,
  cleared     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(cleared) = 'object'),
  PRIMARY KEY (business_id, id),
  UNIQUE (business_id, customer_id),
  FOREIGN KEY (business_id, customer_id) REFERENCES customers (business_id, id)
);

-- Retention per business: each window NULL when that kind of data is kept.
CREATE TABLE retention_policies (
  business_id                  uuid PRIMARY KEY REFERENCES businesses (id),
  erase_inactive_after_months  integer CHECK (erase_inactive_after_months > 0),
  purge_payloads_after_days    integer CHECK (purge_payloads_after_days > 0),
  drop_client_after_days       integer CHECK (drop_client_after_days > 0),
  updated_at                   timestamptz NOT NULL,
  updated_by                   text NOT NULL
);

-- Every retention run, dry or not, and what it cleared (or would clear) per table.
CREATE TABLE retention_runs (
  business_id uuid NOT NULL REFERENCES businesses (id),
  id          uuid NOT NULL DEFAULT gen_random_uuid(),
  started_at  timestamptz NOT NULL,
  finished_at timestamptz NOT NULL,
  dry_run     boolean NOT NULL,
  run_by      text NOT NULL,
  cleared     jsonb NOT NULL CHECK (jsonb_typeof(cleared) = 'object'),
  PRIMARY KEY (business_id, id)
);
CREATE INDEX retention_runs_latest ON retention_runs (business_id, started_at DESC);

-- Subject access requests answered: whose data was handed out, when and by whom.
CREATE TABLE subject_access_requests (
  business_id  uuid NOT NULL REFERENCES businesses (id),
  id           uuid NOT NULL DEFAULT gen_random_uuid(),
  customer_id  uuid NOT NULL,
  requested_at timestamptz NOT NULL,
  answered_by  text NOT NULL,
  channel      change_channel NOT NULL,
  PRIMARY KEY (business_id, id),
  FOREIGN KEY (business_id, customer_id) REFERENCES customers (business_id, id)
);

GRANT SELECT ON customer_erasures, retention_policies, retention_runs, subject_access_requests
  TO booking_app, booking_readonly, booking_reader, booking_monitor;
GRANT INSERT, UPDATE ON retention_policies TO booking_app;
GRANT INSERT ON subject_access_requests TO booking_app;
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['customer_erasures', 'retention_policies', 'retention_runs', 'subject_access_requests',
                           'audit_chain_rehash']
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY %I ON %I TO booking_app, booking_readonly USING (true) WITH CHECK (true)',
                   t || '_library', t);
    EXECUTE format('CREATE POLICY %I ON %I FOR SELECT TO booking_reader USING (business_id IN (SELECT m.business_id'
                   ' FROM memberships m WHERE m.person = lower(current_setting(''booking.person'', true))))',
                   t || '_members', t);
    EXECUTE format('CREATE POLICY %I ON %I FOR SELECT TO booking_monitor USING (true)', t || '_monitor', t);
  END LOOP;
END $$;

-- The monitoring role reads no free text either: a reason or a delivery error may quote a
-- person (docs/personal-data.md). Every other column of those tables stays readable.
DO $$
DECLARE r record;
BEGIN
  FOR r IN
    SELECT t.relname, t.cols, c.oid FROM (VALUES
      ('booking_audit_log', '{reason}'), ('booking_state_transitions', '{reason}'), ('refunds', '{reason}'),
      ('payments', '{failure_reason}'), ('notification_deliveries', '{error}'), ('notification_outbox', '{last_error}')
    ) AS t (relname, cols) JOIN pg_class c ON c.relname = t.relname AND c.relnamespace = 'public'::regnamespace
  LOOP
    IF has_table_privilege('booking_monitor', r.oid, 'SELECT') THEN
      EXECUTE format('REVOKE SELECT ON %I FROM booking_monitor', r.relname);
      EXECUTE format('GRANT SELECT (%s) ON %I TO booking_monitor',
                     (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute a
                       WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
                         AND NOT a.attname = ANY (r.cols::text[])),
                     r.relname);
    ELSE
      EXECUTE format('REVOKE SELECT (%s) ON %I FROM booking_monitor',
                     (SELECT string_agg(quote_ident(c), ', ') FROM unnest(r.cols::text[]) c), r.relname);
    END IF;
  END LOOP;
END $$;
