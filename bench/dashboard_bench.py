"""Dashboard render times and the streamed export, each beside its SQL alone, in one run.

Run: `python -m bench.dashboard_bench [--bookings 1000000] [--repeats 3] [--database-url URL] [--keep]
      [--no-browser] [--no-export]`.

Without --database-url it creates `bench_dash_<random>` on the server (BOOKING_BENCH_ADMIN_URL, default the
local postgres superuser) and fills it with `booking seed --bookings N`; with --database-url it reads that
database as it is. The business with the most bookings is the one shown, over the dashboard's default
view (the 4 weeks up to today) and over a year. For every page it measures, with the medians of
`--repeats` runs:
  sql      the page's named queries (booking_core.reports) run directly on a read-only connection
  apptest  a streamlit.testing AppTest run of the page (a cold cache: see `_scope`)
  browser  chromium (Playwright) on a running `booking dashboard`: the browser's first paint, and from
           navigation to the page drawn and idle on a first visit (cold) and a returning one (warm)
and prints the ratios apptest/sql and warm browser/sql. Then `booking export --format parquet` of the whole
history, its wall time and peak RSS (os.wait4), beside the same rows only fetched through the
server-side cursor. Nothing here asserts a time.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.cli import seeded_parser
from booking_core.reports import audit, cancellations, capacity, check_runs, common, history, overview
from booking_core.reports.engine import readonly_engine

ADMIN_URL = os.environ.get("BOOKING_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
BOOKING = [sys.executable, "-c", "from booking_core.cli import main; main()"]
PAGES = {  # url path: (title, the named queries the page runs)
    "": ("Overview", ["overview_figures", "latest_check_runs"]),
    "capacity": (
        "Capacity utilization",
        ["utilization_over_time", "utilization_heatmap", "utilization_by", "slots_to_contact"],
    ),
    "cancellations": (
        "Cancellation patterns",
        [
            "overview_figures",
            "cancellation_rates_over_time",
            "cancellation_lead_times",
            "cancellation_breakdowns",
            "cancellation_causes",
        ],
    ),
    "audit": ("Audit log", ["audit_log"]),
    "integrity": ("Integrity", ["latest_check_runs", "check_results", "check_history", "offending_rows"]),
    "export": ("Export booking history", ["export_count", "export_frame"]),
}


def create_seeded(bookings: int) -> str:
    name = f"bench_dash_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    env = os.environ | {"BOOKING_DATABASE_URL": url}
    subprocess.run([*BOOKING, "db", "upgrade"], env=env, check=True)
    subprocess.run([*BOOKING, "seed", "--bookings", str(bookings)], env=env, check=True)
    return url


def drop(url: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def biggest_business(url: str) -> tuple[uuid.UUID, str, date]:
    """The business with the most bookings, its time zone, and its 'today' (clipped to its slots)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT z.id, z.timezone, (now() AT TIME ZONE z.timezone)::date,"
            " (SELECT max(local_date) FROM time_slots s WHERE s.business_id = z.id)"
            " FROM businesses z ORDER BY (SELECT count(*) FROM bookings b WHERE b.business_id = z.id) DESC LIMIT 1"
        ).fetchone()
    assert row is not None, "the database has no business: seed it first"
    return row[0], row[1], min(row[2], row[3])


def _scope(business: uuid.UUID, end: date, days: int, run: int) -> common.Scope:
    # Each repeat ends one day earlier, so it misses the dashboard's cache (keyed by the arguments);
    # sql, apptest and browser read the same scopes (their caches live in different processes).
    last = end - timedelta(days=run)
    return common.Scope(business, last - timedelta(days=days - 1), last)


def sql_alone(conn: Any, page: str, scope: common.Scope) -> None:
    """The named queries of one page, as the page calls them."""
    calls: dict[str, Callable[[], Any]] = {
        "overview_figures": lambda: overview.overview_figures(conn, scope),
        "latest_check_runs": lambda: check_runs.latest_check_runs(conn, limit=2),
        "utilization_over_time": lambda: capacity.utilization_over_time(conn, scope, "day"),
        "utilization_heatmap": lambda: capacity.utilization_heatmap(conn, scope),
        "utilization_by": lambda: (
            capacity.utilization_by(conn, scope, "service"),
            capacity.utilization_by(conn, scope, "resource"),
        ),
        "slots_to_contact": lambda: capacity.slots_to_contact(conn, scope, now=time_now()),
        "cancellation_rates_over_time": lambda: cancellations.cancellation_rates_over_time(conn, scope, "week"),
        "cancellation_lead_times": lambda: cancellations.cancellation_lead_times(conn, scope),
        "cancellation_breakdowns": lambda: cancellations.cancellation_breakdowns(conn, scope),
        "cancellation_causes": lambda: cancellations.cancellation_causes(conn, scope),
        "audit_log": lambda: audit.audit_log(conn, scope, audit.AuditFilter()),
        "check_results": lambda: _latest_run(conn, check_runs.check_results),
        "check_history": lambda: check_runs.statuses_by_run(conn, runs=30),
        "offending_rows": lambda: _latest_run(conn, lambda c, r: check_runs.offending_rows(c, r, scope.business_id)),
        "export_count": lambda: history.export_count(conn, _export_filter(scope)),
        "export_frame": lambda: history.export_frame(conn, _export_filter(scope), limit=20),
    }
    for name in PAGES[page][1]:
        calls[name]()


