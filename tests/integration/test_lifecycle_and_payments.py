"""Rules 3 and 4: explicit state machines; payments never drift from bookings."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from booking_core import (
    Actor,
    ActorNotAllowed,
    BookingStatus,
    Conflict,
    CurrencyMismatch,
    IllegalTransition,
    Money,
    PaymentMethod,
    PaymentStatus,
    RefundExceedsPayment,
)
from tests.factories import Shop
from tests.integration.test_schedules import MONDAY


def test_a_booking_walks_its_lifecycle_and_every_step_is_a_recorded_transition(system, raw):
    shop = Shop.create(system, now=MONDAY)
    slot = shop.first_slot()
    b = shop.book(slot, party=2)
    system.check_in(shop.business_id, b.id, actor=shop.admin, now=slot.starts_at)
    done = system.complete(shop.business_id, b.id, actor=Actor.system("closer"), now=slot.ends_at)
    assert done.status is BookingStatus.COMPLETED and done.version == 3
    rows = raw.execute(
        "SELECT from_status, to_status, actor_type, actor_id, channel, occurred_at FROM booking_state_transitions"
        " WHERE booking_id = %s ORDER BY id",
        (b.id,),
    ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [
        (None, "confirmed"),
        ("confirmed", "checked_in"),
        ("checked_in", "completed"),
    ]
    assert [r[2] for r in rows] == ["customer", "admin", "system"]
    assert rows[1][5] == slot.starts_at and rows[2][5] == slot.ends_at


def test_illegal_transitions_are_refused_by_the_library_and_by_the_database(system, raw):
    shop = Shop.create(system, now=MONDAY)
    slot = shop.first_slot()
    b = shop.book(slot)
    system.cancel(shop.business_id, b.id, actor=shop.admin, now=MONDAY)
    with pytest.raises(IllegalTransition, match="cannot go from cancelled to checked_in"):
        system.check_in(shop.business_id, b.id, actor=shop.admin, now=slot.starts_at)
    with pytest.raises(psycopg.Error) as info:
        raw.execute("UPDATE bookings SET status = 'completed' WHERE id = %s", (b.id,))
    assert info.value.sqlstate == "BK004"


def test_system_actors_never_cancel_even_through_raw_sql(system, raw):
    shop = Shop.create(system, now=MONDAY)
    b = shop.book(shop.first_slot())
    with pytest.raises(ActorNotAllowed):
        system.cancel(shop.business_id, b.id, actor=Actor.system("schedule-change"), now=MONDAY)
    with raw.transaction():
        raw.execute("SELECT set_config('booking.actor_type', 'system', true)")
        with pytest.raises(psycopg.Error) as info:
            raw.execute("UPDATE bookings SET status = 'cancelled' WHERE id = %s", (b.id,))
    assert info.value.sqlstate == "BK005"
    # Raw SQL with no declared actor is attributed to the database user, who may not cancel either.
    with pytest.raises(psycopg.Error):
        raw.execute("UPDATE bookings SET status = 'cancelled' WHERE id = %s", (b.id,))
    assert system.get_booking(shop.business_id, b.id).status is BookingStatus.CONFIRMED


def test_check_in_opens_thirty_minutes_before_the_slot_and_no_show_only_after_it_starts(system):
    shop = Shop.create(system, now=MONDAY)
    slot = shop.first_slot()
    b = shop.book(slot)
    with pytest.raises(Conflict, match="check-in opens"):
        system.check_in(shop.business_id, b.id, actor=shop.admin, now=slot.starts_at - timedelta(hours=1))
    with pytest.raises(Conflict, match="no-show only once"):
        system.mark_no_show(shop.business_id, b.id, actor=shop.admin, now=slot.starts_at - timedelta(minutes=1))
    assert (
        system.mark_no_show(shop.business_id, b.id, actor=shop.admin, now=slot.starts_at).status
        is BookingStatus.NO_SHOW
    )


def pay_now_shop(system, capacity=2):
    return Shop.create(system, now=MONDAY, payment_method=PaymentMethod.PAY_NOW, capacity=capacity, price="30.00")


def test_a_pay_now_booking_is_a_draft_without_a_seat_until_its_payment_is_confirmed(system):
    shop = pay_now_shop(system)
    slot = shop.first_slot()
    b = shop.book(slot, party=2)
    assert (b.status, b.payment_status, b.amount) == (
        BookingStatus.DRAFT,
        PaymentStatus.PENDING,
        60,
    )
    assert system.get_slot(shop.business_id, slot.id).booked_seats == 0
    psp = Actor.system("psp")
    payment = {"amount": Money("60", "EUR"), "actor": psp, "now": MONDAY, "idempotency_key": "psp-1"}
    p = system.record_payment(shop.business_id, b.id, **payment)
    out = system.confirm_payment(shop.business_id, p.id, actor=psp, now=MONDAY)
    assert out.booking.status is BookingStatus.CONFIRMED and out.booking.payment_status is PaymentStatus.PAID
    assert system.get_slot(shop.business_id, slot.id).booked_seats == 2
    again = system.confirm_payment(shop.business_id, p.id, actor=psp, now=MONDAY)
    assert again.booking.version == out.booking.version and again.payment.status is PaymentStatus.PAID
    assert system.record_payment(shop.business_id, b.id, **payment).id == p.id


def test_a_late_payment_for_a_seat_that_is_gone_is_refunded_not_a_paid_booking_without_a_seat(
    system,
):
    shop = pay_now_shop(system, capacity=2)
    slot = shop.first_slot()
    late, early = shop.book(slot, party=2), shop.book(slot, party=2, customer=1)
    psp = Actor.system("psp")
    p_late = system.record_payment(shop.business_id, late.id, amount=Money("60", "EUR"), actor=psp, now=MONDAY)
    p_early = system.record_payment(shop.business_id, early.id, amount=Money("60", "EUR"), actor=psp, now=MONDAY)
    system.confirm_payment(shop.business_id, p_early.id, actor=psp, now=MONDAY)
    out = system.confirm_payment(shop.business_id, p_late.id, actor=psp, now=MONDAY)
    assert out.refunded_for_lost_seat
    assert out.payment.status is PaymentStatus.REFUNDED and out.payment.refunded_amount == 60
    assert out.booking.status is BookingStatus.DRAFT and out.booking.payment_status is PaymentStatus.REFUNDED
    assert system.get_slot(shop.business_id, slot.id).booked_seats == 2


def test_refunds_move_payment_and_booking_status_together_and_never_exceed_the_payment(system):
    shop = pay_now_shop(system)
    b = shop.book(shop.first_slot(), party=1)
    psp = Actor.system("psp")
    p = system.record_payment(shop.business_id, b.id, amount=Money("30", "EUR"), actor=psp, now=MONDAY)
    system.confirm_payment(shop.business_id, p.id, actor=psp, now=MONDAY)
    system.cancel(shop.business_id, b.id, actor=Actor.customer(shop.customers[0]), now=MONDAY, reason="ill")

    def refund(amount: Money, reason: str = "x"):  # type: ignore[no-untyped-def]
        return system.refund(shop.business_id, p.id, amount=amount, reason=reason, actor=shop.admin, now=MONDAY)

    part = refund(Money("10", "EUR"), "late cancel fee kept")
    assert part.payment.status is PaymentStatus.PARTIALLY_REFUNDED
    assert (
        part.booking.payment_status is PaymentStatus.PARTIALLY_REFUNDED
        and part.booking.status is BookingStatus.CANCELLED
    )
    with pytest.raises(RefundExceedsPayment, match="refund at most"):
        refund(Money("25", "EUR"))
    with pytest.raises(CurrencyMismatch):
        refund(Money("5", "USD"))
    rest = refund(Money("20", "EUR"), "goodwill")
    assert rest.payment.status is PaymentStatus.REFUNDED and rest.booking.status is BookingStatus.REFUNDED


def test_payment_status_is_derived_and_cannot_be_written_directly(system, raw):
    shop = pay_now_shop(system)
    b = shop.book(shop.first_slot(), party=1)
    with pytest.raises(psycopg.Error, match="derived from its payments"):
        raw.execute("UPDATE bookings SET payment_status = 'paid' WHERE id = %s", (b.id,))
    with pytest.raises(psycopg.Error, match="pay_now_paid_before_seat"), raw.transaction():
        raw.execute("SELECT set_config('booking.actor_type', 'admin', true)")
        raw.execute("UPDATE bookings SET status = 'confirmed' WHERE id = %s", (b.id,))
    with pytest.raises(psycopg.Error) as info:
        raw.execute(
            "INSERT INTO payments (business_id, booking_id, amount, currency, created_at, updated_at)"
            " VALUES (%s, %s, 30, 'USD', now(), now())",
            (shop.business_id, b.id),
        )
    assert info.value.sqlstate == "BK009"


def test_a_failed_payment_marks_the_booking_failed_and_a_retry_can_still_pay(system):
    shop = pay_now_shop(system)
    b = shop.book(shop.first_slot(), party=1)
    psp = Actor.system("psp")
    p1 = system.record_payment(shop.business_id, b.id, amount=Money("30", "EUR"), actor=psp, now=MONDAY)
    system.fail_payment(shop.business_id, p1.id, reason="card declined", actor=psp, now=MONDAY)
    assert system.get_booking(shop.business_id, b.id).payment_status is PaymentStatus.FAILED
    with pytest.raises(IllegalTransition, match="record a new payment"):
        system.confirm_payment(shop.business_id, p1.id, actor=psp, now=MONDAY)
    p2 = system.record_payment(shop.business_id, b.id, amount=Money("30", "EUR"), actor=psp, now=MONDAY)
    out = system.confirm_payment(shop.business_id, p2.id, actor=psp, now=MONDAY)
    assert out.booking.payment_status is PaymentStatus.PAID and out.booking.status is BookingStatus.CONFIRMED
