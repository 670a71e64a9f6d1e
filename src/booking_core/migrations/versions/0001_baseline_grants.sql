-- Roles and privileges. booking_app: what the library needs and nothing more (no DELETE
-- anywhere, no UPDATE of history; derived columns are written by triggers as the caller,
-- and their guards refuse anyone else). booking_readonly: the dashboard and exporter.
-- Privileges on a function or view are granted beside its definition, in its area file.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'booking_app') THEN
    CREATE ROLE booking_app NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'booking_readonly') THEN
    CREATE ROLE booking_readonly NOLOGIN;
  END IF;
END $$;

GRANT USAGE ON SCHEMA public TO booking_app, booking_readonly;
GRANT SELECT ON alembic_version, schema_definitions, businesses, customers, services, resources, schedule_versions, schedule_rules,
                time_slots, slot_keys, slot_capacity_changes, booking_series, bookings, booking_status_edges,
                booking_state_transitions, payments, payment_status_edges, refunds, booking_audit_log, audit_chain,
                integrity_check_runs, integrity_check_results, booking_refusals, price_rules, promo_codes,
                booking_resources, waitlist_entries, waitlist_status_edges,
                notification_outbox, notification_deliveries, notification_circuit TO booking_app, booking_readonly;
GRANT SELECT ON idempotency_keys TO booking_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO booking_app;
GRANT INSERT ON businesses, customers, services, resources, schedule_versions, schedule_rules,
                time_slots, slot_keys, slot_capacity_changes, booking_series, bookings, booking_state_transitions,
                payments, refunds, booking_audit_log, audit_chain, integrity_check_runs, integrity_check_results,
                booking_refusals, price_rules, promo_codes, booking_resources, waitlist_entries,
                notification_outbox, notification_deliveries, notification_circuit, idempotency_keys TO booking_app;
GRANT UPDATE (name, currency, waitlist_offer_minutes, free_cancellation_hours, late_cancellation_fee_percent)
  ON businesses TO booking_app;
GRANT UPDATE (name, email) ON customers TO booking_app;
GRANT UPDATE (name, kind, max_party_size, price, payment_method) ON services TO booking_app;
GRANT UPDATE (name, kind) ON resources TO booking_app;
GRANT UPDATE (is_active) ON schedule_versions TO booking_app;
GRANT UPDATE (schedule_version_id, max_capacity, is_legacy, legacy_since, booked_seats, updated_at) ON time_slots TO booking_app;
GRANT UPDATE (slot_id, party_size, status, payment_status, version, updated_at, amount,
              paid_amount, refunded_amount, cancellation_fee) ON bookings TO booking_app;
GRANT UPDATE (status, refunded_amount, provider_ref, failure_reason, updated_at) ON payments TO booking_app;
GRANT UPDATE (finished_at, duration_seconds, status) ON integrity_check_runs TO booking_app;
GRANT UPDATE (uses) ON promo_codes TO booking_app;
GRANT UPDATE (status, offered_at, offer_expires_at, booking_id) ON waitlist_entries TO booking_app;
GRANT UPDATE (available_at, attempts, last_error, delivered_at, dead_at) ON notification_outbox TO booking_app;
GRANT UPDATE (state, consecutive_failures, opened_at, retry_at, updated_at, dispatcher)
  ON notification_circuit TO booking_app;
