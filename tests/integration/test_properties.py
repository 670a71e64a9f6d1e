"""Property-based: random sequences of operations never break the invariants the core promises."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from booking_core import Actor, BookingError, BookingStatus
from tests.factories import Shop
from tests.integration.test_schedules import MONDAY


def operation(name: str, first: tuple[int, int], second: tuple[int, int] = (0, 0)) -> st.SearchStrategy[tuple]:
    """(name, a, b) with a and b drawn from the inclusive ranges given."""
    return st.tuples(st.just(name), st.integers(*first), st.integers(*second))


ops = st.lists(
    st.one_of(
        operation("book", (0, 2), (1, 8)),
        operation("cancel", (0, 50)),
        operation("reschedule", (0, 50), (0, 2)),
        operation("party", (0, 50), (1, 8)),
        operation("capacity", (0, 2), (0, 12)),
        st.tuples(
            st.just("publish"),
            st.sampled_from([(4, 5, 6), (5, 6, 7), (4,), (6,)]),
            st.integers(1, 12),
        ),
    ),
    min_size=1,
    max_size=25,
)

ORPHANS = (
    "SELECT count(*) FROM bookings b LEFT JOIN time_slots ts ON ts.business_id = b.business_id AND ts.id = b.slot_id"
    " WHERE b.business_id = %s AND ts.id IS NULL"
)
NOT_LAST_STATUS = (
    "SELECT count(*) FROM bookings b WHERE b.business_id = %s AND b.status <> (SELECT t.to_status FROM"
    " booking_state_transitions t WHERE t.business_id = b.business_id AND t.booking_id = b.id"
    " ORDER BY t.id DESC LIMIT 1)"
)


def invariants(raw, shop):
    rows = raw.execute(
        "SELECT ts.max_capacity, ts.booked_seats,"
        " coalesce(sum(b.party_size) FILTER (WHERE booking_holds_seat(b.status)), 0),"
        " (SELECT coalesce(max(c.booked_seats_at_change), 0) FROM slot_capacity_changes c WHERE c.slot_id = ts.id)"
        " FROM time_slots ts LEFT JOIN bookings b ON b.business_id = ts.business_id AND b.slot_id = ts.id"
        " WHERE ts.business_id = %s GROUP BY ts.business_id, ts.id",
        (shop.business_id,),
    ).fetchall()
    for capacity, counter, held, committed_at_reduction in rows:
        assert counter == held, "seat counter drifted from the rows"
        # Above capacity only by a recorded reduction, never beyond the seats held at that moment.
        assert held <= max(capacity, committed_at_reduction)
    for broken, count in (
        ("bookings without their slot", ORPHANS),
        ("bookings whose status is not their last transition's", NOT_LAST_STATUS),
    ):
        assert raw.execute(count, (shop.business_id,)).fetchone()[0] == 0, broken


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=ops)
def test_random_operation_sequences_keep_every_invariant(system, raw, sequence):
    shop = Shop.create(system, now=MONDAY, capacity=8, weekdays=(4, 5, 6), customers=3)
    slots = shop.slots(days=7)[:3]
    booked: list = []
    now = MONDAY
    for op, a, b in sequence:
        now += timedelta(minutes=1)
        try:
            if op == "book":
                booked.append(shop.book(slots[a], party=b, customer=a % 3, now=now).id)
            elif op == "cancel" and booked:
                shop.system.cancel(shop.business_id, booked[a % len(booked)], actor=shop.admin, now=now)
            elif op == "reschedule" and booked:
                shop.system.reschedule(
                    shop.business_id, booked[a % len(booked)], new_slot_id=slots[b].id, actor=shop.admin, now=now
                )
            elif op == "party" and booked:
                shop.system.change_party_size(
                    shop.business_id, booked[a % len(booked)], party_size=b, actor=shop.admin, now=now
                )
            elif op == "capacity":
                shop.system.change_capacity(shop.business_id, slots[a].id, capacity=b, actor=shop.admin, now=now)
            elif op == "publish":
                shop.publish(a, capacity=b, effective=MONDAY.date(), now=now)
        except BookingError:
            pass
        invariants(raw, shop)
    for booking_id in booked:
        assert shop.system.get_booking(shop.business_id, booking_id).status in set(BookingStatus)
    shop.system.seal_audit(shop.business_id)
    assert shop.system.verify_audit(shop.business_id).ok
    _ = Actor
