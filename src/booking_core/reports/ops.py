"""Operational read queries for the Prometheus exporter: one aggregate pass per table, named.

Each function takes a SQLAlchemy connection and the scrape's `now` (so tests are deterministic),
and returns plain rows keyed by business *name* (the only business label the exporter uses:
low cardinality, readable in an alert). Businesses that share a name are summed together,
so a scrape can never carry two samples with the same labels.

Cost on 1,000,000 bookings: every query is one pass over its table (or an index range for
slots, the check results and the latest runs); nothing here joins bookings to history.
The live waitlist follows its partial indexes (cost grows with live entries), and seat
accounting is three index lookups per slot of the next 30 days (background refresh).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from psycopg import sql
from sqlalchemy import Connection, TextClause, text

from booking_core.reports.common import compose
from booking_core.reports.overbooking import over_capacity, overbooked

_SEATS = sql.Identifier("s", "booked_seats")

# Cancellations are counted by the booking's last change time (a cancelled booking does not
# change again unless refunded), which keeps the spike baseline inside the same bookings pass.
BOOKINGS_BY_STATUS = text("""
SELECT biz.name AS business, agg.status::text AS status,
       sum(agg.n)::bigint AS bookings,
       sum(agg.changed_24h)::bigint AS changed_24h,
       sum(agg.changed_baseline)::bigint AS changed_baseline,
       sum(agg.promo)::bigint AS promo
FROM (SELECT business_id, status, count(*) AS n,
             count(*) FILTER (WHERE updated_at >= :since_24h AND updated_at < :now) AS changed_24h,
             count(*) FILTER (WHERE updated_at >= :since_baseline AND updated_at < :since_24h)
               AS changed_baseline,
             count(*) FILTER (WHERE promo_code IS NOT NULL) AS promo
        FROM bookings GROUP BY business_id, status) agg
JOIN businesses biz ON biz.id = agg.business_id
GROUP BY biz.name, agg.status ORDER BY 1, 2
""")

REFUSALS_BY_REASON = text("""
SELECT biz.name AS business, agg.reason::text AS reason, sum(agg.n)::bigint AS refusals
FROM (SELECT business_id, reason, count(*) AS n FROM booking_refusals
       GROUP BY business_id, reason) agg
JOIN businesses biz ON biz.id = agg.business_id
GROUP BY biz.name, agg.reason ORDER BY 1, 2
""")

# Draft -> confirmed: a draft is created with its booking, so the booking's created_at is
# the start. Only pay-now bookings walk this edge.
COMPLETION_TIMES = text("""
SELECT count(*)::bigint AS completions,
       coalesce(sum(extract(epoch FROM t.occurred_at - b.created_at)), 0)::float8 AS seconds
FROM booking_state_transitions t
JOIN bookings b ON b.business_id = t.business_id AND b.id = t.booking_id
WHERE t.from_status = 'draft' AND t.to_status = 'confirmed'
""")

# One pass over the slots of the next 30 days, per business through time_slots_business_starts
# (business_id, starts_at): an index range per business instead of every slot ever published.
# 30 days keeps the scrape cheap (the range is a third of a 13-week horizon) and covers the
# slots ops can still act on soonest; the integrity checks cover every slot, past and future.
# Utilization: booked seats over capacity of bookable (non-legacy) slots in the next 7 / 30 days.
# Over-committed: more seats held than capacity (a capacity cut can do that legitimately).
# Overbooked (reports.overbooking, the integrity rule's definition): over-committed with no
# capacity change on record that explains it - the database refuses this, so a non-zero value
# means something bypassed it. Seats are the slot's counter, which seat_drift checks.
FUTURE_SLOTS = compose(
    """
SELECT biz.name AS business,
       sum(f.booked_7d)::bigint AS booked_7d, sum(f.capacity_7d)::bigint AS capacity_7d,
       sum(f.booked_30d)::bigint AS booked_30d, sum(f.capacity_30d)::bigint AS capacity_30d,
       sum(f.overcommitted)::bigint AS overcommitted, sum(f.overbooked)::bigint AS overbooked,
       sum(f.legacy_with_bookings)::bigint AS legacy_with_bookings