def time_now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _latest_run(conn: Any, fn: Callable[[Any, Any], Any]) -> Any:
    runs = check_runs.latest_check_runs(conn, limit=1)
    return None if runs.empty else fn(conn, runs.iloc[0]["id"])


def _export_filter(scope: common.Scope) -> history.ExportFilter:
    return history.ExportFilter(business_id=scope.business_id, start=scope.start, end=scope.end)


def apptest_run(url: str, page: str, scope: common.Scope) -> float:
    from streamlit.testing.v1 import AppTest

    os.environ["BOOKING_DATABASE_URL"] = url
    at = AppTest.from_file(str(APP), default_timeout=600)
    if page:
        # The first run draws the default page, over an empty range so it costs (and caches) nothing;
        # then the page's own run, over the scope, is what is timed.
        empty = common.Scope(scope.business_id, date(2000, 1, 1), date(2000, 1, 28))
        at.query_params.update(_params(empty))
        at.run()
        at.switch_page(f"screens/{page}.py")
        at.session_state["kept_f_dates"] = (scope.start, scope.end)
    at.query_params.update(_params(scope))
    t = time.perf_counter()
    at.run()
    took = time.perf_counter() - t
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return took


def _params(scope: common.Scope) -> dict[str, str]:
    return {"business": str(scope.business_id), "from": scope.start.isoformat(), "to": scope.end.isoformat()}


def measure(label: str, fn: Callable[[int], float], repeats: int) -> float:
    times = [fn(i) for i in range(repeats)]
    print(f"  {label:<44} " + " ".join(f"{t:6.2f}" for t in times), flush=True)
    return statistics.median(times)


def timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench_page(url: str, engine: Any, page: str, days: int, repeats: int, browser: Any) -> tuple[Any, ...]:
    business, _tz, today = biggest_business(url)
    title = PAGES[page][0]
    name = f"{title} ({days} days)"

    def sql(i: int) -> float:
        with engine.connect() as conn:
            return timed(lambda: sql_alone(conn, page, _scope(business, today, days, i)))

    sql_s = measure(f"{name}: sql", sql, repeats)
    app_s = measure(f"{name}: apptest", lambda i: apptest_run(url, page, _scope(business, today, days, i)), repeats)
    shown: tuple[float, float, float] | None = None
    if browser is not None:
        runs = [
            browser(page, title, _scope(business, today, days, i), _scope(business, today, days, i + 50))
            for i in range(repeats)
        ]
        for label, k in (("first paint", 0), ("cold, to drawn", 1), ("warm, to drawn", 2)):
            print(f"  {name + ': browser ' + label:<44} " + " ".join(f"{r[k]:6.2f}" for r in runs), flush=True)
        paint, cold, warm = (statistics.median(r[k] for r in runs) for k in range(3))
        shown = (paint, cold, warm)
    return (title, f"{days} d", sql_s, app_s, shown)


def bench_pages(url: str, repeats: int, browser: Any) -> list[tuple[Any, ...]]:
    engine = readonly_engine(url)
    rows = [bench_page(url, engine, page, days, repeats, browser) for days in (28, 365) for page in PAGES]
    engine.dispose()
    return rows


# The browser's own first paint with content (Paint Timing API), ms after navigation start.
FIRST_PAINT = """() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN"""


