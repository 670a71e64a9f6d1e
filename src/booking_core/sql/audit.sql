-- The audit trail: one row per change of every audited table, written by a trigger in the
-- change's own statement, sealed in a hash chain in batches.

-- The namespaced action of a change (booking.cancelled, slot.made_legacy, waitlist.joined...).
CREATE OR REPLACE FUNCTION audit_action(entity text, op text, o jsonb, n jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF op = 'INSERT' THEN
    RETURN CASE entity WHEN 'waitlist' THEN 'waitlist.joined' WHEN 'erasure' THEN 'customer.erased'
                       ELSE entity || '.created' END;
  END IF;
  IF entity = 'booking' THEN
    IF o->>'slot_id' IS DISTINCT FROM n->>'slot_id' THEN RETURN 'booking.rescheduled'; END IF;
    IF o->>'status' IS DISTINCT FROM n->>'status' THEN RETURN 'booking.' || (n->>'status'); END IF;
    IF o->>'party_size' IS DISTINCT FROM n->>'party_size' THEN RETURN 'booking.party_size_changed'; END IF;
    IF o->>'payment_status' IS DISTINCT FROM n->>'payment_status' THEN RETURN 'booking.payment_status_changed'; END IF;
  ELSIF entity = 'payment' THEN
    IF o->>'status' IS DISTINCT FROM n->>'status' THEN RETURN 'payment.' || (n->>'status'); END IF;
  ELSIF entity = 'waitlist' THEN
    IF o->>'status' IS DISTINCT FROM n->>'status' THEN RETURN 'waitlist.' || (n->>'status'); END IF;
  ELSIF entity = 'slot' THEN
    IF o->>'is_legacy' IS DISTINCT FROM n->>'is_legacy' THEN
      RETURN CASE WHEN (n->>'is_legacy')::boolean THEN 'slot.made_legacy' ELSE 'slot.restored' END;
    END IF;
    IF o->>'max_capacity' IS DISTINCT FROM n->>'max_capacity' THEN RETURN 'slot.capacity_changed'; END IF;
    IF o->>'schedule_version_id' IS DISTINCT FROM n->>'schedule_version_id' THEN RETURN 'slot.carried_over'; END IF;
  ELSIF entity = 'business' THEN
    IF o->>'frozen_at' IS DISTINCT FROM n->>'frozen_at' THEN
      RETURN CASE WHEN n->>'frozen_at' IS NULL THEN 'business.unfrozen' ELSE 'business.frozen' END;
    END IF;
  ELSIF entity = 'schedule' THEN
    IF o->>'is_active' IS DISTINCT FROM n->>'is_active' THEN
      RETURN CASE WHEN (n->>'is_active')::boolean THEN 'schedule.published' ELSE 'schedule.superseded' END;
    END IF;
  END IF;
  RETURN entity || '.updated';
END $$;

-- The personal context of an audit row is committed, not chained: sha256(nonce || data),
-- with a random 16-byte nonce per group (docs/personal-data.md). The chain covers the
-- commitment; erasing the data and its nonce leaves the commitment, which then reveals nothing.
CREATE OR REPLACE FUNCTION audit_digest(nonce bytea, data text) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT sha256(nonce || convert_to(data, 'UTF8')) $$;

-- The client group's data as one text: the ip address and the user agent.
CREATE OR REPLACE FUNCTION audit_client_text(ip inet, agent text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT concat_ws('|', quote_nullable(host(ip)), quote_nullable(agent)) $$;

-- A fresh nonce: 16 bytes of gen_random_uuid() (122 random bits; core PostgreSQL, no pgcrypto).
CREATE OR REPLACE FUNCTION audit_nonce() RETURNS bytea
LANGUAGE sql VOLATILE AS $$ SELECT uuid_send(gen_random_uuid()) $$;

-- The columns of a table's rows that hold free text about a person, left out of its audit
-- images (the audit row's own reason holds the why, erasably): a refund's reason, a failed
-- payment's reason. Erasing them changes nothing audited.
CREATE OR REPLACE FUNCTION audit_image(entity text, r jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE entity WHEN 'refund' THEN r - 'reason' WHEN 'payment' THEN r - 'failure_reason' ELSE r END
$$;

CREATE OR REPLACE FUNCTION audit_write() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  entity text := TG_ARGV[0];
  o jsonb;
  n jsonb := audit_image(entity, to_jsonb(NEW));
  bid uuid;
  why text := booking_ctx('reason');
  ip inet := booking_ctx('ip_address')::inet;
  agent text := booking_ctx('user_agent');
  why_nonce bytea;
  client_nonce bytea;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    o := audit_image(entity, to_jsonb(OLD));
    -- Derived bookkeeping (seat counters, timestamps, versions) is audited on the booking itself.
    IF (o - 'booked_seats' - 'updated_at' - 'version') = (n - 'booked_seats' - 'updated_at' - 'version') THEN
      RETURN NULL;
    END IF;
  END IF;
  bid := CASE entity WHEN 'booking' THEN NEW.id
                     WHEN 'payment' THEN (n->>'booking_id')::uuid
                     WHEN 'refund' THEN (SELECT booking_id FROM payments
                                          WHERE business_id = (n->>'business_id')::uuid AND id = (n->>'payment_id')::uuid)
         END;
  IF why IS NOT NULL THEN why_nonce := audit_nonce(); END IF;
  IF ip IS NOT NULL OR agent IS NOT NULL THEN client_nonce := audit_nonce(); END IF;
  INSERT INTO booking_audit_log (business_id, entity_type, entity_id, booking_id, action, old_values, new_values,
                                 reason, performed_by, performed_by_id, channel, ip_address, user_agent, occurred_at,
                                 reason_nonce, reason_digest, client_nonce, client_digest)
  VALUES (CASE WHEN entity = 'business' THEN NEW.id ELSE (n->>'business_id')::uuid END,
          entity, NEW.id, bid, audit_action(entity, TG_OP, o, n), o, n,
          why, booking_ctx_actor_type(), booking_ctx_actor_id(), booking_ctx_channel(),
          ip, agent, booking_ctx_occurred_at(),
          why_nonce, audit_digest(why_nonce, why),
          client_nonce, audit_digest(client_nonce, audit_client_text(ip, agent)));
  RETURN NULL;
END $$;

-- Every change to a booking, payment, refund, slot or schedule writes its audit row in
-- the same statement, so no path (library, raw SQL, a future one) can skip it. Each audited
-- table, its audit trigger (named by its place in the table's firing order, docs/invariants.md,
-- "Trigger order"), the events it audits and the entity name its rows carry:
DO $$
DECLARE r record;
BEGIN
  FOR r IN
    SELECT * FROM (VALUES
      ('businesses',        'businesses_10_audit',        'INSERT OR UPDATE', 'business'),
      ('services',          'services_10_audit',          'INSERT OR UPDATE', 'service'),
      ('resources',         'resources_10_audit',         'INSERT OR UPDATE', 'resource'),
      ('schedule_versions', 'schedule_versions_10_audit', 'INSERT OR UPDATE', 'schedule'),
      ('time_slots',        'time_slots_10_audit_insert', 'INSERT',           'slot'),
      ('bookings',          'bookings_10_audit',          'INSERT OR UPDATE', 'booking'),
      ('payments',          'payments_20_audit',          'INSERT OR UPDATE', 'payment'),
      ('refunds',           'refunds_20_audit',           'INSERT',           'refund'),
      ('price_rules',       'price_rules_10_audit',       'INSERT',           'price'),
      ('promo_codes',       'promo_codes_10_audit',       'INSERT',           'promo'),
      ('waitlist_entries',  'waitlist_entries_10_audit',  'INSERT OR UPDATE', 'waitlist'),
      ('booking_series',    'booking_series_10_audit',    'INSERT',           'series'),
      ('customer_erasures', 'customer_erasures_10_audit', 'INSERT',           'erasure')
    ) AS t (table_name, trigger_name, events, entity)
  LOOP
    EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER %s ON %I FOR EACH ROW EXECUTE FUNCTION audit_write(%L)',
                   r.trigger_name, r.events, r.table_name, r.entity);
  END LOOP;
END $$;
-- Every booking moves its slot's counter; auditing that row would find nothing to record
-- (the counter is audited on the booking), so decide that without entering PL/pgSQL.
CREATE OR REPLACE TRIGGER time_slots_10_audit_update AFTER UPDATE ON time_slots
  -- The guard lets nothing else change: these four are the slot's whole mutable state.
  FOR EACH ROW WHEN ((OLD.max_capacity, OLD.is_legacy, OLD.legacy_since, OLD.schedule_version_id)
                     IS DISTINCT FROM (NEW.max_capacity, NEW.is_legacy, NEW.legacy_since, NEW.schedule_version_id))
  EXECUTE FUNCTION audit_write('slot');

-- One link of the hash chain: the previous hash and every column of the audit row, the
-- personal context by its commitments. A commitment counts only while the data still held
-- matches it: data altered (or added) after sealing hashes as 'altered' and breaks the link;
-- data erased (with its nonce) leaves the commitment standing.
CREATE OR REPLACE FUNCTION audit_row_hash(prev bytea, a booking_audit_log) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
  SELECT sha256(prev || convert_to(concat_ws('|',
    a.id, a.business_id, quote_nullable(a.entity_type), a.entity_id, quote_nullable(a.booking_id),
    quote_nullable(a.action), quote_nullable(a.old_values::text), quote_nullable(a.new_values::text),
    a.performed_by, quote_nullable(a.performed_by_id), a.channel,
    extract(epoch FROM a.occurred_at), extract(epoch FROM a.recorded_at),
    coalesce(CASE WHEN a.reason IS NULL AND a.reason_nonce IS NULL
                     OR audit_digest(a.reason_nonce, a.reason) = a.reason_digest
                   THEN quote_nullable(encode(a.reason_digest, 'hex')) END, 'altered'),
    coalesce(CASE WHEN a.ip_address IS NULL AND a.user_agent IS NULL AND a.client_nonce IS NULL
                     OR audit_digest(a.client_nonce, audit_client_text(a.ip_address, a.user_agent)) = a.client_digest
                   THEN quote_nullable(encode(a.client_digest, 'hex')) END, 'altered')), 'UTF8'))
$$;

-- Seal every committed, unsealed audit row of a business, in id order; returns the count.
CREATE OR REPLACE FUNCTION audit_seal(p_business uuid) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  head_seq  bigint;
  head_hash bytea;
  prev_hash bytea;
  r         booking_audit_log;
  n         integer := 0;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('audit_seal:' || p_business::text, 0));
  SELECT seq, hash INTO head_seq, head_hash FROM audit_chain
   WHERE business_id = p_business ORDER BY seq DESC LIMIT 1;
  head_seq := coalesce(head_seq, 0);
  head_hash := coalesce(head_hash, '\x'::bytea);
  prev_hash := head_hash;
  FOR r IN
    SELECT a.* FROM booking_audit_log a
     WHERE a.business_id = p_business
       AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.business_id = a.business_id AND c.audit_id = a.id)
     ORDER BY a.id
  LOOP
    head_seq := head_seq + 1;
    head_hash := audit_row_hash(prev_hash, r);
    INSERT INTO audit_chain (business_id, seq, audit_id, prev_hash, hash)
    VALUES (p_business, head_seq, r.id, prev_hash, head_hash);
    prev_hash := head_hash;
    n := n + 1;
  END LOOP;
  RETURN n;
END $$;

-- Walk the chain; the first broken link (or NULL when it verifies) and the unsealed count.
-- Planned for each call's business, as audit_chain_verify_from() is (sql/checker.sql says why).
CREATE OR REPLACE FUNCTION audit_verify(p_business uuid)
RETURNS TABLE (links bigint, unsealed bigint, first_bad_seq bigint, problem text)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan AS $$
DECLARE
  expect_prev bytea := '\x'::bytea;
  expect_seq  bigint := 0;
  c           record;
BEGIN
  links := 0; first_bad_seq := NULL; problem := NULL;
  FOR c IN
    SELECT ch.seq, ch.prev_hash, ch.hash, a AS row, a.id IS NULL AS missing
      FROM audit_chain ch
      LEFT JOIN booking_audit_log a ON a.business_id = ch.business_id AND a.id = ch.audit_id
     WHERE ch.business_id = p_business ORDER BY ch.seq
  LOOP
    expect_seq := expect_seq + 1;
    links := links + 1;
    IF first_bad_seq IS NULL THEN
      IF c.seq <> expect_seq THEN
        first_bad_seq := c.seq; problem := 'link missing before this sequence number';
      ELSIF c.prev_hash <> expect_prev THEN
        first_bad_seq := c.seq; problem := 'previous-hash does not match the link before';
      ELSIF c.missing THEN
        first_bad_seq := c.seq; problem := 'audit row deleted';
      ELSIF audit_row_hash(c.prev_hash, c.row) <> c.hash THEN
        first_bad_seq := c.seq; problem := 'audit row altered after sealing';
      END IF;
    END IF;
    expect_prev := c.hash;
  END LOOP;
  SELECT count(*) INTO unsealed FROM booking_audit_log a
   WHERE a.business_id = p_business
     AND NOT EXISTS (SELECT 1 FROM audit_chain c2 WHERE c2.business_id = a.business_id AND c2.audit_id = a.id);
  RETURN NEXT;
END $$;
