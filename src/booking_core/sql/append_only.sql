-- Tables that only grow: history is never changed, business data is never deleted (mark it
-- instead). Each refusal is the only trigger of its table, timing and event, so it fires
-- whatever the order (docs/invariants.md, "Trigger order").

CREATE OR REPLACE FUNCTION refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% on % is refused: % is append-only, record a new entry instead',
    TG_OP, TG_TABLE_NAME, TG_TABLE_NAME USING ERRCODE = 'BK006';
END $$;

CREATE OR REPLACE FUNCTION refuse_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% on % is refused: booking data is never deleted, mark it instead (cancel, legacy)',
    TG_OP, TG_TABLE_NAME USING ERRCODE = 'BK006';
END $$;

-- History: never changed, never deleted.
CREATE OR REPLACE TRIGGER audit_chain_append_only BEFORE UPDATE OR DELETE ON audit_chain
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER booking_audit_log_append_only BEFORE UPDATE OR DELETE ON booking_audit_log
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER booking_audit_log_no_truncate BEFORE TRUNCATE ON booking_audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER booking_refusals_append_only BEFORE UPDATE OR DELETE ON booking_refusals
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER booking_resources_append_only BEFORE UPDATE OR DELETE ON booking_resources
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER booking_resources_no_truncate BEFORE TRUNCATE ON booking_resources
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER booking_series_append_only BEFORE UPDATE OR DELETE ON booking_series
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER booking_state_transitions_append_only BEFORE UPDATE OR DELETE ON booking_state_transitions
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER booking_state_transitions_no_truncate BEFORE TRUNCATE ON booking_state_transitions
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER booking_status_edges_append_only BEFORE UPDATE OR DELETE ON booking_status_edges
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER booking_status_edges_no_truncate BEFORE TRUNCATE ON booking_status_edges
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER integrity_check_results_append_only BEFORE UPDATE OR DELETE ON integrity_check_results
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER notification_deliveries_append_only BEFORE UPDATE OR DELETE ON notification_deliveries
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER notification_deliveries_no_truncate BEFORE TRUNCATE ON notification_deliveries
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER payment_status_edges_append_only BEFORE UPDATE OR DELETE ON payment_status_edges
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER payment_status_edges_no_truncate BEFORE TRUNCATE ON payment_status_edges
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER price_rules_append_only BEFORE UPDATE OR DELETE ON price_rules
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER refunds_append_only BEFORE UPDATE OR DELETE ON refunds
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER refunds_no_truncate BEFORE TRUNCATE ON refunds
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER schedule_rules_append_only BEFORE UPDATE OR DELETE ON schedule_rules
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER schedule_rules_no_truncate BEFORE TRUNCATE ON schedule_rules
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER slot_capacity_changes_append_only BEFORE UPDATE OR DELETE ON slot_capacity_changes
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER slot_capacity_changes_no_truncate BEFORE TRUNCATE ON slot_capacity_changes
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER slot_keys_append_only BEFORE UPDATE OR DELETE ON slot_keys
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER slot_keys_no_truncate BEFORE TRUNCATE ON slot_keys
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER waitlist_status_edges_append_only BEFORE UPDATE OR DELETE ON waitlist_status_edges
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE OR REPLACE TRIGGER idempotency_keys_no_truncate BEFORE TRUNCATE ON idempotency_keys
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Business data: changed by marking (cancel, legacy, superseded), never deleted.
CREATE OR REPLACE TRIGGER bookings_never_delete BEFORE DELETE ON bookings
  FOR EACH ROW EXECUTE FUNCTION refuse_delete();
CREATE OR REPLACE TRIGGER bookings_no_truncate BEFORE TRUNCATE ON bookings
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_delete();
CREATE OR REPLACE TRIGGER businesses_never_delete BEFORE DELETE ON businesses
  FOR EACH ROW EXECUTE FUNCTION refuse_delete();
CREATE OR REPLACE TRIGGER businesses_no_truncate BEFORE TRUNCATE ON businesses
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_delete();
CREATE OR REPLACE TRIGGER customers_never_delete BEFORE DELETE ON customers
  FOR EACH ROW EXECUTE FUNCTION refuse_delete();
CREATE OR REPLACE TRIGGER customers_no_truncate BEFORE TRUNCATE ON customers
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_delete();
CREATE OR REPLACE TRIGGER notification_outbox_never_delete BEFORE DELETE ON notification_outbox
  FOR EACH ROW EXECUTE FUNCTION refuse_delete();
CREATE OR REPLACE TRIGGER notification_outbox_no_truncate BEFORE TRUNCATE ON notification_outbox
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_delete();
CREATE OR REPLACE TRIGGER payments_never_delete BEFORE DELETE ON payments
  FOR EACH ROW EXECUTE FUNCTION refuse_delete();
CREATE OR REPLACE TRIGGER payments_no_truncate BEFORE TRUNCATE ON payments
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_delete();
CREATE OR REPLACE TRIGGER promo_codes_never_delete BEFORE DELETE ON promo_codes
  FOR EACH ROW EXECUTE FUNCTION refuse_delete();
CREATE OR REPLACE TRIGGER resources_never_delete BEFORE DELETE ON resources
  FOR EACH ROW EXECUTE FUNCTION refuse_delete();
CREATE OR REPLACE TRIGGER resources_no_truncate BEFORE TRUNCATE ON resources
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_delete();
CREATE OR REPLACE TRIGGER schedule_versions_never_delete BEFORE DELETE ON schedule_versions
  FOR EACH ROW EXECUTE FUNCTION refuse_delete();
CREATE OR REPLACE TRIGGER schedule_versions_no_truncate BEFORE TRUNCATE ON schedule_versions
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_delete();
CREATE OR REPLACE TRIGGER services_never_delete BEFORE DELETE ON services
  FOR EACH ROW EXECUTE FUNCTION refuse_delete();
CREATE OR REPLACE TRIGGER services_no_truncate BEFORE TRUNCATE ON services
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_delete();
CREATE OR REPLACE TRIGGER time_slots_never_delete BEFORE DELETE ON time_slots
  FOR EACH ROW EXECUTE FUNCTION refuse_delete();
CREATE OR REPLACE TRIGGER time_slots_no_truncate BEFORE TRUNCATE ON time_slots
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_delete();
CREATE OR REPLACE TRIGGER waitlist_entries_never_delete BEFORE DELETE ON waitlist_entries
  FOR EACH ROW EXECUTE FUNCTION refuse_delete();
CREATE OR REPLACE TRIGGER waitlist_entries_no_truncate BEFORE TRUNCATE ON waitlist_entries
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_delete();
