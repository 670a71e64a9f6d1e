"""Named read queries for the dashboard and the exporter: utilization, cancellations, audit, integrity, export,
waitlists and notification delivery.

Every aggregation happens here, in SQL; callers get pandas frames (or one small record) back.
Dates are a business's local calendar dates (time_slots.local_date is the wall-clock date of
the slot's instant in the business's timezone), so every figure is in the business's own time
zone. Connections come from
`readonly_engine()`: role booking_readonly, read-only transactions, so a reader cannot change a booking.

What a person reads carries names, never ids: businesses, customers, services and resources by name, slots
by local date and time, bookings by their short reference (`booking_ref`). Frames hold strings, never
UUID objects (which a browser table would show as bytes); a full id is kept only where a link needs it
(a `booking_id` text column the pages hide) and in export files.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

import pandas as pd  # type: ignore[import-untyped]
from sqlalchemy import Connection, Engine, create_engine, event, text

from booking_core.config import sqlalchemy_url
from booking_core.domain.errors import InvalidInput
from booking_core.reports import notifications

Grain = Literal["day", "week", "month"]
GRAINS: tuple[Grain, ...] = ("day", "week", "month")

# A booking was cancelled (or no-show) if it is in that state, or was refunded from it.
_WAS = (
    "(b.status = '{s}' OR (b.status = 'refunded' AND EXISTS (SELECT 1 FROM booking_state_transitions t"
    " WHERE t.business_id = b.business_id AND t.booking_id = b.id AND t.to_status = '{s}')))"
)
CANCELLED = _WAS.format(s="cancelled")
NO_SHOW = _WAS.format(s="no_show")
PAID = "pm.status IN ('paid', 'partially_refunded', 'refunded')"
# The starts_at window is implied by the local dates (no time zone is more than 14 h off UTC); it is
# there so the planner can use the (business_id, starts_at) index and estimate the slots it gets.
STARTS_WINDOW = (
    "s.starts_at >= CAST(:{d0} AS date) - interval '1 day' AND s.starts_at < CAST(:{d1} AS date) + interval '2 days'"
)
SLOT_SCOPE = (
    "s.business_id = :b AND s.local_date BETWEEN :start AND :end AND "
    + STARTS_WINDOW.format(d0="start", d1="end")
    + " AND (CAST(:service AS uuid) IS NULL OR s.service_id = CAST(:service AS uuid))"
)
BOOKING_OF_SLOT = "JOIN bookings b ON b.business_id = s.business_id AND b.slot_id = s.id"
UUID_RE = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_HEX8 = re.compile(r"[0-9A-F]{8}")


# ---------------------------------------------------------------- names a person reads
def booking_ref(booking_id: uuid.UUID | str) -> str:
    """A booking's short reference, as every page and export shows it: its id's last 8 hex digits, `7F3A-91C2`.

    The last digits, not the first: ids are UUIDv7, whose first 12 digits are a millisecond timestamp
    (every booking of the same minute starts alike), while the last 8 are random. A reference names
    a booking among a business's bookings with the customer and slot beside it; it is not a key
    (two bookings of a large history can share one), so lookups by reference list every match.
    """
    digits = uuid.UUID(str(booking_id)).hex[-8:].upper()
    return f"{digits[:4]}-{digits[4:]}"


def ref_sql(col: str) -> str:
    """`booking_ref` in SQL, for a uuid column."""
    return f"upper(substr({col}::text, 29, 4) || '-' || substr({col}::text, 33, 4))"


def parse_booking_ref(text_: str) -> str | None:
    """A reference as typed (any case, with or without the dash) as `booking_ref` prints it; None if it is not one."""
    digits = text_.strip().replace("-", "").upper()
    return f"{digits[:4]}-{digits[4:]}" if _HEX8.fullmatch(digits) else None


def slot_label_sql(alias: str) -> str:
    """A slot as a person names it: its local date and start time (`2030-01-10 14:00`)."""
    return f"to_char({alias}.local_date, 'YYYY-MM-DD') || ' ' || to_char({alias}.local_start, 'HH24:MI')"


# Who acted, by name: a customer actor by the customer's name; admins and systems by the id they gave.
ACTOR_NAME = f"""CASE WHEN a.performed_by = 'customer' AND a.performed_by_id ~ '{UUID_RE}'
     THEN coalesce((SELECT c.name FROM customers c WHERE c.business_id = a.business_id
                     AND c.id = CAST(a.performed_by_id AS uuid)), 'unknown customer')
     ELSE a.performed_by_id END"""


def readonly_engine(url: str, *, pool_size: int = 3) -> Engine:
    """An engine whose every connection is `SET ROLE booking_readonly` and read-only by default."""
    engine = create_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=2,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 5, "application_name": "booking_dashboard"},
    )

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_conn: Any, _record: Any) -> None:
        # Committed at once: SET inside the pool's first transaction would be undone by its rollback.
        with dbapi_conn.cursor() as cur:
            cur.execute("SET ROLE booking_readonly")
            cur.execute("SET default_transaction_read_only = on")
            # Reports are short aggregations: JIT compiling costs more than it saves, and sorts of a
            # few hundred thousand rows should stay in memory.
            cur.execute("SET jit = off")
            cur.execute("SET work_mem = '64MB'")
        dbapi_conn.commit()

    return engine


@dataclass(frozen=True, slots=True)
class Scope:
    """One business, an inclusive range of its local dates, and optionally one service."""

    business_id: uuid.UUID
    start: date
    end: date
    service_id: uuid.UUID | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InvalidInput("the date range ends before it starts: pick an end on or after the start")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Scope:
        """The period of the same length just before this one."""
        return replace(self, start=self.start - timedelta(days=self.days), end=self.start - timedelta(days=1))

    def params(self) -> dict[str, Any]:
        service = str(self.service_id) if self.service_id else None
        return {"b": self.business_id, "start": self.start, "end": self.end, "service": service}


def frame(conn: Connection, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
    result = conn.execute(text(sql), params or {})
    return pd.DataFrame(result.all(), columns=list(result.keys()))


# ---------------------------------------------------------------- catalogue
def businesses(conn: Connection) -> pd.DataFrame:
    return frame(conn, "SELECT id, name, timezone, currency FROM businesses ORDER BY name, id")


def services(conn: Connection, business_id: uuid.UUID) -> pd.DataFrame:
    return frame(
        conn,
        "SELECT id, name FROM services WHERE business_id = :b ORDER BY name",
        {"b": business_id},
    )


def slot_date_range(conn: Connection, business_id: uuid.UUID) -> tuple[date | None, date | None]:
    """The first and last local date with a slot (both None for a business without slots)."""
    row = conn.execute(
        text("SELECT min(local_date), max(local_date) FROM time_slots WHERE business_id = :b"),
        {"b": business_id},
    ).one()
    return row[0], row[1]


# ---------------------------------------------------------------- overview
OVERVIEW_SQL = f"""
WITH p(period, d0, d1) AS (VALUES ('current', CAST(:start AS date), CAST(:end AS date)),
                                  ('previous', CAST(:pstart AS date), CAST(:pend AS date))),