FROM businesses biz CROSS JOIN LATERAL (
  SELECT sum(s.booked_seats) FILTER (WHERE bookable AND s.starts_at < :until_7d) AS booked_7d,
         sum(s.max_capacity) FILTER (WHERE bookable AND s.starts_at < :until_7d) AS capacity_7d,
         sum(s.booked_seats) FILTER (WHERE bookable) AS booked_30d,
         sum(s.max_capacity) FILTER (WHERE bookable) AS capacity_30d,
         count(*) FILTER (WHERE {over_capacity}) AS overcommitted,
         count(*) FILTER (WHERE {overbooked}) AS overbooked,
         count(*) FILTER (WHERE s.is_legacy AND s.booked_seats > 0) AS legacy_with_bookings,
         count(*) AS slots
    FROM time_slots s CROSS JOIN LATERAL (SELECT NOT s.is_legacy AS bookable) k
   WHERE s.business_id = biz.id AND s.starts_at >= :now AND s.starts_at < :until_30d) f
WHERE f.slots > 0
GROUP BY biz.name ORDER BY 1
""",
    over_capacity=over_capacity("s", _SEATS),
    overbooked=overbooked("s", _SEATS),
)

PAYMENTS_BY_STATUS = text("""
SELECT biz.name AS business, agg.status::text AS status, sum(agg.n)::bigint AS payments,
       sum(agg.created_1h)::bigint AS created_1h, sum(agg.failed_1h)::bigint AS failed_1h
FROM (SELECT business_id, status, count(*) AS n,
             count(*) FILTER (WHERE created_at >= :since_1h) AS created_1h,
             count(*) FILTER (WHERE status = 'failed' AND updated_at >= :since_1h) AS failed_1h
        FROM payments GROUP BY business_id, status) agg
JOIN businesses biz ON biz.id = agg.business_id
GROUP BY biz.name, agg.status ORDER BY 1, 2
""")

REFUNDS = text("""
SELECT biz.name AS business, sum(agg.n)::bigint AS refunds
FROM (SELECT business_id, count(*) AS n FROM refunds GROUP BY business_id) agg
JOIN businesses biz ON biz.id = agg.business_id
GROUP BY biz.name ORDER BY 1
""")

# Each check's result from the newest finished run that ran it (a run may cover one suite).
LATEST_CHECK_RESULTS = text("""
SELECT DISTINCT ON (r.check_name)
       r.check_name, r.suite, r.status, r.violation_count, r.duration_seconds,
       coalesce(run.finished_at, run.started_at) AS run_at
FROM (SELECT id, started_at, finished_at FROM integrity_check_runs WHERE status <> 'running'
       ORDER BY started_at DESC LIMIT :recent_runs) run
JOIN integrity_check_results r ON r.run_id = run.id
ORDER BY r.check_name, run.started_at DESC
""")


# ---------------------------------------------------------------- waitlists, resources, series

# The live waitlist, at every scrape. Offers through the partial index waitlist_entries_offers;
# waiting entries through waitlist_entries_queue, each looking up its slot by primary key
# (OFFSET 0 keeps that a lookup per entry: otherwise the planner hashes every slot ever
# published, and the cost would follow time_slots instead of the live entries).
# Overdue: offers still open after their expiry - the sweeper (`booking waitlist expire`)
# turns them into expired and passes the seats on; `oldest_overdue_at` says for how long.
# Promotable: waiting entries that fit the free seats of a bookable future slot. Promotion
# offers freed seats in the transaction that frees them, so a committed snapshot shows none
# unless promotion stalled (the rule waitlist_promote applies: not legacy, not started).
WAITLIST_LIVE = text("""
SELECT biz.name AS business,
       sum(agg.offers)::bigint AS offers, sum(agg.offer_seats)::bigint AS offer_seats,
       sum(agg.overdue)::bigint AS overdue, min(agg.oldest_overdue_at) AS oldest_overdue_at,
       sum(agg.waiting)::bigint AS waiting, sum(agg.promotable)::bigint AS promotable
