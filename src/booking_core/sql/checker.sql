-- The continuous checker's database side: verifying a business's audit hash chain from a
-- link already verified (checks/chain.py keeps that link in audit_chain_verified).

-- Walk the links after (p_seq, p_hash) in order, stopping at the first broken one. Returns how
-- many links verified, the last good link (its seq, audit id and hash: where the next walk
-- starts), and the first broken link with what is wrong (NULL when every link verified).
-- From (0, '') it is the full walk, which audit_verify() also does. Planned for each call's
-- business (force_custom_plan): a session walking a business of millions of links and then
-- hundreds of small ones otherwise switched to a generic plan that hashes the whole audit log
-- for each small one (a full walk at 1M bookings: 204 s instead of 87 s).
CREATE OR REPLACE FUNCTION audit_chain_verify_from(p_business uuid, p_seq bigint, p_hash bytea)
RETURNS TABLE (links bigint, last_seq bigint, last_audit_id bigint, last_hash bytea,
               first_bad_seq bigint, bad_audit_id bigint, problem text)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan AS $$
DECLARE
  c record;
BEGIN
  links := 0; last_seq := p_seq; last_audit_id := NULL; last_hash := p_hash;
  FOR c IN
    SELECT ch.seq, ch.audit_id, ch.prev_hash, ch.hash, a AS row, a.id IS NULL AS missing
      FROM audit_chain ch
      LEFT JOIN booking_audit_log a ON a.business_id = ch.business_id AND a.id = ch.audit_id
     WHERE ch.business_id = p_business AND ch.seq > p_seq ORDER BY ch.seq
  LOOP
    problem := CASE
      WHEN c.seq <> last_seq + 1 THEN 'link missing before this sequence number'
      WHEN c.prev_hash <> last_hash THEN 'previous-hash does not match the link before'
      WHEN c.missing THEN 'audit row deleted'
      WHEN audit_row_hash(c.prev_hash, c.row) <> c.hash THEN 'audit row altered after sealing'
    END;
    IF problem IS NOT NULL THEN
      first_bad_seq := c.seq; bad_audit_id := c.audit_id;
      RETURN NEXT;
      RETURN;
    END IF;
    links := links + 1; last_seq := c.seq; last_audit_id := c.audit_id; last_hash := c.hash;
  END LOOP;
  RETURN NEXT;
END $$;

-- Note an UPDATE or DELETE of an audit row or chain link (the refusal trigger was switched off
-- for it): the row before, and after when it moved, in audit_tamper_log (migration 0007).
CREATE OR REPLACE FUNCTION audit_tamper_note() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- An erasure of an audit row's personal context changes nothing the chain covers.
  IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'booking_audit_log'
     AND is_erasure(to_jsonb(OLD), to_jsonb(NEW), erasable_columns(TG_TABLE_NAME)) THEN
    RETURN NULL;
  END IF;
  IF TG_TABLE_NAME = 'audit_chain' THEN
    INSERT INTO audit_tamper_log (table_name, op, business_id, audit_id, seq)
    VALUES (TG_TABLE_NAME, TG_OP, OLD.business_id, OLD.audit_id, OLD.seq);
    IF TG_OP = 'UPDATE' AND (NEW.business_id, NEW.audit_id, NEW.seq) IS DISTINCT FROM (OLD.business_id, OLD.audit_id, OLD.seq) THEN
      INSERT INTO audit_tamper_log (table_name, op, business_id, audit_id, seq)
      VALUES (TG_TABLE_NAME, TG_OP, NEW.business_id, NEW.audit_id, NEW.seq);
    END IF;
  ELSE
    INSERT INTO audit_tamper_log (table_name, op, business_id, audit_id)
    VALUES (TG_TABLE_NAME, TG_OP, OLD.business_id, OLD.id);
    IF TG_OP = 'UPDATE' AND (NEW.business_id, NEW.id) IS DISTINCT FROM (OLD.business_id, OLD.id) THEN
      INSERT INTO audit_tamper_log (table_name, op, business_id, audit_id)
      VALUES (TG_TABLE_NAME, TG_OP, NEW.business_id, NEW.id);
    END IF;
  END IF;
  RETURN NULL;
END $$;

SELECT define_trigger('booking_audit_log_10_tamper_note', 'booking_audit_log', 'AFTER UPDATE OR DELETE', 'audit_tamper_note');
SELECT define_trigger('audit_chain_10_tamper_note', 'audit_chain', 'AFTER UPDATE OR DELETE', 'audit_tamper_note');
