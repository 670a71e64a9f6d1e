"""Integrity checks at scale: the full GE suite beside the same rules as plain SQL, one run.

Run: `python -m bench.checks_bench [--bookings 1000000] [--repeats 3] [--database-url URL] [--keep]`.

Without --database-url it creates `bench_checks_<random>` on the server (BOOKING_BENCH_ADMIN_URL,
default the local postgres superuser), migrates it and fills it with `booking seed --bookings N`
(booking_demo.seed.bulk_seed: bookings with their payments, refunds, transitions and sealed
audit rows); with --database-url it uses that database as it is (seed it first). Then, after one
warm-up of each (so both read a warm cache, and GE's import is not counted), it alternates
  ge     checks.runner.run_all(url): every suite through Great Expectations, results stored
  plain  every rule's reports.integrity.plain_query() over one psycopg connection, rows fetched
`--repeats` times, and prints each one's median wall time, the ratio ge/plain, and the plain time
of every rule (which rules cost what, to pick indexes). Neither is a test: nothing asserts a time.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from bench.cli import seeded_parser
from booking_core.reports.integrity import CHECKS, SESSION_OPTIONS, plain_query, select_checks

ADMIN_URL = os.environ.get("BOOKING_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def create_seeded(bookings: int, *, prefix: str = "bench_checks", anchor: datetime | None = None) -> str:
    """A new database with `bookings` bulk-seeded bookings (seed 7) around `anchor` (default 2026-11-01)."""
    from booking_core.bootstrap import connect
    from booking_demo.seed import bulk_seed

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    t = time.perf_counter()
    with connect(url) as system:
        report = bulk_seed(system, bookings=bookings, seed=7, anchor=anchor or datetime(2026, 11, 1, tzinfo=UTC))
    print(report.summary())
    print(f"seeded in {time.perf_counter() - t:.0f}s")
    return url


def drop(url: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def sizes(url: str) -> dict[str, int]:
    tables = (
        "bookings",
        "time_slots",
        "payments",
        "refunds",
        "booking_state_transitions",
        "booking_audit_log",
        "audit_chain",
    )
    with psycopg.connect(url) as conn:
        counted = {
            t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone() for t in tables
        }
        return {t: int(row[0]) if row else 0 for t, row in counted.items()}


def run_plain(url: str, names: list[str]) -> tuple[float, dict[str, float]]:
    """The named rules as plain SQL, in order, over one connection: total wall time and per rule."""
    per: dict[str, float] = {}
    start = time.perf_counter()
    with psycopg.connect(url, options=SESSION_OPTIONS) as conn:
        for check in select_checks(names):
            t = time.perf_counter()
            conn.execute(plain_query(check)).fetchall()
            per[check.name] = time.perf_counter() - t
    return time.perf_counter() - start, per


def run_ge(url: str, names: list[str]) -> tuple[float, int]:
    from checks.runner import run_all

    start = time.perf_counter()
    summary = run_all(url, names, triggered_by="bench")
    errored = [r.name for r in summary.errored]
    if errored:
        raise SystemExit(f"checks errored: {errored}")
    return time.perf_counter() - start, len(summary.violations)


def main() -> None:
    parser = seeded_parser(__doc__, bookings=1_000_000, repeats=3)
    parser.add_argument(
        "--once",
        action="append",
        default=[],
        metavar="CHECK",
        help="measure this check once each way instead of in every repeat (e.g. audit_chain_broken)",
    )
    args = parser.parse_args()
    repeated = [c.name for c in CHECKS if c.name not in args.once]
    url = args.database_url or create_seeded(args.bookings)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        print("rows:", ", ".join(f"{k} {v:,}" for k, v in sizes(url).items()))
        import checks.expectation  # noqa: F401  -- GE's import (seconds) is not part of a run

        run_ge(url, repeated), run_plain(url, repeated)  # warm-up: caches, plans, GE's lazy imports
        ge_times, plain_times, per_rule = [], [], []
        failed = 0
        for _ in range(args.repeats):
            seconds, failed = run_ge(url, repeated)
            ge_times.append(seconds)
            total, per = run_plain(url, repeated)
            plain_times.append(total)
            per_rule.append(per)
        report(ge_times, plain_times, per_rule, failed, repeated)
        for name in args.once:
            once_ge, once_plain = run_ge(url, [name])[0], run_plain(url, [name])[0]
            print(f"{name} once: ge {once_ge:.2f} s | plain {once_plain:.2f} s | ratio {once_ge / once_plain:.2f}x")
    finally:
        if args.database_url is None and not args.keep:
            drop(url)
        elif args.database_url is None:
            print("kept", url)


def report(
    ge: list[float], plain: list[float], per_rule: list[dict[str, float]], failed: int, names: list[str]
) -> None:
    print(f"\n{'rule':34} plain median (s)")
    for name in names:
        print(f"{name:34} {statistics.median(p[name] for p in per_rule):8.3f}")
    g, p = statistics.median(ge), statistics.median(plain)
    print(f"\nruns: ge {[round(x, 2) for x in ge]}  plain {[round(x, 2) for x in plain]}")
    print(
        f"full suite (GE, stored) median {g:.2f} s | plain SQL median {p:.2f} s | ratio {g / p:.2f}x"
        f" | {len(names)} checks, {failed} failing"
    )


if __name__ == "__main__":
    main()
