-- Stored integrity check runs (read by the dashboard and the exporter without re-running),
-- and refused booking attempts (so "attempts refused" is a counter that survives restarts).

CREATE TABLE integrity_check_runs (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  started_at       timestamptz NOT NULL,
  finished_at      timestamptz,
  duration_seconds double precision CHECK (duration_seconds >= 0),
  status           text NOT NULL CHECK (status IN ('running', 'passed', 'failed', 'errored')),
  triggered_by     text NOT NULL DEFAULT 'cli'
);
CREATE INDEX integrity_check_runs_started ON integrity_check_runs (started_at DESC);

CREATE TABLE integrity_check_results (
  run_id          uuid NOT NULL REFERENCES integrity_check_runs (id),
  check_name      text NOT NULL,
  suite           text NOT NULL,
  description     text NOT NULL,
  status          text NOT NULL CHECK (status IN ('passed', 'failed', 'errored')),
  violation_count bigint NOT NULL DEFAULT 0 CHECK (violation_count >= 0),
  -- Up to a few offending rows, each with business_id and the ids needed to find it.
  sample          jsonb NOT NULL DEFAULT '[]',
  error           text,
  duration_seconds double precision,
  PRIMARY KEY (run_id, check_name),
  CHECK ((status = 'errored') = (error IS NOT NULL))
);

CREATE TYPE refusal_reason AS ENUM ('full', 'legacy', 'invalid', 'started', 'unknown_slot');

CREATE TABLE booking_refusals (
  business_id uuid NOT NULL,
  id          bigint GENERATED ALWAYS AS IDENTITY,
  slot_id     uuid,
  reason      refusal_reason NOT NULL,
  party_size  integer,
  occurred_at timestamptz NOT NULL,
  PRIMARY KEY (business_id, id)
);
CREATE INDEX booking_refusals_time ON booking_refusals (occurred_at);

CREATE TRIGGER booking_refusals_append_only BEFORE UPDATE OR DELETE ON booking_refusals
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER integrity_check_results_append_only BEFORE UPDATE OR DELETE ON integrity_check_results
  FOR EACH ROW EXECUTE FUNCTION refuse_change();

GRANT SELECT ON integrity_check_runs, integrity_check_results, booking_refusals TO booking_app, booking_readonly;
GRANT INSERT ON integrity_check_runs, integrity_check_results, booking_refusals TO booking_app;
GRANT UPDATE (finished_at, duration_seconds, status) ON integrity_check_runs TO booking_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO booking_app;