s AS NOT MATERIALIZED (
  SELECT CASE WHEN s.local_date >= CAST(:start AS date) THEN 'current' ELSE 'previous' END AS period, s.*
    FROM time_slots s
   WHERE s.business_id = :b AND s.local_date BETWEEN CAST(:pstart AS date) AND CAST(:end AS date)
     AND {STARTS_WINDOW.format(d0="pstart", d1="end")}
     AND (CAST(:service AS uuid) IS NULL OR s.service_id = CAST(:service AS uuid))),
seats AS (SELECT period, sum(booked_seats) FILTER (WHERE NOT is_legacy) AS seats,
                 sum(max_capacity) FILTER (WHERE NOT is_legacy) AS capacity
            FROM s GROUP BY period),
bk AS (SELECT s.period, count(*) AS bookings, count(*) FILTER (WHERE {CANCELLED}) AS cancelled,
              count(*) FILTER (WHERE {NO_SHOW}) AS no_shows
         FROM s {BOOKING_OF_SLOT} WHERE b.status <> 'draft' GROUP BY s.period),
rev AS (SELECT s.period, sum(pm.amount - pm.refunded_amount) AS revenue
          FROM s {BOOKING_OF_SLOT}
          JOIN payments pm ON pm.business_id = b.business_id AND pm.booking_id = b.id
         WHERE {PAID} GROUP BY s.period)
SELECT p.period, coalesce(bk.bookings, 0) AS bookings, coalesce(bk.cancelled, 0) AS cancelled,
       coalesce(bk.no_shows, 0) AS no_shows, coalesce(seats.seats, 0) AS seats,
       coalesce(seats.capacity, 0) AS capacity, coalesce(rev.revenue, 0) AS revenue
  FROM p LEFT JOIN seats USING (period) LEFT JOIN bk USING (period) LEFT JOIN rev USING (period)
