"""The Prometheus collector: reads the booking database and yields fresh metric families.

One `collect()` per scrape: it opens one read-only connection, runs the named queries of
`booking_core.reports.ops`, and yields metric families built from their rows (the history
aggregates may come from a background refresh, see BookingCollector). Labels are
low-cardinality only: business (name), status, reason, window, check; never a booking or a
slot. A database outage never breaks a scrape: the collector then yields
`booking_database_up 0`, its own scrape duration and error count, and nothing it could not read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from booking_core.reports import engine as reports_engine
from metrics.families import HISTORY_FAMILIES, LIVE_FAMILIES, Family, gauge

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]

# A scrape must answer within Prometheus' scrape timeout; the background history pass over
# million-row tables may take longer without holding anyone up.
STATEMENT_TIMEOUT_MS = 5000
HISTORY_STATEMENT_TIMEOUT_MS = 60000
_STATEMENT_TIMEOUT = text("SELECT set_config('statement_timeout', :ms, false)")


def utc_now() -> datetime:
    return datetime.now(UTC)


def scrape_engine(database_url: str, *, connect_timeout: int = 2) -> Engine:
    """The readers' engine with a scrape's settings: short timeouts, autocommit, one connection each
    for a scrape, a /health probe and the history refresher; role booking_monitor (counts and ids,
    no personal data). A login role outside it keeps its own (still SELECT-only in practice)
    privileges rather than failing every scrape."""
    return reports_engine.readonly_engine(
        database_url,
        application_name="booking_exporter",
        pool_size=3,
        max_overflow=0,
        connect_timeout=connect_timeout,
        statement_timeout_ms=STATEMENT_TIMEOUT_MS,
        role_required=False,
        autocommit=True,
        role=reports_engine.MONITOR_ROLE,
    )


class BookingCollector(Collector):
    """Booking, capacity, payment and integrity metrics.

    Slots, integrity results and the live waitlist (open offers, waiting entries) are read at
    every scrape (index ranges, small tables, partial indexes). The history aggregates
    (bookings, refusals, payments, refunds, completion times, waitlist entries by status,
    multi-resource bookings, series, seat accounting) are one pass over tables of millions of
    rows, or a lookup per future slot: with `history_every=0` (tests, small databases) they are
    read at every scrape too; otherwise a background thread refreshes them every
    `history_every` seconds and a scrape serves the newest refresh, with its age, so a scrape
    never waits on a full-table pass.
    """

    def __init__(self, engine: Engine, *, clock: Clock = utc_now, history_every: float = 0.0) -> None:
        self.engine = engine
        self.clock = clock
        self.history_every = history_every
        self._history: _Snapshot | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        live = LIVE_FAMILIES if self.history_every > 0 else LIVE_FAMILIES + HISTORY_FAMILIES
        up, errors, families = _read(self.engine, live, self.clock())
        yield from families
        if self.history_every > 0:
            yield from self._history_families()
        yield gauge("booking_database_up", "1 if the booking database answered this scrape.", up)
        yield gauge("booking_scrape_errors", "Query groups that failed in this scrape.", errors)
        duration = time.perf_counter() - started
        yield gauge("booking_scrape_duration_seconds", "Time this scrape spent reading the database.", duration)

    def _history_families(self) -> Iterator[Metric]:
        with self._lock:  # concurrent scrapes must start one refresher, not two
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._refresh_loop, name="booking-history", daemon=True)
                self._thread.start()
            snap = self._history
        if snap is None:
            return
        yield from snap.families
        yield gauge(
            "booking_history_age_seconds",
            "Age of the history aggregates (bookings, payments, refusals) served by this scrape.",
            max(0.0, time.monotonic() - snap.taken),
        )
        yield gauge(
            "booking_history_refresh_duration_seconds",
            "How long the last background refresh of the history aggregates took.",
            snap.duration,
        )

    def _refresh_loop(self) -> None:
        last_good = time.monotonic()
        while not self._stop.is_set():
            started = time.monotonic()
            up, errors, families = _read(
                self.engine, HISTORY_FAMILIES, self.clock(), timeout_ms=HISTORY_STATEMENT_TIMEOUT_MS
            )
            if up and not errors:
                last_good = started
            else:
                # Stale numbers must not look current: serve none, and let the age grow.
                families = []
            with self._lock:
                self._history = _Snapshot(families, last_good, time.monotonic() - started)
            self._stop.wait(self.history_every)

    def close(self) -> None:
        """Stop the background refresher (if it started)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    families: list[Metric]
    taken: float
    duration: float


def _read(
    engine: Engine, groups: tuple[Family, ...], now: datetime, *, timeout_ms: int = STATEMENT_TIMEOUT_MS
) -> tuple[int, int, list[Metric]]:
    """(database up, failed groups, families) for one pass over `groups` on one connection."""
    families: list[Metric] = []
    errors = 0
    try:
        with engine.connect() as conn:
            conn.execute(_STATEMENT_TIMEOUT, {"ms": str(int(timeout_ms))})
            for family in groups:
                try:
                    families.extend(family(conn, now))
                except DBAPIError as exc:
                    if exc.connection_invalidated or conn.invalidated:
                        raise
                    errors += 1
                    log.warning("scrape query %s failed: %s", family.__name__, exc.orig)
    except SQLAlchemyError as exc:
        log.warning("booking database unreachable: %s", getattr(exc, "orig", exc))
        return 0, errors + 1, families
    return 1, errors, families
