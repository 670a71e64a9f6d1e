"""The booking and payment state machines; the database holds the same tables (a test compares)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime, timedelta

from booking_core.domain.errors import ActorNotAllowed, IllegalTransition
from booking_core.domain.values import ActorType


class BookingStatus(enum.StrEnum):
    DRAFT = "draft"
    CONFIRMED = "confirmed"
    CHECKED_IN = "checked_in"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"

    @property
    def holds_seat(self) -> bool:
        """A draft holds no seat: a pay-now booking takes its seat when paid."""
        return self in SEAT_HOLDING

    @property
    def reschedulable(self) -> bool:
        return self in OPEN


SEAT_HOLDING = frozenset(
    {
        BookingStatus.CONFIRMED,
        BookingStatus.CHECKED_IN,
        BookingStatus.COMPLETED,
        BookingStatus.NO_SHOW,
    }
)


#: Check-in opens this long before a slot starts, and closes when it ends.
CHECK_IN_OPENS_BEFORE = timedelta(minutes=30)


def check_in_window(starts_at: datetime, ends_at: datetime) -> tuple[datetime, datetime]:
    """When a party may check in to a slot: (opens, closes), both inclusive (legacy slots too)."""
    return starts_at - CHECK_IN_OPENS_BEFORE, ends_at


#: Bookings that no longer stand: they take no payments, and their money goes back less their fee.
CLOSED = frozenset({BookingStatus.CANCELLED, BookingStatus.REFUNDED})

#: Bookings still open to change (reschedule, party size, series edits, the impact of a new schedule).
OPEN = frozenset({BookingStatus.DRAFT, BookingStatus.CONFIRMED})


class PaymentMethod(enum.StrEnum):
    PAY_NOW = "pay_now"
    PAY_ON_ARRIVAL = "pay_on_arrival"


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    PARTIALLY_PAID = "partially_paid"  # a booking's only: some money received, less than its amount


#: Payments that still hold money to give back.
REFUNDABLE = frozenset({PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED})

_C, _A, _S = ActorType.CUSTOMER, ActorType.ADMIN, ActorType.SYSTEM
B = BookingStatus

#: (from, to) -> actors allowed; from None is creation. System actors never cancel.
BOOKING_EDGES: Mapping[tuple[BookingStatus | None, BookingStatus], frozenset[ActorType]] = {
    (None, B.DRAFT): frozenset({_C, _A, _S}),
    (None, B.CONFIRMED): frozenset({_C, _A, _S}),
    (B.DRAFT, B.CONFIRMED): frozenset({_C, _A, _S}),
    (B.DRAFT, B.CANCELLED): frozenset({_C, _A}),
    (B.CONFIRMED, B.CHECKED_IN): frozenset({_A, _S}),
    (B.CONFIRMED, B.NO_SHOW): frozenset({_A, _S}),
    (B.CONFIRMED, B.CANCELLED): frozenset({_C, _A}),
    (B.CHECKED_IN, B.COMPLETED): frozenset({_A, _S}),
    (B.CANCELLED, B.REFUNDED): frozenset({_A, _S}),
    (B.NO_SHOW, B.REFUNDED): frozenset({_A}),
}

P = PaymentStatus
PAYMENT_EDGES: frozenset[tuple[PaymentStatus | None, PaymentStatus]] = frozenset(
    {
        (None, P.PENDING),
        (None, P.PAID),
        (None, P.FAILED),
        (P.PENDING, P.PAID),
        (P.PENDING, P.FAILED),
        (P.PAID, P.PARTIALLY_REFUNDED),
        (P.PAID, P.REFUNDED),
        (P.PARTIALLY_REFUNDED, P.PARTIALLY_REFUNDED),
        (P.PARTIALLY_REFUNDED, P.REFUNDED),
    }
)


def check_transition(current: BookingStatus | None, target: BookingStatus, actor: ActorType) -> None:
    """Raise unless `actor` may move a booking from `current` to `target`."""
    allowed = BOOKING_EDGES.get((current, target))
    if allowed is None:
        nexts = sorted(t for (f, t) in BOOKING_EDGES if f == current)
        hint = f"from {current} it can go to {', '.join(nexts)}" if nexts else f"{current} is final"
        raise IllegalTransition(f"a booking cannot go from {current} to {target}: {hint}")
    if actor not in allowed:
        who = ", ".join(sorted(allowed))
        raise ActorNotAllowed(f"a {actor} actor cannot move a booking from {current} to {target}: only {who} can")


def allowed(current: BookingStatus | None, target: BookingStatus, actor: ActorType) -> bool:
    """Whether `actor` may move a booking from `current` to `target`."""
    return actor in BOOKING_EDGES.get((current, target), frozenset())
