"""Notification delivery for one business (the waitlists page): backlog, delivered and dead, circuits, failures."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import pandas as pd
from psycopg import sql
from sqlalchemy import Connection, text

from booking_core.reports import notifications
from booking_core.reports.common import Scope, compose, frame, in_local_range, ratio, ref

# The outbox belongs to a business; its circuit belongs to the dispatcher's endpoint (all businesses).
# The database's clock, not a rounded one passed in: a message queued seconds ago is due, and
# the page's cache (TTL_SECONDS) already bounds how often this runs.
_BACKLOG = text("""
SELECT count(*) AS pending, count(*) FILTER (WHERE available_at <= now()) AS due,
       extract(epoch FROM now() - min(created_at) FILTER (WHERE available_at <= now()))::float8 AS oldest_due_seconds
  FROM notification_outbox WHERE business_id = :b AND delivered_at IS NULL AND dead_at IS NULL""")

_DONE = compose(
    """
WITH o AS (SELECT count(*) FILTER (WHERE {delivered}) AS delivered,
                  count(*) FILTER (WHERE {dead}) AS dead
             FROM notification_outbox o JOIN businesses z ON z.id = o.business_id
            WHERE o.business_id = :b AND (o.delivered_at IS NOT NULL OR o.dead_at IS NOT NULL)),
     d AS (SELECT count(*) AS attempts, count(*) FILTER (WHERE d.outcome = 'delivered') AS ok_attempts
             FROM notification_deliveries d JOIN businesses z ON z.id = d.business_id
            WHERE d.business_id = :b AND {started})
SELECT o.delivered, o.dead, d.attempts, d.ok_attempts FROM o, d""",
    delivered=in_local_range(sql.Identifier("o", "delivered_at")),
    dead=in_local_range(sql.Identifier("o", "dead_at")),
    started=in_local_range(sql.Identifier("d", "started_at")),
)

_FAILED = compose(
    """
SELECT d.started_at AT TIME ZONE z.timezone AS attempted, o.event_type, d.attempt, d.outcome,
       d.http_status, d.error, d.duration_seconds, d.next_attempt_at AT TIME ZONE z.timezone AS next_attempt,
       {booking} AS booking, c.name AS customer, {message} AS message
  FROM notification_deliveries d
  JOIN businesses z ON z.id = d.business_id
  JOIN notification_outbox o ON o.business_id = d.business_id AND o.id = d.outbox_id
  LEFT JOIN bookings b ON b.business_id = o.business_id AND b.id = o.booking_id
  LEFT JOIN customers c ON c.business_id = b.business_id AND c.id = b.customer_id
 WHERE d.business_id = :b AND d.outcome <> 'delivered' AND {started}
 ORDER BY d.started_at DESC, d.outbox_id, d.attempt DESC LIMIT :limit""",
    booking=ref("o", "booking_id"),
    message=ref("d", "outbox_id"),
    started=in_local_range(sql.Identifier("d", "started_at")),
)


@dataclass(frozen=True, slots=True)
class DeliveryFigures:
    """The business's outbox now (backlog) and in the date range (delivered, dead, attempts)."""

    pending: int
    due: int
    oldest_due_seconds: float | None
    delivered: int
    dead: int
    attempts: int
    ok_attempts: int

    @property
    def success_ratio(self) -> float | None:
        """Delivered attempts / all attempts in the range."""
        return ratio(self.ok_attempts, self.attempts)


def delivery_figures(conn: Connection, scope: Scope) -> DeliveryFigures:
    b = conn.execute(_BACKLOG, {"b": scope.business_id}).one()
    done = conn.execute(_DONE, scope.params()).one()
    age = None if b.oldest_due_seconds is None else max(b.oldest_due_seconds, 0.0)
    return DeliveryFigures(b.pending, b.due, age, done.delivered, done.dead, done.attempts, done.ok_attempts)


def notification_circuits(conn: Connection) -> pd.DataFrame:
    """The circuit of every webhook endpoint as its dispatcher last saved it (notifications.circuits)."""
    rows = [asdict(c) for c in notifications.circuits(conn)]
    return pd.DataFrame(rows, columns=[f.name for f in fields(notifications.CircuitRow)])


def failed_attempts(conn: Connection, scope: Scope, *, limit: int = 20) -> pd.DataFrame:
    """The business's latest failed delivery attempts in the date range, newest first, in local time.

    `booking` is the booking's reference, `message` the outbox message's (same format).
    """
    return frame(conn, _FAILED, scope.params() | {"limit": limit})