class Browser:
    """A `booking dashboard` subprocess and a headless chromium.

    `(page, title, scope, again)` -> (first paint, cold, warm) in seconds: the browser's own
    first-contentful-paint of a first visit (a new context: nothing cached), that visit's time
    from navigation to the page's last line drawn and Streamlit idle, and the same for a
    second visit in that context with another range (`again`: the browser has Streamlit's
    code cached, the dashboard has not seen the query), as a returning user's.
    """

    def __init__(self, url: str) -> None:
        from playwright.sync_api import sync_playwright
        from tests.dashboard.test_browser import CHROMIUM, CHROMIUM_ARGS, free_port

        self.port = free_port()
        env = os.environ | {"BOOKING_DATABASE_URL": url}
        cmd = [*BOOKING, "dashboard", "--port", str(self.port)]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait()
        self.pw = sync_playwright().start()
        self.browser = self.pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)

    def _wait(self) -> None:
        import urllib.request

        for _ in range(180):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_stcore/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("booking dashboard did not start")

    def __call__(self, page: str, title: str, scope: common.Scope, again: common.Scope) -> tuple[float, float, float]:
        context = self.browser.new_context(viewport={"width": 1400, "height": 1000})
        tab = context.new_page()
        cold = self._visit(tab, page, title, scope)
        paint = tab.evaluate(FIRST_PAINT) / 1000
        warm = self._visit(tab, page, title, again)
        context.close()
        return paint, cold, warm

    def _visit(self, tab: Any, page: str, title: str, scope: common.Scope) -> float:
        from tests.dashboard.test_browser import DRAWN, IDLE, settle

        query = "&".join(f"{k}={v}" for k, v in _params(scope).items())
        t = time.perf_counter()
        tab.goto(f"http://127.0.0.1:{self.port}/{page}?{query}")
        tab.get_by_role("heading", name=title, level=1).wait_for(timeout=600_000)
        tab.get_by_text(DRAWN).wait_for(timeout=600_000)
        tab.wait_for_function(IDLE, timeout=600_000)
        took = time.perf_counter() - t  # navigation to the page's last line drawn and the script idle
        settle(tab, title)
        assert tab.locator('[data-testid="stException"]').count() == 0
        return took

    def close(self) -> None:
        self.browser.close()
        self.pw.stop()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def bench_export(url: str, repeats: int) -> tuple[int, float, float, float]:
    """(rows, median export seconds, max peak RSS MiB, median seconds to only fetch the rows)."""
    env = os.environ | {"BOOKING_DATABASE_URL": url}
    engine = readonly_engine(url)
    with engine.connect() as conn:
        rows = history.export_count(conn, history.ExportFilter())

    def fetch_only(_i: int) -> float:
        with engine.connect() as conn:
            return timed(lambda: sum(len(c) for c in history.export_rows(conn, history.ExportFilter())))

    peaks: list[float] = []

    def export(_i: int) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "all.parquet"
            t = time.perf_counter()
            proc = subprocess.Popen(
                [*BOOKING, "export", "--format", "parquet", "--out", str(out)], env=env, stdout=subprocess.DEVNULL
            )
            _pid, status, usage = os.wait4(proc.pid, 0)
            took = time.perf_counter() - t
            assert status == 0, f"booking export exited with {status}"
            peaks.append(usage.ru_maxrss / 1024)  # KiB on Linux
            return took

    fetch = measure("export: rows fetched only (server-side cursor)", fetch_only, repeats)
    took = measure("export: booking export --format parquet", export, repeats)
    engine.dispose()
    return rows, took, max(peaks), fetch


def main() -> None:
    ap = seeded_parser(__doc__, bookings=1_000_000, repeats=3)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--no-export", action="store_true")
    args = ap.parse_args()
    url = args.database_url or create_seeded(args.bookings)
    browser = None if args.no_browser else Browser(url)
    try:
        with psycopg.connect(url) as conn:
            n = conn.execute("SELECT count(*) FROM bookings").fetchone()
        print(f"database: {url.rsplit('/', 1)[1]}, {n[0] if n else 0:,} bookings; medians of {args.repeats}")
        pages = bench_pages(url, args.repeats, browser)
        print(
            "\n| page | range | SQL alone | AppTest run | browser first paint | browser cold, to drawn"
            " | browser warm, to drawn | AppTest / SQL | warm / SQL |"
        )
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for title, days, sql, app, shown in pages:
            paint, cold, warm = (f"{x:.2f} s" for x in shown) if shown is not None else ("-", "-", "-")
            ratio = f"{shown[2] / sql:.1f}x" if shown is not None else "-"
            cells = [title, days, f"{sql:.2f} s", f"{app:.2f} s", paint, cold, warm, f"{app / sql:.1f}x", ratio]
            print("| " + " | ".join(cells) + " |")
        if not args.no_export:
            rows, took, peak, fetch = bench_export(url, args.repeats)
            print(f"\nexport of {rows:,} bookings to Parquet: {took:.1f} s (target < 15 s), peak RSS {peak:.0f} MiB")
            print(f"(target < 500 MiB); the rows alone through the cursor: {fetch:.1f} s ({took / fetch:.1f}x)")
    finally:
        if browser is not None:
            browser.close()
        if not args.database_url and not args.keep:
            drop(url)


if __name__ == "__main__":
    main()
