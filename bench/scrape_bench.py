"""Exporter scrape latency: HTTP scrapes of /metrics beside the same queries run by psql.

Run: `python -m bench.scrape_bench [--bookings 1000000] [--scrapes 100] [--database-url URL] [--keep]`.

Without --database-url it creates `bench_scrape_<random>` on the server (BOOKING_BENCH_ADMIN_URL,
default the local postgres superuser), migrates it, fills it with `booking seed`'s bulk generator
(booking_demo.seed.bulk_seed, anchored today so the 24h, 7-day and 30-day windows hold
data), stores one integrity check run, and runs VACUUM ANALYZE (what autovacuum would have done
on a live system). Then:
  scrape   GET /metrics from `metrics.exporter.serve()` on loopback as `booking exporter` runs it
           (slots and check results read in the scrape; the full-table history aggregates
           refreshed in the background every 30s), `--scrapes` times after the first refresh
  history  the history aggregates read synchronously, `--history-runs` times: what a scrape
           would cost with `--history-every 0`
  psql     the same queries of booking_core.reports.ops, windows written in as literals, with
           `\\timing` on: the scrape-time ones in one `psql -f`, `--psql-runs` times, and the
           history ones in another, `--history-runs` times (two files, so the history pass does
           not evict what the scrape reads): each query's server-side time is the database floor
           the exporter cannot beat
and prints median and p95 of each, the ratios exporter / psql, and each query's time.
Nothing asserts a time.
"""

from __future__ import annotations

import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import TextClause

from bench.checks_bench import create_seeded, drop
from bench.cli import seeded_parser
from booking_core.reports import check_runs, ops

# Read in every scrape; the history aggregates the exporter refreshes in the background.
LIVE = (ops.FUTURE_SLOTS, check_runs.LATEST_RUN, ops.LATEST_CHECK_RESULTS, ops.WAITLIST_LIVE)
HISTORY = (
    ops.BOOKINGS_BY_STATUS,
    ops.REFUSALS_BY_REASON,
    ops.COMPLETION_TIMES,
    ops.PAYMENTS_BY_STATUS,
    ops.REFUNDS,
    ops.WAITLIST_BY_STATUS,
    ops.MULTI_RESOURCE_AND_SERIES,
    ops.SEAT_DRIFT,
)


def prepare(url: str) -> dict[str, int]:
    """One stored check run (so the integrity queries have rows), fresh statistics, table sizes."""
    now = datetime.now(UTC)
    with psycopg.connect(url, autocommit=True) as conn:
        run = uuid.uuid4()
        conn.execute(
            "INSERT INTO integrity_check_runs (id, started_at, finished_at, duration_seconds, status)"
            " VALUES (%s, %s, %s, 2.0, 'passed')",
            (run, now - timedelta(seconds=2), now),
        )
        conn.execute(
            "INSERT INTO integrity_check_results (run_id, check_name, suite, description, status)"
            " SELECT %s, 'bench_check_' || i, 'bench', 'bench', 'passed' FROM generate_series(1, 20) i",
            (run,),
        )
        conn.execute("VACUUM ANALYZE")
        tables = ("bookings", "time_slots", "payments", "refunds", "booking_refusals", "booking_state_transitions")
        counted = {
            t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone() for t in tables
        }
        return {t: int(row[0]) if row else 0 for t, row in counted.items()}


def literal_sql(now: datetime, queries: tuple[TextClause, ...]) -> str:
    """The named exporter queries with this scrape's windows written in, for psql."""
    params = ops.Windows(now).params()

    def lit(m: re.Match[str]) -> str:
        v = params[m.group(1)]
        return f"'{v.isoformat()}'::timestamptz" if isinstance(v, datetime) else str(v)

    return "\\timing on\n" + "\n".join(re.sub(r"(?<!:):(\w+)", lit, q.text).strip() + ";" for q in queries)


