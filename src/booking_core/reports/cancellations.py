"""Cancellation and no-show rates (over time, by service, weekday and hour), lead times and causes."""

from __future__ import annotations

import pandas as pd
from psycopg import sql
from sqlalchemy import Connection

from booking_core.reports.common import CANCELLED, NO_SHOW, SLOT_SCOPE, Scope, check_grain, compose, frame

CANCEL_DIMENSIONS = ("service", "weekday", "hour")
LEAD_BUCKETS = (
    (2, "< 2 h"),
    (24, "2-24 h"),
    (72, "1-3 days"),
    (168, "3-7 days"),
    (None, "> 7 days"),
)
_RATES = ["bookings", "cancelled", "no_shows", "cancellation_rate", "no_show_rate"]

_CANCELLATIONS_OF_SCOPE = sql.SQL(
    "FROM time_slots s JOIN bookings b ON b.business_id = s.business_id AND b.slot_id = s.id"
    " JOIN booking_state_transitions t ON t.business_id = b.business_id AND t.booking_id = b.id"
    " AND t.to_status = 'cancelled' WHERE {scope}"
).format(scope=SLOT_SCOPE)

_OVER_TIME = compose(
    """
SELECT date_trunc(CAST(:grain AS text), s.local_date)::date AS period,
       count(*) AS bookings, count(*) FILTER (WHERE {cancelled}) AS cancelled,
       count(*) FILTER (WHERE {no_show}) AS no_shows,
       (count(*) FILTER (WHERE {cancelled}))::float8 / count(*) AS cancellation_rate,
       (count(*) FILTER (WHERE {no_show}))::float8 / count(*) AS no_show_rate
  FROM time_slots s JOIN bookings b ON b.business_id = s.business_id AND b.slot_id = s.id
 WHERE {scope} AND b.status <> 'draft' GROUP BY 1 ORDER BY 1""",
    cancelled=CANCELLED,
    no_show=NO_SHOW,
    scope=SLOT_SCOPE,
)

_BREAKDOWN = compose(
    """
SELECT CASE WHEN GROUPING(service) = 0 THEN 'service' WHEN GROUPING(weekday) = 0 THEN 'weekday' ELSE 'hour' END
         AS dimension, service, weekday, hour, count(*) AS bookings,
       count(*) FILTER (WHERE cancelled) AS cancelled, count(*) FILTER (WHERE no_show) AS no_shows,
       (count(*) FILTER (WHERE cancelled))::float8 / count(*) AS cancellation_rate,
       (count(*) FILTER (WHERE no_show))::float8 / count(*) AS no_show_rate
  FROM (SELECT sv.name AS service, extract(isodow FROM s.local_date)::int AS weekday,
               extract(hour FROM s.local_start)::int AS hour, {cancelled} AS cancelled, {no_show} AS no_show
          FROM time_slots s JOIN services sv ON sv.business_id = s.business_id AND sv.id = s.service_id
          JOIN bookings b ON b.business_id = s.business_id AND b.slot_id = s.id
         WHERE {scope} AND b.status <> 'draft') x
 GROUP BY GROUPING SETS ((service), (weekday), (hour))""",
    cancelled=CANCELLED,
    no_show=NO_SHOW,
    scope=SLOT_SCOPE,
)

# width_bucket numbers the buckets 0 (below the first bound) to len(bounds) (from the last on).
_LEAD_TIMES = compose(
    """
SELECT width_bucket(h, CAST(:bounds AS float8[])) AS bucket, count(*) AS cancellations,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY h) AS median_hours
  FROM (SELECT extract(epoch FROM s.starts_at - t.occurred_at) / 3600 AS h {cancellations}) x
 GROUP BY 1 ORDER BY 1""",
    cancellations=_CANCELLATIONS_OF_SCOPE,
)

_CAUSES = compose(
    """
SELECT reason, cancelled_by, count(*) AS cancellations
  FROM (SELECT coalesce(nullif(btrim(t.reason), ''), '(no reason given)') AS reason, t.actor_type::text AS cancelled_by
        {cancellations}) x
 GROUP BY GROUPING SETS ((reason), (cancelled_by))""",
    cancellations=_CANCELLATIONS_OF_SCOPE,
)


def cancellation_rates_over_time(conn: Connection, scope: Scope, grain: str = "week") -> pd.DataFrame:
    return frame(conn, _OVER_TIME, scope.params() | {"grain": check_grain(grain)})


def cancellation_breakdowns(conn: Connection, scope: Scope) -> dict[str, pd.DataFrame]:
    """Cancellation and no-show rates by service, by weekday (1 = Monday) and by local hour, in one pass."""
    df = frame(conn, _BREAKDOWN, scope.params())
    parts = {dim: df.loc[df["dimension"] == dim, [dim, *_RATES]] for dim in CANCEL_DIMENSIONS}
    for dim in ("weekday", "hour"):  # NULL in the other grouping sets made them floats
        parts[dim] = parts[dim].astype({dim: int})
    return {dim: part.sort_values(dim).reset_index(drop=True) for dim, part in parts.items()}


def cancellation_lead_times(conn: Connection, scope: Scope) -> pd.DataFrame:
    """How long before the slot bookings were cancelled, in buckets (in order)."""
    bounds = [float(hours) for hours, _ in LEAD_BUCKETS if hours is not None]
    df = frame(conn, _LEAD_TIMES, scope.params() | {"bounds": bounds})
    df["lead_time"] = [LEAD_BUCKETS[int(i)][1] for i in df["bucket"]]
    return df


def cancellation_causes(conn: Connection, scope: Scope) -> dict[str, pd.DataFrame]:
    """Cancellations by the reason given and by who cancelled (customer, admin), most frequent first."""
    df = frame(conn, _CAUSES, scope.params())
    return {
        col: df.loc[df[col].notna(), [col, "cancellations"]]
        .sort_values(["cancellations", col], ascending=[False, True])
        .reset_index(drop=True)
        for col in ("reason", "cancelled_by")
    }
