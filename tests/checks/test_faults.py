"""Every check passes on clean data and fails on exactly its fault, naming the offending rows."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from checks.runner import RunSummary, run_all

from booking_core import Money
from booking_core.reports.integrity import CHECKS
from tests.checks.conftest import World, inject, superuser

ERRORS = {c.name for c in CHECKS if c.severity == "error"}


def run(world: World) -> RunSummary:
    return run_all(world.url, business_ids=world.businesses, triggered_by="test")


def failing(summary: RunSummary) -> set[str]:
    return {r.name for r in summary.results if r.status != "passed"}


def offending(summary: RunSummary, check: str) -> list[dict[str, object]]:
    (result,) = [r for r in summary.results if r.name == check]
    assert result.violation_count >= 1
    return result.sample


def first_offender(
    world: World, check: str, *, also_failing: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    """Run every check: `check` must fail, with only the true second symptoms `also_failing`; the first row it names."""
    summary = run(world)
    assert failing(summary) == {check, *also_failing}
    return offending(summary, check)[0]


def test_clean_world_passes_every_check(world: World) -> None:
    summary = run(world)
    assert [r.name for r in summary.results] == [c.name for c in CHECKS]
    assert failing(summary) == set()
    assert all(r.violation_count == 0 for r in summary.results)
    assert summary.status == "passed"


def test_overbooked_slot_is_found_when_capacity_drops_without_a_record(world: World) -> None:
    inject(world.url, "UPDATE time_slots SET max_capacity = 1 WHERE id = %(s)s", s=world.ids["fri_slot"])
    assert first_offender(world, "overbooked_slot")["slot_id"] == str(world.ids["fri_slot"])


def test_a_recorded_capacity_reduction_is_information_not_a_violation(world: World) -> None:
    shop = world.shop
    shop.system.change_capacity(
        shop.business_id,
        world.ids["fri_slot"],
        capacity=1,
        actor=shop.admin,
        reason="room flooded",
        now=shop.now + timedelta(hours=3),
    )
    summary = run(world)
    assert failing(summary) == set()
    (info,) = [r for r in summary.results if r.name == "over_committed_by_reduction"]
    assert info.severity == "info" and info.violation_count == 1
    assert info.sample[0]["slot_id"] == str(world.ids["fri_slot"])


def test_a_payment_written_behind_the_bookings_back_is_found(world: World) -> None:
    # A pay-on-arrival booking gets a paid payment with the triggers off: its paid amount and
    # payment status still say nothing came in.
    inject(
        world.url,
        "INSERT INTO payments (business_id, booking_id, amount, currency, status, created_at, updated_at)"
        " SELECT business_id, id, amount, currency, 'paid', now(), now() FROM bookings WHERE id = %(b)s",
        b=world.ids["confirmed"],
    )
    row = first_offender(world, "payment_status_mismatch")
    assert (row["booking_id"], row["recorded"], row["derived"]) == (str(world.ids["confirmed"]), "pending", "paid")


def test_a_payment_lowered_to_a_token_after_confirmation_is_paid_less_than_owed(world: World) -> None:
    inject(world.url, "UPDATE payments SET amount = 0.01 WHERE id = %(p)s", p=world.ids["paid_payment"])
    # The booking's stored money no longer matches its rows either: a true second symptom.
    row = first_offender(world, "paid_less_than_owed", also_failing={"payment_status_mismatch"})
    assert (row["booking_id"], row["paid"], row["amount"]) == (str(world.ids["paid"]), "0.01", "50.00")


def test_a_confirmed_pay_now_booking_without_a_paid_payment_is_found(world: World) -> None:
    inject(world.url, "DELETE FROM payments WHERE id = %(p)s", p=world.ids["paid_payment"])
    row = first_offender(world, "paid_less_than_owed", also_failing={"payment_status_mismatch"})
    assert row["booking_id"] == str(world.ids["paid"])


def _age(world: World, booking: object) -> None:
    """Move the booking's last change past the refund grace period, and its refund obligation past due."""
    inject(
        world.url,
        "UPDATE bookings SET updated_at = now() - interval '2 hours' WHERE id = %(b)s",
        "UPDATE refund_obligations SET recorded_at = now() - interval '9 days', due_by = now() - interval '2 days'"
        " WHERE booking_id = %(b)s",
        b=booking,
    )


