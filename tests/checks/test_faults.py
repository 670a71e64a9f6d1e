"""Every check passes on clean data and fails on exactly its fault, naming the offending rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from checks.runner import RunSummary, run_all

from booking_core import Booking, Money, Payment
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


class Id(str):
    """An expected value: the id the clean world stored under this key."""


@dataclass(frozen=True)
class Fault:
    """One raw write (triggers off unless `bypass_triggers` is false), and the first row its check must name."""

    check: str
    statement: str
    params: dict[str, str]  # statement parameter -> the world id it takes
    names: dict[str, object]  # column of the first offending row -> Id(world key) or the literal value
    also_failing: frozenset[str] = frozenset()
    bypass_triggers: bool = True


FAULTS = {
    "overbooked when capacity drops without a record": Fault(
        "overbooked_slot",
        "UPDATE time_slots SET max_capacity = 1 WHERE id = %(s)s",
        {"s": "fri_slot"},
        {"slot_id": Id("fri_slot")},
    ),
    # A pay-on-arrival booking gets a paid payment with the triggers off: its paid amount and
    # payment status still say nothing came in.
    "a payment written behind the booking's back": Fault(
        "payment_status_mismatch",
        "INSERT INTO payments (business_id, booking_id, amount, currency, status, created_at, updated_at)"
        " SELECT business_id, id, amount, currency, 'paid', now(), now() FROM bookings WHERE id = %(b)s",
        {"b": "confirmed"},
        {"booking_id": Id("confirmed"), "recorded": "pending", "derived": "paid"},
    ),
    # The booking's stored money no longer matches its rows either: a true second symptom.
    "a payment lowered to a token after confirmation": Fault(
        "paid_less_than_owed",
        "UPDATE payments SET amount = 0.01 WHERE id = %(p)s",
        {"p": "paid_payment"},
        {"booking_id": Id("paid"), "paid": "0.01", "amount": "50.00"},
        also_failing=frozenset({"payment_status_mismatch"}),
    ),
    "a confirmed pay-now booking without a paid payment": Fault(
        "paid_less_than_owed",
        "DELETE FROM payments WHERE id = %(p)s",
        {"p": "paid_payment"},
        {"booking_id": Id("paid")},
        also_failing=frozenset({"payment_status_mismatch"}),
    ),
    # The payment's refunded amount did not follow the raw refund row (triggers off).
    "refunds larger than the payment": Fault(
        "refund_exceeds_payment",
        "INSERT INTO refunds (business_id, payment_id, amount, currency, reason, created_at)"
        " SELECT business_id, id, 90.00, currency, 'double refund', now() FROM payments WHERE id = %(p)s",
        {"p": "partly_payment"},
        {"booking_id": Id("partly"), "payment_id": Id("partly_payment")},
        also_failing=frozenset({"payment_status_mismatch"}),
    ),
    "a status that is not the last transition's target": Fault(
        "status_not_last_transition",
        "UPDATE bookings SET status = 'no_show' WHERE id = %(b)s",
        {"b": "confirmed"},
        {"booking_id": Id("confirmed"), "status": "no_show", "last_transition_to": "confirmed"},
    ),
    # cancelled -> confirmed: the booking is confirmed and has a booking.confirmed audit entry,
    # so only the edge itself is wrong.
    "a transition along an edge the machine lacks": Fault(
        "transition_not_in_state_machine",
        "INSERT INTO booking_state_transitions (business_id, booking_id, from_status, to_status, actor_type,"
        " actor_id, channel, occurred_at) SELECT business_id, id, 'cancelled', 'confirmed', 'database', 'ops',"
        " 'sql', now() FROM bookings WHERE id = %(b)s",
        {"b": "paid"},
        {"booking_id": Id("paid"), "from_status": "cancelled", "to_status": "confirmed"},
        bypass_triggers=False,
    ),
    "a check-in long before the slot starts": Fault(
        "check_in_before_slot_opens",
        "UPDATE booking_state_transitions SET occurred_at = occurred_at - interval '3 hours'"
        " WHERE booking_id = %(b)s AND to_status = 'checked_in'",
        {"b": "completed"},
        {"booking_id": Id("completed"), "slot_id": Id("sat_slot")},
    ),
    "a slot instant off its local time": Fault(
        "slot_instant_mismatch",
        "UPDATE time_slots SET starts_at = starts_at + interval '1 hour', ends_at = ends_at + interval '1 hour'"
        " WHERE id = %(s)s",
        {"s": "thu_slot"},
        {"slot_id": Id("thu_slot"), "timezone": "Europe/Berlin"},
    ),
    # With the triggers off neither the slot's counter nor the locked price followed the party.
    "a party above the service maximum": Fault(
        "party_size_out_of_range",
        "UPDATE bookings SET party_size = 9 WHERE id = %(b)s",
        {"b": "on_thursday"},
        {"booking_id": Id("on_thursday"), "party_size": 9, "max_party_size": 8},
        also_failing=frozenset({"seat_counter_drift", "price_lock_broken"}),
    ),
    "a seat counter written behind the triggers' back": Fault(
        "seat_counter_drift",
        "UPDATE time_slots SET booked_seats = booked_seats + 1 WHERE id = %(s)s",
        {"s": "full_slot"},
        {"slot_id": Id("full_slot")},
    ),
    "a waiting entry that fits freed seats but was never offered": Fault(
        "waitlist_promotion_stalled",
        "UPDATE time_slots SET max_capacity = 3 WHERE id = %(s)s",
        {"s": "full_slot"},
        {"waitlist_entry_id": Id("waiting")},
    ),
    "a resource held at another time than its booking": Fault(
        "resource_allocation_time_mismatch",
        "INSERT INTO booking_resources (business_id, booking_id, slot_id, quantity)"
        " SELECT b.business_id, b.id, ts.id, 1 FROM bookings b JOIN time_slots ts ON ts.business_id = b.business_id"
        " WHERE b.id = %(b)s AND ts.resource_id = %(r)s AND ts.local_date = (SELECT local_date + 1 FROM time_slots"
        " WHERE id = %(s)s)",
        {"b": "multi", "r": "staff", "s": "full_slot"},
        {"booking_id": Id("multi")},
        bypass_triggers=False,
    ),
    "a booking whose price moved after it was locked": Fault(
        "price_lock_broken",
        "UPDATE bookings SET amount = amount + 5 WHERE id = %(b)s",
        {"b": "multi"},
        {"booking_id": Id("multi")},
    ),
    "a notification given up after its retries": Fault(
        "notification_failed_for_good",
        "UPDATE notification_outbox SET dead_at = now(), attempts = 8, last_error = 'HTTP 500'"
        " WHERE booking_id = %(b)s",
        {"b": "confirmed"},
        {"booking_id": Id("confirmed")},
    ),
    "a notification undelivered for over an hour": Fault(
        "notification_backlog_stale",
        "UPDATE notification_outbox SET created_at = now() - interval '2 hours' WHERE booking_id = %(b)s",
        {"b": "confirmed"},
        {"booking_id": Id("confirmed")},
    ),
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_a_raw_fault_is_found_by_its_check_naming_the_row(world: World, fault: Fault) -> None:
    params = {name: world.ids[key] for name, key in fault.params.items()}
    inject(world.url, fault.statement, bypass_triggers=fault.bypass_triggers, **params)
    row = first_offender(world, fault.check, also_failing=fault.also_failing)
    expected = {col: str(world.ids[v]) if isinstance(v, Id) else v for col, v in fault.names.items()}
    assert {col: row[col] for col in expected} == expected


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


def _age(world: World, booking: object) -> None:
    """Move the booking's last change past the refund grace period, and its refund obligation past due."""
    inject(
        world.url,
        "UPDATE bookings SET updated_at = now() - interval '2 hours' WHERE id = %(b)s",
        "UPDATE refund_obligations SET recorded_at = now() - interval '9 days', due_by = now() - interval '2 days'"
        " WHERE booking_id = %(b)s",
        b=booking,
    )