"""


@dataclass(frozen=True, slots=True)
class Figures:
    """The headline numbers of one period."""

    bookings: int
    cancelled: int
    no_shows: int
    seats: int
    capacity: int
    revenue: float

    @property
    def utilization(self) -> float | None:
        return self.seats / self.capacity if self.capacity else None

    @property
    def cancellation_rate(self) -> float | None:
        return self.cancelled / self.bookings if self.bookings else None

    @property
    def no_show_rate(self) -> float | None:
        return self.no_shows / self.bookings if self.bookings else None


def overview_figures(conn: Connection, scope: Scope) -> dict[str, Figures]:
    """Figures for the scope ('current') and the period of the same length before it ('previous')."""
    prev = scope.previous()
    params = scope.params() | {"pstart": prev.start, "pend": prev.end}
    rows = conn.execute(text(OVERVIEW_SQL), params).all()
    return {
        r.period: Figures(
            int(r.bookings),
            int(r.cancelled),
            int(r.no_shows),
            int(r.seats),
            int(r.capacity),
            float(r.revenue),
        )
        for r in rows
    }


# ---------------------------------------------------------------- capacity utilization
def _grain(grain: str) -> str:
    if grain not in GRAINS:
        raise InvalidInput(f"unknown grain {grain!r}: use one of {', '.join(GRAINS)}")
    return grain


UTILIZATION = (
    "sum(s.booked_seats) AS seats, sum(s.max_capacity) AS capacity, count(*) AS slots,"
    " sum(s.booked_seats)::float8 / nullif(sum(s.max_capacity), 0) AS utilization"
)


def utilization_over_time(conn: Connection, scope: Scope, grain: str = "day") -> pd.DataFrame:
    sql = (
        f"SELECT date_trunc('{_grain(grain)}', s.local_date)::date AS period, {UTILIZATION}"
        f" FROM time_slots s WHERE {SLOT_SCOPE} AND NOT s.is_legacy GROUP BY 1 ORDER BY 1"
    )
    return frame(conn, sql, scope.params())


def utilization_heatmap(conn: Connection, scope: Scope) -> pd.DataFrame:
    """Utilization by ISO weekday (1 = Monday) and local start hour."""
    sql = (
        "SELECT extract(isodow FROM s.local_date)::int AS weekday,"
        f" extract(hour FROM s.local_start)::int AS hour, {UTILIZATION}"
        f" FROM time_slots s WHERE {SLOT_SCOPE} AND NOT s.is_legacy GROUP BY 1, 2 ORDER BY 1, 2"
    )
    return frame(conn, sql, scope.params())


def utilization_by(conn: Connection, scope: Scope, dimension: Literal["service", "resource"]) -> pd.DataFrame:
    table = {"service": "services", "resource": "resources"}[dimension]
    sql = (
        f"SELECT d.name AS {dimension}, {UTILIZATION} FROM time_slots s"
        f" JOIN {table} d ON d.business_id = s.business_id AND d.id = s.{dimension}_id"
        f" WHERE {SLOT_SCOPE} AND NOT s.is_legacy GROUP BY d.name ORDER BY d.name"
    )
    return frame(conn, sql, scope.params())


def slots_to_contact(conn: Connection, scope: Scope, *, now: datetime, limit: int = 2000) -> pd.DataFrame:
    """Future over-committed and legacy slots with the bookings still holding seats in them.

    `booking` is the booking's reference; `booking_id` (text) is there for a link to its timeline.
    """
    sql = f"""
    SELECT CASE WHEN s.is_legacy THEN 'legacy' ELSE 'over-committed' END AS problem,
           s.local_date AS slot_date, s.local_start AS slot_time, sv.name AS service, r.name AS resource,
           s.max_capacity AS capacity, s.booked_seats AS booked, {ref_sql("b.id")} AS booking,
           b.status::text AS status, b.party_size, c.name AS customer, c.email, b.id::text AS booking_id
      FROM time_slots s
      JOIN services sv ON sv.business_id = s.business_id AND sv.id = s.service_id
      JOIN resources r ON r.business_id = s.business_id AND r.id = s.resource_id
      {BOOKING_OF_SLOT} AND booking_holds_seat(b.status)
      JOIN customers c ON c.business_id = b.business_id AND c.id = b.customer_id
     WHERE s.business_id = :b AND s.starts_at >= :now AND (s.is_legacy OR s.booked_seats > s.max_capacity)
       AND (CAST(:service AS uuid) IS NULL OR s.service_id = CAST(:service AS uuid))
     ORDER BY s.starts_at, s.id, b.id LIMIT :limit"""
    return frame(conn, sql, scope.params() | {"now": now, "limit": limit})


# ---------------------------------------------------------------- cancellations
BOOKINGS_IN_SCOPE = f"FROM time_slots s {BOOKING_OF_SLOT} WHERE {SLOT_SCOPE} AND b.status <> 'draft'"
RATES = (
    f"count(*) AS bookings, count(*) FILTER (WHERE {CANCELLED}) AS cancelled,"
    f" count(*) FILTER (WHERE {NO_SHOW}) AS no_shows,"
    f" (count(*) FILTER (WHERE {CANCELLED}))::float8 / count(*) AS cancellation_rate,"
    f" (count(*) FILTER (WHERE {NO_SHOW}))::float8 / count(*) AS no_show_rate"
)
CANCEL_DIMENSIONS = ("service", "weekday", "hour")
CANCEL_TRANSITION = (
    "JOIN booking_state_transitions t ON t.business_id = b.business_id AND t.booking_id = b.id"
    " AND t.to_status = 'cancelled'"
)


def cancellation_rates_over_time(conn: Connection, scope: Scope, grain: str = "week") -> pd.DataFrame:
    sql = f"SELECT date_trunc('{_grain(grain)}', s.local_date)::date AS period, {RATES} {BOOKINGS_IN_SCOPE}"
    return frame(conn, sql + " GROUP BY 1 ORDER BY 1", scope.params())


BREAKDOWN_SQL = f"""
SELECT CASE WHEN GROUPING(service) = 0 THEN 'service' WHEN GROUPING(weekday) = 0 THEN 'weekday' ELSE 'hour' END
         AS dimension, service, weekday, hour, count(*) AS bookings,
       count(*) FILTER (WHERE cancelled) AS cancelled, count(*) FILTER (WHERE no_show) AS no_shows,
       (count(*) FILTER (WHERE cancelled))::float8 / count(*) AS cancellation_rate,
       (count(*) FILTER (WHERE no_show))::float8 / count(*) AS no_show_rate
  FROM (SELECT sv.name AS service, extract(isodow FROM s.local_date)::int AS weekday,
               extract(hour FROM s.local_start)::int AS hour, {CANCELLED} AS cancelled, {NO_SHOW} AS no_show
          FROM time_slots s JOIN services sv ON sv.business_id = s.business_id AND sv.id = s.service_id
          {BOOKING_OF_SLOT} WHERE {SLOT_SCOPE} AND b.status <> 'draft') x
 GROUP BY GROUPING SETS ((service), (weekday), (hour))"""


def cancellation_breakdowns(conn: Connection, scope: Scope) -> dict[str, pd.DataFrame]:
    """Cancellation and no-show rates by service, by weekday (1 = Monday) and by local hour, in one pass."""
    df = frame(conn, BREAKDOWN_SQL, scope.params())
    rates = ["bookings", "cancelled", "no_shows", "cancellation_rate", "no_show_rate"]
    parts = {dim: df.loc[df["dimension"] == dim, [dim, *rates]] for dim in CANCEL_DIMENSIONS}
    for dim in ("weekday", "hour"):  # NULL in the other grouping sets made them floats
        parts[dim] = parts[dim].astype({dim: int})
    return {dim: part.sort_values(dim).reset_index(drop=True) for dim, part in parts.items()}


LEAD_BUCKETS = (
    (2, "< 2 h"),
    (24, "2-24 h"),
    (72, "1-3 days"),
    (168, "3-7 days"),
    (None, "> 7 days"),
)


def cancellation_lead_times(conn: Connection, scope: Scope) -> pd.DataFrame:
    """How long before the slot bookings were cancelled, in buckets (in order)."""
    cases = " ".join(f"WHEN h < {hours} THEN {i}" for i, (hours, _) in enumerate(LEAD_BUCKETS) if hours is not None)
    sql = (
        f"SELECT CASE {cases} ELSE {len(LEAD_BUCKETS) - 1} END AS bucket, count(*) AS cancellations,"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY h) AS median_hours FROM ("
        " SELECT extract(epoch FROM s.starts_at - t.occurred_at) / 3600 AS h"
        f" FROM time_slots s {BOOKING_OF_SLOT} {CANCEL_TRANSITION} WHERE {SLOT_SCOPE}) x GROUP BY 1 ORDER BY 1"
    )
    df = frame(conn, sql, scope.params())
    df["lead_time"] = [LEAD_BUCKETS[int(i)][1] for i in df["bucket"]]
    return df


CAUSES_SQL = f"""
SELECT reason, cancelled_by, count(*) AS cancellations
  FROM (SELECT coalesce(nullif(btrim(t.reason), ''), '(no reason given)') AS reason, t.actor_type::text AS cancelled_by
          FROM time_slots s {BOOKING_OF_SLOT} {CANCEL_TRANSITION} WHERE {SLOT_SCOPE}) x
 GROUP BY GROUPING SETS ((reason), (cancelled_by))"""


def cancellation_causes(conn: Connection, scope: Scope) -> dict[str, pd.DataFrame]:
    """Cancellations by the reason given and by who cancelled (customer, admin), most frequent first."""
    df = frame(conn, CAUSES_SQL, scope.params())
    return {
        col: df.loc[df[col].notna(), [col, "cancellations"]]
        .sort_values(["cancellations", col], ascending=[False, True])
        .reset_index(drop=True)
        for col in ("reason", "cancelled_by")
    }


# ---------------------------------------------------------------- audit
@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Audit log filters; None means any. `action` matches a prefix (e.g. 'booking.status');
    `actor_id` matches the id an actor gave or a customer actor's name."""

    booking_id: uuid.UUID | None = None
    actor_type: str | None = None
    actor_id: str | None = None
    action: str | None = None
    channel: str | None = None


