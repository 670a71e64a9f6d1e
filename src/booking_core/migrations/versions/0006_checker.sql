-- The continuous checker (checks/checker.py): open violations, pass state, the verified chain head.

-- One row per (check, business, subject) found broken and not yet found clean again.
CREATE TABLE integrity_violations (
  check_name   text NOT NULL,
  suite        text NOT NULL,
  business_id  uuid NOT NULL,
  subject_kind text NOT NULL CHECK (subject_kind ~ '^[a-z_]+$'),
  subject_id   text NOT NULL,
  detail       jsonb NOT NULL DEFAULT '{}',
  first_seen   timestamptz NOT NULL,
  last_seen    timestamptz NOT NULL CHECK (last_seen >= first_seen),
  PRIMARY KEY (check_name, business_id, subject_kind, subject_id)
);
CREATE INDEX integrity_violations_business ON integrity_violations (business_id, check_name);

-- One row per pass kind (incremental, full, chain): when it last finished, its failures, and
-- for the incremental pass the audit watermark (every audit id up to it was read, except gaps).
CREATE TABLE checker_state (
  mode             text PRIMARY KEY CHECK (mode IN ('incremental', 'full', 'chain')),
  audit_watermark  bigint,
  last_pass_at     timestamptz,
  last_duration_seconds double precision CHECK (last_duration_seconds >= 0),
  last_error       text,
  last_error_at    timestamptz,
  errors           bigint NOT NULL DEFAULT 0 CHECK (errors >= 0),
  passes           bigint NOT NULL DEFAULT 0 CHECK (passes >= 0),
  -- The chain pass: PostgreSQL's update and delete counts of the two append-only audit tables
  -- when it last looked, and the transaction id from which an edited row is looked for.
  tamper_counter   bigint,
  tamper_xid       bigint
);

-- Audit ids below the watermark not visible when it moved: a transaction still running (read
-- them when it commits) or rolled back (forgotten after a while).
CREATE TABLE checker_audit_gaps (
  audit_id   bigint PRIMARY KEY,
  noticed_at timestamptz NOT NULL
);

-- Per business, the last link of its audit hash chain the checker verified.
CREATE TABLE audit_chain_verified (
  business_id     uuid PRIMARY KEY,
  seq             bigint NOT NULL CHECK (seq >= 0),
  audit_id        bigint,
  hash            bytea NOT NULL,
  verified_at     timestamptz NOT NULL,
  unverified_rows bigint NOT NULL DEFAULT 0 CHECK (unverified_rows >= 0)
);

CREATE INDEX booking_audit_log_id ON booking_audit_log (id);

GRANT SELECT ON integrity_violations, checker_state, checker_audit_gaps, audit_chain_verified
  TO booking_app, booking_readonly;
