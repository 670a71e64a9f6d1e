"""The dispatcher's writes: claim due outbox rows, log each attempt with its outcome, persist the circuit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from booking_core.notify.circuit import CircuitBreaker, CircuitState

# SKIP LOCKED lets several dispatchers share the outbox; the lease (available_at pushed past
# the batch's worst-case send time) keeps a claimed row from being sent twice at once, and
# brings it back if this dispatcher dies mid-batch (the receiver dedupes the resend by id).
_CLAIM = text("""
WITH due AS (
  SELECT business_id, id FROM notification_outbox
   WHERE delivered_at IS NULL AND dead_at IS NULL AND available_at <= :now
   ORDER BY available_at, id
   LIMIT :limit
   FOR UPDATE SKIP LOCKED)
UPDATE notification_outbox o SET available_at = :lease_until
  FROM due WHERE o.business_id = due.business_id AND o.id = due.id
RETURNING o.business_id, o.id, o.event_type, o.delivery_id, o.payload, o.attempts, o.created_at
""")

_LOCK = text("""
SELECT attempts, delivered_at IS NOT NULL OR dead_at IS NOT NULL AS final FROM notification_outbox
 WHERE business_id = :b AND id = :id FOR UPDATE
""")

_LOG = text("""
INSERT INTO notification_deliveries (business_id, outbox_id, attempt, delivery_id, started_at, duration_seconds,
                                     http_status, error, outcome, dispatcher)
VALUES (:b, :id, :attempt, :delivery_id, :started_at, :duration, :status, :error, :outcome, :dispatcher)
""")

_SETTLE = text("""
UPDATE notification_outbox
   SET attempts = :attempt,
       last_error = coalesce(:error, last_error),
       delivered_at = CASE WHEN :outcome = 'delivered' AND NOT :final THEN :now ELSE delivered_at END,
       dead_at = CASE WHEN :outcome = 'dead' AND NOT :final THEN :now ELSE dead_at END,
       available_at = :next_at
 WHERE business_id = :b AND id = :id
""")

_RELEASE = text("""
UPDATE notification_outbox SET available_at = :at
 WHERE business_id = :b AND id = :id AND delivered_at IS NULL AND dead_at IS NULL
""")

_SAVE_CIRCUIT = text("""
INSERT INTO notification_circuit (endpoint, state, consecutive_failures, opened_at, retry_at, updated_at, dispatcher)
VALUES (:endpoint, :state, :failures, :opened_at, :retry_at, :now, :dispatcher)
ON CONFLICT (endpoint) DO UPDATE
   SET state = excluded.state, consecutive_failures = excluded.consecutive_failures,
       opened_at = excluded.opened_at, retry_at = excluded.retry_at,
       updated_at = excluded.updated_at, dispatcher = excluded.dispatcher
""")


@dataclass(frozen=True, slots=True)
class Claimed:
    """An outbox row leased to this dispatcher for one attempt."""

    business_id: uuid.UUID
    id: uuid.UUID
    event_type: str
    delivery_id: uuid.UUID
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one attempt did, and what happens to its row next."""

    started_at: datetime
    duration_seconds: float
    http_status: int | None
    error: str | None
    outcome: str  # delivered | retry | dead
    next_at: datetime


def claim(conn: Connection, *, now: datetime, lease_until: datetime, limit: int) -> list[Claimed]:
    """Lease up to `limit` due rows (oldest first) in one short transaction."""
    with conn.begin():
        rows = conn.execute(_CLAIM, {"now": now, "lease_until": lease_until, "limit": limit}).all()
    claimed = [Claimed(r.business_id, r.id, r.event_type, r.delivery_id, r.payload, r.attempts, r.created_at)
               for r in rows]  # fmt: skip
    return sorted(claimed, key=lambda c: (c.created_at, c.id))


def record(conn: Connection, row: Claimed, attempt: Attempt, *, dispatcher: str) -> int:
    """Log the attempt and settle the row in one transaction; returns the attempt number."""
    with conn.begin():
        locked = conn.execute(_LOCK, {"b": row.business_id, "id": row.id}).one()
        number = locked.attempts + 1
        conn.execute(_LOG, {
            "b": row.business_id, "id": row.id, "attempt": number, "delivery_id": row.delivery_id,
            "started_at": attempt.started_at, "duration": attempt.duration_seconds,
            "status": attempt.http_status, "error": attempt.error, "outcome": attempt.outcome,
            "dispatcher": dispatcher,
        })  # fmt: skip
        conn.execute(_SETTLE, {
            "b": row.business_id, "id": row.id, "attempt": number, "error": attempt.error,
            "outcome": attempt.outcome, "final": locked.final, "now": attempt.started_at,
            "next_at": attempt.next_at,
        })  # fmt: skip
    return int(number)


def release(conn: Connection, rows: list[Claimed], *, at: datetime) -> None:
    """Hand claimed-but-unsent rows back (the circuit opened mid-batch): due again at `at`."""
    if rows:
        with conn.begin():
            conn.execute(_RELEASE, [{"b": r.business_id, "id": r.id, "at": at} for r in rows])


def save_circuit(conn: Connection, endpoint: str, breaker: CircuitBreaker, *, now: datetime, dispatcher: str) -> None:
    with conn.begin():
        conn.execute(_SAVE_CIRCUIT, {
            "endpoint": endpoint, "state": str(breaker.state), "failures": breaker.consecutive_failures,
            "opened_at": breaker.opened_at, "retry_at": breaker.retry_at, "now": now, "dispatcher": dispatcher,
        })  # fmt: skip


def load_circuit(conn: Connection, endpoint: str, breaker: CircuitBreaker) -> None:
    """Resume a persisted open circuit, so a restarted dispatcher does not hammer a receiver that is down."""
    with conn.begin():
        row = conn.execute(
            text("SELECT state, consecutive_failures, opened_at, retry_at FROM notification_circuit"
                 " WHERE endpoint = :e"), {"e": endpoint}
        ).one_or_none()  # fmt: skip
    if row is not None and row.state != CircuitState.CLOSED:
        breaker.state = CircuitState.OPEN
        breaker.consecutive_failures = row.consecutive_failures
        breaker.opened_at, breaker.retry_at = row.opened_at, row.retry_at


def enqueue_reminders(conn: Connection, *, now: datetime, lead_seconds: float) -> int:
    """Queue booking.reminder_due for confirmed bookings starting within the lead (idempotent)."""
    with conn.begin():
        n = conn.execute(
            text("SELECT enqueue_reminders(:now, make_interval(secs => :lead))"), {"now": now, "lead": lead_seconds}
        ).scalar_one()
    return int(n)
