-- Every UPDATE or DELETE of a row of the two append-only audit tables, noted by a trigger of its
-- own (booking_audit_log_10_tamper_note, audit_chain_10_tamper_note in sql/checker.sql). Their
-- refusal triggers forbid both, so a row here means someone switched a refusal off: the chain
-- pass judges the links named here instead of reading both tables (checks/chain.py). Whoever
-- switches every trigger off leaves no row; PostgreSQL's update and delete counts still move,
-- and the pass then reads both tables as before.
CREATE TABLE audit_tamper_log (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  table_name  text NOT NULL CHECK (table_name IN ('booking_audit_log', 'audit_chain')),
  op          text NOT NULL CHECK (op IN ('UPDATE', 'DELETE')),
  business_id uuid NOT NULL,
  audit_id    bigint NOT NULL,
  seq         bigint,
  xid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
  noted_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  noted_by    text NOT NULL DEFAULT session_user
);

-- The snapshot of the chain pass's last tamper look: the notes it has not read are those not
-- visible in it.
ALTER TABLE checker_state ADD COLUMN tamper_snapshot pg_snapshot;

GRANT SELECT ON audit_tamper_log TO booking_app, booking_readonly;