# What an audit row is about, by name: the business, service, resource, customer or slot it changed,
# a schedule by its version, a booking (and its payments and refunds) by the booking's reference.
SUBJECT = f"""CASE
  WHEN a.entity_type = 'booking' THEN 'booking ' || {ref_sql("a.booking_id")}
  WHEN a.booking_id IS NOT NULL THEN a.entity_type || ' of booking ' || {ref_sql("a.booking_id")}
  WHEN a.entity_type = 'business' THEN z.name
  WHEN a.entity_type = 'service' THEN (SELECT x.name FROM services x
                                         WHERE x.business_id = a.business_id AND x.id = a.entity_id)
  WHEN a.entity_type = 'resource' THEN (SELECT x.name FROM resources x
                                          WHERE x.business_id = a.business_id AND x.id = a.entity_id)
  WHEN a.entity_type = 'customer' THEN (SELECT x.name FROM customers x
                                          WHERE x.business_id = a.business_id AND x.id = a.entity_id)
  WHEN a.entity_type = 'slot' THEN (SELECT {slot_label_sql("x")} FROM time_slots x
                                      WHERE x.business_id = a.business_id AND x.id = a.entity_id)
  WHEN a.entity_type = 'schedule' THEN (SELECT 'version ' || x.version_number FROM schedule_versions x
                                          WHERE x.business_id = a.business_id AND x.id = a.entity_id)
  END"""

AUDIT_SQL = f"""
SELECT a.id, a.occurred_at AT TIME ZONE z.timezone AS occurred_local, a.action, a.entity_type,
       coalesce({SUBJECT}, a.entity_type || ' ' || {ref_sql("a.entity_id")}) AS subject,
       {ref_sql("a.booking_id")} AS booking, c.name AS customer,
       a.performed_by::text AS actor_type, {ACTOR_NAME} AS actor,
       a.channel::text AS channel, a.reason, a.booking_id::text AS booking_id
  FROM booking_audit_log a JOIN businesses z ON z.id = a.business_id
  LEFT JOIN bookings b ON b.business_id = a.business_id AND b.id = a.booking_id
  LEFT JOIN customers c ON c.business_id = b.business_id AND c.id = b.customer_id
 WHERE a.business_id = :b
   AND a.occurred_at >= (CAST(:start AS date)::timestamp AT TIME ZONE z.timezone)
   AND a.occurred_at < ((CAST(:end AS date) + 1)::timestamp AT TIME ZONE z.timezone)
   AND (CAST(:booking AS uuid) IS NULL OR a.booking_id = CAST(:booking AS uuid))
   AND (CAST(:actor_type AS text) IS NULL OR a.performed_by::text = CAST(:actor_type AS text))
   AND (CAST(:actor_id AS text) IS NULL OR a.performed_by_id = CAST(:actor_id AS text)
        OR ({ACTOR_NAME}) = CAST(:actor_id AS text))
   AND (CAST(:action AS text) IS NULL OR a.action LIKE CAST(:action AS text) || '%')
   AND (CAST(:channel AS text) IS NULL OR a.channel::text = CAST(:channel AS text))
 ORDER BY a.id DESC LIMIT :limit
"""