FROM (SELECT business_id, count(*) AS offers, sum(party_size) AS offer_seats,
             count(*) FILTER (WHERE offer_expires_at <= :now) AS overdue,
             min(offer_expires_at) FILTER (WHERE offer_expires_at <= :now) AS oldest_overdue_at,
             0 AS waiting, 0 AS promotable
        FROM waitlist_entries WHERE status = 'offered' GROUP BY business_id
      UNION ALL
      SELECT w.business_id, 0, 0, 0, NULL, count(*), count(*) FILTER (WHERE f.fits)
        FROM waitlist_entries w CROSS JOIN LATERAL (
               SELECT NOT s.is_legacy AND s.starts_at > :now
                      AND w.party_size <= s.max_capacity - s.booked_seats AS fits
                 FROM time_slots s WHERE s.business_id = w.business_id AND s.id = w.slot_id OFFSET 0) f
       WHERE w.status = 'waiting' GROUP BY w.business_id) agg
JOIN businesses biz ON biz.id = agg.business_id
GROUP BY biz.name ORDER BY 1
""")

# Every entry ever, by status: one pass over waitlist_entries (the history refresh). Entries
# are never deleted and expired / accepted are final, so those two only grow.
WAITLIST_BY_STATUS = text("""
SELECT biz.name AS business, agg.status AS status, sum(agg.n)::bigint AS entries
FROM (SELECT business_id, status, count(*) AS n FROM waitlist_entries GROUP BY business_id, status) agg
JOIN businesses biz ON biz.id = agg.business_id
GROUP BY biz.name, agg.status ORDER BY 1, 2
""")

# Bookings holding further resources (booking_resources, by its primary key) and series
# created: both tables are append-only, so both counts only grow.
MULTI_RESOURCE_AND_SERIES = text("""
SELECT biz.name AS business, sum(agg.multi_resource)::bigint AS multi_resource,
       sum(agg.series)::bigint AS series
FROM (SELECT business_id, count(DISTINCT booking_id) AS multi_resource, 0 AS series
        FROM booking_resources GROUP BY business_id
      UNION ALL
      SELECT business_id, 0, count(*) FROM booking_series GROUP BY business_id) agg
JOIN businesses biz ON biz.id = agg.business_id
GROUP BY biz.name ORDER BY 1
""")

# Seat accounting over the slots of the next 30 days: booked_seats (kept by triggers) against
# the seats slot_seat_holds finds (bookings, their extra resources, open offers). The view's
# grouping keys are pushed into each branch, so every slot is three index lookups.
# Every business with its write freeze (`booking freeze`): 1 while ops keep its writes stopped.
FREEZES = text("SELECT name AS business, (frozen_at IS NOT NULL)::int AS frozen FROM businesses")

SEAT_DRIFT = text("""
SELECT biz.name AS business, count(*) FILTER (WHERE s.booked_seats <> h.seats)::bigint AS drift_slots
FROM businesses biz
JOIN time_slots s ON s.business_id = biz.id AND s.starts_at >= :now AND s.starts_at < :until_30d
CROSS JOIN LATERAL (SELECT coalesce(sum(v.seats), 0) AS seats FROM slot_seat_holds v
                     WHERE v.business_id = s.business_id AND v.slot_id = s.id) h
