"""Personal data held where it can be erased: erasure, retention and subject access (issue 17).

Revision ID: 0014_personal_data
Revises: 0013_member_reads

The tables and columns come first (0014_personal_data.sql). Then the areas whose definitions
the conversion calls are applied (the audit row's commitments and chain hash, the outbox's
redaction), and the existing data is converted, every business's audit chain verified before
and rehashed after (docs/personal-data.md, "Upgrading"). A chain that does not verify stops the
upgrade: nothing is rehashed over tampering.
"""

from pathlib import Path

from alembic import op

from booking_core.sql import apply_definitions, run_script

revision = "0014_personal_data"
down_revision = "0013_member_reads"

_HERE = Path(__file__)

# Every chain verified with the hash it was sealed with, before anything changes.
_VERIFY = """
DO $$
DECLARE b record; v record;
BEGIN
  FOR b IN SELECT DISTINCT business_id FROM audit_chain ORDER BY 1 LOOP
    SELECT * INTO v FROM audit_verify(b.business_id);
    IF v.first_bad_seq IS NOT NULL THEN
      RAISE EXCEPTION 'the audit chain of business % is broken at link % (%): find out why '
                      '(booking audit verify) before upgrading; nothing was changed',
        b.business_id, v.first_bad_seq, v.problem USING ERRCODE = 'BK006';
    END IF;
  END LOOP;
END $$;
"""

# Existing rows converted with the history tables' triggers off (the conversion is neither a
# change nor an erasure): commitments for every reason and client context, images without
# free text, outbox rows naming their customer by id only; then each chain rehashed.
_CONVERT = """
ALTER TABLE booking_audit_log DISABLE TRIGGER USER;
ALTER TABLE audit_chain DISABLE TRIGGER USER;
ALTER TABLE notification_outbox DISABLE TRIGGER USER;

UPDATE booking_audit_log a
   SET reason_nonce = x.rn, reason_digest = audit_digest(x.rn, a.reason),
       client_nonce = x.cn, client_digest = audit_digest(x.cn, audit_client_text(a.ip_address, a.user_agent)),
       old_values = audit_image(a.entity_type, a.old_values), new_values = audit_image(a.entity_type, a.new_values)
  FROM (SELECT id, CASE WHEN reason IS NOT NULL THEN audit_nonce() END AS rn,
               CASE WHEN ip_address IS NOT NULL OR user_agent IS NOT NULL THEN audit_nonce() END AS cn
          FROM booking_audit_log
         WHERE reason IS NOT NULL OR ip_address IS NOT NULL OR user_agent IS NOT NULL
            OR entity_type IN ('refund', 'payment')) x
 WHERE a.id = x.id;

ALTER TABLE booking_audit_log
  ADD CONSTRAINT booking_audit_log_reason_committed
    CHECK ((reason IS NULL) = (reason_nonce IS NULL) AND (reason_nonce IS NULL OR reason_digest IS NOT NULL)),
  ADD CONSTRAINT booking_audit_log_client_committed
    CHECK ((ip_address IS NULL AND user_agent IS NULL) = (client_nonce IS NULL)
           AND (client_nonce IS NULL OR client_digest IS NOT NULL));

UPDATE notification_outbox o
   SET customer_id = coalesce((SELECT b.customer_id FROM bookings b
                                WHERE b.business_id = o.business_id AND b.id = o.booking_id),
                              (o.payload #>> '{customer,id}')::uuid),
       payload = CASE WHEN o.payload ? 'customer'
                      THEN jsonb_set(o.payload, '{customer}', jsonb_build_object('id', o.payload #> '{customer,id}'))
                      ELSE o.payload END;

DO $$
DECLARE
  b record; c record;
  prev bytea; head bytea; old_head bytea; n bigint;
BEGIN
  FOR b IN SELECT DISTINCT business_id FROM audit_chain ORDER BY 1 LOOP
    prev := '\\x'::bytea; n := 0; old_head := NULL;
    FOR c IN SELECT ch.seq, ch.hash, a FROM audit_chain ch
               JOIN booking_audit_log a ON a.business_id = ch.business_id AND a.id = ch.audit_id
              WHERE ch.business_id = b.business_id ORDER BY ch.seq
    LOOP
      head := audit_row_hash(prev, c.a);
      UPDATE audit_chain SET prev_hash = prev, hash = head WHERE business_id = b.business_id AND seq = c.seq;
      old_head := c.hash; prev := head; n := n + 1;
    END LOOP;
    INSERT INTO audit_chain_rehash (business_id, links, old_head_hash, new_head_hash, rehashed_at)
    VALUES (b.business_id, n, old_head, head, clock_timestamp());
  END LOOP;
END $$;
UPDATE audit_chain_verified v SET hash = c.hash
  FROM audit_chain c WHERE c.business_id = v.business_id AND c.seq = v.seq;

ALTER TABLE booking_audit_log ENABLE TRIGGER USER;
ALTER TABLE audit_chain ENABLE TRIGGER USER;
ALTER TABLE notification_outbox ENABLE TRIGGER USER;
"""


def upgrade() -> None:
    conn = op.get_bind()
    run_script(conn, _VERIFY)
    run_script(conn, _HERE.with_suffix(".sql").read_text(encoding="utf-8"))
    apply_definitions(conn, ["context", "append_only", "audit", "outbox"])
    run_script(conn, _CONVERT)


def downgrade() -> None:
    raise NotImplementedError("booking data is never dropped: restore from a backup instead")