def audit_log(conn: Connection, scope: Scope, where: AuditFilter, *, limit: int = 500) -> pd.DataFrame:
    """The newest audit rows of the business in the date range that match the filter.

    `subject` names what a row changed, `booking` is its booking's reference, `customer` that booking's
    customer, `actor` who acted by name; `booking_id` (text) is there for a link to the booking's timeline.
    """
    params = scope.params() | {
        "booking": str(where.booking_id) if where.booking_id else None,
        "actor_type": where.actor_type,
        "actor_id": where.actor_id,
        "action": where.action,
        "channel": where.channel,
        "limit": limit,
    }
    return frame(conn, AUDIT_SQL, params)


def booking_timeline(conn: Connection, business_id: uuid.UUID, booking_id: uuid.UUID) -> pd.DataFrame:
    """Every audit row of one booking, oldest first, with its before/after values (`actor` by name)."""
    sql = f"""
    SELECT a.id, a.occurred_at AT TIME ZONE z.timezone AS occurred_local, a.action, a.entity_type,
           a.performed_by::text AS actor_type, {ACTOR_NAME} AS actor, a.channel::text AS channel,
           a.reason, a.old_values, a.new_values
      FROM booking_audit_log a JOIN businesses z ON z.id = a.business_id
     WHERE a.business_id = :b AND a.booking_id = :bk ORDER BY a.id"""
    return frame(conn, sql, {"b": business_id, "bk": booking_id})


BOOKING_LABELS = f"""
SELECT b.id::text AS booking_id, {ref_sql("b.id")} AS booking, c.name AS customer,
       {slot_label_sql("s")} AS slot, b.status::text AS status
  FROM bookings b
  JOIN customers c ON c.business_id = b.business_id AND c.id = b.customer_id
  JOIN time_slots s ON s.business_id = b.business_id AND s.id = b.slot_id
 WHERE b.business_id = :b"""


def find_bookings(conn: Connection, business_id: uuid.UUID, wanted: str) -> pd.DataFrame:
    """The business's bookings with this reference (`7F3A-91C2`, any case, dash optional) or full id.

    Usually one row; a reference can match more (see `booking_ref`), an unknown one none. Columns:
    booking_id (text), booking (the reference), customer, slot (local date and time), status.
    """
    try:
        booking = uuid.UUID(wanted.strip())
    except ValueError:
        ref = parse_booking_ref(wanted)
        if ref is None:
            raise InvalidInput(
                f"{wanted.strip()!r} is not a booking reference: type one as shown, e.g. 7F3A-91C2"
            ) from None
        # right(): the reference's digits are the id's last 8 (no index helps; one business's bookings).
        sql = BOOKING_LABELS + " AND right(b.id::text, 8) = :digits ORDER BY b.created_at, b.id"
        return frame(conn, sql, {"b": business_id, "digits": ref.replace("-", "").lower()})
    return frame(conn, BOOKING_LABELS + " AND b.id = :bk", {"b": business_id, "bk": booking})


TIMELINE_NAMES_SQL = f"""
WITH v AS (
  SELECT DISTINCT CAST(x.value #>> '{{}}' AS uuid) AS id
    FROM booking_audit_log a
   CROSS JOIN LATERAL jsonb_each(coalesce(a.old_values, '{{}}') || coalesce(a.new_values, '{{}}')) x
   WHERE a.business_id = :b AND a.booking_id = :bk AND jsonb_typeof(x.value) = 'string'
     AND (x.value #>> '{{}}') ~ '{UUID_RE}')
SELECT v.id::text AS id,
       coalesce(z.name, c.name, sv.name, r.name, {slot_label_sql("s")}, 'schedule version ' || sch.version_number,
                'booking ' || {ref_sql("bk.id")}, 'payment of booking ' || {ref_sql("pm.booking_id")}) AS name
  FROM v
  LEFT JOIN businesses z ON z.id = v.id AND z.id = :b
  LEFT JOIN customers c ON c.business_id = :b AND c.id = v.id
  LEFT JOIN services sv ON sv.business_id = :b AND sv.id = v.id
  LEFT JOIN resources r ON r.business_id = :b AND r.id = v.id
  LEFT JOIN time_slots s ON s.business_id = :b AND s.id = v.id
  LEFT JOIN schedule_versions sch ON sch.business_id = :b AND sch.id = v.id
  LEFT JOIN bookings bk ON bk.business_id = :b AND bk.id = v.id
  LEFT JOIN payments pm ON pm.business_id = :b AND pm.id = v.id"""


def timeline_names(conn: Connection, business_id: uuid.UUID, booking_id: uuid.UUID) -> dict[str, str]:
    """A name for every id the booking's audit rows hold as a value (customer, slot, service, ...).

    Ids of nothing the business names (a cancellation token, an idempotency key) are left out:
    callers show those by their short reference.
    """
    rows = conn.execute(text(TIMELINE_NAMES_SQL), {"b": business_id, "bk": booking_id}).all()
    return {r.id: r.name for r in rows if r.name is not None}