GROUP BY biz.name ORDER BY 1
""")


@dataclass(frozen=True, slots=True)
class Windows:
    """The time windows of one scrape, all derived from its `now`."""

    now: datetime

    def params(self) -> dict[str, Any]:
        n = self.now
        return {
            "now": n,
            "since_1h": n - timedelta(hours=1),
            "since_24h": n - timedelta(hours=24),
            "since_baseline": n - timedelta(days=29),
            "until_7d": n + timedelta(days=7),
            "until_30d": n + timedelta(days=30),
            "recent_runs": 50,
        }


BASELINE_DAYS = 28


# ---------------------------------------------------------------- rows, by business name
@dataclass(frozen=True, slots=True)
class ByBusiness:
    """A row about one business, by its name."""

    business: str


@dataclass(frozen=True, slots=True)
class BookingsByStatus(ByBusiness):
    """Bookings of one status; changed_* by last change time; promo: made with a promo code."""

    status: str
    bookings: int
    changed_24h: int
    changed_baseline: int
    promo: int


@dataclass(frozen=True, slots=True)
class Refusals(ByBusiness):
    reason: str
    refusals: int


@dataclass(frozen=True, slots=True)
class CompletionTimes:
    """How many drafts were confirmed, and their total wait."""

    completions: int
    seconds: float


@dataclass(frozen=True, slots=True)
class FutureSlots(ByBusiness):
    """Seats and capacity of the slots starting in the next 7 and 30 days (None: no bookable slot)."""

    booked_7d: int | None
    capacity_7d: int | None
    booked_30d: int | None
    capacity_30d: int | None
    overcommitted: int
    overbooked: int
    legacy_with_bookings: int


@dataclass(frozen=True, slots=True)
class PaymentsByStatus(ByBusiness):
    status: str
    payments: int
    created_1h: int
    failed_1h: int


@dataclass(frozen=True, slots=True)
class Refunds(ByBusiness):
    refunds: int


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's result in the newest finished run that ran it."""

    check_name: str
    suite: str
    status: str
    violation_count: int
    duration_seconds: float | None
    run_at: datetime


@dataclass(frozen=True, slots=True)
class WaitlistLive(ByBusiness):
    offers: int
    offer_seats: int
    overdue: int
    oldest_overdue_at: datetime | None
    waiting: int
    promotable: int


@dataclass(frozen=True, slots=True)
class WaitlistByStatus(ByBusiness):
    status: str
    entries: int


@dataclass(frozen=True, slots=True)
class MultiResourceAndSeries(ByBusiness):
    multi_resource: int
    series: int


@dataclass(frozen=True, slots=True)
class SeatDrift(ByBusiness):
    drift_slots: int


@dataclass(frozen=True, slots=True)
class Freeze(ByBusiness):
    frozen: int


Row = TypeVar("Row")


@dataclass(frozen=True, slots=True)
class Report(Generic[Row]):
    """A named query of the exporter and the row type it returns; call it with a connection and `now`."""

    stmt: TextClause
    row: type[Row]

    def __call__(self, conn: Connection, now: datetime) -> list[Row]:
        # Pass only the windows this statement names.
        named = set(self.stmt.compile().params)
        wanted = {k: v for k, v in Windows(now).params().items() if k in named}
        return [self.row(**r._mapping) for r in conn.execute(self.stmt, wanted)]


bookings_by_status = Report(BOOKINGS_BY_STATUS, BookingsByStatus)
refusals_by_reason = Report(REFUSALS_BY_REASON, Refusals)
completion_times = Report(COMPLETION_TIMES, CompletionTimes)  # one row
future_slots = Report(FUTURE_SLOTS, FutureSlots)  # slots starting in the 30 days from `now`
payments_by_status = Report(PAYMENTS_BY_STATUS, PaymentsByStatus)
refunds = Report(REFUNDS, Refunds)
latest_check_results = Report(LATEST_CHECK_RESULTS, CheckResult)
waitlist_live = Report(WAITLIST_LIVE, WaitlistLive)  # businesses with waiting or offered entries
waitlist_by_status = Report(WAITLIST_BY_STATUS, WaitlistByStatus)
multi_resource_and_series = Report(MULTI_RESOURCE_AND_SERIES, MultiResourceAndSeries)
freezes = Report(FREEZES, Freeze)
seat_drift = Report(SEAT_DRIFT, SeatDrift)  # slots of the next 30 days whose booked_seats differ from the holds
