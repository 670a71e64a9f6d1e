"""One ownership rule: every use case a customer starts refuses another customer's booking, entry or series.

For each use case a customer can start, the world holds something of customer 0 (the owner);
customer 1 (a stranger) tries it: NotOwner (WrongToken, a NotOwner, for a wrong token), and
nothing of the business changed. The owner then does the very same thing and it works, so the
refusal is the ownership rule and not some other. Staff (the shop's admin) set the world up.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from booking_core import Actor, BookingSystem, Money, NotOwner, Scope, SeriesMode, Slot, WrongToken
from tests.factories import Shop
from tests.integration.test_audit_and_identity import snapshot
from tests.integration.test_schedules import MONDAY

TABLES = (
    "bookings",
    "booking_state_transitions",
    "booking_audit_log",
    "booking_series",
    "booking_resources",
    "payments",
    "time_slots",
    "waitlist_entries",
    "customers",
    "customer_erasures",
    "subject_access_requests",
    "notification_outbox",
)


@dataclass
class World:
    shop: Shop
    owner: uuid.UUID
    booking: Any  # the owner's confirmed booking
    blocker: Any  # customer 2's booking filling full_slot
    other_slot: Slot  # a free slot
    full_slot: Slot  # full, with the owner waiting
    entry: Any  # the owner's waitlist entry on full_slot
    series: Any  # the owner's series of two
    payment: Any  # a pending payment on the owner's booking
    anna: uuid.UUID  # a resource bookable with the room

    @property
    def system(self) -> BookingSystem:
        return self.shop.system

    @property
    def biz(self) -> uuid.UUID:
        return self.shop.business_id


def build(system: BookingSystem) -> World:
    shop = Shop.create(system, now=MONDAY, capacity=2, max_party_size=2)
    extra = shop.publish_with_resources([("Anna", "staff", 2)], weekdays=(4, 5, 6), capacity=2)
    rooms = [s for s in shop.slots(days=14) if s.resource_id == shop.resource_id]
    full_slot, booked_slot, other_slot, series_slot = rooms[0], rooms[1], rooms[2], rooms[3]
    blocker = shop.book(full_slot, party=2, customer=2, actor=shop.admin)
    entry = shop.join_waitlist(full_slot, party=1, customer=0)
    booking = shop.book(booked_slot, party=1, customer=0, actor=shop.admin)
    series = shop.series(series_slot, occurrences=2, mode=SeriesMode.BEST_EFFORT, customer=0)
    payment = system.record_payment(
        shop.business_id, booking_id=booking.id, amount=Money("5.00", "EUR"), actor=shop.admin, now=MONDAY
    )
    owner = shop.customers[0]
    return World(shop, owner, booking, blocker, other_slot, full_slot, entry, series, payment, extra["Anna"])


def offered(w: World) -> World:
    """The full slot freed by staff: the owner's entry is offered the seats."""
    w.system.cancel(w.biz, w.blocker.id, actor=w.shop.admin, now=MONDAY)
    return w


def left(w: World) -> World:
    """The owner's waitlist entry left (by staff): the owner may join again."""
    w.system.leave_waitlist(w.biz, entry_id=w.entry.id, actor=w.shop.admin, now=MONDAY)
    return w


def _seats(w: World, slot: Slot, actor: Actor) -> dict[str, Any]:
    return {"slot_id": slot.id, "customer_id": w.owner, "party_size": 1, "actor": actor, "now": MONDAY}


