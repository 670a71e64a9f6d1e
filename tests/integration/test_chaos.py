"""Chaos: 16 processes book with idempotency keys while the server is stopped, killed -9,
restarted and its backends terminated; nothing but booking_core errors reaches them, and the
data holds: every key is exactly one whole booking, and the integrity checks are clean.

The server is a throwaway cluster of the installed PostgreSQL (tests/pgcluster.py), never the
shared one. Under CI=true a missing part (binaries, the checks package) fails; otherwise skips.
"""

from __future__ import annotations

import collections
import multiprocessing as mp
import random
import subprocess
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as wall
from typing import Any

import psycopg
import pytest

from tests.conftest import IN_CI
from tests.pgcluster import Cluster, NoBinaries

pytestmark = pytest.mark.slow

WORKERS = 16
LOCK_TIMEOUT, STATEMENT_TIMEOUT = "200ms", "2s"
SLOT_CAPACITY = 4000


@dataclass
class World:
    cluster: Cluster
    url: str
    business_id: uuid.UUID
    slots: list[uuid.UUID]  # the room's slots, all at distinct times
    staff: uuid.UUID  # a further resource with a slot at each of those times
    customers: list[uuid.UUID]
    outcome: dict[str, Any] = field(default_factory=dict)


def _need(what: str, exc: BaseException) -> None:
    if IN_CI:
        pytest.fail(f"{what}: {exc}")
    pytest.skip(f"{what}: {exc}")


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    try:
        cluster = Cluster.create()
    except NoBinaries as exc:
        _need("a throwaway PostgreSQL cluster", exc)
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE chaos")
        url = cluster.url("chaos")
        yield _build(cluster, url)
    finally:
        cluster.destroy()


def _build(cluster: Cluster, url: str) -> World:
    from booking_core import Actor, Money, WeeklyRule, connect

    admin = Actor.admin("chaos")
    start = datetime.now(UTC) + timedelta(days=2)
    with connect(url) as system:
        biz = system.create_business(name="Chaos", timezone="UTC", currency="EUR", actor=admin)
        svc = system.add_service(biz.id, name="Seat", price=Money("10.00", "EUR"), max_party_size=2, actor=admin)
        room = system.add_resource(biz.id, name="Room", actor=admin)
        staff = system.add_resource(biz.id, name="Staff", kind="staff", actor=admin)
        rules = [
            WeeklyRule(svc, res, day, wall(hour), timedelta(hours=1), SLOT_CAPACITY)
            for res in (room, staff)
            for day in range(1, 8)
            for hour in (9, 10, 11)
        ]
        system.publish_schedule(biz.id, rules=rules, effective_date=start.date(),
                                horizon_date=start.date() + timedelta(days=3), actor=admin)  # fmt: skip
        slots = system.open_slots(biz.id, start=start, end=start + timedelta(days=3))
        customers = [system.add_customer(biz.id, name=f"Guest {i}", actor=admin) for i in range(WORKERS)]
    room_slots = [s.id for s in slots if s.resource_id == room]
    return World(cluster, url, biz.id, room_slots, staff, customers)


# ------------------------------------------------------------------ the booking processes


