"""What a booking's money means, without a database: Money, payment status, cancellation fee, refund due.

The database holds the same formulas (payment_status_of, booking_cancellation_fee, the generated
column bookings.refund_due); tests/integration/test_rule_sources.py proves the copies agree.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from booking_core.domain.errors import CurrencyMismatch, InvalidInput
from booking_core.domain.lifecycle import BookingStatus, PaymentStatus
from booking_core.domain.money import CancellationPolicy, payment_status, refund_due
from booking_core.domain.values import ActorType, Money

P, B = PaymentStatus, BookingStatus
D = Decimal
STARTS = datetime(2026, 6, 4, 12, 0, tzinfo=UTC)
CENTS = st.decimals(min_value=0, max_value=10_000, places=2)
# No per-example deadline: a shared, loaded machine must not turn a slow example into a failure.
UNHURRIED = settings(deadline=None)

# ---------------------------------------------------------------- Money


@pytest.mark.parametrize(
    ("given_amount", "stored"),
    [("10.005", "10.00"), ("10.015", "10.02"), ("10.025", "10.02"), ("12.5", "12.50"), (7, "7.00"), ("0", "0.00")],
)
def test_money_rounds_half_to_even_to_cents(given_amount, stored):
    assert Money(given_amount, "EUR").amount == D(stored)


@pytest.mark.parametrize("bad", ["-0.01", "abc", "NaN", "Infinity", None, ""])
def test_money_refuses_what_is_not_a_non_negative_amount(bad):
    with pytest.raises(InvalidInput):
        Money(bad, "EUR")


@pytest.mark.parametrize("bad", ["eur", "EURO", "EU", "", 978, None])
def test_money_refuses_a_currency_that_is_not_a_three_letter_iso_code(bad):
    with pytest.raises(InvalidInput, match="three-letter ISO code"):
        Money("1", bad)


def test_money_in_another_currency_is_refused_with_what_to_do():
    with pytest.raises(CurrencyMismatch, match="amount in USD where EUR is expected: convert it first"):
        Money("1", "EUR").same_currency(Money("1", "USD"))
    Money("1", "EUR").same_currency(Money("2", "EUR"))


def test_equal_amounts_in_the_same_currency_are_equal_money_and_money_is_immutable():
    assert Money("1", "EUR") == Money(D("1.00"), "EUR") != Money("1", "CHF")
    with pytest.raises(AttributeError):
        Money("1", "EUR").amount = D(2)  # type: ignore[misc]


@UNHURRIED
@given(st.decimals(min_value=0, max_value=10**9, allow_nan=False, allow_infinity=False))
def test_money_is_always_within_half_a_cent_of_what_was_given(amount):
    money = Money(amount, "EUR")
    assert money.amount.as_tuple().exponent == -2
    assert abs(money.amount - amount) <= D("0.005")


# ---------------------------------------------------------------- payment status


@pytest.mark.parametrize(
    ("amount", "paid", "refunded", "unpaid", "expected"),
    [
        ("100", "0", "0", P.PENDING, P.PENDING),
        ("100", "0", "0", P.FAILED, P.FAILED),
        ("100", "50", "0", P.PENDING, P.PARTIALLY_PAID),
        ("100", "100", "0", P.PENDING, P.PAID),
        ("100", "120", "0", P.PENDING, P.PAID),  # an overpayment is still paid
        ("100", "120", "20", P.PENDING, P.PAID),  # and stays paid once the excess is returned
        ("100", "100", "30", P.PENDING, P.PARTIALLY_REFUNDED),
        ("100", "60", "10", P.FAILED, P.PARTIALLY_REFUNDED),
        ("100", "100", "100", P.PENDING, P.REFUNDED),
        ("100", "50", "50", P.PENDING, P.REFUNDED),
        ("0", "10", "0", P.PENDING, P.PAID),
    ],
)
def test_a_bookings_payment_status_follows_from_its_amount_and_money(amount, paid, refunded, unpaid, expected):
    assert payment_status(D(amount), D(paid), D(refunded), unpaid) is expected


@UNHURRIED
@given(amount=CENTS, paid=CENTS, share=st.fractions(0, 1), unpaid=st.sampled_from([P.PENDING, P.FAILED]))
def test_only_a_booking_that_received_nothing_keeps_its_attempts_status(amount, paid, share, unpaid):
    refunded = (paid * share.numerator / share.denominator).quantize(D("0.01"))
    status = payment_status(amount, paid, refunded, unpaid)
    assert (status is unpaid) == (paid == 0)
    assert (status is P.REFUNDED) == (paid > 0 and refunded >= paid)
    assert status is not P.PAID or paid - refunded >= amount


# ---------------------------------------------------------------- cancellation fee

POLICY = CancellationPolicy(free_hours=24, late_fee_percent=D(50))


def fee(actor: ActorType, before_start: timedelta, amount: str = "25.00", policy: CancellationPolicy = POLICY):
    return policy.fee(D(amount), actor=actor, cancelled_at=STARTS - before_start, starts_at=STARTS)


def test_a_customer_cancelling_exactly_at_the_free_limit_pays_nothing():
    assert fee(ActorType.CUSTOMER, timedelta(hours=24)) == 0


def test_a_customer_cancelling_a_moment_after_the_free_limit_pays_the_late_fee():
    assert fee(ActorType.CUSTOMER, timedelta(hours=24) - timedelta(microseconds=1)) == D("12.50")


def test_a_customer_cancelling_after_the_start_pays_the_late_fee():
    assert fee(ActorType.CUSTOMER, -timedelta(hours=1)) == D("12.50")


@pytest.mark.parametrize("actor", [ActorType.ADMIN, ActorType.SYSTEM])
def test_the_business_cancelling_late_charges_no_fee(actor):
    assert fee(actor, timedelta(0)) == D("0.00")


def test_a_late_fee_rounds_half_a_cent_up_as_postgresql_does():
    assert fee(ActorType.CUSTOMER, timedelta(0), amount="0.05") == D("0.03")


@pytest.mark.parametrize(("percent", "expected"), [("0", "0.00"), ("100", "25.00"), ("33.33", "8.33")])
def test_the_late_fee_is_the_policys_share_of_the_amount(percent, expected):
    policy = CancellationPolicy(free_hours=0, late_fee_percent=D(percent))
    assert fee(ActorType.CUSTOMER, -timedelta(seconds=1), policy=policy) == D(expected)


def test_with_no_free_hours_cancelling_at_the_start_is_still_free():
    assert fee(ActorType.CUSTOMER, timedelta(0), policy=CancellationPolicy(free_hours=0)) == 0


@UNHURRIED
@given(amount=CENTS, percent=st.decimals(min_value=0, max_value=100, places=2), minutes=st.integers(-600, 6000))
def test_a_cancellation_fee_is_never_negative_nor_more_than_the_amount(amount, percent, minutes):
    policy = CancellationPolicy(free_hours=24, late_fee_percent=percent)
    charged = fee(ActorType.CUSTOMER, timedelta(minutes=minutes), amount=str(amount), policy=policy)
    assert 0 <= charged <= amount


# ---------------------------------------------------------------- refund due


@pytest.mark.parametrize(
    ("status", "amount", "paid", "refunded", "charged", "due"),
    [
        (B.CANCELLED, "25", "25", "0", "12.50", "12.50"),  # paid in full, cancelled late: all but the fee
        (B.CANCELLED, "25", "25", "12.50", "12.50", "0"),  # that refund made: nothing more
        (B.CANCELLED, "25", "25", "0", None, "25"),  # no fee recorded: everything back
        (B.CANCELLED, "25", "5", "0", "12.50", "0"),  # the fee exceeds what came in: nothing, never negative
        (B.REFUNDED, "25", "25", "25", "0", "0"),
        (B.CONFIRMED, "25", "30", "0", None, "5"),  # an overpayment is owed back
        (B.CONFIRMED, "25", "25", "0", None, "0"),
        (B.CONFIRMED, "25", "0", "0", None, "0"),
        (B.COMPLETED, "25", "30", "5", None, "0"),  # the overpayment already returned
    ],
)
def test_what_the_business_owes_back(status, amount, paid, refunded, charged, due):
    owed = refund_due(
        status=status, amount=D(amount), paid=D(paid), refunded=D(refunded), fee=None if charged is None else D(charged)
    )
    assert owed == D(due)


@UNHURRIED
@given(
    status=st.sampled_from(list(BookingStatus)),
    amount=CENTS,
    paid=CENTS,
    share=st.fractions(0, 1),
    charged=st.none() | CENTS,
)
def test_a_refund_due_is_never_negative_nor_more_than_the_money_still_held(status, amount, paid, share, charged):
    refunded = (paid * share.numerator / share.denominator).quantize(D("0.01"))
    owed = refund_due(status=status, amount=amount, paid=paid, refunded=refunded, fee=charged)
    assert 0 <= owed <= paid - refunded
