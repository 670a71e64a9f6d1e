-- Indexes that let the integrity checks (booking_core.reports.integrity) read indexes instead
-- of the wide tables: both cover every column their check reads, so PostgreSQL answers with
-- index-only scans (the audit log's heap is ~10x its index: old/new values are jsonb).

-- booking_without_created_audit and transition_without_audit: "is there an audit row of
-- this booking with this action?" for every booking and every transition.
CREATE INDEX booking_audit_log_booking_action ON booking_audit_log (business_id, booking_id, action);

-- status_not_last_transition: each booking's newest transition (DISTINCT ON ... id DESC)
-- read in index order, with its target status, without touching the table.
CREATE INDEX booking_state_transitions_last
  ON booking_state_transitions (business_id, booking_id, id DESC) INCLUDE (to_status);
