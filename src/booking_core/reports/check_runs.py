"""Stored integrity check runs as their readers see them: the latest run, each check's latest result, history.

The runner (checks/) writes integrity_check_runs and integrity_check_results; the dashboard's
integrity page, `booking check`, the exporter's /health and metrics read them here. An errored run
never stands in for a good one: beside the newest result every reader gets the last good one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from psycopg import sql
from sqlalchemy import Connection, text

from booking_core.reports.common import UUID_RE, compose, frame, ref, slot_label
from booking_core.reports.integrity import BY_NAME, Severity


@dataclass(frozen=True, slots=True)
class LatestRun:
    """The newest finished run; last_good_* is the newest run whose every check ran (None if none)."""

    id: uuid.UUID
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    status: str
    triggered_by: str
    errored: bool
    last_good_run_id: uuid.UUID | None
    last_good_started_at: datetime | None
    last_good_finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoredResult:
    """One check's result in one run; last_good_* is its newest result that did not error (None if none)."""

    run_id: uuid.UUID
    started_at: datetime
    check_name: str
    suite: str
    status: str
    violation_count: int
    sample: Any
    error: str | None
    duration_seconds: float | None
    severity: Severity
    description: str | None = None
    last_good_status: str | None = None
    last_good_violation_count: int | None = None
    last_good_run_id: uuid.UUID | None = None
    last_good_started_at: datetime | None = None


LATEST_RUN = text("""
SELECT r.id, r.started_at, r.finished_at, r.duration_seconds, r.status, r.triggered_by,
       r.status = 'errored' AS errored, g.id AS last_good_run_id,
       g.started_at AS last_good_started_at, g.finished_at AS last_good_finished_at
  FROM (SELECT * FROM integrity_check_runs WHERE status <> 'running' ORDER BY started_at DESC LIMIT 1) r
  LEFT JOIN LATERAL (SELECT id, started_at, finished_at FROM integrity_check_runs
                      WHERE status IN ('passed', 'failed') ORDER BY started_at DESC LIMIT 1) g ON true""")

_LATEST_RESULTS = text("""
SELECT l.*, g.status AS last_good_status, g.violation_count AS last_good_violation_count,
       g.run_id AS last_good_run_id, g.started_at AS last_good_started_at
  FROM (SELECT DISTINCT ON (r.check_name) r.run_id, run.started_at, r.check_name, r.suite,
               r.description, r.status, r.violation_count, r.sample, r.error, r.duration_seconds
          FROM integrity_check_results r JOIN integrity_check_runs run ON run.id = r.run_id
         ORDER BY r.check_name, run.started_at DESC) l
  LEFT JOIN LATERAL (SELECT r.status, r.violation_count, r.run_id, run.started_at
                       FROM integrity_check_results r JOIN integrity_check_runs run ON run.id = r.run_id
                      WHERE r.check_name = l.check_name AND r.status <> 'errored'
                      ORDER BY run.started_at DESC LIMIT 1) g ON true
 ORDER BY l.check_name""")

_ONE_CHECK = text("""
SELECT r.run_id, run.started_at, r.check_name, r.suite, r.status, r.violation_count,
       r.sample, r.error, r.duration_seconds
  FROM integrity_check_results r JOIN integrity_check_runs run ON run.id = r.run_id
 WHERE r.check_name = :name ORDER BY run.started_at DESC LIMIT :limit""")

_RUNS = text("""
SELECT r.id, r.started_at, r.finished_at, r.duration_seconds, r.status,
       coalesce(sum(x.violation_count), 0) AS violations,
       count(x.check_name) FILTER (WHERE x.status <> 'passed') AS failing_checks,
       count(x.check_name) FILTER (WHERE x.status = 'errored') AS errored_checks
  FROM integrity_check_runs r LEFT JOIN integrity_check_results x ON x.run_id = r.id
 WHERE r.status <> 'running' AND (NOT :complete OR (r.status <> 'errored' AND NOT EXISTS (
         SELECT 1 FROM integrity_check_results e WHERE e.run_id = r.id AND e.status = 'errored')))
 GROUP BY r.id ORDER BY r.started_at DESC LIMIT :limit""")

