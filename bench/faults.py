"""Bookings under faults: throughput with a backend-kill loop against no faults, and the
time from a server restart to the first successful booking. Not a test: it measures and prints.

Run: `python -m bench.faults [--seconds 10] [--repeats 3] [--clients 16] [--restarts 5]`.

Everything runs on a throwaway cluster of the installed PostgreSQL (tests/pgcluster.py), so the
benchmark may stop and restart it. `--clients` processes book through the public API
(`BookingSystem.book()` with an idempotency key, the library's default retries, and a retry of
their own on a retryable error) for `--seconds`:

  no_faults     nothing happens to the server
  kill_loop     one booking backend, chosen at random, is terminated (pg_terminate_backend) every second

The two phases alternate (order rotated per repeat); the table gives each phase's median bookings
per second and the ratio kill_loop / no_faults (target >= 0.8x). Then `--restarts` times: one
client books in a loop while the server is stopped (fast) and started again; measured is the time
from the server accepting connections again to the first booking that succeeds after it (target
<= 2 s), and, for reference, from the stop to that booking. At the end every key is checked to be
exactly one booking, and no slot over capacity.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import statistics
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as wall
from decimal import Decimal
from typing import Any

import psycopg
from tests.pgcluster import Cluster  # run from the repository root, as every bench script

PHASES = ("no_faults", "kill_loop")


@dataclass(frozen=True)
class Fixture:
    url: str
    business_id: uuid.UUID
    slots: list[uuid.UUID]
    customers: list[uuid.UUID]


def build(url: str, clients: int) -> Fixture:
    from booking_core import Actor, Money, WeeklyRule, connect

    admin = Actor.admin("bench")
    start = datetime.now(UTC) + timedelta(days=1)
    with connect(url) as system:
        biz = system.create_business(name="Faults bench", timezone="UTC", currency="EUR", actor=admin)
        svc = system.add_service(biz.id, name="Seat", price=Money(Decimal("10.00"), "EUR"), actor=admin)
        res = system.add_resource(biz.id, name="Hall", actor=admin)
        rules = [WeeklyRule(svc, res, d, wall(h), timedelta(hours=1), 10_000) for d in range(1, 8) for h in range(24)]
        system.publish_schedule(
            biz.id, rules=rules, effective_date=start.date(), horizon_date=start.date() + timedelta(days=8), actor=admin
        )
        slots = [s.id for s in system.open_slots(biz.id, start=start, end=start + timedelta(days=7))]
        customers = [system.add_customer(biz.id, name=f"Client {i}", actor=admin) for i in range(clients)]
    return Fixture(url, biz.id, slots, customers)


def client(fx: Fixture, worker: int, tag: str, start_at: float, end_at: float) -> dict[str, Any]:
    """Book keyed bookings from start_at to end_at; return what succeeded, when, and the errors."""
    from booking_core import Actor, BookingError, connect

    system = connect(fx.url, migrate=False, pool_size=1)
    actor, customer, rng = Actor.admin(f"bench-{worker}"), fx.customers[worker], random.Random(f"{tag}{worker}")
    system.get_slot(fx.business_id, fx.slots[0])  # the pooled connection, opened before the clock starts
    time.sleep(max(0.0, start_at - time.time()))
    done: list[float] = []
    keys: list[str] = []
    errors: dict[str, int] = {}
    untyped: dict[str, int] = {}
    i = 0
    while time.time() < end_at:
        key, slot = f"{tag}-{worker}-{i}", rng.choice(fx.slots)
        while True:
            try:
                system.book(
                    fx.business_id, slot_id=slot, customer_id=customer, party_size=1, actor=actor, idempotency_key=key
                )
                done.append(time.time())
                keys.append(key)
                break
            except BookingError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                if not exc.retryable:
                    break
            except Exception as exc:  # counted: the library promises there are none
                untyped[type(exc).__name__] = untyped.get(type(exc).__name__, 0) + 1
            time.sleep(0.005)
        i += 1
    system.close()
    return {"done": done, "keys": keys, "errors": errors, "untyped": untyped}


def warm(_: int) -> None:
    """Spawn the worker processes and import the library in each before any clock starts."""
    import booking_core  # noqa: F401

    time.sleep(0.5)  # long enough that every worker process takes one


class KillLoop:
    """pg_terminate_backend of one random booking backend every `every` seconds, until stopped."""

    def __init__(self, url: str, every: float = 1.0) -> None:
        self.url, self.every, self.stop, self.killed = url, every, threading.Event(), 0
        self.thread = threading.Thread(target=self._run)

    def __enter__(self) -> KillLoop:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.wait(self.every):
                row = conn.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM (SELECT pid FROM pg_stat_activity"
                    " WHERE application_name = 'booking_core' ORDER BY random() LIMIT 1) p"
                ).fetchone()
                self.killed += int(row[0]) if row else 0


def merge(results: list[dict[str, Any]], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in results:
        for k, v in r[key].items():
            out[k] = out.get(k, 0) + v
    return out


def throughput(fx: Fixture, args: argparse.Namespace, pool: ProcessPoolExecutor) -> tuple[dict[str, list[float]], Any]:
    rates: dict[str, list[float]] = {p: [] for p in PHASES}
    keys: list[str] = []
    seen: dict[str, dict[str, int]] = {p: {} for p in PHASES}
    for r in range(args.repeats):
        for phase in PHASES[r % 2 :] + PHASES[: r % 2]:
            start_at = time.time() + 3  # every process connected before the clock starts
            end_at = start_at + args.seconds
            tag = f"{phase}{r}"
            futures = [pool.submit(client, fx, w, tag, start_at, end_at) for w in range(args.clients)]
            if phase == "kill_loop":
                time.sleep(max(0.0, start_at - time.time()))
                with KillLoop(fx.url) as loop:
                    results = [f.result() for f in futures]
                killed = loop.killed
            else:
                results = [f.result() for f in futures]
                killed = 0
            n = sum(sum(start_at <= t <= end_at for t in res["done"]) for res in results)
            rates[phase].append(n / args.seconds)
            keys += [k for res in results for k in res["keys"]]
            for name, count in {**merge(results, "errors"), **merge(results, "untyped")}.items():
                seen[phase][name] = seen[phase].get(name, 0) + count
            print(
                f"  repeat {r + 1}/{args.repeats} {phase:<10} {n / args.seconds:8.1f}/s"
                f"  killed {killed}  errors {merge(results, 'errors')}  untyped {merge(results, 'untyped')}",
                flush=True,
            )
    return rates, (keys, seen)


def restart_times(fx: Fixture, cluster: Cluster, args: argparse.Namespace, pool: ProcessPoolExecutor) -> Any:
    """(ready -> first booking, stop -> first booking) for each restart."""
    from_ready: list[float] = []
    from_stop: list[float] = []
    keys: list[str] = []
    for r in range(args.restarts):
        start_at = time.time() + 3
        end_at = start_at + 4
        future = pool.submit(client, fx, 0, f"restart{r}", start_at, end_at)
        time.sleep(max(0.0, start_at + 1 - time.time()))
        stopped = time.time()
        cluster.stop("fast")
        time.sleep(0.5)
        cluster.start()
        ready = time.time()
        res = future.result()
        keys += res["keys"]
        first = min((t for t in res["done"] if t > ready), default=None)
        if first is None:
            print(f"  restart {r + 1}: no booking succeeded after the restart", flush=True)
            continue
        from_ready.append(first - ready)
        from_stop.append(first - stopped)
        print(
            f"  restart {r + 1}/{args.restarts}: first booking {first - ready:.3f} s after ready,"
            f" {first - stopped:.3f} s after the stop; errors {res['errors']} untyped {res['untyped']}",
            flush=True,
        )
    return from_ready, from_stop, keys


def verify(fx: Fixture, keys: list[str]) -> str:
    with psycopg.connect(fx.url) as conn:
        rows = conn.execute(
            "SELECT count(*), count(DISTINCT idempotency_key),"
            " (SELECT count(*) FROM time_slots WHERE booked_seats > max_capacity) FROM bookings"
        ).fetchone() or (0, 0, 0)
    ok = rows[0] == rows[1] == len(set(keys)) and rows[2] == 0
    return (
        f"bookings {rows[0]}, distinct keys {rows[1]}, keys the clients saw succeed {len(set(keys))},"
        f" slots over capacity {rows[2]}: {'ok' if ok else 'MISMATCH'}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=int, default=10, help="duration of each throughput run (default 10)")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats of both phases (default 3)")
    p.add_argument("--clients", type=int, default=16, help="concurrent booking processes (default 16)")
    p.add_argument("--restarts", type=int, default=5, help="server restarts timed (default 5)")
    args = p.parse_args(argv)
    cluster = Cluster.create()
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench_faults")
            version = conn.execute("SHOW server_version").fetchone()
        fx = build(cluster.url("bench_faults"), args.clients)
        print(
            f"PostgreSQL {version[0] if version else '?'} ({cluster.source}, throwaway cluster), "
            f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at start",
            flush=True,
        )
        with ProcessPoolExecutor(args.clients, mp_context=mp.get_context("spawn")) as pool:
            list(pool.map(warm, range(args.clients)))
            rates, (keys, seen) = throughput(fx, args, pool)
            from_ready, from_stop, more = restart_times(fx, cluster, args, pool)
        print(verify(fx, keys + more))
        print(f"load average {os.getloadavg()[0]:.2f} at end\n")
        base, kill = statistics.median(rates["no_faults"]), statistics.median(rates["kill_loop"])
        print(f"bookings under faults, {args.clients} processes x {args.seconds} s x {args.repeats} repeats\n")
        print("| phase | median bookings/s | runs | x no_faults | errors the clients saw (all runs) |")
        print("|---|---:|---|---:|---|")
        for phase, med in (("no_faults", base), ("kill_loop", kill)):
            runs = ", ".join(f"{x:.0f}" for x in rates[phase])
            ratio = f"{med / base:.2f}x" if base else "n/a"
            print(f"| {phase} | {med:.0f} | {runs} | {ratio} | {seen[phase] or 'none'} |")
        if from_ready:
            print(
                f"\nserver restart -> first booking: median {statistics.median(from_ready):.2f} s after the"
                f" server accepts connections (runs {', '.join(f'{x:.2f}' for x in from_ready)}),"
                f" median {statistics.median(from_stop):.2f} s after the stop"
            )
    finally:
        cluster.destroy()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
