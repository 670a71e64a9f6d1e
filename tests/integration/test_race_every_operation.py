"""Every write path at once on a few hot slots with waitlists on: no deadlock, no untyped error, no broken invariant.

32 processes (each its own BookingSystem and connection) book, cancel, reschedule, resize,
book with a further resource, join and leave waitlists, accept offers (some twice) and sweep
expired offers for BOOKING_RACE_SECONDS (40 by default). Every path takes its locks in the one
order of docs/invariants.md ("Lock order"), so none may lose a deadlock (40P01); what contention
remains arrives as Busy. The counts of every operation and outcome are printed (pytest -s).
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest

from booking_core import Actor, BookingError, Busy, IntegrityRefused, Money, connect
from tests.conftest import scratch_database
from tests.demo.invariants import QUERIES
from tests.factories import Shop
from tests.integration.test_schedules import MONDAY
from tests.processes import race

PROCESSES = 32
SECONDS = float(os.environ.get("BOOKING_RACE_SECONDS", "40"))
HOT_SLOTS = 4
CAPACITY = 6
CUSTOMERS = 40
OFFER_MINUTES = 5
WEIGHTS = {
    "book": 14,
    "book_with_resource": 4,
    "cancel": 12,
    "reschedule": 10,
    "change_party_size": 10,
    "join_waitlist": 16,
    "leave_waitlist": 4,
    "accept_offer": 16,
    "expire_offers": 4,
    "pay": 8,
    "refund_due": 4,
}


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _pick(conn: psycopg.Connection[tuple[object, ...]], sql: str, *params: object) -> tuple[object, ...] | None:
    return conn.execute(sql + " ORDER BY random() LIMIT 1", params).fetchone()


# The row an operation acts on, picked at random among its business's rows (the one parameter).
_CONFIRMED = "SELECT id, amount FROM bookings WHERE business_id = %s AND status = 'confirmed'"
TARGETS = {
    "cancel": _CONFIRMED,
    "reschedule": _CONFIRMED,
    "change_party_size": _CONFIRMED,
    "pay": _CONFIRMED,
    "refund_due": "SELECT id FROM bookings WHERE business_id = %s AND refund_due > 0",
    "leave_waitlist": "SELECT id FROM waitlist_entries WHERE business_id = %s AND status IN ('waiting', 'offered')",
    # Accepted ones too: the customer gets the same booking back, anyone else a typed refusal.
    "accept_offer": (
        "SELECT id, customer_id FROM waitlist_entries WHERE business_id = %s AND status IN ('offered', 'accepted')"
    ),
}


def _operate(op, system, conn, rng, b, slots, staff, customers, now):  # type: ignore[no-untyped-def]
    """One operation of kind `op`; returns a note when it found nothing to act on."""
    admin = Actor.admin("racer")
    if op in ("book", "book_with_resource", "join_waitlist"):
        kw = {
            "slot_id": rng.choice(slots),
            "customer_id": rng.choice(customers),
            "party_size": rng.randint(1, 3),
            "actor": admin,
            "now": now,
        }
        if op == "book":
            system.book(b, **kw)
        elif op == "book_with_resource":
            system.book_with_resources(b, resources={staff: 1}, **kw)
        else:
            system.join_waitlist(b, **kw)
        return None
    if op == "expire_offers":
        system.expire_waitlist_offers(now=now)
        return None
    row = _pick(conn, TARGETS[op], b)
    if row is None:
        return "nothing"
    if op == "cancel":
        system.cancel(b, row[0], actor=admin, now=now)
    elif op == "reschedule":
        system.reschedule(b, row[0], new_slot_id=rng.choice(slots), actor=admin, now=now)
    elif op == "change_party_size":
        system.change_party_size(b, row[0], party_size=rng.randint(1, 3), actor=admin, now=now)
    elif op == "pay":
        # Part, all or more than the amount, on a live booking: payments lock the booking first.
        if not row[1]:
            return "nothing"
        amount = (row[1] * Decimal(rng.choice(("0.5", "1", "1.5")))).quantize(Decimal("0.01"))  # type: ignore[operator]
        payment = system.record_payment(b, row[0], amount=Money(amount, "EUR"), actor=admin, now=now)
        system.confirm_payment(b, payment.id, actor=admin, now=now)
    elif op == "refund_due":
        system.refund_due(b, row[0], actor=admin, now=now)
    elif op == "leave_waitlist":
        system.leave_waitlist(b, row[0], actor=admin, now=now)
    else:
        assert op == "accept_offer"
        actor = Actor.customer(row[1]) if rng.random() < 0.5 else Actor.admin(f"racer-{rng.randint(1, 2)}")
        system.accept_waitlist_offer(b, row[0], actor=actor, now=now)
    return None


def _racer(url, business_id, slots, staff, customers, seconds, seed, barrier, results):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    system = connect(url, migrate=False, pool_size=1)
    b = uuid.UUID(business_id)
    slot_ids = [uuid.UUID(s) for s in slots]
    customer_ids = [uuid.UUID(c) for c in customers]
    ops, weights = list(WEIGHTS), list(WEIGHTS.values())
    counts: Counter[tuple[str, str]] = Counter()
    with psycopg.connect(_plain(url), autocommit=True) as conn:
        barrier.wait(timeout=120)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            op = rng.choices(ops, weights)[0]
            # Clocks spread over half an hour: offers last OFFER_MINUTES, so some expire before acceptance.
            now = MONDAY + timedelta(seconds=rng.uniform(0, 1800))
            try:
                outcome = _operate(op, system, conn, rng, b, slot_ids, uuid.UUID(staff), customer_ids, now) or "ok"
            except Busy as exc:
                outcome = f"Busy {exc.sqlstate}"
            except IntegrityRefused as exc:  # a raw constraint name reaching the caller
                outcome = f"UNTYPED IntegrityRefused: {exc}"
            except BookingError as exc:
                outcome = type(exc).__name__
            except Exception as exc:
                outcome = f"UNTYPED {type(exc).__name__}: {exc}"[:300]
            counts[(op, outcome)] += 1
    system.close()
    results.put(dict(counts))


def _hot_shop(system):  # type: ignore[no-untyped-def]
    """One room and one member of staff, both at the same times; four hot slots, full, with queues."""
    shop = Shop.create(system, now=MONDAY, capacity=CAPACITY, max_party_size=3, customers=CUSTOMERS, weekdays=(4, 5))
    (staff,) = shop.publish_with_resources(
        [("Staff", "staff", 4)], weekdays=(4, 5), capacity=CAPACITY, horizon_days=13
    ).values()
    slots = [s for s in shop.slots(days=14) if s.resource_id == shop.resource_id][:HOT_SLOTS]
    assert len(slots) == HOT_SLOTS
    for i, slot in enumerate(slots):
        for k in range(CAPACITY // 3):
            shop.book(slot, party=3, customer=(i * 2 + k) % CUSTOMERS)
        for k in range(3):
            shop.join_waitlist(slot, party=1 + k, customer=(20 + i * 3 + k) % CUSTOMERS)
    return shop, staff, slots


# ---------------------------------------------------------------- what must hold afterwards
CHECKS = {
    "slot over capacity": "SELECT count(*) FROM time_slots WHERE business_id = %(b)s AND booked_seats > max_capacity",
    "seat counter differs from the seat-holding rows": """
        SELECT count(*) FROM time_slots ts LEFT JOIN slot_seat_holds h ON h.business_id = ts.business_id
           AND h.slot_id = ts.id WHERE ts.business_id = %(b)s AND ts.booked_seats <> coalesce(h.seats, 0)""",
    "two live waitlist entries of one customer on one slot": """
        SELECT count(*) FROM (SELECT 1 FROM waitlist_entries
                               WHERE business_id = %(b)s AND status IN ('waiting', 'offered')
                               GROUP BY slot_id, customer_id HAVING count(*) > 1) d""",
    "accepted offer without its customer's booking": """
        SELECT count(*) FROM waitlist_entries w LEFT JOIN bookings bk ON bk.business_id = w.business_id
           AND bk.id = w.booking_id
         WHERE w.business_id = %(b)s AND w.status = 'accepted' AND bk.customer_id IS DISTINCT FROM w.customer_id""",
    "booking made from two offers": """
        SELECT count(*) FROM (SELECT 1 FROM waitlist_entries WHERE business_id = %(b)s AND booking_id IS NOT NULL
                               GROUP BY booking_id HAVING count(*) > 1) d""",
    "open offer whose booking already holds seats (counted twice)": """
        SELECT count(*) FROM waitlist_entries w JOIN bookings bk ON bk.business_id = w.business_id
           AND bk.id = w.booking_id
         WHERE w.business_id = %(b)s AND w.status = 'offered' AND booking_holds_seat(bk.status)""",
    "a waiting entry fits seats nobody was offered": """
        SELECT count(*) FROM waitlist_entries w
          JOIN time_slots ts ON ts.business_id = w.business_id AND ts.id = w.slot_id
         WHERE w.business_id = %(b)s AND w.status = 'waiting' AND NOT ts.is_legacy
           AND w.party_size <= ts.max_capacity - ts.booked_seats""",
    "lock still waited for": """
        SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE NOT l.granted AND a.datname = current_database()""",
}
# The dataset-wide invariants of the demo tests; seats are checked above with every source of seats.
CHECKS.update({k: v for k, v in QUERIES.items() if k != "booked_seats_mismatch"})


@pytest.fixture
def race_database(admin_url):  # type: ignore[no-untyped-def]
    """A database of its own: the invariant queries and the offer sweep see this race only."""
    with scratch_database(admin_url, "booking_race", migrated=False) as url:
        yield url


@pytest.mark.slow
def test_32_processes_doing_every_operation_on_hot_waitlisted_slots_never_deadlock_nor_break_an_invariant(
    race_database,
):
    with connect(race_database) as system:
        shop, staff, slots = _hot_shop(system)
        with psycopg.connect(_plain(race_database), autocommit=True) as raw:
            raw.execute(
                "UPDATE businesses SET waitlist_offer_minutes = %s WHERE id = %s", (OFFER_MINUTES, shop.business_id)
            )
        args = (
            race_database,
            str(shop.business_id),
            [str(s.id) for s in slots],
            str(staff),
            [str(c) for c in shop.customers],
            SECONDS,
        )
        preload = ["booking_core", "sqlalchemy", "psycopg", __name__]
        counts: Counter[tuple[str, str]] = Counter()
        for outcome in race(
            _racer, lambda seed: (*args, seed), PROCESSES, context="forkserver", preload=preload, timeout=SECONDS + 120
        ):
            counts.update(outcome)
        # What the race left owed back (cancelled after payment, overpaid) is refunded now, so the
        # money invariants hold in full: refund_due is exactly what can be paid back.
        with psycopg.connect(_plain(race_database), autocommit=True) as raw:
            owed = [r[0] for r in raw.execute("SELECT id FROM bookings WHERE refund_due > 0")]
        for booking_id in owed:
            system.refund_due(shop.business_id, booking_id, actor=shop.admin, now=MONDAY + timedelta(hours=1))
        system.seal_audit(shop.business_id)

        print(f"\n{len(owed)} bookings owed money back after the race, refunded")
        print(f"\n{PROCESSES} processes, {SECONDS:.0f} s, {sum(counts.values())} operations")
        for (op, outcome), n in sorted(counts.items()):
            print(f"  {op:20} {outcome:40} {n:6}")
        deadlocks = sum(n for (_, outcome), n in counts.items() if outcome == "Busy 40P01")
        untyped = {k: n for k, n in counts.items() if k[1].startswith("UNTYPED")}
        assert deadlocks == 0, counts
        assert untyped == {}, untyped
        assert {op for (op, outcome) in counts if outcome == "ok"} == set(WEIGHTS), counts

        with psycopg.connect(_plain(race_database), autocommit=True) as raw:
            broken = {
                name: n
                for name, sql in CHECKS.items()
                if (n := raw.execute(sql, {"b": shop.business_id}).fetchone()[0])  # type: ignore[index]
            }
        assert broken == {}