def audit_chain_state(conn: Connection, business_id: uuid.UUID) -> dict[str, Any]:
    """The hash chain walked by audit_verify(): links, unsealed rows, the first broken link if any."""
    row = conn.execute(text("SELECT * FROM audit_verify(:b)"), {"b": business_id}).one()
    return dict(row._mapping)


# ---------------------------------------------------------------- integrity check runs
def latest_check_runs(conn: Connection, *, limit: int = 2, complete: bool = False) -> pd.DataFrame:
    """The newest finished integrity check runs, newest first, with their total violations.

    `complete`: only runs in which every check ran (none errored): the last good result.
    """
    sql = """
    SELECT r.id, r.started_at, r.finished_at, r.duration_seconds, r.status,
           coalesce(sum(x.violation_count), 0) AS violations,
           count(x.check_name) FILTER (WHERE x.status <> 'passed') AS failing_checks,
           count(x.check_name) FILTER (WHERE x.status = 'errored') AS errored_checks
      FROM integrity_check_runs r LEFT JOIN integrity_check_results x ON x.run_id = r.id
     WHERE r.status <> 'running' AND (NOT :complete OR (r.status <> 'errored' AND NOT EXISTS (
             SELECT 1 FROM integrity_check_results e WHERE e.run_id = r.id AND e.status = 'errored')))
     GROUP BY r.id ORDER BY r.started_at DESC LIMIT :limit"""
    return frame(conn, sql, {"limit": limit, "complete": complete})


def check_results(conn: Connection, run_id: uuid.UUID) -> pd.DataFrame:
    sql = """
    SELECT check_name, suite, description, status, violation_count, error, duration_seconds
      FROM integrity_check_results WHERE run_id = :r ORDER BY status <> 'passed' DESC, suite, check_name"""
    return frame(conn, sql, {"r": run_id})


def check_history(conn: Connection, *, runs: int = 30) -> pd.DataFrame:
    """Each check's status and violations over the last `runs` runs."""
    sql = """
    SELECT r.started_at, x.check_name, x.status, x.violation_count
      FROM (SELECT id, started_at FROM integrity_check_runs ORDER BY started_at DESC LIMIT :runs) r
      JOIN integrity_check_results x ON x.run_id = r.id ORDER BY r.started_at, x.check_name"""
    return frame(conn, sql, {"runs": runs})


def offending_rows(conn: Connection, run_id: uuid.UUID, business_id: uuid.UUID) -> pd.DataFrame:
    """The sampled offending rows of one run that belong to the business.

    booking (reference), customer and slot (local date and time) name the row; `detail` is the rest of
    the sampled row; `booking_id` (text) is there for a link to the booking's timeline.
    """
    sql = f"""
    SELECT x.check_name, {ref_sql("k.booking_id")} AS booking, c.name AS customer, {slot_label_sql("s")} AS slot,
           e - 'business_id' - 'booking_id' - 'slot_id' AS detail, k.booking_id::text AS booking_id
      FROM integrity_check_results x CROSS JOIN LATERAL jsonb_array_elements(x.sample) e
     CROSS JOIN LATERAL (
           SELECT CASE WHEN e->>'booking_id' ~ '{UUID_RE}' THEN CAST(e->>'booking_id' AS uuid) END AS booking_id,
                  CASE WHEN e->>'slot_id' ~ '{UUID_RE}' THEN CAST(e->>'slot_id' AS uuid) END AS slot_id) k
      LEFT JOIN bookings b ON b.business_id = CAST(:b AS uuid) AND b.id = k.booking_id
      LEFT JOIN customers c ON c.business_id = b.business_id AND c.id = b.customer_id
      LEFT JOIN time_slots s ON s.business_id = CAST(:b AS uuid) AND s.id = coalesce(k.slot_id, b.slot_id)
     WHERE x.run_id = :r AND jsonb_typeof(x.sample) = 'array' AND e->>'business_id' = CAST(:b AS text)
     ORDER BY x.check_name"""
    return frame(conn, sql, {"r": run_id, "b": str(business_id)})


# ---------------------------------------------------------------- booking history (export)
@dataclass(frozen=True, slots=True)
class ExportFilter:
    """Which bookings an export holds: None means all businesses / no bound / every status."""

    business_id: uuid.UUID | None = None
    start: date | None = None
    end: date | None = None
    statuses: tuple[str, ...] | None = None
    include_legacy: bool = True

    def params(self) -> dict[str, Any]:
        return {
            "b": str(self.business_id) if self.business_id else None,
            "start": self.start,
            "end": self.end,
            "statuses": list(self.statuses) if self.statuses else None,
            "legacy": self.include_legacy,
        }


EXPORT_WHERE = """
 WHERE (CAST(:b AS uuid) IS NULL OR b.business_id = CAST(:b AS uuid))
   AND (CAST(:start AS date) IS NULL OR s.local_date >= CAST(:start AS date))
   AND (CAST(:end AS date) IS NULL OR s.local_date <= CAST(:end AS date))
   AND (CAST(:statuses AS text[]) IS NULL OR b.status::text = ANY (CAST(:statuses AS text[])))
   AND (CAST(:legacy AS boolean) OR NOT s.is_legacy)"""

