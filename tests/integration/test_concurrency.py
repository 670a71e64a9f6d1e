"""Capacity holds whatever runs concurrently: 32 processes race for the same few slots."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest

from booking_core import Actor, BookingError, connect
from tests.factories import Shop
from tests.integration.test_schedules import MONDAY
from tests.processes import race

PROCESSES = 32
ATTEMPTS = 12


def _racer(url: str, business_id: str, slots: list[str], customers: list[str], seed: int, barrier, results) -> None:
    rng = random.Random(seed)
    system = connect(url, migrate=False, pool_size=1)
    ok = refused = 0
    mine: list[uuid.UUID] = []
    barrier.wait(timeout=120)
    for _ in range(ATTEMPTS):
        try:
            if mine and rng.random() < 0.2:
                victim = mine.pop(rng.randrange(len(mine)))
                system.cancel(uuid.UUID(business_id), victim, actor=Actor.admin("racer"), now=MONDAY)
            elif mine and rng.random() < 0.2:
                system.reschedule(
                    uuid.UUID(business_id),
                    rng.choice(mine),
                    new_slot_id=uuid.UUID(rng.choice(slots)),
                    actor=Actor.admin("racer"),
                    now=MONDAY,
                )
            else:
                b = system.book(
                    uuid.UUID(business_id),
                    slot_id=uuid.UUID(rng.choice(slots)),
                    customer_id=uuid.UUID(rng.choice(customers)),
                    party_size=rng.randint(1, 6),
                    actor=Actor.admin("racer"),
                    now=MONDAY,
                )
                mine.append(b.id)
            ok += 1
        except BookingError:
            refused += 1
    system.close()
    results.put((ok, refused))


@pytest.mark.slow
def test_32_processes_racing_for_three_slots_never_exceed_capacity(system, database_url, raw):
    shop = Shop.create(system, now=MONDAY, capacity=12, customers=5)
    slots = [str(s.id) for s in shop.slots(days=7)[:3]]
    customers = [str(c) for c in shop.customers]
    outcomes = race(_racer, lambda i: (database_url, str(shop.business_id), slots, customers, i), PROCESSES)
    assert sum(ok for ok, _ in outcomes) > 0 and sum(r for _, r in outcomes) > 0  # it really raced and refused

    per_slot = raw.execute(
        "SELECT ts.id, ts.max_capacity, ts.booked_seats, coalesce(sum(b.party_size) FILTER"
        " (WHERE booking_holds_seat(b.status)), 0) FROM time_slots ts LEFT JOIN bookings b"
        " ON b.business_id = ts.business_id AND b.slot_id = ts.id WHERE ts.id = ANY(%s::uuid[])"
        " GROUP BY ts.business_id, ts.id",
        (slots,),
    ).fetchall()
    for _, capacity, counter, held in per_slot:
        assert counter == held <= capacity
    missing = raw.execute(
        "SELECT b.id FROM bookings b WHERE b.business_id = %s AND (NOT EXISTS (SELECT 1 FROM booking_audit_log a"
        " WHERE a.business_id = b.business_id AND a.booking_id = b.id AND a.action = 'booking.created')"
        " OR (SELECT count(*) FROM booking_state_transitions t WHERE t.business_id = b.business_id"
        " AND t.booking_id = b.id) <> (SELECT count(*) FROM booking_audit_log a WHERE a.business_id = b.business_id"
        " AND a.booking_id = b.id AND (a.action = 'booking.created'"
        " OR a.action = 'booking.' || (a.new_values->>'status')"
        " AND a.old_values->>'status' IS DISTINCT FROM a.new_values->>'status')))",
        (shop.business_id,),
    ).fetchall()
    assert missing == []
    system.seal_audit(shop.business_id)
    assert system.verify_audit(shop.business_id).ok
    _ = timedelta