def time_psql(url: str, sql_file: Path, count: int) -> tuple[float, list[float]]:
    """(wall time of the psql process, each query's server-side time), in seconds."""
    psql = shutil.which("psql") or "/usr/bin/psql"
    t = time.perf_counter()
    done = subprocess.run(
        [psql, "-X", "-q", "-o", "/dev/null", "-d", url, "-f", str(sql_file)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    wall = time.perf_counter() - t
    times = [float(x) / 1000 for x in re.findall(r"^Time: ([\d.]+) ms", done.stdout + done.stderr, re.M)]
    assert len(times) == count, done.stdout + done.stderr
    return wall, times


def time_scrapes(url: str, n: int) -> list[float]:
    """`n` GETs of /metrics from the exporter as `booking exporter` runs it (history in the background)."""
    from metrics.exporter import serve

    port = free_port()
    stop = serve(url, port)
    try:
        scrape = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 300
        while b"booking_history_age_seconds" not in urllib.request.urlopen(scrape, timeout=30).read():
            assert time.monotonic() < deadline, "no history refresh within 300s"
            time.sleep(0.5)
        out = []
        for _ in range(n):
            t = time.perf_counter()
            body = urllib.request.urlopen(scrape, timeout=30).read()
            out.append(time.perf_counter() - t)
        assert b"booking_database_up 1.0" in body and b"booking_scrape_errors 0.0" in body, body[-500:]
        return out
    finally:
        stop()


def time_history(url: str, n: int) -> list[float]:
    """`n` synchronous passes over the history aggregates: what a scrape costs with --history-every 0."""
    from metrics.collector import _read, scrape_engine
    from metrics.families import HISTORY_FAMILIES

    engine = scrape_engine(url)
    out = []
    try:
        for _ in range(n):
            t = time.perf_counter()
            up, errors, _families = _read(engine, HISTORY_FAMILIES, datetime.now(UTC))
            out.append(time.perf_counter() - t)
            assert (up, errors) == (1, 0)
    finally:
        engine.dispose()
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20)[-1] if len(xs) >= 2 else xs[0]


Runs = list[tuple[float, list[float]]]


def report(scrapes: list[float], history: list[float], live_runs: Runs, history_runs: Runs) -> None:
    med = statistics.median
    live = [sum(r[1]) for r in live_runs]
    hist = [sum(r[1]) for r in history_runs]

    def row(name: str, xs: list[float]) -> None:
        print(f"{name:52} {med(xs) * 1000:9.1f}ms {p95(xs) * 1000:9.1f}ms")

    print(f"\n{'':52} {'median':>11} {'p95':>11}")
    row(f"scrape GET /metrics (x{len(scrapes)})", scrapes)
    row(f"psql: the scrape-time queries, server-side (x{len(live_runs)})", live)
    row("psql: the scrape-time queries, whole process", [r[0] for r in live_runs])
    row(f"history refresh in the exporter (x{len(history)})", history)
    row(f"psql: the history queries, server-side (x{len(history_runs)})", hist)
    print(f"\nscrape / psql scrape-time queries (medians): {med(scrapes) / med(live):.2f}")
    print(f"history refresh / psql history queries (medians): {med(history) / med(hist):.2f}")
    print(f"target scrape p95 < 250 ms: {'met' if p95(scrapes) < 0.25 else 'NOT met'}")
    print("\nper query, psql server-side median:")
    for names, runs, where in ((LIVE, live_runs, "scrape"), (HISTORY, history_runs, "history")):
        for i, name in enumerate(names):
            print(f"  {med(r[1][i] for r in runs) * 1000:8.1f}ms  {name} ({where})")


def main() -> None:
    args = seeded_parser(__doc__, bookings=1_000_000, scrapes=100, psql_runs=20, history_runs=5).parse_args()

    url = args.database_url or create_seeded(
        args.bookings,
        prefix="bench_scrape",
        anchor=datetime.combine(date.today(), datetime.min.time(), tzinfo=UTC),
    )
    try:
        print("rows:", prepare(url))
        with tempfile.TemporaryDirectory() as tmp:
            # Two files, so the history queries do not evict what the scrape-time ones read.
            live_sql, history_sql = Path(tmp) / "live.sql", Path(tmp) / "history.sql"
            live_sql.write_text(literal_sql(datetime.now(UTC), LIVE))
            history_sql.write_text(literal_sql(datetime.now(UTC), HISTORY))
            scrapes = time_scrapes(url, args.scrapes)
            time_psql(url, live_sql, len(LIVE))  # warm-up
            live_runs = [time_psql(url, live_sql, len(LIVE)) for _ in range(args.psql_runs)]
            history = time_history(url, args.history_runs)
            history_runs = [time_psql(url, history_sql, len(HISTORY)) for _ in range(args.history_runs)]
        report(scrapes, history, live_runs, history_runs)
    finally:
        if not args.database_url and not args.keep:
            drop(url)


if __name__ == "__main__":
    main()
