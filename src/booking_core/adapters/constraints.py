"""Which typed error each database constraint a caller can hit becomes, and which constraints only raw SQL reaches.

A caller reaches a constraint with bad input the Python checks miss (or that a path forgets
to check), a race, or a duplicate. Every constraint and unique index in the schema is in
exactly one of CALLER (constraint name -> error class and a one-line message that says what
to do) or INTERNAL (constraint name -> why no caller can hit it); a test holds the schema to that.
"""

from __future__ import annotations

from typing import NamedTuple

from booking_core.domain import errors as e


class Refusal(NamedTuple):
    """The typed error a constraint violation becomes, and its one-line message."""

    error: type[e.BookingError]
    message: str


_NO_BUSINESS = Refusal(e.NotFound, "that business does not exist: create the business first")
_NO_CUSTOMER = Refusal(e.NotFound, "that customer does not exist in this business: add the customer first")
_NO_SERVICE = Refusal(e.NotFound, "that service does not exist in this business: add the service first")
_CURRENCY = Refusal(e.InvalidInput, "a currency is a three-letter ISO code: pass one like EUR")

CALLER: dict[str, Refusal] = {
    # businesses
    "businesses_currency_check": _CURRENCY,
    "businesses_free_cancellation_hours_check": Refusal(
        e.InvalidInput, "free cancellation lasts 0 to 8760 hours: pass a value in that range"
    ),
    "businesses_late_cancellation_fee_percent_check": Refusal(
        e.InvalidInput, "a late cancellation fee is 0 to 100 percent: pass a value in that range"
    ),
    "businesses_name_check": Refusal(e.InvalidInput, "a business needs a name: pass a non-blank name"),
    # customers, services, resources
    "customers_business_id_fkey": _NO_BUSINESS,
    "services_business_id_fkey": _NO_BUSINESS,
    "services_business_id_name_key": Refusal(
        e.AlreadyExists, "this business already has a service of that name: pick another name"
    ),
    "services_currency_check": _CURRENCY,
    "services_max_party_size_check": Refusal(
        e.InvalidPartySize, "a service's largest party is 1 to 100 people: pass a size in that range"
    ),
    "services_name_check": Refusal(e.InvalidInput, "a service needs a name: pass a non-blank name"),
    "services_price_check": Refusal(e.InvalidInput, "a price cannot be negative: pass zero or more"),
    "resources_business_id_fkey": _NO_BUSINESS,
    "resources_business_id_name_key": Refusal(
        e.AlreadyExists, "this business already has a resource of that name: pick another name"
    ),
    "resources_kind_check": Refusal(
        e.InvalidInput, "a resource is a room, table, staff or equipment: pass one of those"
    ),
    "resources_name_check": Refusal(e.InvalidInput, "a resource needs a name: pass a non-blank name"),
    # schedules
    "schedule_versions_business_id_fkey": _NO_BUSINESS,
    "schedule_versions_check": Refusal(
        e.InvalidInput, "a schedule's horizon is before its effective date: pass a later horizon"
    ),
    "schedule_rules_business_id_resource_id_fkey": Refusal(
        e.UnknownResource, "a rule names a resource this business does not have: add the resource first"
    ),
    "schedule_rules_business_id_service_id_fkey": Refusal(
        e.NotFound, "a rule names a service this business does not have: add the service first"
    ),
    "schedule_rules_business_id_schedule_version_id_service_id_r_key": Refusal(
        e.InvalidInput, "two rules open the same service and resource at the same weekday and time: list each once"
    ),
    "schedule_rules_capacity_check": Refusal(
        e.InvalidInput, "a rule's capacity is 1 to 10000: pass a value in that range"
    ),
    "schedule_rules_duration_check": Refusal(
        e.InvalidInput, "a rule lasts more than 0 and at most 24 hours: pass a duration in that range"
    ),
    "schedule_rules_iso_weekday_check": Refusal(
        e.InvalidInput, "a weekday is 1 (Monday) to 7 (Sunday): pass a value in that range"
    ),
    "time_slots_max_capacity_check": Refusal(
        e.InvalidInput, "a slot's capacity is 0 to 10000: pass a value in that range"
    ),
    # bookings
    "bookings_business_id_customer_id_fkey": _NO_CUSTOMER,
    "bookings_business_id_slot_id_fkey": Refusal(
        e.UnknownSlot, "that slot does not exist in this business: list the open slots"
    ),
    "bookings_business_id_idempotency_key_key": Refusal(
        e.IdempotencyConflict, "this idempotency key is already used: repeat the same request or use a new key"
    ),
    "bookings_idempotency_key_check": Refusal(
        e.InvalidInput, "an idempotency key is 1 to 200 characters: pass a shorter, non-empty key"
    ),
    "bookings_party_size_check": Refusal(e.InvalidPartySize, "a party is 1 to 100 people: pass a size in that range"),
    "pay_now_paid_before_seat": Refusal(
        e.PaymentRequired, "a pay-now booking holds seats only when paid in full: record and confirm a payment first"
    ),
    # payments and refunds
    "payments_amount_check": Refusal(e.InvalidInput, "a payment must be more than zero: pass what the customer pays"),
    "payments_business_id_booking_id_fkey": Refusal(
        e.UnknownBooking, "that booking does not exist in this business: check the id"
    ),
    "payments_business_id_idempotency_key_key": Refusal(
        e.IdempotencyConflict, "this payment idempotency key is already used: repeat the same request or use a new key"
    ),
    "refunds_amount_check": Refusal(e.InvalidInput, "a refund must be more than zero: pass the amount to give back"),
    "refunds_business_id_payment_id_fkey": Refusal(
        e.UnknownPayment, "that payment does not exist in this business: check the id"
    ),
    # prices and promo codes
    "price_rules_amount_check": Refusal(e.InvalidInput, "a price cannot be negative: pass zero or more"),
    "price_rules_business_id_service_id_fkey": _NO_SERVICE,
    "price_rules_check": Refusal(e.InvalidInput, "a price rule must end after it starts: pass a later valid_to"),
    "price_rules_iso_weekdays_check": Refusal(
        e.InvalidInput, "weekdays are 1 (Monday) to 7 (Sunday): pass only values in that range"
    ),
    "promo_codes_amount_off_check": Refusal(
        e.InvalidInput, "a promo code's amount off must be more than zero: pass a positive amount"
    ),
    "promo_codes_business_id_fkey": _NO_BUSINESS,
    "promo_codes_check": Refusal(
        e.InvalidInput, "a promo code takes either percent_off or amount_off: pass exactly one"
    ),
    "promo_codes_check1": Refusal(e.InvalidPromoCode, "this promo code is used up: book without it"),
    "promo_codes_code_check": Refusal(
        e.InvalidInput, "a promo code is 3 to 40 capitals, digits, - or _: pass one like SUMMER-10"
    ),
    "promo_codes_max_uses_check": Refusal(
        e.InvalidInput, "a promo code's max_uses must be at least 1: pass 1 or more, or None for no limit"
    ),
    "promo_codes_percent_off_check": Refusal(
        e.InvalidInput, "percent_off is more than 0 and at most 100: pass a value in that range"
    ),
    "promo_codes_pkey": Refusal(e.AlreadyExists, "this business already has that promo code: pick another code"),
    # multi-resource bookings, waitlists, series
    "booking_resources_quantity_check": Refusal(
        e.InvalidInput, "a resource quantity is 1 to 1000: pass a value in that range"
    ),
    "waitlist_entries_business_id_customer_id_fkey": _NO_CUSTOMER,
    "waitlist_entries_business_id_slot_id_fkey": Refusal(
        e.UnknownSlot, "that slot does not exist in this business: list its slots"
    ),
    "waitlist_entries_party_size_check": Refusal(
        e.InvalidPartySize, "a party is 1 to 100 people: pass a size in that range"
    ),
    "waitlist_entries_one_live": Refusal(
        e.AlreadyOnWaitlist,
        "this customer is already on this slot's waitlist: wait for the offer, or leave the waitlist first",
    ),
    "booking_series_business_id_customer_id_fkey": _NO_CUSTOMER,
    "booking_series_every_days_check": Refusal(
        e.InvalidInput, "a series repeats every 1 to 366 days: pass a value in that range"
    ),
    "booking_series_mode_check": Refusal(
        e.InvalidInput, "a series is all_or_nothing or best_effort: pass one of those modes"
    ),
    "booking_series_occurrences_check": Refusal(
        e.InvalidInput, "a series has 1 to 520 occurrences: pass a value in that range"
    ),
    "booking_series_party_size_check": Refusal(
        e.InvalidPartySize, "a party is 1 to 100 people: pass a size in that range"
    ),
}