EXPORT_COLUMNS: tuple[str, ...] = (
    "business",
    "timezone",
    "booking_id",
    "status",
    "party_size",
    "service",
    "resource",
    "customer",
    "customer_email",
    "slot_date",
    "slot_time",
    "slot_starts_local",
    "legacy_slot",
    "payment_method",
    "payment_status",
    "amount",
    "paid_amount",
    "refunded_amount",
    "cancellation_fee",
    "refund_due",
    "currency",
    "created_local",
    "updated_local",
    "cancelled_local",
    "cancel_reason",
    "cancelled_by",
    "booking_ref",
)

EXPORT_SELECT = f"""
SELECT z.name AS business, z.timezone, b.id::text AS booking_id, b.status::text AS status, b.party_size,
       sv.name AS service, r.name AS resource, c.name AS customer, c.email AS customer_email,
       s.local_date AS slot_date, s.local_start AS slot_time,
       s.starts_at AT TIME ZONE z.timezone AS slot_starts_local, s.is_legacy AS legacy_slot,
       b.payment_method::text AS payment_method, b.payment_status::text AS payment_status,
       b.amount, b.paid_amount, b.refunded_amount, b.cancellation_fee, b.refund_due,
       b.currency::text AS currency,
       b.created_at AT TIME ZONE z.timezone AS created_local,
       b.updated_at AT TIME ZONE z.timezone AS updated_local,
       t.occurred_at AT TIME ZONE z.timezone AS cancelled_local, t.reason AS cancel_reason,
       t.actor_type::text AS cancelled_by, {ref_sql("b.id")} AS booking_ref
  FROM bookings b
  JOIN businesses z ON z.id = b.business_id
  JOIN time_slots s ON s.business_id = b.business_id AND s.id = b.slot_id
  JOIN services sv ON sv.business_id = s.business_id AND sv.id = s.service_id
  JOIN resources r ON r.business_id = s.business_id AND r.id = s.resource_id
  JOIN customers c ON c.business_id = b.business_id AND c.id = b.customer_id
  LEFT JOIN booking_state_transitions t ON t.business_id = b.business_id AND t.booking_id = b.id
        AND t.to_status = 'cancelled'"""


def export_count(conn: Connection, where: ExportFilter) -> int:
    sql = (
        "SELECT count(*) FROM bookings b"
        " JOIN time_slots s ON s.business_id = b.business_id AND s.id = b.slot_id" + EXPORT_WHERE
    )
    return int(conn.execute(text(sql), where.params()).scalar_one())


def export_rows(conn: Connection, where: ExportFilter, *, chunk_rows: int = 50_000) -> Iterator[Sequence[Any]]:
    """Booking history in chunks of rows (tuples in EXPORT_COLUMNS order) from a server-side cursor.

    The cursor is psycopg's own (a named cursor on the connection's transaction): a million rows
    through SQLAlchemy's Row objects cost more than the query itself. Rows come in no set order.
    """
    raw: Any = conn.connection.driver_connection
    # Plan for all rows, not the first 10% (a cursor's default), and keep the hash joins in memory.
    conn.exec_driver_sql("SET LOCAL cursor_tuple_fraction = 1.0")
    with raw.cursor(name="booking_export") as cur:
        cur.itersize = chunk_rows
        cur.execute(_pyformat(EXPORT_SELECT + EXPORT_WHERE), where.params())
        while chunk := cur.fetchmany(chunk_rows):
            yield chunk


def _pyformat(sql: str) -> str:
    """`:name` placeholders (SQLAlchemy's) as `%(name)s` (psycopg's); `::` casts stay."""
    return re.sub(r"(?<!:):(\w+)", r"%(\1)s", sql)


def export_frame(conn: Connection, where: ExportFilter, *, limit: int) -> pd.DataFrame:
    """Up to `limit` rows of the export, as a frame (the export page's preview)."""
    # No order: a preview takes the first rows found, rather than walking the key order to find them.
    return frame(conn, EXPORT_SELECT + EXPORT_WHERE + " LIMIT :limit", where.params() | {"limit": limit})


def business_by_name(conn: Connection, name: str) -> uuid.UUID:
    rows = conn.execute(text("SELECT id FROM businesses WHERE name = :n"), {"n": name}).all()
    if not rows:
        raise InvalidInput(f"no business is named {name!r}: names are case-sensitive")
    if len(rows) > 1:
        raise InvalidInput(f"{len(rows)} businesses are named {name!r}: rename one to export it alone")
    return uuid.UUID(str(rows[0][0]))


# ---------------------------------------------------------------- waitlists
# Live queues and offers are the state now (any slot date): a queue only exists ahead of its slot.
WAITLIST_FROM = """
  FROM waitlist_entries w
  JOIN businesses z ON z.id = w.business_id
  JOIN time_slots s ON s.business_id = w.business_id AND s.id = w.slot_id"""
WAITLIST_WHERE = (
    " WHERE w.business_id = :b AND (CAST(:service AS uuid) IS NULL OR s.service_id = CAST(:service AS uuid))"
)


def local_range(col: str) -> str:
    """`col` (a timestamptz) within the scope's local dates of business z (the audit log's pattern)."""
    return (
        f"{col} >= (CAST(:start AS date)::timestamp AT TIME ZONE z.timezone)"
        f" AND {col} < ((CAST(:end AS date) + 1)::timestamp AT TIME ZONE z.timezone)"
    )


