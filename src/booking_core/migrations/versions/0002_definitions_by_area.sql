-- The ledger of applied area files is read by whoever checks the schema is current, as
-- alembic_version is.
GRANT SELECT ON schema_definitions TO booking_app, booking_readonly;

-- Triggers fire in name order within a table, timing and event; they are numbered by their
-- designed order. The unnumbered names are dropped here (the area files create the numbered
-- ones after the migrations); old name -> name now, for scripts that name a trigger.
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT * FROM (VALUES
    ('booking_resources', 'booking_resources_seats', 'booking_resources_10_seats'),
    ('booking_series', 'booking_series_audit', 'booking_series_10_audit'),
    ('bookings', 'bookings_audit', 'bookings_10_audit'),
    ('bookings', 'bookings_before', 'bookings_10_guard'),
    ('bookings', 'bookings_outbox', 'bookings_20_outbox'),
    ('bookings', 'bookings_beyond_guard', 'bookings_20_price_lock'),
    ('bookings', 'bookings_seats', 'bookings_30_seats'),
    ('businesses', 'businesses_audit', 'businesses_10_audit'),
    ('businesses', 'businesses_validate', 'businesses_10_validate'),
    ('idempotency_keys', 'idempotency_keys_guard', 'idempotency_keys_10_guard'),
    ('notification_deliveries', 'notification_deliveries_settle', 'notification_deliveries_10_settle'),
    ('notification_outbox', 'notification_outbox_guard', 'notification_outbox_10_guard'),
    ('payments', 'payments_after', 'payments_10_booking_money'),
    ('payments', 'payments_before', 'payments_10_guard'),
    ('payments', 'payments_audit', 'payments_20_audit'),
    ('price_rules', 'price_rules_audit', 'price_rules_10_audit'),
    ('price_rules', 'price_rules_validate', 'price_rules_10_validate'),
    ('promo_codes', 'promo_codes_audit', 'promo_codes_10_audit'),
    ('refunds', 'refunds_apply', 'refunds_10_apply'),
    ('refunds', 'refunds_audit', 'refunds_20_audit'),
    ('resources', 'resources_audit', 'resources_10_audit'),
    ('schedule_versions', 'schedule_versions_audit', 'schedule_versions_10_audit'),
    ('schedule_versions', 'schedule_versions_guard', 'schedule_versions_10_guard'),
    ('services', 'services_audit', 'services_10_audit'),
    ('time_slots', 'time_slots_audit_insert', 'time_slots_10_audit_insert'),
    ('time_slots', 'time_slots_audit', 'time_slots_10_audit_update'),
    ('time_slots', 'time_slots_guard', 'time_slots_10_guard'),
    ('time_slots', 'time_slots_key', 'time_slots_20_key'),
    ('time_slots', 'time_slots_outbox', 'time_slots_20_outbox'),
    ('time_slots', 'time_slots_promote', 'time_slots_30_promote'),
    ('waitlist_entries', 'waitlist_entries_audit', 'waitlist_entries_10_audit'),
    ('waitlist_entries', 'waitlist_entries_guard', 'waitlist_entries_10_guard'),
    ('waitlist_entries', 'waitlist_entries_outbox', 'waitlist_entries_20_outbox'),
    ('waitlist_entries', 'waitlist_entries_seats', 'waitlist_entries_30_seats')
  ) AS renamed (table_name, old_name, new_name)
  LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', r.old_name, r.table_name);
  END LOOP;
END $$;