def test_a_cancelled_paid_booking_owes_its_refund_only_once_it_is_due(world: World) -> None:
    """An ordinary admin cancellation of a paid booking, not refunded yet: pending, not a violation."""
    shop, admin = world.paid_shop, world.paid_shop.admin
    booking = shop.book(shop.first_slot(4), party=2, customer=0)
    pay = shop.system.record_payment(
        shop.business_id, booking.id, amount=Money("50.00", "EUR"), actor=admin, now=shop.now
    )
    shop.system.confirm_payment(shop.business_id, pay.id, actor=admin, now=shop.now)
    shop.system.cancel(shop.business_id, booking.id, actor=admin, reason="closed for a private event", now=shop.now)
    inject(world.url, "UPDATE bookings SET updated_at = now() - interval '2 hours' WHERE id = %(b)s", b=booking.id)
    assert "refund_obligation_unmet" not in failing(run(world))  # owed, recorded, due in 7 days: pending
    with superuser(world.url) as conn:
        due = conn.execute(
            "SELECT o.amount, o.due_by - o.recorded_at FROM refund_obligations o WHERE o.booking_id = %s",
            (booking.id,),
        ).fetchone()
    assert due == (Decimal("50.00"), timedelta(hours=168))
    _age(world, booking.id)
    row = first_offender(world, "refund_obligation_unmet")
    assert (row["booking_id"], row["owed"]) == (str(booking.id), "50.00") and row["due_by"]


def test_a_paid_payment_on_a_cancelled_booking_without_refund_is_found(world: World) -> None:
    inject(
        world.url,
        "INSERT INTO payments (business_id, booking_id, amount, currency, status, created_at, updated_at)"
        " SELECT business_id, id, 25.00, currency, 'paid', now(), now() FROM bookings WHERE id = %(b)s",
        b=world.ids["cancelled"],
        bypass_triggers=False,
    )
    assert failing(run(world)) == set()  # just paid: the refund is still within its grace period
    _age(world, world.ids["cancelled"])
    row = first_offender(world, "refund_obligation_unmet")
    assert (row["booking_id"], row["owed"]) == (str(world.ids["cancelled"]), "25.00")


def test_a_token_refund_does_not_meet_a_refund_obligation(world: World) -> None:
    # Cancelled by the business: everything (50.00) is owed back; 0.01 was refunded.
    shop, admin = world.paid_shop, world.paid_shop.admin
    booking = shop.book(shop.first_slot(4), party=2, customer=0)
    pay = shop.system.record_payment(
        shop.business_id, booking.id, amount=Money("50.00", "EUR"), actor=admin, now=shop.now
    )
    shop.system.confirm_payment(shop.business_id, pay.id, actor=admin, now=shop.now)
    shop.system.cancel(shop.business_id, booking.id, actor=admin, reason="closed", now=shop.now)
    shop.system.refund(shop.business_id, pay.id, amount=Money("0.01", "EUR"), reason="token", actor=admin, now=shop.now)
    _age(world, booking.id)
    assert first_offender(world, "refund_obligation_unmet")["owed"] == "49.99"


def test_refunds_larger_than_the_payment_are_found(world: World) -> None:
    inject(
        world.url,
        "INSERT INTO refunds (business_id, payment_id, amount, currency, reason, created_at)"
        " SELECT business_id, id, 90.00, currency, 'double refund', now() FROM payments WHERE id = %(p)s",
        p=world.ids["partly_payment"],
    )
    # The payment's refunded amount did not follow the raw refund row (triggers off).
    row = first_offender(world, "refund_exceeds_payment", also_failing={"payment_status_mismatch"})
    assert (row["booking_id"], row["payment_id"]) == (str(world.ids["partly"]), str(world.ids["partly_payment"]))


def test_an_active_booking_on_a_missing_slot_is_orphaned(world: World) -> None:
    ghost = uuid.uuid4()
    inject(world.url, "UPDATE bookings SET slot_id = %(g)s WHERE id = %(b)s", g=ghost, b=world.ids["confirmed"])
    # The old slot still counts the moved party's seats: the counter drift is a true second symptom.
    row = first_offender(world, "orphaned_booking", also_failing={"seat_counter_drift"})
    assert (row["booking_id"], row["slot_id"], row["problem"]) == (
        str(world.ids["confirmed"]),
        str(ghost),
        "slot missing",
    )