def _paid_then_cancelled_by_the_business(world: World) -> tuple[Booking, Payment]:
    """A party of 2 paid 50.00 in full, then cancelled by the business (everything is owed back)."""
    shop, admin = world.paid_shop, world.paid_shop.admin
    booking = shop.book(shop.first_slot(4), party=2, customer=0)
    pay = shop.system.record_payment(
        shop.business_id, booking.id, amount=Money("50.00", "EUR"), actor=admin, now=shop.now
    )
    shop.system.confirm_payment(shop.business_id, pay.id, actor=admin, now=shop.now)
    shop.system.cancel(shop.business_id, booking.id, actor=admin, reason="closed for a private event", now=shop.now)
    return booking, pay


def test_a_cancelled_paid_booking_owes_its_refund_only_once_it_is_due(world: World) -> None:
    """An ordinary admin cancellation of a paid booking, not refunded yet: pending, not a violation."""
    booking, _pay = _paid_then_cancelled_by_the_business(world)
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
    booking, pay = _paid_then_cancelled_by_the_business(world)
    shop.system.refund(shop.business_id, pay.id, amount=Money("0.01", "EUR"), reason="token", actor=admin, now=shop.now)
    _age(world, booking.id)
    assert first_offender(world, "refund_obligation_unmet")["owed"] == "49.99"


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


def test_an_altered_sealed_audit_row_breaks_the_hash_chain(world: World) -> None:
    inject(
        world.url,
        "UPDATE booking_audit_log SET performed_by_id = 'rewritten'"
        " WHERE booking_id = %(b)s AND action = 'booking.created'",
        b=world.ids["confirmed"],
    )
    row = first_offender(world, "audit_chain_broken")
    assert (row["business_id"], row["booking_id"]) == (str(world.shop.business_id), str(world.ids["confirmed"]))
    assert row["problem"] == "audit row altered after sealing"


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
