"""Money that adds up: a booking is paid only when its payments cover its amount; refunds owed are exact."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from booking_core import (
    Actor,
    BookingStatus,
    CancellationPolicy,
    CurrencyMismatch,
    IllegalTransition,
    InvalidInput,
    Money,
    NothingToChange,
    PaymentMethod,
    PaymentRequired,
    PaymentStatus,
    RefundExceedsPayment,
)
from booking_core.domain.money import payment_status
from tests.conftest import MONDAY
from tests.factories import Shop

PROVIDER = Actor.system("payments-provider")


def _pay_now(system, *, price: str = "24.00", currency: str = "EUR") -> Shop:
    return Shop.create(system, now=MONDAY, payment_method=PaymentMethod.PAY_NOW, price=price, currency=currency)


def _pay(shop: Shop, booking_id, amount: str):  # type: ignore[no-untyped-def]
    s = shop.system
    payment = s.record_payment(shop.business_id, booking_id, amount=Money(amount, shop.currency), actor=PROVIDER,
                               now=shop.now)  # fmt: skip
    return s.confirm_payment(shop.business_id, payment.id, actor=PROVIDER, now=shop.now)


def _counts(raw, booking_id) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """(version, booking audit rows, transitions) of a booking."""
    return raw.execute(
        "SELECT b.version, (SELECT count(*) FROM booking_audit_log a WHERE a.booking_id = b.id"
        " AND a.entity_type = 'booking'), (SELECT count(*) FROM booking_state_transitions t"
        " WHERE t.booking_id = b.id) FROM bookings b WHERE b.id = %s",
        (booking_id,),
    ).fetchone()


def test_a_token_payment_confirms_nothing_and_the_balance_is_shown(system):
    shop = _pay_now(system)
    slot = shop.first_slot()
    draft = shop.book(slot, party=2)
    assert draft.status is BookingStatus.DRAFT and draft.amount == Decimal("48.00")

    token = _pay(shop, draft.id, "0.01")
    assert token.booking.status is BookingStatus.DRAFT
    assert token.booking.payment_status is PaymentStatus.PARTIALLY_PAID
    assert token.balance_due == Money("47.99", "EUR")
    assert system.get_slot(shop.business_id, slot.id).booked_seats == 0

    rest = _pay(shop, draft.id, "47.99")
    assert rest.booking.status is BookingStatus.CONFIRMED
    assert rest.booking.payment_status is PaymentStatus.PAID
    assert (rest.booking.paid_amount, rest.balance_due.amount, rest.refund_due.amount) == (
        Decimal("48.00"), Decimal(0), Decimal(0))  # fmt: skip
    assert system.get_slot(shop.business_id, slot.id).booked_seats == 2


def test_the_database_refuses_a_seat_for_a_pay_now_booking_paid_in_part(system, raw):
    shop = _pay_now(system)
    draft = shop.book(shop.first_slot(), party=2)
    _pay(shop, draft.id, "10.00")
    with pytest.raises(Exception, match="pay_now_paid_before_seat"):
        raw.execute("UPDATE bookings SET status = 'confirmed' WHERE id = %s", (draft.id,))
    assert system.get_booking(shop.business_id, draft.id).status is BookingStatus.DRAFT


def test_a_failed_attempt_then_a_paid_one_leaves_the_booking_paid(system):
    shop = _pay_now(system)
    draft = shop.book(shop.first_slot(), party=1)
    s, b = shop.system, shop.business_id
    first = s.record_payment(b, draft.id, amount=Money("24.00", "EUR"), actor=PROVIDER, now=shop.now)
    s.fail_payment(b, first.id, reason="card declined", actor=PROVIDER, now=shop.now)
    assert s.get_booking(b, draft.id).payment_status is PaymentStatus.FAILED
    second = s.record_payment(b, draft.id, amount=Money("24.00", "EUR"), actor=PROVIDER, now=shop.now)
    assert s.get_booking(b, draft.id).payment_status is PaymentStatus.PENDING  # an attempt is under way
    outcome = s.confirm_payment(b, second.id, actor=PROVIDER, now=shop.now)
    assert outcome.booking.payment_status is PaymentStatus.PAID
    assert outcome.booking.status is BookingStatus.CONFIRMED and outcome.booking.paid_amount == Decimal("24.00")


def test_an_overpayment_becomes_a_refund_due_and_refunding_it_leaves_the_booking_paid(system):
    shop = _pay_now(system)
    draft = shop.book(shop.first_slot(), party=1)
    over = _pay(shop, draft.id, "30.00")
    assert over.booking.status is BookingStatus.CONFIRMED and over.refund_due == Money("6.00", "EUR")
    settled = system.refund_due(shop.business_id, draft.id, actor=shop.admin, now=shop.now)
    assert (settled.refunded_amount, settled.refund_due, settled.payment_status) == (
        Decimal("6.00"), Decimal(0), PaymentStatus.PAID)  # fmt: skip
    with pytest.raises(NothingToChange, match="owed nothing back"):
        system.refund_due(shop.business_id, draft.id, actor=shop.admin, now=shop.now)


@pytest.mark.parametrize(
    ("who", "before_start", "fee"),
    [
        ("customer", timedelta(hours=48), "0.00"),  # in time: everything back
        ("customer", timedelta(hours=2), "24.00"),  # late: half of 48.00 is kept
        ("admin", timedelta(hours=2), "0.00"),  # the business cancelled: everything back
    ],
)
def test_a_cancellation_owes_back_what_the_policy_says_and_refund_due_pays_exactly_that(
    system, raw, who, before_start, fee
):
    shop = _pay_now(system)
    slot = shop.first_slot()
    booking = shop.book(slot, party=2)
    _pay(shop, booking.id, "48.00")
    actor = shop.admin if who == "admin" else Actor.customer(shop.customers[0])
    at = slot.starts_at - before_start
    cancelled = system.cancel(shop.business_id, booking.id, actor=actor, reason="plans changed", now=at)
    assert cancelled.cancellation_fee == Decimal(fee)
    assert cancelled.refund_due == Decimal("48.00") - Decimal(fee)

    refunded = system.refund_due(shop.business_id, booking.id, actor=shop.admin, now=at)
    assert refunded.status is BookingStatus.REFUNDED
    assert (refunded.refunded_amount, refunded.refund_due) == (Decimal("48.00") - Decimal(fee), Decimal(0))
    version, audits, _ = _counts(raw, booking.id)
    assert version == audits


def test_a_token_refund_leaves_the_cancelled_booking_owed_and_not_refunded(system):
    shop = _pay_now(system)
    booking = shop.book(shop.first_slot(), party=1)
    payment = _pay(shop, booking.id, "24.00").payment
    system.cancel(shop.business_id, booking.id, actor=shop.admin, reason="closed", now=shop.now)
    token = system.refund(shop.business_id, payment.id, amount=Money("0.01", "EUR"), reason="token",
                          actor=shop.admin, now=shop.now)  # fmt: skip
    assert token.booking.status is BookingStatus.CANCELLED and token.refund_due == Money("23.99", "EUR")


def test_a_changed_policy_applies_to_later_cancellations_only(system):
    shop = _pay_now(system)
    slot = shop.first_slot()
    first, second = shop.book(slot, party=1), shop.book(slot, party=1, customer=1)
    at = slot.starts_at - timedelta(hours=30)
    early = system.cancel(shop.business_id, first.id, actor=Actor.customer(shop.customers[0]), now=at)
    system.set_cancellation_policy(shop.business_id, CancellationPolicy(free_hours=72, late_fee_percent=Decimal(100)),
                                   actor=shop.admin, now=at)  # fmt: skip
    late = system.cancel(shop.business_id, second.id, actor=Actor.customer(shop.customers[1]), now=at)
    assert (early.cancellation_fee, late.cancellation_fee) == (Decimal(0), Decimal("24.00"))
    assert system.get_booking(shop.business_id, first.id).cancellation_fee == Decimal(0)
    with pytest.raises(InvalidInput, match="0 to 100"):
        system.set_cancellation_policy(shop.business_id, CancellationPolicy(late_fee_percent=Decimal(101)),
                                       actor=shop.admin, now=at)  # fmt: skip


def test_money_that_arrives_after_a_cancellation_goes_back_at_once_less_the_fee(system):
    shop = _pay_now(system)
    slot = shop.first_slot()
    draft = shop.book(slot, party=2)
    pending = system.record_payment(shop.business_id, draft.id, amount=Money("48.00", "EUR"), actor=PROVIDER,
                                    now=shop.now)  # fmt: skip
    late = slot.starts_at - timedelta(hours=1)
    system.cancel(shop.business_id, draft.id, actor=Actor.customer(shop.customers[0]), now=late)
    outcome = system.confirm_payment(shop.business_id, pending.id, actor=PROVIDER, now=late)
    assert outcome.booking.status is BookingStatus.REFUNDED
    assert (outcome.booking.cancellation_fee, outcome.booking.refunded_amount, outcome.refund_due.amount) == (
        Decimal("24.00"), Decimal("24.00"), Decimal(0))  # fmt: skip


def test_a_cancelled_booking_takes_no_new_payment_and_nothing_is_written(system, raw):
    shop = _pay_now(system)
    booking = shop.book(shop.first_slot(), party=1)
    system.cancel(shop.business_id, booking.id, actor=shop.admin, now=shop.now)
    before = raw.execute("SELECT count(*) FROM payments WHERE booking_id = %s", (booking.id,)).fetchone()
    with pytest.raises(IllegalTransition, match="takes no payments"):
        system.record_payment(shop.business_id, booking.id, amount=Money("24.00", "EUR"), actor=PROVIDER,
                              now=shop.now)  # fmt: skip
    assert raw.execute("SELECT count(*) FROM payments WHERE booking_id = %s", (booking.id,)).fetchone() == before


def test_a_payment_of_nothing_or_in_another_currency_is_refused(system):
    shop = _pay_now(system)
    booking = shop.book(shop.first_slot(), party=1)
    with pytest.raises(InvalidInput, match="receives nothing"):
        system.record_payment(shop.business_id, booking.id, amount=Money("0", "EUR"), actor=PROVIDER, now=shop.now)
    with pytest.raises(CurrencyMismatch):
        system.record_payment(shop.business_id, booking.id, amount=Money("24", "USD"), actor=PROVIDER, now=shop.now)


def test_growing_a_paid_pay_now_party_asks_for_the_difference_first(system):
    shop = _pay_now(system)
    booking = shop.book(shop.first_slot(), party=2)
    _pay(shop, booking.id, "48.00")
    with pytest.raises(PaymentRequired, match=r"payment of 24\.00 first"):
        system.change_party_size(shop.business_id, booking.id, party_size=3, actor=shop.admin, now=shop.now)
    assert system.get_booking(shop.business_id, booking.id).party_size == 2
    _pay(shop, booking.id, "24.00")  # paid ahead: an overpayment until the party grows
    grown = system.change_party_size(shop.business_id, booking.id, party_size=3, actor=shop.admin, now=shop.now)
    assert (grown.amount, grown.payment_status, grown.refund_due) == (Decimal("72.00"), PaymentStatus.PAID, 0)
    shrunk = system.change_party_size(shop.business_id, booking.id, party_size=1, actor=shop.admin, now=shop.now)
    assert shrunk.refund_due == Decimal("48.00")  # what the smaller party no longer costs


# ---------------------------------------------------------------------- history with no gaps
def test_a_repeated_cancel_or_same_size_change_is_refused_and_writes_nothing(system, raw):
    shop = Shop.create(system, now=MONDAY)
    slot = shop.first_slot()
    booking = shop.book(slot, party=2)
    with pytest.raises(NothingToChange, match="nothing written"):
        system.change_party_size(shop.business_id, booking.id, party_size=2, actor=shop.admin, now=shop.now)
    with pytest.raises(NothingToChange):
        system.reschedule(shop.business_id, booking.id, new_slot_id=slot.id, actor=shop.admin, now=shop.now)
    system.cancel(shop.business_id, booking.id, actor=shop.admin, now=shop.now)
    before = _counts(raw, booking.id)
    with pytest.raises(NothingToChange, match="already is cancelled"):
        system.cancel(shop.business_id, booking.id, actor=shop.admin, now=shop.now)
    assert _counts(raw, booking.id) == before == (2, 2, 2)


def test_an_update_that_changes_nothing_moves_no_version_and_writes_no_audit_row(system, raw):
    shop = Shop.create(system, now=MONDAY)
    booking = shop.book(shop.first_slot(), party=2)
    system.cancel(shop.business_id, booking.id, actor=shop.admin, now=shop.now)
    before = _counts(raw, booking.id)
    raw.execute("UPDATE bookings SET status = 'cancelled', party_size = party_size WHERE id = %s", (booking.id,))
    raw.execute("UPDATE bookings SET version = 99, updated_at = now() WHERE id = %s", (booking.id,))
    assert _counts(raw, booking.id) == before


# ---------------------------------------------------------------------- properties
AMOUNTS = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("200"), places=2)


STEP = st.one_of(
    st.tuples(st.just("pay"), AMOUNTS),
    st.tuples(st.just("fail"), AMOUNTS),
    st.tuples(st.just("pending"), AMOUNTS),
    st.tuples(st.just("refund"), st.fractions(0, 1)),
    st.tuples(st.just("cancel"), st.booleans()),
    st.tuples(st.just("wrong_currency"), AMOUNTS),
)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(currency=st.sampled_from(["EUR", "JPY", "CHF"]), price=AMOUNTS, party=st.integers(1, 4),
       steps=st.lists(STEP, min_size=1, max_size=8))  # fmt: skip
def test_a_bookings_money_always_equals_its_payments_and_refunds(system, raw, currency, price, party, steps):
    """Random payments (partial, failed, pending, over), refunds and cancellations, in any currency:
    after every step the booking's money is exactly what its rows say, its status follows the
    rule, a pay-now seat is held only once paid in full, and the version has its audit rows."""
    shop = _pay_now(system, price=str(price), currency=currency)
    booking = shop.book(shop.first_slot(), party=party)
    s, b = shop.system, shop.business_id
    for kind, value in steps:
        current = s.get_booking(b, booking.id)
        closed = current.status in (BookingStatus.CANCELLED, BookingStatus.REFUNDED)
        if kind in ("pay", "fail", "pending") and not closed:
            p = s.record_payment(b, booking.id, amount=Money(value, currency), actor=PROVIDER, now=shop.now)
            if kind == "pay":
                s.confirm_payment(b, p.id, actor=PROVIDER, now=shop.now)
            elif kind == "fail":
                s.fail_payment(b, p.id, reason="declined", actor=PROVIDER, now=shop.now)
        elif kind == "refund":
            paid = raw.execute(
                "SELECT id, amount - refunded_amount FROM payments WHERE booking_id = %s AND status IN"
                " ('paid', 'partially_refunded') ORDER BY created_at, id LIMIT 1",
                (booking.id,),
            ).fetchone()
            if paid:
                share = (paid[1] * Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.01"))
                if share > 0:
                    s.refund(b, paid[0], amount=Money(share, currency), reason="r", actor=shop.admin, now=shop.now)
                # More than is left: refused (a payment refunded in full takes no refund at all).
                with pytest.raises(RefundExceedsPayment if share < paid[1] else IllegalTransition):
                    s.refund(b, paid[0], amount=Money(paid[1] - share + Decimal("0.01"), currency), reason="r",
                             actor=shop.admin, now=shop.now)  # fmt: skip
        elif kind == "cancel" and not closed:
            who = Actor.customer(shop.customers[0]) if value else shop.admin
            s.cancel(b, booking.id, actor=who, now=shop.now)
        elif kind == "wrong_currency" and not closed:
            with pytest.raises(CurrencyMismatch):
                s.record_payment(b, booking.id, amount=Money(value, "GBP"), actor=PROVIDER, now=shop.now)
        _assert_money_adds_up(raw, s.get_booking(b, booking.id))


def _assert_money_adds_up(raw, booking) -> None:  # type: ignore[no-untyped-def]
    paid, refunded, unpaid = raw.execute(
        "SELECT coalesce(sum(amount) FILTER (WHERE status IN ('paid', 'partially_refunded', 'refunded')), 0),"
        " coalesce((SELECT sum(r.amount) FROM refunds r JOIN payments p ON p.id = r.payment_id"
        "           WHERE p.booking_id = %(b)s), 0),"
        " CASE WHEN bool_or(status = 'failed') AND NOT bool_or(status = 'pending') THEN 'failed' ELSE 'pending' END"
        " FROM payments WHERE booking_id = %(b)s",
        {"b": booking.id},
    ).fetchone()
    assert (booking.paid_amount, booking.refunded_amount) == (paid, refunded)
    assert booking.payment_status is payment_status(booking.amount, paid, refunded, PaymentStatus(unpaid))
    closed = booking.status in (BookingStatus.CANCELLED, BookingStatus.REFUNDED)
    keeps = (booking.cancellation_fee or 0) if closed else booking.amount
    assert booking.refund_due == max(paid - refunded - keeps, 0)
    assert (booking.cancellation_fee is not None) == closed
    if booking.status.holds_seat:
        assert paid >= booking.amount  # a pay-now seat only for money that covers it
    if booking.status is BookingStatus.DRAFT:
        assert paid < booking.amount or refunded > 0  # paid in full confirms (unless the seat was lost)
    version, audits, _ = _counts(raw, booking.id)
    assert version == audits
