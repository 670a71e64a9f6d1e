"""Timezones, aware instants, actors and what the returned records derive, without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta, tzinfo
from decimal import Decimal

import pytest

from booking_core.domain.errors import NaiveDatetime, UnknownTimezone
from booking_core.domain.lifecycle import BookingStatus, PaymentMethod, PaymentStatus
from booking_core.domain.model import Booking, Slot
from booking_core.domain.values import Actor, ActorType, Channel, Money, require_aware, zone

NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)

# ---------------------------------------------------------------- timezones


@pytest.mark.parametrize("name", ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"])
def test_an_iana_zone_name_is_accepted(name):
    assert zone(name).key == name


@pytest.mark.parametrize("name", ["CET", "EET", "MET", "WET"])
def test_a_zone_postgresql_would_read_as_a_fixed_offset_is_refused_with_a_city_to_use_instead(name):
    with pytest.raises(UnknownTimezone, match="fixed offset without summer time: use a city zone"):
        zone(name)


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "", "europe/berlin", None, 1])
def test_an_unknown_zone_is_refused_with_an_example_of_a_good_one(name):
    with pytest.raises(UnknownTimezone, match="use an IANA name such as Europe/Berlin"):
        zone(name)


class NoOffset(tzinfo):
    """A tzinfo that knows no offset: as naive as no tzinfo at all."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None


def test_a_datetime_whose_zone_gives_no_offset_is_refused_as_naive():
    with pytest.raises(NaiveDatetime, match="starts_at 2026-06-01T09:00:00"):
        require_aware(datetime(2026, 6, 1, 9, tzinfo=NoOffset()), "starts_at")
    assert require_aware(NOW) is NOW


# ---------------------------------------------------------------- actors


def test_each_kind_of_actor_comes_through_its_usual_channel():
    customer_id = uuid.uuid4()
    assert Actor.customer(customer_id) == Actor(ActorType.CUSTOMER, str(customer_id), Channel.API)
    assert Actor.admin("ann").channel is Channel.UI
    assert Actor.system("sweeper").channel is Channel.BATCH
    assert Actor.admin("ann", channel=Channel.CLI).channel is Channel.CLI


# ---------------------------------------------------------------- records


def slot(capacity: int, booked: int) -> Slot:
    u = uuid.uuid4()
    return Slot(u, u, u, u, u, NOW.date(), time(9), NOW, NOW + timedelta(hours=1), capacity, booked, False)


@pytest.mark.parametrize(
    ("capacity", "booked", "free", "over"), [(10, 0, 10, False), (10, 10, 0, False), (10, 12, 0, True)]
)
def test_a_slots_free_seats_never_go_below_zero_and_overbooking_shows(capacity, booked, free, over):
    s = slot(capacity, booked)
    assert (s.free_seats, s.over_committed) == (free, over)


def booking(status: str, *, amount: str = "25", paid: str = "0", refunded: str = "0") -> Booking:
    u = uuid.uuid4()
    row = {
        "id": u,
        "business_id": u,
        "slot_id": u,
        "customer_id": u,
        "party_size": 2,
        "status": status,
        "payment_method": "pay_now",
        "payment_status": "pending",
        "amount": Decimal(amount),
        "currency": "EUR",
        "cancellation_token_hash": bytes(32),
        "idempotency_key": None,
        "version": 1,
        "created_at": NOW,
        "updated_at": NOW,
        "paid_amount": Decimal(paid),
        "refunded_amount": Decimal(refunded),
    }
    return Booking(**row)


def test_a_booking_built_from_a_row_of_strings_has_typed_statuses():
    b = booking("confirmed")
    assert (b.status, b.payment_method, b.payment_status) == (
        BookingStatus.CONFIRMED,
        PaymentMethod.PAY_NOW,
        PaymentStatus.PENDING,
    )
    assert b.price == Money("25", "EUR")


@pytest.mark.parametrize(
    ("status", "paid", "refunded", "due"),
    [
        ("confirmed", "0", "0", "25"),
        ("confirmed", "10", "0", "15"),
        ("confirmed", "25", "0", "0"),
        ("confirmed", "30", "0", "0"),  # an overpayment leaves nothing due, never a negative balance
        ("confirmed", "25", "5", "5"),  # money returned is due again
        ("cancelled", "0", "0", "0"),
        ("refunded", "25", "25", "0"),
    ],
)
def test_the_balance_due_is_what_keeps_a_live_booking_from_counting_as_paid(status, paid, refunded, due):
    assert booking(status, paid=paid, refunded=refunded).balance_due == Money(due, "EUR")
