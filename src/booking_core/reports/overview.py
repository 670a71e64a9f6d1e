"""The headline figures of a period and the one before it (the overview and cancellations pages)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from booking_core.reports.common import CANCELLED, NO_SHOW, SERVICE_FILTER, Scope, compose, ratio, starts_window

_FIGURES = compose(
    """
WITH p(period, d0, d1) AS (VALUES ('current', CAST(:start AS date), CAST(:end AS date)),
                                  ('previous', CAST(:pstart AS date), CAST(:pend AS date))),
s AS NOT MATERIALIZED (
  SELECT CASE WHEN s.local_date >= CAST(:start AS date) THEN 'current' ELSE 'previous' END AS period, s.*
    FROM time_slots s
   WHERE s.business_id = :b AND s.local_date BETWEEN CAST(:pstart AS date) AND CAST(:end AS date)
     AND {window} AND {service}),
seats AS (SELECT period, sum(booked_seats) FILTER (WHERE NOT is_legacy) AS seats,
                 sum(max_capacity) FILTER (WHERE NOT is_legacy) AS capacity
            FROM s GROUP BY period),
bk AS (SELECT s.period, count(*) AS bookings, count(*) FILTER (WHERE {cancelled}) AS cancelled,
              count(*) FILTER (WHERE {no_show}) AS no_shows
         FROM s JOIN bookings b ON b.business_id = s.business_id AND b.slot_id = s.id
        WHERE b.status <> 'draft' GROUP BY s.period),
rev AS (SELECT s.period, sum(pm.amount - pm.refunded_amount) AS revenue
          FROM s JOIN bookings b ON b.business_id = s.business_id AND b.slot_id = s.id
          JOIN payments pm ON pm.business_id = b.business_id AND pm.booking_id = b.id
         WHERE pm.status IN ('paid', 'partially_refunded', 'refunded') GROUP BY s.period)
SELECT p.period, coalesce(bk.bookings, 0) AS bookings, coalesce(bk.cancelled, 0) AS cancelled,
       coalesce(bk.no_shows, 0) AS no_shows, coalesce(seats.seats, 0) AS seats,
       coalesce(seats.capacity, 0) AS capacity, coalesce(rev.revenue, 0) AS revenue
  FROM p LEFT JOIN seats USING (period) LEFT JOIN bk USING (period) LEFT JOIN rev USING (period)
""",
    window=starts_window("pstart", "end"),
    service=SERVICE_FILTER,
    cancelled=CANCELLED,
    no_show=NO_SHOW,
)


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
        return ratio(self.seats, self.capacity)

    @property
    def cancellation_rate(self) -> float | None:
        return ratio(self.cancelled, self.bookings)

    @property
    def no_show_rate(self) -> float | None:
        return ratio(self.no_shows, self.bookings)


def overview_figures(conn: Connection, scope: Scope) -> dict[str, Figures]:
    """Figures for the scope ('current') and the period of the same length before it ('previous')."""
    prev = scope.previous()
    params = scope.params() | {"pstart": prev.start, "pend": prev.end}
    rows = conn.execute(_FIGURES, params).all()
    return {
        r.period: Figures(
            int(r.bookings), int(r.cancelled), int(r.no_shows), int(r.seats), int(r.capacity), float(r.revenue)
        )
        for r in rows
    }