def book_until(url: str, business_id: uuid.UUID, slots: list[uuid.UUID], staff: uuid.UUID, customer: uuid.UUID,
               worker: int, seconds: float, ready: Any) -> dict[str, Any]:  # fmt: skip
    """One process: once every worker is ready, book key after key for `seconds`; a retryable error: send it again."""
    from booking_core import Actor, BookingError, BookingSystem, RetryPolicy
    from booking_core.adapters.db import Database

    db = Database(url, pool_size=1, lock_timeout=LOCK_TIMEOUT, statement_timeout=STATEMENT_TIMEOUT)
    system = BookingSystem(db, retries=RetryPolicy(attempts=3, timeout=2, wait_initial=0.02, wait_max=0.2))
    actor = Actor.admin(f"worker-{worker}")
    rng = random.Random(worker)
    ready.wait(timeout=300)  # imported and set up: the faults start when every worker is
    until = time.time() + seconds
    booked: dict[str, str] = {}
    refused: dict[str, str] = {}
    typed: collections.Counter[str] = collections.Counter()
    foreign: collections.Counter[str] = collections.Counter()
    samples: list[str] = []
    i = 0
    while time.time() < until:
        key = f"w{worker}-{i}"
        slot = rng.choice(slots)
        give_up = time.time() + 60
        while True:
            try:
                if i % 5 == 4:
                    b = system.book_with_resources(business_id, slot_id=slot, customer_id=customer, party_size=1,
                                                   resources={staff: 1}, actor=actor, idempotency_key=key)  # fmt: skip
                else:
                    b = system.book(business_id, slot_id=slot, customer_id=customer, party_size=1, actor=actor,
                                    idempotency_key=key)  # fmt: skip
                booked[key] = str(b.id)
                break
            except BookingError as exc:
                typed[type(exc).__name__] += 1
                if not exc.retryable:
                    refused[key] = f"{type(exc).__name__}: {exc}"
                    break
            except Exception as exc:
                name = f"{type(exc).__module__}.{type(exc).__qualname__}"
                foreign[name] += 1
                if len(samples) < 5:
                    samples.append("".join(traceback.format_exception(exc))[-1500:])
            if time.time() > give_up:
                refused[key] = "still failing after 60 s"
                break
            time.sleep(0.02)
        i += 1
    system.close()
    return {"booked": booked, "refused": refused, "typed": typed, "foreign": foreign, "samples": samples}


# ------------------------------------------------------------------ the faults


class Faults:
    """Backends terminated every 0.3 s and slot rows held past the lock timeout, until stopped."""

    def __init__(self, world: World) -> None:
        self.world, self.stop = world, threading.Event()
        self.terminated = 0
        self.locks_held = 0
        self.threads = [threading.Thread(target=self._terminate), threading.Thread(target=self._hold_locks)]

    def __enter__(self) -> Faults:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()

    def _terminate(self) -> None:
        while not self.stop.wait(0.3):
            try:
                with psycopg.connect(self.world.url, autocommit=True, connect_timeout=2) as conn:
                    row = conn.execute(
                        "SELECT count(pg_terminate_backend(pid)) FROM (SELECT pid FROM pg_stat_activity"
                        " WHERE application_name = 'booking_core' ORDER BY random() LIMIT 2) p"
                    ).fetchone()
                    self.terminated += int(row[0]) if row else 0
            except psycopg.Error:
                pass  # the server is down right now: the next round tries again

    def _hold_locks(self) -> None:
        rng = random.Random(13)
        while not self.stop.wait(1.0):
            try:
                with psycopg.connect(self.world.url, connect_timeout=2) as conn:
                    conn.execute("SELECT 1 FROM time_slots WHERE id = %s FOR UPDATE", (rng.choice(self.world.slots),))
                    time.sleep(0.5)  # longer than the workers' lock timeout
                    self.locks_held += 1
            except psycopg.Error:
                pass