def test_a_slot_left_in_an_old_schedule_without_being_legacy_orphans_its_bookings(world: World) -> None:
    inject(
        world.url,
        "UPDATE time_slots SET is_legacy = false, legacy_since = NULL WHERE id = %(s)s",
        s=world.ids["thu_slot"],
    )
    summary = run(world)
    assert failing(summary) == {"orphaned_booking", "legacy_flag_mismatch"}
    assert offending(summary, "orphaned_booking")[0]["booking_id"] == str(world.ids["on_thursday"])
    assert offending(summary, "legacy_flag_mismatch")[0]["slot_id"] == str(world.ids["thu_slot"])


def test_a_booking_without_its_creation_audit_entry_is_found(world: World) -> None:
    # A booking made after the seal (so the hash chain stays intact). Its creation transition
    # is audited by that same entry, so transition_without_audit necessarily fails with it.
    shop = world.shop
    late = shop.book(shop.first_slot(5), party=1, customer=2)
    inject(world.url, "DELETE FROM booking_audit_log WHERE booking_id = %(b)s", b=late.id)
    also = {"transition_without_audit", "version_without_audit"}
    assert first_offender(world, "booking_without_created_audit", also_failing=also)["booking_id"] == str(late.id)


def test_a_state_transition_without_its_audit_entry_is_found(world: World) -> None:
    shop = world.shop
    late = shop.book(shop.first_slot(5), party=1, customer=2)
    shop.system.cancel(shop.business_id, late.id, actor=shop.admin, reason="x", now=shop.now)
    inject(
        world.url,
        "DELETE FROM booking_audit_log WHERE booking_id = %(b)s AND action = 'booking.cancelled'",
        b=late.id,
    )
    row = first_offender(world, "transition_without_audit", also_failing={"version_without_audit"})
    assert (row["booking_id"], row["to_status"]) == (str(late.id), "cancelled")


def test_a_version_bumped_without_its_audit_row_is_found(world: World) -> None:
    inject(world.url, "UPDATE bookings SET version = version + 1 WHERE id = %(b)s", b=world.ids["alone"])
    row = first_offender(world, "version_without_audit")
    assert (row["booking_id"], row["version"] - row["audit_rows"]) == (str(world.ids["alone"]), 1)


def test_a_status_that_is_not_the_last_transitions_target_is_found(world: World) -> None:
    inject(world.url, "UPDATE bookings SET status = 'no_show' WHERE id = %(b)s", b=world.ids["confirmed"])
    row = first_offender(world, "status_not_last_transition")
    assert (row["booking_id"], row["status"], row["last_transition_to"]) == (
        str(world.ids["confirmed"]),
        "no_show",
        "confirmed",
    )


def test_an_altered_sealed_audit_row_breaks_the_hash_chain(world: World) -> None:
    inject(
        world.url,
        "UPDATE booking_audit_log SET reason = 'rewritten' WHERE booking_id = %(b)s AND action = 'booking.created'",
        b=world.ids["confirmed"],
    )
    row = first_offender(world, "audit_chain_broken")
    assert (row["business_id"], row["booking_id"]) == (str(world.shop.business_id), str(world.ids["confirmed"]))
    assert row["problem"] == "audit row altered after sealing"


def test_a_transition_along_an_edge_the_machine_lacks_is_found(world: World) -> None:
    # cancelled -> confirmed: the booking is confirmed and has a booking.confirmed audit entry,
    # so only the edge itself is wrong.
    inject(
        world.url,
        "INSERT INTO booking_state_transitions (business_id, booking_id, from_status, to_status, actor_type,"
        " actor_id, channel, occurred_at) SELECT business_id, id, 'cancelled', 'confirmed', 'database', 'ops',"
        " 'sql', now() FROM bookings WHERE id = %(b)s",
        b=world.ids["paid"],
        bypass_triggers=False,
    )
    row = first_offender(world, "transition_not_in_state_machine")
    assert (row["booking_id"], row["from_status"], row["to_status"]) == (
        str(world.ids["paid"]),
        "cancelled",
        "confirmed",
    )


