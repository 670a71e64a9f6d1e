"""The dispatcher's writes: claim due outbox rows, log each attempt with its outcome, persist the circuit.

Every function is one statement on an autocommit connection (the dispatcher's own).
"""

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
# The customer's contact details are read now, from `customers`: the outbox holds their id only.
_CLAIM = text("""
WITH due AS (
  SELECT business_id, id FROM notification_outbox
   WHERE delivered_at IS NULL AND dead_at IS NULL AND available_at <= :now
   ORDER BY available_at, id
   LIMIT :limit
   FOR UPDATE SKIP LOCKED)
UPDATE notification_outbox o SET available_at = :lease_until
  FROM due WHERE o.business_id = due.business_id AND o.id = due.id
RETURNING o.business_id, o.id, o.event_type, o.delivery_id,
          outbox_with_contact(o.payload, o.business_id, o.customer_id) AS payload, o.attempts, o.created_at
""")

# One statement per attempt (pipelined per batch): the row lock orders it after any concurrent attempt on the same
# message, and the deliveries trigger settles the outbox row from the logged outcome.
_RECORD_MANY = text("""
INSERT INTO notification_deliveries (business_id, outbox_id, attempt, delivery_id, started_at, duration_seconds,
                                     http_status, error, outcome, next_attempt_at, dispatcher)
SELECT o.business_id, o.id, o.attempts + 1, o.delivery_id, :started_at, :duration, :status, :error, :outcome,
       :next_at, :dispatcher
  FROM notification_outbox o WHERE o.business_id = :b AND o.id = :id
   FOR UPDATE
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
    next_at: datetime | None  # when a retry is due (None unless outcome is retry)


def claim(conn: Connection, *, now: datetime, lease_until: datetime, limit: int) -> list[Claimed]:
    """Lease up to `limit` due rows (oldest first) in one statement."""
    rows = conn.execute(_CLAIM, {"now": now, "lease_until": lease_until, "limit": limit}).all()
    claimed = [
        Claimed(r.business_id, r.id, r.event_type, r.delivery_id, r.payload, r.attempts, r.created_at) for r in rows
    ]
    return sorted(claimed, key=lambda c: (c.created_at, c.id))


def _record_params(row: Claimed, attempt: Attempt, dispatcher: str) -> dict[str, Any]:
    return {
        "b": row.business_id,
        "id": row.id,
        "started_at": attempt.started_at,
        "duration": attempt.duration_seconds,
        "status": attempt.http_status,
        "error": attempt.error,
        "outcome": attempt.outcome,
        "next_at": attempt.next_at,
        "dispatcher": dispatcher,
    }


def record_many(conn: Connection, done: list[tuple[Claimed, Attempt]], *, dispatcher: str) -> None:
    """Log a batch of attempts in one round trip (psycopg pipelines the statements)."""
    if done:
        conn.execute(_RECORD_MANY, [_record_params(row, attempt, dispatcher) for row, attempt in done])


def release(conn: Connection, rows: list[Claimed], *, at: datetime) -> None:
    """Hand claimed-but-unsent rows back (the circuit opened mid-batch): due again at `at`."""
    if rows:
        conn.execute(_RELEASE, [{"b": r.business_id, "id": r.id, "at": at} for r in rows])


_LOAD_CIRCUIT = text(
    "SELECT state, consecutive_failures, opened_at, retry_at FROM notification_circuit WHERE endpoint = :e"
)


def save_circuit(conn: Connection, endpoint: str, breaker: CircuitBreaker, *, now: datetime, dispatcher: str) -> None:
    conn.execute(
        _SAVE_CIRCUIT,
        {
            "endpoint": endpoint,
            "state": str(breaker.state),
            "failures": breaker.consecutive_failures,
            "opened_at": breaker.opened_at,
            "retry_at": breaker.retry_at,
            "now": now,
            "dispatcher": dispatcher,
        },
    )


def load_circuit(conn: Connection, endpoint: str, breaker: CircuitBreaker) -> None:
    """Resume a persisted open circuit, so a restarted dispatcher does not hammer a receiver that is down."""
    row = conn.execute(_LOAD_CIRCUIT, {"e": endpoint}).one_or_none()
    if row is not None and row.state != CircuitState.CLOSED:
        breaker.state = CircuitState.OPEN
        breaker.consecutive_failures = row.consecutive_failures
        breaker.opened_at, breaker.retry_at = row.opened_at, row.retry_at


def enqueue_reminders(conn: Connection, *, now: datetime, lead_seconds: float) -> int:
    """Queue booking.reminder_due for confirmed bookings starting within the lead (idempotent)."""
    sql = text("SELECT enqueue_reminders(:now, make_interval(secs => :lead))")
    return int(conn.execute(sql, {"now": now, "lead": lead_seconds}).scalar_one())