def test_sixteen_processes_booking_through_restarts_kills_and_terminations_see_only_typed_errors(world):
    cl = world.cluster
    ctx = mp.get_context("spawn")
    events: list[str] = []
    with ctx.Manager() as manager, ProcessPoolExecutor(WORKERS, mp_context=ctx) as pool, Faults(world) as faults:
        # 22 s of faults from the moment every worker has started (a loaded machine takes long to spawn 16).
        ready = manager.Barrier(WORKERS + 1)
        common = (world.url, world.business_id, world.slots, world.staff)
        futures = [pool.submit(book_until, *common, world.customers[w], w, 22, ready) for w in range(WORKERS)]
        ready.wait(timeout=300)
        start = time.time()
        for at, what in ((4, "stop"), (9, "kill -9"), (14, "immediate stop"), (18, "kill -9")):
            time.sleep(max(0.0, start + at - time.time()))
            if what == "stop":
                cl.stop("fast")
            elif what == "kill -9":
                cl.kill9()
            else:
                cl.stop("immediate")
            time.sleep(0.8)  # down for a while: connecting fails too
            cl.start()
            events.append(f"{what} at {at}s, back at {time.time() - start:.1f}s")
        results = [f.result(timeout=150) for f in futures]
    typed: collections.Counter[str] = collections.Counter()
    foreign: collections.Counter[str] = collections.Counter()
    booked: dict[str, str] = {}
    refused: dict[str, str] = {}
    for r in results:
        typed.update(r["typed"])
        foreign.update(r["foreign"])
        booked.update(r["booked"])
        refused.update(r["refused"])
    print(f"\nfaults: {'; '.join(events)}; {faults.terminated} backends terminated, {faults.locks_held} locks held")
    print(f"bookings: {len(booked)}; errors seen by the workers, by class: {dict(typed.most_common())}")
    print(f"exceptions outside booking_core: {dict(foreign)}")
    for sample in (s for r in results for s in r["samples"]):
        print(sample)
    world.outcome.update(booked=booked)

    assert sum(foreign.values()) == 0, f"untyped exceptions reached the callers: {dict(foreign)}"
    assert refused == {}, f"keys that did not end in a booking: {dict(list(refused.items())[:5])}"
    assert len(booked) > 100
    assert typed["DatabaseUnavailable"] > 0, "the faults did not reach the workers: the test proves nothing"

    with psycopg.connect(world.url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT idempotency_key, count(*), min(id::text), bool_and(status = 'confirmed')"
            " FROM bookings WHERE business_id = %s GROUP BY idempotency_key",
            (world.business_id,),
        ).fetchall()
        by_key = {k: (n, bid, ok) for k, n, bid, ok in rows}
        assert set(by_key) == set(booked), "a booking without a caller who knows it, or a key without a booking"
        assert all(n == 1 and bid == booked[k] and ok for k, (n, bid, ok) in by_key.items())
        partial = conn.execute(
            "SELECT count(*) FROM bookings b WHERE b.business_id = %(b)s AND ("
            " NOT EXISTS (SELECT 1 FROM booking_audit_log a WHERE a.business_id = b.business_id"
            "             AND a.booking_id = b.id AND a.action = 'booking.created')"
            " OR NOT EXISTS (SELECT 1 FROM booking_state_transitions t WHERE t.business_id = b.business_id"
            "             AND t.booking_id = b.id)"
            " OR (b.idempotency_key ~ '-[0-9]*4$' AND (SELECT count(*) FROM booking_resources r"
            "      WHERE r.business_id = b.business_id AND r.booking_id = b.id) <> 1))",
            {"b": world.business_id},
        ).fetchone()
        assert partial == (0,), "a booking without its audit row, its transition or its resources"
    assert_checks_clean(world.url, world.business_id)


def assert_checks_clean(url: str, business_id: uuid.UUID) -> None:
    try:
        from checks.runner import run_all
    except ImportError as exc:
        _need("the integrity checks (checks package)", exc)
    summary = run_all(url, business_ids=[business_id], triggered_by="chaos test")
    bad = {r.name: (r.status, r.violation_count) for r in summary.results if r.status != "passed"}
    assert bad == {} and summary.status == "passed", bad


def test_a_custom_format_dump_restores_into_a_new_database_with_its_chain_intact_and_checks_clean(world):
    from booking_core import connect

    with connect(world.url, migrate=False) as system:
        sealed = system.seal_audit(world.business_id)
        before = system.verify_audit(world.business_id)
    assert before.first_bad_seq is None and before.unsealed == 0 and before.links > 0
    dump = world.cluster.root / "chaos.dump"
    subprocess.run([world.cluster.client("pg_dump"), "-Fc", "-f", str(dump), world.url], check=True, timeout=120)
    with psycopg.connect(world.cluster.url(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE restored")
    restored = world.cluster.url("restored")
    subprocess.run([world.cluster.client("pg_restore"), "--exit-on-error", "-d", restored, str(dump)],
                   check=True, timeout=120, capture_output=True)  # fmt: skip
    with connect(restored, migrate=False) as system:
        after = system.verify_audit(world.business_id)
        assert system.seal_audit(world.business_id) == 0
    assert (after.links, after.head_hash, after.first_bad_seq, after.problem) == (
        before.links, before.head_hash, None, before.problem,
    )  # fmt: skip
    with psycopg.connect(world.url) as a, psycopg.connect(restored) as b:
        count = "SELECT count(*), coalesce(sum(party_size), 0) FROM bookings WHERE business_id = %s"
        assert a.execute(count, (world.business_id,)).fetchone() == b.execute(count, (world.business_id,)).fetchone()
    assert_checks_clean(restored, world.business_id)
    print(f"\nsealed {sealed} audit rows; {after.links} links verified after pg_dump -Fc / pg_restore")
