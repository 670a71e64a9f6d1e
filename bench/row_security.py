"""The cost of row-level security (issue 16): the same work with the policies on and off, in one run.

Run: `python -m bench.row_security --database-url URL [--repeats 3] [--seconds 15] [--clients 8] [--checks]`
on a seeded database (`booking seed --bookings 1000000`); it is migrated first, and left with row
security on. Row security is switched per table (ALTER TABLE ... ENABLE|DISABLE ROW LEVEL SECURITY on
every table with a policy), the order of on and off rotated per repeat. Measured, medians of the repeats:

  page as library   the heaviest dashboard pages' queries (Cancellation patterns, Capacity utilization
                    over 365 days of the biggest business) as booking_readonly: what the dashboard read
                    before the login (its policy is `USING (true)`)
  page as person    the same queries as the dashboard reads now: booking_reader, the member views first
                    in the search path, the business's manager as the person
  hot slot          bookings per second through the public API, `--clients` processes into one slot, as a
                    login role in booking_app (subject to row security; the superuser and the table owner
                    are not, and pay nothing)
  checks            (--checks) the full integrity suite, `checks.runner.run_all`, once per state: it runs
                    as the table owner, which row security does not apply to

Each line prints on / off as a ratio of throughput (off time / on time): 1.00x is free, the target ≥ 0.95x.
Reading as a person is also set against reading as the library with row security off: the whole price
of the login's reads (policies, member views, the per-transaction person) against the dashboard before.
Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import psycopg
from psycopg import sql

from bench import hot_slot
from bench.dashboard_bench import biggest_business, sql_alone
from booking_core.reports import common
from booking_core.reports.engine import READER_ROLE, as_person, readonly_engine

APP_LOGIN = "bench_rls_app"
MANAGER = "bench-manager@example.com"
PAGES = ("cancellations", "capacity")
BOOKING = [sys.executable, "-c", "from booking_core.cli import main; main()"]


def plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def as_login(url: str, role: str) -> str:
    scheme, _, rest = plain(url).partition("://")
    return f"{scheme}://{role}@{rest.split('@', 1)[-1]}"


def prepare(url: str, business: Any) -> None:
    """Migrated; a login role in booking_app; the biggest business's manager."""
    subprocess.run([*BOOKING, "db", "upgrade"], env=os.environ | {"BOOKING_DATABASE_URL": url}, check=True)
    with psycopg.connect(plain(url), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_LOGIN,)).fetchone():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE booking_app").format(sql.Identifier(APP_LOGIN)))
    from booking_core import Actor, connect
    from booking_core.domain.errors import NothingToChange

    with connect(url, migrate=False) as system, contextlib.suppress(NothingToChange):
        system.set_membership(
            person=MANAGER, role="manager", business_id=business, reason="bench", actor=Actor.admin("bench")
        )


def set_row_security(url: str, on: bool) -> int:
    with psycopg.connect(plain(url), autocommit=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT DISTINCT polrelid::regclass::text FROM pg_policy")]
        verb = sql.SQL("ENABLE" if on else "DISABLE")
        for t in tables:
            conn.execute(sql.SQL("ALTER TABLE {} {} ROW LEVEL SECURITY").format(sql.Identifier(t), verb))
    return len(tables)


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def page_times(url: str, business: Any, end: date) -> dict[str, float]:
    """Each page's queries once as the library and once as the person (after one warm-up each)."""
    scope = common.Scope(business, end - timedelta(days=364), end)
    library = readonly_engine(url, pool_size=1)
    person = readonly_engine(url, pool_size=1, role=READER_ROLE)
    out = {}
    try:
        for page in PAGES:
            for who, engine in (("library", library), ("person", person)):

                def run(engine: Any = engine, who: str = who, page: str = page) -> None:
                    with engine.connect() as conn:
                        if who == "person":
                            as_person(conn, MANAGER)
                        sql_alone(conn, page, scope)

                run()
                out[f"{page} as {who}"] = timed(run)
    finally:
        library.dispose()
        person.dispose()
    return out


def run(args: argparse.Namespace) -> None:
    url = args.database_url
    business, tz, end = biggest_business(plain(url))
    prepare(url, business)
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at start; business {business} ({tz})")
    fx = hot_slot.build_fixture(url, clients=args.clients, hot_runs=2 * args.repeats, seconds=args.seconds)
    fx = hot_slot.Fixture(as_login(url, APP_LOGIN), fx.business_id, fx.customers, fx.hot_chains, fx.spread)
    chains = iter(fx.hot_chains)
    results: dict[str, dict[bool, list[float]]] = {}
    checks: dict[bool, float] = {}
    pool = hot_slot.WorkerPool(fx, args.clients)
    try:
        for r in range(args.repeats):
            for on in (True, False) if r % 2 == 0 else (False, True):
                n = set_row_security(url, on)
                for name, seconds in page_times(url, business, end).items():
                    results.setdefault(name, {True: [], False: []})[on].append(seconds)
                tally = pool.run("api_hot", [next(chains)] * args.clients, round_robin=False, seconds=args.seconds)
                results.setdefault("hot slot", {True: [], False: []})[on].append(tally.committed / args.seconds)
                if args.checks and r == 0:
                    from checks import runner

                    checks[on] = timed(lambda: runner.run_all(url, triggered_by="bench"))
                state = "on" if on else "off"
                print(
                    f"  repeat {r + 1}/{args.repeats} row security {state} ({n} tables): "
                    f"hot slot {results['hot slot'][on][-1]:.0f}/s",
                    flush=True,
                )
    finally:
        pool.close()
        set_row_security(url, True)
    print(f"load average {os.getloadavg()[0]:.2f} at end\n")
    print("| measured | on (median) | off (median) | on vs off |")
    print("|---|---:|---:|---:|")
    for name, by in results.items():
        with_rls, without = statistics.median(by[True]), statistics.median(by[False])
        if name == "hot slot":
            print(f"| hot slot, bookings/s | {with_rls:.0f} | {without:.0f} | {with_rls / without:.2f}x |")
        else:
            print(f"| {name}, s | {with_rls:.3f} | {without:.3f} | {without / with_rls:.2f}x |")
    for page in PAGES:
        person_on = statistics.median(results[f"{page} as person"][True])
        library_off = statistics.median(results[f"{page} as library"][False])
        print(
            f"| {page}: as a person, on, vs as the library, off | {person_on:.3f} | {library_off:.3f} "
            f"| {library_off / person_on:.2f}x |"
        )
    if checks:
        print(
            f"| integrity suite, s | {checks[True]:.1f} | {checks[False]:.1f} | {checks[False] / checks[True]:.2f}x |"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.row_security", description=__doc__.splitlines()[0])
    p.add_argument("--database-url", required=True, help="a seeded database (booking seed --bookings N)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seconds", type=int, default=15, help="each hot-slot run")
    p.add_argument("--clients", type=int, default=8, help="hot-slot processes")
    p.add_argument("--checks", action="store_true", help="also the full integrity suite, once per state")
    run(p.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
