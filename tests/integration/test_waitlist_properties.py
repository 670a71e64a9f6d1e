"""Property-based: random mixes of bookings, cancellations, waitlist joins/offers/expiries keep every seat counted."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from booking_core import BookingError
from tests.factories import Shop
from tests.integration.test_price_lock_multi_resource_waitlists_and_series import seats_add_up
from tests.integration.test_properties import operation
from tests.integration.test_schedules import MONDAY

ops = st.lists(
    st.one_of(
        operation("book", (0, 1), (1, 4)),
        operation("cancel", (0, 30)),
        operation("party", (0, 30), (1, 4)),
        operation("join", (0, 1), (1, 4)),
        operation("accept", (0, 30)),
        operation("leave", (0, 30)),
        operation("expire", (1, 30)),
        operation("capacity", (0, 1), (0, 8)),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=ops)
def test_waitlists_and_bookings_in_any_order_never_lose_or_invent_a_seat(system, raw, sequence):
    shop = Shop.create(system, now=MONDAY, capacity=4, customers=6)
    s = shop.system
    slots = shop.slots(days=7)[:2]
    bookings: list = []
    entries: list = []
    now = MONDAY
    for i, (op, a, b) in enumerate(sequence):
        now += timedelta(minutes=1)
        try:
            if op == "book":
                bookings.append(shop.book(slots[a], party=b, customer=i % 6, now=now).id)
            elif op == "cancel" and bookings:
                s.cancel(shop.business_id, bookings[a % len(bookings)], actor=shop.admin, now=now)
            elif op == "party" and bookings:
                s.change_party_size(
                    shop.business_id, bookings[a % len(bookings)], party_size=b, actor=shop.admin, now=now
                )
            elif op == "join":
                entries.append(shop.join_waitlist(slots[a], party=b, customer=i % 6, now=now).id)
            elif op == "accept" and entries:
                bookings.append(
                    s.accept_waitlist_offer(shop.business_id, entries[a % len(entries)], actor=shop.admin, now=now).id
                )
            elif op == "leave" and entries:
                s.leave_waitlist(shop.business_id, entries[a % len(entries)], actor=shop.admin, now=now)
            elif op == "expire":
                now += timedelta(minutes=a)
                s.expire_waitlist_offers(now=now)
            elif op == "capacity":
                s.change_capacity(shop.business_id, slots[a].id, capacity=b, actor=shop.admin, now=now)
        except BookingError:
            pass
        seats_add_up(raw, shop)
        for slot in slots:
            fresh = s.get_slot(shop.business_id, slot.id)
            queue = s.waitlist_queue(shop.business_id, slot.id)
            # Nobody waits for seats that are free: freed seats are always offered on.
            assert not [e for e in queue if e.status == "waiting" and e.party_size <= fresh.free_seats]
    s.seal_audit(shop.business_id)
    assert s.verify_audit(shop.business_id).ok