def test_a_check_in_long_before_the_slot_starts_is_found(world: World) -> None:
    inject(
        world.url,
        "UPDATE booking_state_transitions SET occurred_at = occurred_at - interval '3 hours'"
        " WHERE booking_id = %(b)s AND to_status = 'checked_in'",
        b=world.ids["completed"],
    )
    row = first_offender(world, "check_in_before_slot_opens")
    assert (row["booking_id"], row["slot_id"]) == (str(world.ids["completed"]), str(world.ids["sat_slot"]))


def test_a_slot_instant_off_its_local_time_is_found(world: World) -> None:
    inject(
        world.url,
        "UPDATE time_slots SET starts_at = starts_at + interval '1 hour', ends_at = ends_at + interval '1 hour'"
        " WHERE id = %(s)s",
        s=world.ids["thu_slot"],
    )
    row = first_offender(world, "slot_instant_mismatch")
    assert (row["slot_id"], row["timezone"]) == (str(world.ids["thu_slot"]), "Europe/Berlin")


def test_a_party_above_the_service_maximum_is_found(world: World) -> None:
    inject(world.url, "UPDATE bookings SET party_size = 9 WHERE id = %(b)s", b=world.ids["on_thursday"])
    # With the triggers off neither the slot's counter nor the locked price followed the party.
    row = first_offender(world, "party_size_out_of_range", also_failing={"seat_counter_drift", "price_lock_broken"})
    assert (row["booking_id"], row["party_size"], row["max_party_size"]) == (str(world.ids["on_thursday"]), 9, 8)


def test_a_customer_without_a_name_is_a_missing_required_field(world: World) -> None:
    inject(
        world.url,
        "UPDATE customers SET name = '' WHERE id = (SELECT customer_id FROM bookings WHERE id = %(b)s)",
        b=world.ids["on_thursday"],
        bypass_triggers=False,
    )
    summary = run(world)
    assert failing(summary) == {"required_fields_missing"}
    ids = {r["booking_id"] for r in offending(summary, "required_fields_missing")}
    assert str(world.ids["on_thursday"]) in ids


def test_duplicate_idempotency_keys_are_found_once_the_unique_index_is_gone(own_world: World) -> None:
    world = own_world
    inject(
        world.url,
        "ALTER TABLE bookings DROP CONSTRAINT bookings_business_id_idempotency_key_key",
        "INSERT INTO bookings (business_id, slot_id, customer_id, party_size, status, payment_method, amount,"
        " currency, idempotency_key, created_at, updated_at)"
        " SELECT business_id, slot_id, customer_id, 1, 'draft', payment_method, amount, currency,"
        " idempotency_key, created_at, updated_at FROM bookings WHERE id = %(b)s",
        b=world.ids["on_thursday"],
        bypass_triggers=False,
    )
    summary = run(world)
    assert failing(summary) == {"duplicate_idempotency_key"}
    rows = offending(summary, "duplicate_idempotency_key")
    assert {r["idempotency_key"] for r in rows} == {"req-1"} and len(rows) == 2


def test_a_status_no_edge_leads_to_is_outside_the_state_machine(own_world: World) -> None:
    # The status was never reached by a transition, so status_not_last_transition fails with it.
    world = own_world
    inject(world.url, "ALTER TYPE booking_status ADD VALUE 'archived'", bypass_triggers=False)
    inject(world.url, "UPDATE bookings SET status = 'archived' WHERE id = %(b)s", b=world.ids["on_thursday"])
    # ... and the seats the booking held were never released (seat_counter_drift).
    also = {"status_not_last_transition", "seat_counter_drift"}
    row = first_offender(world, "status_outside_state_machine", also_failing=also)
    assert row["booking_id"] == str(world.ids["on_thursday"])


def test_a_seat_counter_written_behind_the_triggers_back_is_found(world: World) -> None:
    inject(
        world.url, "UPDATE time_slots SET booked_seats = booked_seats + 1 WHERE id = %(s)s", s=world.ids["full_slot"]
    )
    assert first_offender(world, "seat_counter_drift")["slot_id"] == str(world.ids["full_slot"])


