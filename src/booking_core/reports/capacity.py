"""Capacity utilization (over time, by weekday and hour, by service or resource) and the slots to contact."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import pandas as pd
from psycopg import sql
from sqlalchemy import Connection

from booking_core.reports.common import (
    SERVICE_FILTER,
    SLOT_SCOPE,
    Scope,
    as_text,
    check_grain,
    compose,
    frame,
    ref,
)

Dimension = Literal["service", "resource"]

_UTILIZATION = sql.SQL(
    "sum(s.booked_seats) AS seats, sum(s.max_capacity) AS capacity, count(*) AS slots,"
    " sum(s.booked_seats)::float8 / nullif(sum(s.max_capacity), 0) AS utilization"
)

_OVER_TIME = compose(
    "SELECT date_trunc(CAST(:grain AS text), s.local_date)::date AS period, {utilization}"
    " FROM time_slots s WHERE {scope} AND NOT s.is_legacy GROUP BY 1 ORDER BY 1",
    utilization=_UTILIZATION,
    scope=SLOT_SCOPE,
)

_HEATMAP = compose(
    "SELECT extract(isodow FROM s.local_date)::int AS weekday,"
    " extract(hour FROM s.local_start)::int AS hour, {utilization}"
    " FROM time_slots s WHERE {scope} AND NOT s.is_legacy GROUP BY 1, 2 ORDER BY 1, 2",
    utilization=_UTILIZATION,
    scope=SLOT_SCOPE,
)


def _by(dimension: Dimension, table: str) -> sql.Composable:
    # The slots are summed per service or resource first, then named: one pass over the slots
    # whatever the plan. (Joined first, a row-security filter's estimate, one row per resource,
    # once turned it into an index scan of the slots per resource: 2.6 s instead of 0.1 s.)
    return sql.SQL(
        "SELECT d.name AS {dimension}, sum(x.seats)::bigint AS seats, sum(x.capacity)::bigint AS capacity,"
        " sum(x.slots)::bigint AS slots, sum(x.seats)::float8 / nullif(sum(x.capacity), 0) AS utilization"
        " FROM (SELECT s.business_id, {key} AS id, sum(s.booked_seats) AS seats,"
        "        sum(s.max_capacity) AS capacity, count(*) AS slots"
        "         FROM time_slots s WHERE {scope} AND NOT s.is_legacy GROUP BY 1, 2) x"
        " JOIN {table} d ON d.business_id = x.business_id AND d.id = x.id"
        " GROUP BY d.name ORDER BY d.name"
    ).format(
        dimension=sql.Identifier(dimension),
        table=sql.Identifier(table),
        key=sql.Identifier("s", f"{dimension}_id"),
        scope=SLOT_SCOPE,
    )


_BY = {
    "service": as_text(_by("service", "services")),
    "resource": as_text(_by("resource", "resources")),
}

_TO_CONTACT = compose(
    """
SELECT CASE WHEN s.is_legacy THEN 'legacy' ELSE 'over-committed' END AS problem,
       s.local_date AS slot_date, s.local_start AS slot_time, sv.name AS service, r.name AS resource,
       s.max_capacity AS capacity, s.booked_seats AS booked, {booking} AS booking,
       b.status::text AS status, b.party_size, c.name AS customer, c.email, b.id::text AS booking_id
  FROM time_slots s
  JOIN services sv ON sv.business_id = s.business_id AND sv.id = s.service_id
  JOIN resources r ON r.business_id = s.business_id AND r.id = s.resource_id
  JOIN bookings b ON b.business_id = s.business_id AND b.slot_id = s.id AND booking_holds_seat(b.status)
  JOIN customers c ON c.business_id = b.business_id AND c.id = b.customer_id
 WHERE s.business_id = :b AND s.starts_at >= :now AND (s.is_legacy OR s.booked_seats > s.max_capacity)
   AND {service}
 ORDER BY s.starts_at, s.id, b.id LIMIT :limit""",
    booking=ref("b", "id"),
    service=SERVICE_FILTER,
)


def utilization_over_time(conn: Connection, scope: Scope, grain: str = "day") -> pd.DataFrame:
    return frame(conn, _OVER_TIME, scope.params() | {"grain": check_grain(grain)})


def utilization_heatmap(conn: Connection, scope: Scope) -> pd.DataFrame:
    """Utilization by ISO weekday (1 = Monday) and local start hour."""
    return frame(conn, _HEATMAP, scope.params())


def utilization_by(conn: Connection, scope: Scope, dimension: Dimension) -> pd.DataFrame:
    return frame(conn, _BY[dimension], scope.params())


def slots_to_contact(conn: Connection, scope: Scope, *, now: datetime, limit: int = 2000) -> pd.DataFrame:
    """Future over-committed and legacy slots with the bookings still holding seats in them.

    `booking` is the booking's reference; `booking_id` (text) is there for a link to its timeline.
    """
    return frame(conn, _TO_CONTACT, scope.params() | {"now": now, "limit": limit})
