"""Multi-resource booking throughput (three resources each) beside single-resource booking, same run.

    python -m bench.multi_resource [--seconds 10] [--repeats 3] [--clients 16]

Both variants go through the public API with `--clients` processes on one business whose
slots never fill; the single variant books one resource (`book()`), the multi variant the
slot's resource plus two more at the same time (`book_with_resources()`: one statement,
booking_create_multi(), all slots locked in id order). Prints medians and the ratio multi/single.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from datetime import time as wall
from decimal import Decimal
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

import psycopg

from bench.cli import numeric_options
from booking_core import Actor, BookingError, Money, WeeklyRule, connect

ADMIN_URL = os.environ.get("BOOKING_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
NOW = datetime(2030, 1, 7, 9, tzinfo=UTC)


def setup(url: str) -> dict[str, Any]:
    admin = Actor.admin("bench")
    with connect(url) as s:
        biz = s.create_business(name="Spa", timezone="Europe/Berlin", currency="EUR", actor=admin, now=NOW)
        svc = s.add_service(biz.id, name="Massage", price=Money(Decimal("80"), "EUR"), actor=admin, now=NOW)
        rooms = [
            s.add_resource(biz.id, name=n, kind=k, actor=admin, now=NOW)
            for n, k in (("Room", "room"), ("Therapist", "staff"), ("Stones", "equipment"))
        ]
        rules = [
            WeeklyRule(svc, r, d, wall(h), timedelta(hours=1), 10_000)
            for r in rooms
            for d in range(1, 8)
            for h in range(8, 20)
        ]
        s.publish_schedule(
            biz.id,
            rules=rules,
            effective_date=NOW.date() + timedelta(days=1),
            horizon_date=NOW.date() + timedelta(days=28),
            actor=admin,
            now=NOW,
        )
        customers = [str(s.add_customer(biz.id, name=f"c{i}", actor=admin, now=NOW)) for i in range(16)]
        slots = [
            str(x.id)
            for x in s.open_slots(biz.id, start=NOW, end=NOW + timedelta(days=30))
            if x.resource_id == rooms[0]
        ]
    return {"business": str(biz.id), "slots": slots, "extra": [str(r) for r in rooms[1:]], "customers": customers}


def worker(
    url: str, fx: dict[str, Any], variant: str, seconds: float, seed: int, barrier: Barrier, results: Queue[int]
) -> None:
    rng = random.Random(seed)
    system = connect(url, migrate=False, pool_size=1)
    business, actor = uuid.UUID(fx["business"]), Actor.admin("bench")
    extra = {uuid.UUID(r): 1 for r in fx["extra"]}
    done = 0
    barrier.wait(timeout=120)
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        slot, customer = uuid.UUID(rng.choice(fx["slots"])), uuid.UUID(rng.choice(fx["customers"]))
        try:
            if variant == "single":
                system.book(business, slot_id=slot, customer_id=customer, party_size=1, actor=actor, now=NOW)
            else:
                system.book_with_resources(
                    business, slot_id=slot, customer_id=customer, party_size=1, resources=extra, actor=actor, now=NOW
                )
            done += 1
        except BookingError:
            pass
    system.close()
    results.put(done)


def run(url: str, fx: dict[str, Any], variant: str, clients: int, seconds: float) -> float:
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(clients + 1), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(url, fx, variant, seconds, i, barrier, results)) for i in range(clients)]
    for p in procs:
        p.start()
    barrier.wait(timeout=120)
    started = time.perf_counter()
    total: int = sum(results.get(timeout=seconds + 120) for _ in procs)
    elapsed = time.perf_counter() - started
    for p in procs:
        p.join()
    return total / elapsed


def main() -> None:
    args = numeric_options(__doc__, seconds=10.0, repeats=3, clients=16)
    name = f"bench_multi_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        fx = setup(url)
        rates: dict[str, list[float]] = {"single": [], "multi": []}
        for i in range(args.repeats):
            for variant in ("single", "multi") if i % 2 == 0 else ("multi", "single"):
                rates[variant].append(run(url, fx, variant, args.clients, args.seconds))
                print(f"  run {i + 1} {variant:6}: {rates[variant][-1]:8.0f} bookings/s", flush=True)
        single, multi = statistics.median(rates["single"]), statistics.median(rates["multi"])
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM time_slots WHERE booked_seats > max_capacity").fetchone()
            over = row[0] if row else 0
        print(f"\nclients={args.clients} seconds={args.seconds} repeats={args.repeats} (medians)")
        print(f"single resource : {single:8.0f} bookings/s")
        print(f"three resources : {multi:8.0f} bookings/s   ratio {multi / single:.2f}x single")
        print(f"slots over capacity afterwards: {over}")
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
