"""Where a rule is held both in SQL and in Python, the two copies agree, against the real database.

One test per rule held twice: the statuses and the seats they hold, the booking and payment
state machines, payment-status derivation, the cancellation fee and the refund due. The SQL
side is read from the schema itself (pg_enum, the edge tables, the functions, the generated
column's expression), so a change to either copy alone fails here. docs/architecture.md lists
where each rule lives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from booking_core import Actor, Money, PaymentMethod
from booking_core.domain.lifecycle import BOOKING_EDGES, PAYMENT_EDGES, BookingStatus, PaymentStatus
from booking_core.domain.money import CancellationPolicy, payment_status, refund_due
from booking_core.domain.values import ActorType
from tests.conftest import MONDAY
from tests.factories import Shop

P = PaymentStatus
CENTS = st.decimals(min_value=0, max_value=1000, places=2)
DB_SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def enum_labels(raw, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    rows = raw.execute(
        "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typname = %s"
        " ORDER BY e.enumsortorder",
        (name,),
    ).fetchall()
    return [label for (label,) in rows]


def share_of(amount: Decimal, fraction) -> Decimal:  # type: ignore[no-untyped-def]
    return (amount * fraction.numerator / fraction.denominator).quantize(Decimal("0.01"))


# ---------------------------------------------------------------- statuses and seats


def test_python_and_sql_know_the_same_booking_payment_and_actor_values(raw):
    assert set(enum_labels(raw, "booking_status")) == {s.value for s in BookingStatus}
    assert set(enum_labels(raw, "payment_status")) == {s.value for s in PaymentStatus}
    # `database` is the actor of the schema's own triggers: it never comes from Python.
    assert set(enum_labels(raw, "actor_type")) - {"database"} == {a.value for a in ActorType}


def test_every_booking_status_holds_seats_in_sql_exactly_when_it_does_in_python(raw):
    labels = enum_labels(raw, "booking_status")
    held = dict(raw.execute("SELECT s::text, booking_holds_seat(s) FROM unnest(%s::booking_status[]) s", (labels,)))
    assert held == {label: BookingStatus(label).holds_seat for label in labels}
    assert any(held.values()) and not all(held.values())


# ---------------------------------------------------------------- state machines


def test_the_booking_state_machine_is_the_same_in_python_and_sql(raw):
    db_edges = {
        (f, t): set(a) - {"database"}
        for f, t, a in raw.execute(
            "SELECT from_status::text, to_status::text, actors::text[] FROM booking_status_edges"
        )
    }
    assert db_edges == {(f and str(f), str(t)): {str(a) for a in actors} for (f, t), actors in BOOKING_EDGES.items()}


def test_the_payment_state_machine_is_the_same_in_python_and_sql(raw):
    pay = {(f, t) for f, t in raw.execute("SELECT from_status::text, to_status::text FROM payment_status_edges")}
    assert pay == {(f and str(f), str(t)) for f, t in PAYMENT_EDGES}


# ---------------------------------------------------------------- money formulas


@settings(DB_SETTINGS, max_examples=400)
@given(amount=CENTS, paid=CENTS, refunded_share=st.fractions(0, 1), unpaid=st.sampled_from([P.PENDING, P.FAILED]))
def test_the_payment_status_rule_is_the_same_in_python_and_sql(raw, amount, paid, refunded_share, unpaid):
    refunded = share_of(paid, refunded_share)
    (in_sql,) = raw.execute(
        "SELECT payment_status_of(%s, %s, %s, %s::payment_status)::text", (amount, paid, refunded, str(unpaid))
    ).fetchone()
    assert in_sql == str(payment_status(amount, paid, refunded, unpaid))


@settings(DB_SETTINGS, max_examples=300)
@given(
    amount=CENTS,
    hours=st.integers(0, 8760),
    percent=st.decimals(min_value=0, max_value=100, places=2),
    before=st.integers(-3600, 400_000),
    at_the_limit=st.booleans(),
    actor=st.sampled_from(list(ActorType)),
)
def test_the_cancellation_fee_rule_is_the_same_in_python_and_sql(
    raw, amount, hours, percent, before, at_the_limit, actor
):
    starts = MONDAY
    # Half the draws land within a second of the free limit, where the two copies could differ.
    at = starts - timedelta(seconds=hours * 3600 + before % 3 - 1 if at_the_limit else before)
    (in_sql,) = raw.execute(
        "SELECT booking_cancellation_fee(%s, %s::actor_type, %s, %s, %s, %s)",
        (amount, str(actor), at, starts, hours, percent),
    ).fetchone()
    policy = CancellationPolicy(free_hours=hours, late_fee_percent=percent)
    assert in_sql == policy.fee(amount, actor=actor, cancelled_at=at, starts_at=starts)


def refund_due_expression(raw) -> sql.Composable:  # type: ignore[no-untyped-def]
    """The expression PostgreSQL stores for the generated column bookings.refund_due."""
    (expression,) = raw.execute(
        "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a"
        " ON a.attrelid = d.adrelid AND a.attnum = d.adnum"
        " WHERE d.adrelid = 'bookings'::regclass AND a.attname = 'refund_due' AND a.attgenerated = 's'"
    ).fetchone()
    return sql.SQL(expression)


@settings(DB_SETTINGS, max_examples=300)
@given(
    status=st.sampled_from(list(BookingStatus)),
    amount=CENTS,
    paid=CENTS,
    refunded_share=st.fractions(0, 1),
    fee_share=st.fractions(0, 1),
)
def test_the_refund_due_rule_is_the_same_in_python_and_sql(raw, status, amount, paid, refunded_share, fee_share):
    refunded = share_of(paid, refunded_share)
    # The schema keeps a fee exactly on cancelled and refunded bookings (bookings_money_consistent).
    fee = share_of(amount, fee_share) if status in (BookingStatus.CANCELLED, BookingStatus.REFUNDED) else None
    query = sql.SQL(
        "SELECT ({})::numeric(12, 2) FROM (VALUES (%s::booking_status, %s::numeric, %s::numeric, %s::numeric,"
        " %s::numeric)) AS bookings (status, amount, paid_amount, refunded_amount, cancellation_fee)"
    ).format(refund_due_expression(raw))
    (in_sql,) = raw.execute(query, (str(status), amount, paid, refunded, fee)).fetchone()
    assert in_sql == refund_due(status=status, amount=amount, paid=paid, refunded=refunded, fee=fee)


# ---------------------------------------------------------------- a booking's payments, through the library

PROVIDER = Actor.system("payments-provider")


@dataclass(frozen=True)
class Attempt:
    """A payment made through the library: its amount, how it ended, and what of it went back."""

    amount: str
    outcome: str  # paid, failed or pending
    refunded: str = "0"

    def __str__(self) -> str:
        return f"{self.outcome} {self.amount}" + (f" refunded {self.refunded}" if self.refunded != "0" else "")


PAYMENT_SETS = [
    ((), P.PENDING),
    ((Attempt("48", "pending"),), P.PENDING),
    ((Attempt("48", "failed"),), P.FAILED),
    ((Attempt("48", "failed"), Attempt("48", "pending")), P.PENDING),
    ((Attempt("20", "paid"),), P.PARTIALLY_PAID),
    ((Attempt("20", "paid"), Attempt("28", "failed")), P.PARTIALLY_PAID),
    ((Attempt("48", "paid"),), P.PAID),
    ((Attempt("30", "paid"), Attempt("20", "paid")), P.PAID),
    ((Attempt("48", "paid", refunded="10"),), P.PARTIALLY_REFUNDED),
    ((Attempt("48", "paid", refunded="48"),), P.REFUNDED),
    ((Attempt("30", "paid", refunded="30"), Attempt("18", "paid")), P.PARTIALLY_REFUNDED),
]


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [pytest.param(a, e, id=" ".join(map(str, a)) or "no payment") for a, e in PAYMENT_SETS],
)
def test_a_bookings_payment_status_is_the_same_from_its_payments_in_sql_and_in_python(system, raw, attempts, expected):
    """The column kept by the payments trigger, booking_payment_status() and Python's rule, on real payments."""
    shop = Shop.create(system, now=MONDAY, payment_method=PaymentMethod.PAY_NOW, price="24.00")
    booking = shop.book(shop.first_slot(), party=2)
    for attempt in attempts:
        pay(shop, booking.id, attempt)
    booking = system.get_booking(shop.business_id, booking.id)
    (function,) = raw.execute("SELECT booking_payment_status(%s, %s)::text", (shop.business_id, booking.id)).fetchone()
    paid = sum((Decimal(a.amount) for a in attempts if a.outcome == "paid"), Decimal(0))
    refunded = sum((Decimal(a.refunded) for a in attempts), Decimal(0))
    failed_only = any(a.outcome == "failed" for a in attempts) and all(a.outcome != "pending" for a in attempts)
    python = payment_status(booking.amount, paid, refunded, P.FAILED if failed_only else P.PENDING)
    assert (booking.payment_status, PaymentStatus(function), python) == (expected, expected, expected)


def pay(shop: Shop, booking_id, attempt: Attempt) -> None:  # type: ignore[no-untyped-def]
    s, b = shop.system, shop.business_id
    payment = s.record_payment(b, booking_id, amount=Money(attempt.amount, "EUR"), actor=PROVIDER, now=shop.now)
    if attempt.outcome == "failed":
        s.fail_payment(b, payment.id, reason="declined", actor=PROVIDER, now=shop.now)
    elif attempt.outcome == "paid":
        s.confirm_payment(b, payment.id, actor=PROVIDER, now=shop.now)
        if Decimal(attempt.refunded) > 0:
            s.refund(b, payment.id, amount=Money(attempt.refunded, "EUR"), reason="r", actor=shop.admin, now=shop.now)
