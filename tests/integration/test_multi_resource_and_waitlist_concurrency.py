"""Multi-resource bookings and waitlist promotion race without overbooking."""

from __future__ import annotations

import random
import uuid

import pytest

from booking_core import BookingError, connect
from tests.factories import Shop
from tests.integration.test_price_lock_multi_resource_waitlists_and_series import seats_add_up
from tests.integration.test_schedules import MONDAY
from tests.processes import race

PROCESSES = 16


def _multi_racer(url, business_id, slots, resources, customers, seed, barrier, results):
    from booking_core import Actor

    rng = random.Random(seed)
    system = connect(url, migrate=False, pool_size=1)
    counts = {"ok": 0, "refused": 0, "other": 0}
    barrier.wait(timeout=120)
    for _ in range(10):
        want = dict(rng.sample(sorted(resources.items()), k=2))
        try:
            system.book_with_resources(
                uuid.UUID(business_id),
                slot_id=uuid.UUID(rng.choice(slots)),
                customer_id=uuid.UUID(rng.choice(customers)),
                party_size=1,
                resources={uuid.UUID(k): v for k, v in want.items()},
                actor=Actor.admin("racer"),
                now=MONDAY,
            )
            counts["ok"] += 1
        except BookingError as exc:
            counts["refused" if "free" in str(exc) or "seats" in str(exc) else "other"] += 1
    system.close()
    results.put(counts)


@pytest.mark.slow
def test_16_processes_booking_three_resources_each_neither_overbook_nor_deadlock(system, database_url, raw):
    shop = Shop.create(system, now=MONDAY, capacity=3, max_party_size=1, customers=4, weekdays=(4,))
    staff = [("Anna", "staff", 2), ("Ben", "staff", 2), ("Stones", "staff", 3)]
    ids = shop.publish_with_resources(staff, weekdays=(4,), capacity=3, horizon_days=6)
    extra = {str(rid): 1 for rid in ids.values()}
    main = [str(s.id) for s in shop.slots(days=7) if s.resource_id == shop.resource_id]
    outcomes = race(
        _multi_racer,
        lambda i: (database_url, str(shop.business_id), main, extra, [str(c) for c in shop.customers], i),
        PROCESSES,
    )
    total = {k: sum(o[k] for o in outcomes) for k in ("ok", "refused", "other")}
    assert total["ok"] > 0 and total["refused"] > 0 and total["other"] == 0, total
    over = raw.execute(
        "SELECT count(*) FROM time_slots WHERE business_id = %s AND booked_seats > max_capacity", (shop.business_id,)
    ).fetchone()[0]
    assert over == 0
    seats_add_up(raw, shop)
    locks_left = raw.execute(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE NOT l.granted AND a.datname = current_database()"
    ).fetchone()[0]
    assert locks_left == 0


def _waitlist_racer(url, business_id, slot, entries, bookings, seed, barrier, results):
    from booking_core import Actor

    rng = random.Random(seed)
    system = connect(url, migrate=False, pool_size=1)
    b = uuid.UUID(business_id)
    done = 0
    barrier.wait(timeout=120)
    for _ in range(6):
        try:
            action = rng.random()
            if action < 0.4 and bookings:
                system.cancel(b, uuid.UUID(rng.choice(bookings)), actor=Actor.admin("racer"), now=MONDAY)
            elif action < 0.8:
                system.accept_waitlist_offer(b, uuid.UUID(rng.choice(entries)), actor=Actor.admin("racer"), now=MONDAY)
            else:
                system.book(
                    b,
                    slot_id=uuid.UUID(slot),
                    customer_id=system.waitlist_entry(b, uuid.UUID(rng.choice(entries))).customer_id,
                    party_size=rng.randint(1, 3),
                    actor=Actor.admin("racer"),
                    now=MONDAY,
                )
            done += 1
        except BookingError:
            pass
    system.close()
    results.put(done)


@pytest.mark.slow
def test_waitlist_promotion_never_exceeds_capacity_while_cancellations_and_bookings_race(system, database_url, raw):
    shop = Shop.create(system, now=MONDAY, capacity=8, customers=12)
    slot = shop.first_slot()
    held = [shop.book(slot, party=2, customer=i) for i in range(4)]
    entries = [shop.join_waitlist(slot, party=1 + i % 3, customer=4 + i) for i in range(8)]
    race(
        _waitlist_racer,
        lambda i: (
            database_url,
            str(shop.business_id),
            str(slot.id),
            [str(e.id) for e in entries],
            [str(h.id) for h in held],
            i,
        ),
        PROCESSES,
    )
    s = system.get_slot(shop.business_id, slot.id)
    assert s.booked_seats <= s.max_capacity
    seats_add_up(raw, shop)
    queue = system.waitlist_queue(shop.business_id, slot.id)
    offered = sum(e.party_size for e in queue if e.status == "offered")
    waiting_fit = [e for e in queue if e.status == "waiting" and e.party_size <= s.max_capacity - s.booked_seats]
    assert offered <= s.max_capacity and waiting_fit == []  # freed seats were always offered on