WAITLIST_SQL = f"""
SELECT count(*) FILTER (WHERE w.status = 'waiting') AS waiting,
       coalesce(sum(w.party_size) FILTER (WHERE w.status = 'waiting'), 0) AS waiting_seats,
       count(*) FILTER (WHERE w.status = 'offered') AS open_offers,
       coalesce(sum(w.party_size) FILTER (WHERE w.status = 'offered'), 0) AS offered_seats,
       count(*) FILTER (WHERE {local_range("w.offered_at")}) AS offers_made,
       count(*) FILTER (WHERE w.status = 'accepted' AND {local_range("w.offered_at")}) AS accepted,
       count(*) FILTER (WHERE w.status = 'expired' AND {local_range("w.offered_at")}) AS expired
{WAITLIST_FROM}{WAITLIST_WHERE}"""


@dataclass(frozen=True, slots=True)
class WaitlistFigures:
    """Live queues and open offers (now), and what became of the offers made in the date range."""

    waiting: int
    waiting_seats: int
    open_offers: int
    offered_seats: int
    offers_made: int
    accepted: int
    expired: int

    @property
    def acceptance_rate(self) -> float | None:
        """Accepted / offers that were decided (accepted or expired)."""
        decided = self.accepted + self.expired
        return self.accepted / decided if decided else None


def waitlist_figures(conn: Connection, scope: Scope) -> WaitlistFigures:
    row = conn.execute(text(WAITLIST_SQL), scope.params()).one()
    return WaitlistFigures(**{k: int(v) for k, v in row._mapping.items()})


LONGEST_QUEUES_SQL = f"""
SELECT s.local_date AS slot_date, s.local_start AS slot_time, sv.name AS service, r.name AS resource,
       count(*) FILTER (WHERE w.status = 'waiting') AS waiting,
       coalesce(sum(w.party_size) FILTER (WHERE w.status = 'waiting'), 0) AS seats_wanted,
       count(*) FILTER (WHERE w.status = 'offered') AS open_offers,
       s.max_capacity AS capacity, s.booked_seats AS booked,
       min(w.joined_at) FILTER (WHERE w.status = 'waiting') AT TIME ZONE z.timezone AS first_joined
{WAITLIST_FROM}
  JOIN services sv ON sv.business_id = s.business_id AND sv.id = s.service_id
  JOIN resources r ON r.business_id = s.business_id AND r.id = s.resource_id
{WAITLIST_WHERE} AND w.status IN ('waiting', 'offered')
 GROUP BY s.business_id, s.id, sv.name, r.name, z.timezone
HAVING count(*) FILTER (WHERE w.status = 'waiting') > 0
 ORDER BY waiting DESC, s.starts_at, s.id LIMIT :limit"""


def longest_queues(conn: Connection, scope: Scope, *, limit: int = 10) -> pd.DataFrame:
    """The slots with the most waiting entries now, in the business's local time."""
    return frame(conn, LONGEST_QUEUES_SQL, scope.params() | {"limit": limit})


# ---------------------------------------------------------------- notification delivery
# The outbox belongs to a business; its circuit belongs to the dispatcher's endpoint (all businesses).
# The database's clock, not a rounded one passed in: a message queued seconds ago is due, and
# the page's cache (TTL_SECONDS) already bounds how often this runs.
BACKLOG_SQL = """
SELECT count(*) AS pending, count(*) FILTER (WHERE available_at <= now()) AS due,
       extract(epoch FROM now() - min(created_at) FILTER (WHERE available_at <= now()))::float8 AS oldest_due_seconds
  FROM notification_outbox WHERE business_id = :b AND delivered_at IS NULL AND dead_at IS NULL"""

DELIVERY_SQL = f"""
WITH o AS (SELECT count(*) FILTER (WHERE {local_range("o.delivered_at")}) AS delivered,
                  count(*) FILTER (WHERE {local_range("o.dead_at")}) AS dead
             FROM notification_outbox o JOIN businesses z ON z.id = o.business_id
            WHERE o.business_id = :b AND (o.delivered_at IS NOT NULL OR o.dead_at IS NOT NULL)),
     d AS (SELECT count(*) AS attempts, count(*) FILTER (WHERE d.outcome = 'delivered') AS ok_attempts
             FROM notification_deliveries d JOIN businesses z ON z.id = d.business_id
            WHERE d.business_id = :b AND {local_range("d.started_at")})
SELECT o.delivered, o.dead, d.attempts, d.ok_attempts FROM o, d"""


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
        return self.ok_attempts / self.attempts if self.attempts else None


def delivery_figures(conn: Connection, scope: Scope) -> DeliveryFigures:
    b = conn.execute(text(BACKLOG_SQL), {"b": scope.business_id}).one()
    done = conn.execute(text(DELIVERY_SQL), scope.params()).one()
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
    sql = f"""
    SELECT d.started_at AT TIME ZONE z.timezone AS attempted, o.event_type, d.attempt, d.outcome,
           d.http_status, d.error, d.duration_seconds, d.next_attempt_at AT TIME ZONE z.timezone AS next_attempt,
           {ref_sql("o.booking_id")} AS booking, c.name AS customer, {ref_sql("d.outbox_id")} AS message
      FROM notification_deliveries d
      JOIN businesses z ON z.id = d.business_id
      JOIN notification_outbox o ON o.business_id = d.business_id AND o.id = d.outbox_id
      LEFT JOIN bookings b ON b.business_id = o.business_id AND b.id = o.booking_id
      LEFT JOIN customers c ON c.business_id = b.business_id AND c.id = b.customer_id
     WHERE d.business_id = :b AND d.outcome <> 'delivered' AND {local_range("d.started_at")}
     ORDER BY d.started_at DESC, d.outbox_id, d.attempt DESC LIMIT :limit"""
    return frame(conn, sql, scope.params() | {"limit": limit})