_RESULTS_OF_RUN = text("""
SELECT check_name, suite, description, status, violation_count, error, duration_seconds
  FROM integrity_check_results WHERE run_id = :r ORDER BY status <> 'passed' DESC, suite, check_name""")

_STATUSES_BY_RUN = text("""
SELECT r.started_at, x.check_name, x.status, x.violation_count
  FROM (SELECT id, started_at FROM integrity_check_runs ORDER BY started_at DESC LIMIT :runs) r
  JOIN integrity_check_results x ON x.run_id = r.id ORDER BY r.started_at, x.check_name""")

_OFFENDING = compose(
    """
SELECT x.check_name, {booking} AS booking, c.name AS customer, {slot} AS slot,
       e - 'business_id' - 'booking_id' - 'slot_id' AS detail, k.booking_id::text AS booking_id
  FROM integrity_check_results x CROSS JOIN LATERAL jsonb_array_elements(x.sample) e
 CROSS JOIN LATERAL (
       SELECT CASE WHEN e->>'booking_id' ~ {uuid_re} THEN CAST(e->>'booking_id' AS uuid) END AS booking_id,
              CASE WHEN e->>'slot_id' ~ {uuid_re} THEN CAST(e->>'slot_id' AS uuid) END AS slot_id) k
  LEFT JOIN bookings b ON b.business_id = CAST(:b AS uuid) AND b.id = k.booking_id
  LEFT JOIN customers c ON c.business_id = b.business_id AND c.id = b.customer_id
  LEFT JOIN time_slots s ON s.business_id = CAST(:b AS uuid) AND s.id = coalesce(k.slot_id, b.slot_id)
 WHERE x.run_id = :r AND jsonb_typeof(x.sample) = 'array' AND e->>'business_id' = CAST(:b AS text)
 ORDER BY x.check_name""",
    booking=ref("k", "booking_id"),
    slot=slot_label("s"),
    uuid_re=sql.Literal(UUID_RE),
)


# ---------------------------------------------------------------- records (`booking check`, /health, metrics)
def latest_run(conn: Connection) -> LatestRun | None:
    """The newest finished check run (its status may be 'errored'), or None if none ever finished."""
    row = conn.execute(LATEST_RUN).first()
    return LatestRun(**row._mapping) if row else None


def latest_results(conn: Connection) -> list[StoredResult]:
    """Per check, the result of the newest run that ran it (so `--only` runs do not hide others)."""
    return [_result(r._mapping) for r in conn.execute(_LATEST_RESULTS).all()]


def check_history(conn: Connection, check_name: str, limit: int = 50) -> list[StoredResult]:
    """The newest `limit` results of one check, newest first."""
    rows = conn.execute(_ONE_CHECK, {"name": check_name, "limit": limit}).all()
    return [_result(r._mapping) for r in rows]


def _result(row: Any) -> StoredResult:
    check = BY_NAME.get(row["check_name"])
    return StoredResult(**row, severity=check.severity if check else "error")


# ---------------------------------------------------------------- frames (the dashboard's integrity page)
def latest_check_runs(conn: Connection, *, limit: int = 2, complete: bool = False) -> pd.DataFrame:
    """The newest finished integrity check runs, newest first, with their total violations.

    `complete`: only runs in which every check ran (none errored): the last good result.
    """
    return frame(conn, _RUNS, {"limit": limit, "complete": complete})


def check_results(conn: Connection, run_id: uuid.UUID) -> pd.DataFrame:
    return frame(conn, _RESULTS_OF_RUN, {"r": run_id})


def statuses_by_run(conn: Connection, *, runs: int = 30) -> pd.DataFrame:
    """Each check's status and violations over the last `runs` runs."""
    return frame(conn, _STATUSES_BY_RUN, {"runs": runs})


def offending_rows(conn: Connection, run_id: uuid.UUID, business_id: uuid.UUID) -> pd.DataFrame:
    """The sampled offending rows of one run that belong to the business.

    booking (reference), customer and slot (local date and time) name the row; `detail` is the rest of
    the sampled row; `booking_id` (text) is there for a link to the booking's timeline.
    """
    return frame(conn, _OFFENDING, {"r": run_id, "b": str(business_id)})