# use case -> (prepare the world, what the actor tries)
CASES: dict[str, tuple[Callable[[World], World], Callable[[World, Actor], object]]] = {
    "book": (lambda w: w, lambda w, a: w.system.book(w.biz, **_seats(w, w.other_slot, a))),
    "book_with_resources": (
        lambda w: w,
        lambda w, a: w.system.book_with_resources(w.biz, resources={w.anna: 1}, **_seats(w, w.other_slot, a)),
    ),
    "create_series": (
        lambda w: w,
        lambda w, a: w.system.create_series(
            w.biz,
            first_slot_id=w.other_slot.id,
            customer_id=w.owner,
            party_size=1,
            every_days=7,
            occurrences=2,
            mode=SeriesMode.BEST_EFFORT,
            actor=a,
            now=MONDAY,
        ),
    ),
    "cancel_series": (
        lambda w: w,
        lambda w, a: w.system.cancel_series(w.biz, series_id=w.series.series_id, actor=a, now=MONDAY),
    ),
    "change_series_party_size": (
        lambda w: w,
        lambda w, a: w.system.change_series_party_size(
            w.biz, series_id=w.series.series_id, scope=Scope.ALL, party_size=2, actor=a, now=MONDAY
        ),
    ),
    "join_waitlist": (left, lambda w, a: w.system.join_waitlist(w.biz, **_seats(w, w.full_slot, a))),
    "accept_waitlist_offer": (
        offered,
        lambda w, a: w.system.accept_waitlist_offer(w.biz, entry_id=w.entry.id, actor=a, now=MONDAY),
    ),
    "leave_waitlist": (
        lambda w: w,
        lambda w, a: w.system.leave_waitlist(w.biz, entry_id=w.entry.id, actor=a, now=MONDAY),
    ),
    "cancel": (lambda w: w, lambda w, a: w.system.cancel(w.biz, w.booking.id, actor=a, now=MONDAY)),
    "reschedule": (
        lambda w: w,
        lambda w, a: w.system.reschedule(w.biz, w.booking.id, new_slot_id=w.other_slot.id, actor=a, now=MONDAY),
    ),
    "change_party_size": (
        lambda w: w,
        lambda w, a: w.system.change_party_size(w.biz, w.booking.id, party_size=2, actor=a, now=MONDAY),
    ),
    "record_payment": (
        lambda w: w,
        lambda w, a: w.system.record_payment(
            w.biz, booking_id=w.booking.id, amount=Money("5.00", "EUR"), actor=a, now=MONDAY
        ),
    ),
    "confirm_payment": (
        lambda w: w,
        lambda w, a: w.system.confirm_payment(w.biz, payment_id=w.payment.id, actor=a, now=MONDAY),
    ),
    "fail_payment": (
        lambda w: w,
        lambda w, a: w.system.fail_payment(w.biz, payment_id=w.payment.id, reason="card declined", actor=a, now=MONDAY),
    ),
    # Personal data: a customer may erase, or ask for, their own only (docs/personal-data.md).
    "erase_customer": (
        lambda w: w,
        lambda w, a: w.system.erase_customer(w.biz, customer_id=w.owner, force=True, actor=a, now=MONDAY),
    ),
    "customer_data": (
        lambda w: w,
        lambda w, a: w.system.customer_data(w.biz, customer_id=w.owner, actor=a, now=MONDAY),
    ),
}


def business_rows(raw: Any, business_id: uuid.UUID) -> dict[str, Any]:
    return snapshot(raw, business_id, TABLES)  # type: ignore[no-any-return]


@pytest.mark.parametrize("use_case", list(CASES))
def test_a_customer_cannot_act_on_another_customers_booking_entry_or_series(system, raw, use_case):
    prepare, act = CASES[use_case]
    w = prepare(build(system))
    before = business_rows(raw, w.biz)
    with pytest.raises(NotOwner, match="belongs to another customer") as refused:
        act(w, Actor.customer(w.shop.customers[1]))
    assert type(refused.value) is NotOwner and str(refused.value).count("\n") == 0
    assert business_rows(raw, w.biz) == before  # nothing written
    act(w, Actor.customer(w.owner))  # the owner may
    assert business_rows(raw, w.biz) != before


def test_every_use_case_a_customer_starts_is_covered():
    """A new customer use case must be added here (and call require_owner)."""
    acts_on = ("customer_id", "booking_id", "entry_id", "series_id", "payment_id")
    started_by_customers = {
        name
        for name, attr in vars(BookingSystem).items()
        if getattr(attr, "request", None) is not None
        and not getattr(attr, "read", False)
        and any(f in getattr(attr.request, "__dataclass_fields__", {}) for f in acts_on)
    }
    staff_only = {"check_in", "complete", "mark_no_show", "refund", "refund_due"}
    assert started_by_customers - staff_only == set(CASES)


def test_a_token_holder_may_act_and_a_wrong_token_is_refused_as_not_owner(system, raw):
    w = build(system)
    stranger = Actor.customer(w.shop.customers[1])
    before = business_rows(raw, w.biz)
    with pytest.raises(WrongToken) as wrong:
        w.system.cancel(w.biz, w.booking.id, actor=stranger, token=uuid.uuid4(), now=MONDAY)
    assert isinstance(wrong.value, NotOwner)
    assert business_rows(raw, w.biz) == before
    done = w.system.cancel(w.biz, w.booking.id, actor=stranger, token=w.booking.cancellation_token, now=MONDAY)
    assert done.status == "cancelled"