def test_a_waiting_entry_that_fits_freed_seats_but_was_never_offered_is_found(world: World) -> None:
    inject(world.url, "UPDATE time_slots SET max_capacity = 3 WHERE id = %(s)s", s=world.ids["full_slot"])
    assert first_offender(world, "waitlist_promotion_stalled")["waitlist_entry_id"] == str(world.ids["waiting"])


def test_a_resource_held_at_another_time_than_its_booking_is_found(world: World) -> None:
    inject(
        world.url,
        "INSERT INTO booking_resources (business_id, booking_id, slot_id, quantity)"
        " SELECT b.business_id, b.id, ts.id, 1 FROM bookings b JOIN time_slots ts ON ts.business_id = b.business_id"
        " WHERE b.id = %(b)s AND ts.resource_id = %(r)s AND ts.local_date = (SELECT local_date + 1 FROM time_slots"
        " WHERE id = %(s)s)",
        bypass_triggers=False,
        b=world.ids["multi"],
        r=world.ids["staff"],
        s=world.ids["full_slot"],
    )
    assert first_offender(world, "resource_allocation_time_mismatch")["booking_id"] == str(world.ids["multi"])


def test_a_booking_whose_price_moved_after_it_was_locked_is_found(world: World) -> None:
    inject(world.url, "UPDATE bookings SET amount = amount + 5 WHERE id = %(b)s", b=world.ids["multi"])
    assert first_offender(world, "price_lock_broken")["booking_id"] == str(world.ids["multi"])


def test_a_notification_given_up_after_its_retries_is_found(world: World) -> None:
    inject(
        world.url,
        "UPDATE notification_outbox SET dead_at = now(), attempts = 8, last_error = 'HTTP 500'"
        " WHERE booking_id = %(b)s",
        b=world.ids["confirmed"],
    )
    assert first_offender(world, "notification_failed_for_good")["booking_id"] == str(world.ids["confirmed"])


def test_a_notification_undelivered_for_over_an_hour_is_found(world: World) -> None:
    inject(
        world.url,
        "UPDATE notification_outbox SET created_at = now() - interval '2 hours' WHERE booking_id = %(b)s",
        b=world.ids["confirmed"],
    )
    assert first_offender(world, "notification_backlog_stale")["booking_id"] == str(world.ids["confirmed"])


@pytest.mark.parametrize("check", sorted(ERRORS))
def test_every_error_check_has_a_fault_test(check: str) -> None:
    tested = {
        "overbooked_slot",
        "payment_status_mismatch",
        "paid_less_than_owed",
        "refund_obligation_unmet",
        "version_without_audit",
        "legacy_flag_mismatch",
        "refund_exceeds_payment",
        "orphaned_booking",
        "booking_without_created_audit",
        "transition_without_audit",
        "status_not_last_transition",
        "audit_chain_broken",
        "status_outside_state_machine",
        "transition_not_in_state_machine",
        "check_in_before_slot_opens",
        "slot_instant_mismatch",
        "party_size_out_of_range",
        "duplicate_idempotency_key",
        "required_fields_missing",
        "seat_counter_drift",
        "waitlist_promotion_stalled",
        "resource_allocation_time_mismatch",
        "price_lock_broken",
        "notification_failed_for_good",
        "notification_backlog_stale",
    }
    assert check in tested


def test_the_demos_faults_make_exactly_the_expected_checks_fail(own_world: World) -> None:
    """`booking demo --with-faults` writes these (booking_demo.faults) after its data."""
    from booking_demo.faults import inject_all

    inject_all(own_world.url)
    summary = run(own_world)
    assert failing(summary) == {
        "overbooked_slot",
        "payment_status_mismatch",  # payment_mismatch: a paid payment lowered to a token,
        "paid_less_than_owed",  # ... so the booking holds a seat for 0.01
        "orphaned_booking",
        "booking_without_created_audit",  # audit_gap: a booking with no creation entry,
        "transition_without_audit",  # ... so its creation transition has none either
        "version_without_audit",  # ... and its version 1 has no audit row
        "transition_not_in_state_machine",
    }
