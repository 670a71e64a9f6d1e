"""Named read queries about notifications: the outbox backlog, dead letters, the circuit, delivery stats.

Shared by `booking health`, and meant for the exporter's /health, the checks and the dashboard.
Every query reads a partial index (pending or dead rows), never the whole delivered history.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

_PENDING = text("""
SELECT count(*) AS pending,
       count(*) FILTER (WHERE available_at <= :now) AS due,
       min(created_at) AS oldest_pending,
       min(created_at) FILTER (WHERE available_at <= :now) AS oldest_due
  FROM notification_outbox WHERE delivered_at IS NULL AND dead_at IS NULL
""")

_DEAD = text("""
SELECT count(*) AS dead, count(*) FILTER (WHERE dead_at >= :since) AS dead_recent
  FROM notification_outbox WHERE dead_at IS NOT NULL
""")

_CIRCUITS = text("""
SELECT endpoint, state, consecutive_failures, opened_at, retry_at, updated_at, dispatcher
  FROM notification_circuit ORDER BY endpoint
""")

_DELIVERIES = text("""
SELECT count(*) AS attempts,
       count(*) FILTER (WHERE outcome = 'delivered') AS delivered,
       count(*) FILTER (WHERE outcome <> 'delivered') AS failed,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_seconds) AS median_seconds
  FROM notification_deliveries WHERE started_at >= :since AND started_at < :now
""")


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    """Messages not yet delivered (pending), those due now, their age, and messages that failed for good."""

    pending: int
    due: int
    oldest_pending_seconds: float | None
    oldest_due_seconds: float | None
    dead: int
    dead_recent: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CircuitRow:
    """The circuit of one endpoint as its dispatcher last saved it."""

    endpoint: str
    state: str
    consecutive_failures: int
    opened_at: datetime | None
    retry_at: datetime | None
    updated_at: datetime
    dispatcher: str

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(self).items()}


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else max((now - then).total_seconds(), 0.0)


def outbox_backlog(conn: Connection, *, now: datetime, dead_window: timedelta = timedelta(hours=24)) -> OutboxBacklog:
    p = conn.execute(_PENDING, {"now": now}).one()
    d = conn.execute(_DEAD, {"since": now - dead_window}).one()
    return OutboxBacklog(
        pending=p.pending,
        due=p.due,
        oldest_pending_seconds=_age(now, p.oldest_pending),
        oldest_due_seconds=_age(now, p.oldest_due),
        dead=d.dead,
        dead_recent=d.dead_recent,
    )


def circuits(conn: Connection) -> list[CircuitRow]:
    return [CircuitRow(**r._mapping) for r in conn.execute(_CIRCUITS)]


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    attempts: int
    delivered: int
    failed: int
    median_seconds: float | None


def delivery_stats(conn: Connection, *, now: datetime, window: timedelta = timedelta(hours=1)) -> DeliveryStats:
    r = conn.execute(_DELIVERIES, {"now": now, "since": now - window}).one()
    return DeliveryStats(r.attempts, r.delivered, r.failed, r.median_seconds)
