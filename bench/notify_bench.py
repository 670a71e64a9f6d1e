"""Notification dispatcher throughput beside the receiver's raw capacity, measured in the same run.

Run: `python -m bench.notify_bench [--messages 2000] [--repeats 3] [--batch 10 50]`.

It creates `bench_notify_<random>` on the server (BOOKING_BENCH_ADMIN_URL, default the local
postgres superuser), migrates it, books a few real bookings and fans them out into `--messages`
outbox rows per round with outbox_enqueue() (real payloads, rendered in Europe/Berlin). A local
receiver runs in its own process (http.server, HTTP/1.1 keep-alive, answers 200 at once). Each
round, in rotating order:
  raw         a plain loop of POSTs of the same bodies over one kept-alive http.client
              connection: the receiver's capacity from this client, the reference
  dispatcher  Dispatcher.run_once() at each --batch size until the outbox is drained: claim
              (SKIP LOCKED), POST with Idempotency-Key, log the batch's attempts in one round
              trip (the trigger settles the rows); and batch 25 with --workers threads
              (`booking notify --workers`), each with its own connection and HTTP connection
and prints messages/s (median over rounds) and the ratio dispatcher / raw.

Then the booking side (`--bookings N`, 0 to skip): what writing the outbox row in the booking's
own statement costs. One client books N seats one by one with BookingSystem.book(), with the
bookings_20_outbox trigger enabled and disabled (ALTER TABLE ... DISABLE TRIGGER, superuser),
alternating, and prints bookings/s for each and the ratio. Nothing asserts a time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import statistics
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg

ADMIN_URL = os.environ.get("BOOKING_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def serve(port_queue: Any) -> None:
    """The receiver process: 200 for every POST, keep-alive."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_queue.put(server.server_address[1])
    server.serve_forever()


def create_database() -> str:
    from tests.conftest import MONDAY
    from tests.factories import Shop

    from booking_core import connect

    name = f"bench_notify_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with connect(url) as system:
        shop = Shop.create(system, now=MONDAY, capacity=100, customers=20, timezone="Europe/Berlin")
        slot = shop.first_slot()
        for i in range(20):
            shop.book(slot, party=1, customer=i)
    return url


def enqueue(url: str, messages: int) -> list[bytes]:
    """Fan the bookings out into `messages` pending outbox rows; returns their bodies (for the raw loop)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT outbox_enqueue(b.business_id, 'booking.confirmed', b.id, jsonb_build_object('bench', g))"
            " FROM generate_series(1, %s) g JOIN LATERAL (SELECT business_id, id FROM bookings"
            " ORDER BY id OFFSET (g %% 20) LIMIT 1) b ON true",
            (messages,),
        )
        rows = conn.execute("SELECT payload FROM notification_outbox WHERE delivered_at IS NULL").fetchall()
    return [json.dumps(r[0], sort_keys=True, separators=(",", ":")).encode() for r in rows]


def raw_loop(port: int, bodies: list[bytes]) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    started = time.perf_counter()
    for body in bodies:
        conn.request(
            "POST",
            "/hook",
            body=body,
            headers={"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())},
        )
        conn.getresponse().read()
    elapsed = time.perf_counter() - started
    conn.close()
    return len(bodies) / elapsed


def dispatcher_run(url: str, port: int, batch: int, messages: int, workers: int = 1) -> float:
    from booking_core.adapters.db import Database
    from booking_core.notify import Dispatcher, DispatchSettings, parse_webhook
    from booking_core.notify.dispatcher import run_once_together

    db = Database(url)
    settings = DispatchSettings(parse_webhook(f"http://127.0.0.1:{port}/hook"), batch_size=batch)
    dispatchers = Dispatcher(db, settings).workers(workers)
    started = time.perf_counter()
    report = run_once_together(dispatchers) if workers > 1 else dispatchers[0].run_once()
    elapsed = time.perf_counter() - started
    for d in dispatchers:
        d.close()
    db.dispose()
    if report.delivered != messages:
        raise SystemExit(f"dispatcher delivered {report.delivered} of {messages}: {report.summary()}")
    return messages / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--workers", type=int, default=4, help="also run batch 25 with this many workers (0 = skip)")
    parser.add_argument("--bookings", type=int, default=500, help="bookings per booking-cost round (0 = skip)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    ctx = mp.get_context("spawn")
    ports: Any = ctx.Queue()
    receiver = ctx.Process(target=serve, args=(ports,), daemon=True)
    receiver.start()
    port = int(ports.get(timeout=30))
    url = create_database()
    dispatcher_run(url, port, 50, 20)  # the bookings' own confirmations; also warms both sides up
    results: dict[str, list[float]] = {"raw": [], **{f"dispatcher batch {b}": [] for b in args.batch}}
    if args.workers > 1:
        results[f"dispatcher batch 25 x{args.workers} workers"] = []
    try:
        for round_no in range(args.repeats):
            order = list(results)
            order = order[round_no % len(order) :] + order[: round_no % len(order)]
            for name in order:
                bodies = enqueue(url, args.messages)
                if name == "raw":
                    rate = raw_loop(port, bodies)
                    dispatcher_run(url, port, 50, args.messages)  # drain the rows enqueued for this round
                elif name.endswith("workers"):
                    rate = dispatcher_run(url, port, 25, args.messages, workers=args.workers)
                else:
                    rate = dispatcher_run(url, port, int(name.rsplit(" ", 1)[1]), args.messages)
                results[name].append(rate)
                print(f"round {round_no + 1} {name:<32} {rate:8.0f} messages/s", flush=True)
        report(results, args)
        if args.bookings:
            booking_cost(url, args.bookings, args.repeats)
    finally:
        receiver.terminate()
        if not args.keep:
            with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def booking_cost(url: str, bookings: int, repeats: int) -> None:
    from tests.conftest import MONDAY
    from tests.factories import Shop

    from booking_core import connect

    rates: dict[str, list[float]] = {"trigger on": [], "trigger off": []}
    with connect(url, migrate=False) as system:
        shop = Shop.create(system, now=MONDAY, capacity=10_000, customers=1, max_party_size=1)
        slots = shop.slots(days=28)
        for round_no in range(repeats):
            for name in list(rates) if round_no % 2 == 0 else list(reversed(rates)):
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(
                        f"ALTER TABLE bookings {'ENABLE' if name == 'trigger on' else 'DISABLE'}"
                        " TRIGGER bookings_20_outbox"
                    )
                started = time.perf_counter()
                for i in range(bookings):
                    shop.book(slots[i % len(slots)], party=1)
                rates[name].append(bookings / (time.perf_counter() - started))
                print(f"round {round_no + 1} booking, {name:<12} {rates[name][-1]:8.0f} bookings/s", flush=True)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ALTER TABLE bookings ENABLE TRIGGER bookings_20_outbox")
    on, off = statistics.median(rates["trigger on"]), statistics.median(rates["trigger off"])
    print(f"| booking, outbox trigger on | {on:.0f} bookings/s | {on / off:.2f} of trigger off ({off:.0f}/s) |")


def report(results: dict[str, list[float]], args: argparse.Namespace) -> None:
    raw = statistics.median(results["raw"])
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    print(f"\n{when}, {args.messages} messages x {args.repeats} rounds, cpus={os.cpu_count()}")
    print("| what | messages/s (median) | ratio to raw POST loop |\n|---|---|---|")
    for name, rates in results.items():
        med = statistics.median(rates)
        print(f"| {name} | {med:.0f} | {med / raw:.2f} |")


if __name__ == "__main__":
    main()