_ID = "a primary key of ids the library generates (UUIDv7), never a caller's"
_APPEND = "written only by triggers and library code, never from caller values"
_DERIVED = "a column the database derives; triggers refuse direct writes first (BK007)"
_EDGES = "a fixed reference table of state-machine edges, written only by migrations"
_NOTIFY = "notification machinery: written by the outbox trigger and the dispatcher, not by callers"
_CHECKS = "integrity-check runs: written by the checks runner, not by callers"

INTERNAL: dict[str, str] = {
    "alembic_version_pkc": "written only by Alembic migrations",
    "schema_definitions_pkey": "written only by booking_core.sql.apply_definitions, inside a migration",
    "businesses_pkey": _ID,
    "businesses_waitlist_offer_minutes_check": "no public API writes waitlist_offer_minutes: operators set it in SQL",
    # The continuous checker's own tables (checks/checker.py, checks/chain.py): written by the checker only.
    **dict.fromkeys(
        (
            "integrity_violations_pkey",
            "integrity_violations_check",
            "integrity_violations_subject_kind_check",
            "checker_state_pkey",
            "checker_state_mode_check",
            "checker_state_errors_check",
            "checker_state_passes_check",
            "checker_state_last_duration_seconds_check",
            "checker_audit_gaps_pkey",
            "audit_chain_verified_pkey",
            "audit_chain_verified_seq_check",
            "audit_chain_verified_unverified_rows_check",
        ),
        "the continuous checker's state and findings: written by `booking checker` only, not by callers",
    ),
    # Memberships (services/access.py validates person, role and business first; a grant already
    # there is ON CONFLICT DO NOTHING, NothingToChange); their changes are the trigger's rows.
    **dict.fromkeys(
        (
            "memberships_person_check",
            "memberships_admin_across_businesses",
            "memberships_business_id_fkey",
            "memberships_per_business",
            "memberships_admin",
            "membership_changes_pkey",
            "membership_changes_change_check",
        ),
        "validated by booking_core.services.access before it writes; the change log is written by its trigger",
    ),
    **dict.fromkeys(
        ("access_log_pkey", "access_log_person_check", "access_log_what_check", "access_log_row_count_check"),
        "written only by booking_core.services.access.record_access, with a normalized person and a row count",
    ),
    **dict.fromkeys(
        ("audit_tamper_log_pkey", "audit_tamper_log_table_name_check", "audit_tamper_log_op_check"),
        "written only by the audit tables' tamper-note trigger, with the table's name and TG_OP",
    ),
    "businesses_freeze_complete": "set_freeze writes all three freeze columns (or clears them) in one statement",
    "businesses_refund_within_hours_check": "no public API writes refund_within_hours: operators set it in SQL",
    "refund_obligations_pkey": "written only by the bookings_40_refund_due trigger, once per booking (ON CONFLICT)",
    "refund_obligations_amount_check": "the trigger fires only when refund_due > 0",
    "refund_obligations_due_after_recorded": "due_by is recorded_at plus refund_within_hours, which is at least 1",
    "refund_obligations_business_id_booking_id_fkey": "written by the trigger of the booking it refers to",
    "customers_pkey": _ID,
    "services_pkey": _ID,
    "resources_pkey": _ID,
    "schedule_versions_pkey": _ID,
    "schedule_versions_business_id_version_number_key": "numbered by publish_schedule under the publish lock",
    "schedule_versions_version_number_check": "numbered by publish_schedule from 1 up",
    "schedule_versions_one_active": "publish_schedule swaps the active version under the publish lock",
    "schedule_rules_pkey": _ID,
    "schedule_rules_business_id_schedule_version_id_fkey": "the version is inserted in the same transaction",
    "time_slots_pkey": _ID,
    "time_slots_booked_seats_check": _DERIVED,
    "time_slots_business_id_resource_id_fkey": "slots come from rules whose foreign keys are checked first",
    "time_slots_business_id_service_id_fkey": "slots come from rules whose foreign keys are checked first",
    "time_slots_business_id_schedule_version_id_fkey": "the version is inserted in the same transaction",
    "time_slots_business_id_service_id_resource_id_starts_at_key": "publish plans slots against the existing ones",
    "time_slots_check": "ends_at is starts_at plus a duration the rule check keeps positive",
    "time_slots_check1": "is_legacy and legacy_since are set together by publish_schedule only",
    "slot_capacity_changes_pkey": _ID,
    "slot_capacity_changes_business_id_slot_id_fkey": _APPEND,
    "slot_keys_pkey": "one key per slot, written by the time_slots trigger",
    "slot_keys_business_id_id_fkey": "one key per slot, written by the time_slots trigger",
    "bookings_pkey": _ID,
    "bookings_amount_check": "the price is derived from the service, price rules and promo codes",
    "bookings_currency_check": "the currency is the service's",
    "bookings_discount_check": "the discount is derived from a promo code",
    "bookings_unit_price_check": "the unit price is derived from the service or a price rule",
    "bookings_fee_on_cancellation": "the fee is set by the cancellation trigger from the business's policy",
    "bookings_paid_amount_check": _DERIVED,
    "bookings_refunds_within_paid": _DERIVED,
    "bookings_payment_status_matches_money": _DERIVED,
    "bookings_occurrence_check": "occurrence numbers are assigned by create_series",
    "bookings_series_fk": "the series is inserted in the same transaction",
    "bookings_series_has_occurrence": "series id and occurrence are set together by create_series",
    "bookings_one_per_occurrence": "create_series books each occurrence once, under the series's locks",
    "bookings_token_hash_is_sha256": "booking_insert() and the column default write booking_token_hash(): SHA-256",
    "booking_status_edges_from_status_to_status_key": _EDGES,
    "booking_state_transitions_pkey": _ID,
    "booking_state_transitions_business_id_booking_id_fkey": _APPEND,
    "payments_pkey": _ID,
    "payments_currency_check": "the payments_before trigger refuses any currency but the booking's first (BK009)",
    "payment_status_matches_amounts": "status and refunded amount change together in the payment use cases",
    "payment_status_edges_from_status_to_status_key": _EDGES,
    "payments_check": "over-refunds are refused first (BK010); payment_status_matches_amounts is checked before it",
    "refunds_pkey": _ID,
    "booking_audit_log_pkey": _ID,
    "booking_audit_log_action_check": "action names are fixed in the audit triggers",
    "audit_chain_pkey": "sequence numbers assigned by audit seal",
    "audit_chain_business_id_audit_id_fkey": "audit seal chains existing audit rows only",
    "audit_chain_business_id_audit_id_key": "audit seal chains each audit row once, under its lock",
    "audit_chain_seq_check": "sequence numbers assigned by audit seal from 1 up",
    "integrity_check_runs_pkey": _CHECKS,
    "integrity_check_runs_duration_seconds_check": _CHECKS,
    "integrity_check_runs_status_check": _CHECKS,
    "integrity_check_results_pkey": _CHECKS,
    "integrity_check_results_check": _CHECKS,
    "integrity_check_results_run_id_fkey": _CHECKS,
    "integrity_check_results_status_check": _CHECKS,
    "integrity_check_results_violation_count_check": _CHECKS,
    "booking_refusals_pkey": "a serial key; refusals are counted by the library",
    "price_rules_pkey": _ID,
    "promo_codes_id_key": "a generated id (gen_random_uuid)",
    "promo_codes_uses_check": "uses only ever goes up, in booking_create",
    "booking_resources_pkey": "booking_create_multi refuses the slot's own resource (BK017); a mapping repeats no key",
    "booking_resources_business_id_booking_id_fkey": "inserted with its booking in one statement",
    "booking_resources_business_id_slot_id_fkey": "booking_create_multi refuses unknown slots first (BK016)",
    "waitlist_entries_pkey": _ID,
    "waitlist_entries_business_id_booking_id_fkey": "set by accept to the booking it made in the same transaction",
    "waitlist_entries_check": "status and offer times change together in waitlist functions",
    "waitlist_entries_check1": "offer times are set together by waitlist_promote",
    "waitlist_entries_status_check": "status is set by the waitlist functions only",
    "waitlist_status_edges_pkey": _EDGES,
    "booking_series_pkey": _ID,
    "booking_series_business_id_resource_id_fkey": "taken from the first slot, which exists",
    "booking_series_business_id_service_id_fkey": "taken from the first slot, which exists",
    "notification_outbox_pkey": _NOTIFY,
    "notification_outbox_attempts_check": _NOTIFY,
    "notification_outbox_business_id_booking_id_fkey": _NOTIFY,
    "notification_outbox_business_id_delivery_id_key": _NOTIFY,
    "notification_outbox_business_id_fkey": _NOTIFY,
    "notification_outbox_check": _NOTIFY,
    "notification_outbox_event_type_check": _NOTIFY,
    "notification_outbox_payload_check": _NOTIFY,
    "notification_outbox_one_reminder": _NOTIFY,
    "notification_deliveries_pkey": _NOTIFY,
    "notification_deliveries_attempt_check": _NOTIFY,
    "notification_deliveries_business_id_outbox_id_fkey": _NOTIFY,
    "notification_deliveries_check": _NOTIFY,
    "notification_deliveries_check1": _NOTIFY,
    "notification_deliveries_duration_seconds_check": _NOTIFY,
    "notification_deliveries_http_status_check": _NOTIFY,
    "notification_deliveries_outcome_check": _NOTIFY,
    "notification_circuit_pkey": _NOTIFY,
    "notification_circuit_consecutive_failures_check": _NOTIFY,
    "notification_circuit_state_check": _NOTIFY,
    # idempotency keys (0010): every keyed write locks its key and looks it up before recording it
    "idempotency_keys_pkey": "recorded once per key, after the key's lock and lookup (a reuse is BK008 first)",
    "idempotency_keys_business_id_fkey": "recorded only after the write found the business's booking, slot or payment",
    "idempotency_keys_key_check": "keys are checked by the library (InvalidInput), booking keys by bookings first",
    # personal data (0014): the erasure log, retention and subject access are written by
    # customer_erase() and retention_run() (SECURITY DEFINER) and the library, after finding the
    # customer and the business; the commitments by audit_write() beside the data they commit to
    "audit_chain_rehash_pkey": "written once per business by migration 0014",
    "audit_chain_rehash_business_id_fkey": "written once per business by migration 0014",
    "booking_audit_log_reason_committed": "audit_write() commits to every reason it writes (raw SQL must too)",
    "booking_audit_log_client_committed": "audit_write() commits to every ip address and user agent it writes",
    "customers_erased_hold_nothing": "erased_at is set only by customer_erase(), which clears the rest with it",
    "customer_erasures_pkey": _ID,
    "customer_erasures_business_id_fkey": "customer_erase() locks the customer (of the business) first",
    "customer_erasures_business_id_customer_id_fkey": "customer_erase() locks the customer first",
    "customer_erasures_business_id_customer_id_key": "customer_erase() returns the erasure of an erased customer",
    "customer_erasures_cause_check": "written by customer_erase() with the library's own causes",
    "customer_erasures_cleared_check": "written by customer_erase() with the counts it made",
    "retention_policies_pkey": "one policy per business: the library upserts it",
    "retention_policies_business_id_fkey": "the library finds the business first (NotFound)",
    "retention_policies_erase_inactive_after_months_check": "windows are checked by the library first (InvalidInput)",
    "retention_policies_purge_payloads_after_days_check": "windows are checked by the library first (InvalidInput)",
    "retention_policies_drop_client_after_days_check": "windows are checked by the library first (InvalidInput)",
    "retention_runs_pkey": _ID,
    "retention_runs_business_id_fkey": "retention_run() reads the business's policy first",
    "retention_runs_cleared_check": "written by retention_run() with the counts it made",
    "subject_access_requests_pkey": _ID,
    "subject_access_requests_business_id_fkey": "the library finds the customer of the business first",
    "subject_access_requests_business_id_customer_id_fkey": "the library finds the customer first",
}


def refusal(constraint: str | None, *, sqlstate: str | None) -> e.BookingError | None:
    """The typed error for a violation of `constraint`, or None when it is not one a caller can hit."""
    found = CALLER.get(constraint or "")
    if found is None:
        return None
    return found.error(found.message, sqlstate=sqlstate, constraint=constraint)


def markdown_table() -> str:
    """The constraint -> error table of docs/errors.md."""
    lines = ["| constraint | error | message |", "|---|---|---|"]
    lines += [f"| `{name}` | `{r.error.__name__}` | {r.message} |" for name, r in sorted(CALLER.items())]
    return "\n".join(lines) + "\n"
