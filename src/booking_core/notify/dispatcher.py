"""The outbox dispatcher: claims due notifications, POSTs them to the webhook, retries, dead-letters.

Delivery is at-least-once with a stable delivery id (the Idempotency-Key header and `delivery_id`
in the body), so a receiver that honours the id sees every event exactly once. A failed attempt
moves the row's available_at forward by exponential backoff with full jitter; after
`max_attempts` attempts or once older than `max_age`, the row is dead (kept, never deleted).
The circuit breaker stops sending while the receiver keeps failing; its state is saved in
notification_circuit so `booking health` (another process) can report it.
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from booking_core.adapters.db import Database
from booking_core.adapters.errors import database_errors, translate
from booking_core.domain.errors import BookingError, InvalidInput
from booking_core.notify import store
from booking_core.notify.circuit import CircuitBreaker, CircuitState, backoff_delay
from booking_core.notify.store import Attempt, Claimed
from booking_core.notify.webhook import HttpSender, SendResult, Webhook

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Sender(Protocol):
    def post(self, body: bytes, headers: dict[str, str]) -> SendResult: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    """How hard to try: per-request timeout, batch size, retry budget, backoff, circuit thresholds."""

    webhook: Webhook
    timeout_seconds: float = 5.0
    batch_size: int = 25
    max_attempts: int = 25
    max_age: timedelta = timedelta(hours=72)
    backoff_base_seconds: float = 2.0
    backoff_cap_seconds: float = 3600.0
    failure_threshold: int = 5
    cool_down: timedelta = timedelta(seconds=30)
    max_cool_down: timedelta = timedelta(minutes=15)

    def __post_init__(self) -> None:
        if self.timeout_seconds <= 0 or self.batch_size < 1 or self.max_attempts < 1 or self.failure_threshold < 1:
            raise InvalidInput("timeout, batch size, max attempts and failure threshold must be positive")

    @property
    def lease(self) -> timedelta:
        # Longer than the worst case of sending a whole batch, so no one else claims a row mid-send.
        return timedelta(seconds=2 * self.timeout_seconds * self.batch_size + 30)


@dataclass
class DispatchReport:
    """What one run did."""

    delivered: int = 0
    retried: int = 0
    dead: int = 0
    released: int = 0
    batches: int = 0
    circuit: CircuitState = CircuitState.CLOSED
    errors: list[str] = field(default_factory=list)

    @property
    def attempts(self) -> int:
        return self.delivered + self.retried + self.dead

    def summary(self) -> str:
        return f"delivered {self.delivered}, will retry {self.retried}, dead {self.dead}, circuit {self.circuit}"


def default_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Dispatcher:
    """Delivers the outbox to one webhook. Time (`clock`) and jitter (`rng`) are injected for tests."""

    def __init__(
        self,
        db: Database,
        settings: DispatchSettings,
        *,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
        sender: Sender | None = None,
        name: str | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.rng = rng or random.Random()
        self.sender: Sender = sender or HttpSender(settings.webhook, timeout=settings.timeout_seconds)
        self.name = name or default_name()
        self.breaker = breaker or CircuitBreaker(settings.failure_threshold, settings.cool_down, settings.max_cool_down)
        # Its own unpooled connections: the session setting below must not leak into the pool.
        self._engine = create_engine(
            db.url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
            connect_args={"connect_timeout": 10, "application_name": "booking_notify"},
        )
        with self._connect() as conn:
            store.load_circuit(conn, settings.webhook.endpoint, self.breaker)

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        try:
            conn = self._engine.connect()
        except DBAPIError as exc:
            raise translate(exc) from exc
        try:
            with database_errors():
                # Everything this connection writes is recoverable by resending (the receiver
                # dedupes by delivery id), so it need not wait for the WAL flush on each commit.
                conn.execute(text("SET synchronous_commit = off"))
                yield conn
        finally:
            conn.close()

    def close(self) -> None:
        self.sender.close()
        self._engine.dispose()

    def enqueue_reminders(self, lead: timedelta) -> int:
        """Queue booking.reminder_due for confirmed bookings starting within `lead` of the clock."""
        with self._connect() as conn:
            return store.enqueue_reminders(conn, now=self.clock(), lead_seconds=lead.total_seconds())

    # ------------------------------------------------------------------ one pass
    def run_once(self, *, max_batches: int = 10_000) -> DispatchReport:
        """Deliver what is due now, batch after batch, until nothing is due or the circuit stops us."""
        report = DispatchReport()
        # Due now means due when the pass began: a retry scheduled during the pass (a short
        # backoff outlasted by a slow send) waits for the next pass instead of going twice in one.
        due = self.clock()
        with self._connect() as conn:
            for _ in range(max_batches):
                now = self.clock()
                allowance = self.breaker.allowance(now)
                if allowance == 0:
                    break
                limit = self.settings.batch_size if allowance is None else allowance
                rows = store.claim(conn, now=due, lease_until=now + self.settings.lease, limit=limit)
                if not rows:
                    if allowance == 1:
                        self.breaker.return_probe()
                    break
                report.batches += 1
                self._send_batch(conn, rows, report)
            report.circuit = self.breaker.state
            store.save_circuit(
                conn, self.settings.webhook.endpoint, self.breaker, now=self.clock(), dispatcher=self.name
            )
        return report

    def workers(self, count: int) -> list[Dispatcher]:
        """This dispatcher and count-1 siblings: own connections and senders, one shared breaker."""
        siblings = [
            Dispatcher(
                self.db, self.settings, clock=self.clock, rng=self.rng, name=f"{self.name}/{i}", breaker=self.breaker
            )
            for i in range(1, count)
        ]
        return [self, *siblings]

    def _send_batch(self, conn: Connection, rows: list[Claimed], report: DispatchReport) -> None:
        done: list[tuple[Claimed, Attempt]] = []
        try:
            for i, row in enumerate(rows):
                if i and self.breaker.allowance(self.clock()) is not None:
                    # The circuit opened (or is probing) mid-batch: hand the rest back untouched.
                    store.release(conn, rows[i:], at=self.clock())
                    report.released += len(rows) - i
                    return
                before = self.breaker.state
                done.append((row, self._deliver(row, report)))
                if self.breaker.state is not before:
                    store.save_circuit(
                        conn, self.settings.webhook.endpoint, self.breaker, now=self.clock(), dispatcher=self.name
                    )
        finally:
            # One round trip logs the whole batch. If we die before it, the rows come back when
            # their lease ends and are resent under the same delivery id: at-least-once, never lost.
            store.record_many(conn, done, dispatcher=self.name)

    def _deliver(self, row: Claimed, report: DispatchReport) -> Attempt:
        """POST one message and decide what happens to it next (logged by the caller)."""
        started = self.clock()
        result = self.sender.post(_body(row), _headers(row))
        attempt_no = row.attempts + 1
        if result.ok:
            self.breaker.record_success()
            outcome, next_at = "delivered", None
            report.delivered += 1
        else:
            self.breaker.record_failure(self.clock())
            s = self.settings
            too_old = started - row.created_at >= s.max_age
            if attempt_no >= s.max_attempts or too_old:
                outcome, next_at = "dead", None
                report.dead += 1
            else:
                delay = backoff_delay(attempt_no, base=s.backoff_base_seconds, cap=s.backoff_cap_seconds, rng=self.rng)
                outcome, next_at = "retry", started + timedelta(seconds=delay)
                report.retried += 1
            report.errors.append(result.error or "")
        return Attempt(started, result.duration_seconds, result.status, result.error, outcome, next_at)

    # ------------------------------------------------------------------ the loop
    def run_forever(
        self,
        *,
        interval_seconds: float,
        stop: threading.Event,
        reminder_lead: timedelta | None = None,
        on_report: Callable[[DispatchReport], None] | None = None,
    ) -> None:
        """Run passes every `interval_seconds` until `stop` is set; queue reminders about once a minute."""
        last_reminders: datetime | None = None
        while not stop.is_set():
            now = self.clock()
            try:
                if reminder_lead and (last_reminders is None or now - last_reminders >= timedelta(minutes=1)):
                    self.enqueue_reminders(reminder_lead)
                    last_reminders = now
                report = self.run_once()
            except BookingError as exc:
                # The database went away: nothing is lost (the rows wait in the outbox); try again.
                report = DispatchReport(circuit=self.breaker.state, errors=[str(exc)])
            if on_report is not None and (report.attempts or report.errors):
                on_report(report)
            stop.wait(interval_seconds)

    def start_in_thread(
        self, *, interval_seconds: float = 1.0, reminder_lead: timedelta | None = None
    ) -> tuple[threading.Thread, threading.Event]:
        """Run in a daemon thread (for `booking demo`); set the returned event to stop it."""
        stop = threading.Event()
        thread = threading.Thread(
            target=self.run_forever,
            kwargs={"interval_seconds": interval_seconds, "stop": stop, "reminder_lead": reminder_lead},
            name="booking-notify",
            daemon=True,
        )
        thread.start()
        return thread, stop


def run_once_together(dispatchers: list[Dispatcher]) -> DispatchReport:
    """One pass of each worker at the same time (SKIP LOCKED shares the rows out); the summed report."""
    reports: list[DispatchReport] = []
    failures: list[BaseException] = []

    def one(d: Dispatcher) -> None:
        try:
            reports.append(d.run_once())
        except BaseException as exc:  # re-raised in the caller's thread
            failures.append(exc)

    threads = [threading.Thread(target=one, args=(d,), name=d.name) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    total = DispatchReport(circuit=dispatchers[0].breaker.state)
    for r in reports:
        total.delivered += r.delivered
        total.retried += r.retried
        total.dead += r.dead
        total.released += r.released
        total.batches += r.batches
        total.errors += r.errors
    return total


def _body(row: Claimed) -> bytes:
    # The payload already carries delivery_id and event; the body is identical on every retry.
    return json.dumps(row.payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def _headers(row: Claimed) -> dict[str, str]:
    return {
        "Idempotency-Key": str(row.delivery_id),
        "X-Booking-Event": row.event_type,
        "X-Delivery-Attempt": str(row.attempts + 1),
    }
