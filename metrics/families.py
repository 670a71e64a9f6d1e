"""The metric families of a scrape: each reads its named queries (booking_core.reports.ops) and builds its metrics.

A family is a function of a connection and the scrape's `now`. LIVE_FAMILIES are read at every
scrape; HISTORY_FAMILIES are full passes over large tables (see metrics.collector.BookingCollector).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from sqlalchemy import Connection, text

from booking_core.reports import check_runs, ops

Family = Callable[[Connection, datetime], list[Metric]]


def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def per_business(name: str, doc: str) -> GaugeMetricFamily:
    """A gauge with one series per business (by name): the label every business metric carries."""
    return GaugeMetricFamily(name, doc, labels=["business"])


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def bookings(conn: Connection, now: datetime) -> list[Metric]:
    rows = ops.bookings_by_status(conn, now)
    by_status = GaugeMetricFamily(
        "booking_bookings",
        "Bookings by business and current status.",
        labels=["business", "status"],
    )
    succeeded = CounterMetricFamily(
        "booking_attempts_succeeded",
        "Booking attempts that created a booking.",
        labels=["business"],
    )
    promo = CounterMetricFamily(
        "booking_promo_code_bookings",
        "Bookings made with a promo code.",
        labels=["business"],
    )
    totals: dict[str, dict[str, float]] = {}
    for r in rows:
        by_status.add_metric([r.business, r.status], r.bookings)
        t = totals.setdefault(r.business, {"all": 0, "promo": 0, "cancel_24h": 0, "cancel_base": 0})
        t["all"] += r.bookings
        t["promo"] += r.promo
        t[r.status] = r.bookings
        if r.status == "cancelled":
            t["cancel_24h"], t["cancel_base"] = r.changed_24h, r.changed_baseline
    for business, t in totals.items():
        succeeded.add_metric([business], t["all"])
        promo.add_metric([business], t["promo"])
    return [by_status, succeeded, promo, *_cancellations(totals)]


def _cancellations(totals: dict[str, dict[str, float]]) -> Iterable[Metric]:
    cancel = per_business("booking_cancellation_ratio", "Cancelled bookings over all bookings.")
    no_show = per_business(
        "booking_no_show_ratio",
        "No-shows over bookings whose guests were due (checked in, completed or no-show).",
    )
    last_24h = per_business(
        "booking_cancellations_last_24h",
        "Bookings cancelled in the last 24 hours.",
    )
    baseline = per_business(
        "booking_cancellations_baseline_daily",
        f"Average cancellations per day over the {ops.BASELINE_DAYS} days before the last 24h.",
    )
    spike = per_business(
        "booking_cancellation_spike_ratio",
        "Last 24 hours of cancellations over the daily baseline, taken as at least one a day (1 = usual; never +Inf).",
    )
    for business, t in totals.items():
        due = t.get("checked_in", 0) + t.get("completed", 0) + t.get("no_show", 0)
        daily = t["cancel_base"] / ops.BASELINE_DAYS
        cancel.add_metric([business], _ratio(t.get("cancelled", 0), t["all"]))
        no_show.add_metric([business], _ratio(t.get("no_show", 0), due))
        last_24h.add_metric([business], t["cancel_24h"])
        baseline.add_metric([business], daily)
        recent = t["cancel_24h"]
        # A quiet business's first cancellations are not a spike: below one a day the baseline is one.
        spike.add_metric([business], recent / max(daily, 1.0))
    return [cancel, no_show, last_24h, baseline, spike]


def refusals(conn: Connection, now: datetime) -> list[Metric]:
    refused = CounterMetricFamily(
        "booking_attempts_refused",
        "Booking attempts refused, by reason (full, legacy, invalid, started, unknown_slot).",
        labels=["business", "reason"],
    )
    for r in ops.refusals_by_reason(conn, now):
        refused.add_metric([r.business, r.reason], r.refusals)
    return [refused]


def completion(conn: Connection, now: datetime) -> list[Metric]:
    (r,) = ops.completion_times(conn, now)
    summary = SummaryMetricFamily(
        "booking_completion_seconds",
        "Time from draft to confirmed (pay-now bookings); average = sum / count.",
        count_value=r.completions,
        sum_value=r.seconds,
    )
    avg = gauge(
        "booking_completion_average_seconds",
        "Average time from draft to confirmed over all pay-now bookings.",
        _ratio(r.seconds, r.completions),
    )
    return [summary, avg]


def capacity(conn: Connection, now: datetime) -> list[Metric]:
    util = GaugeMetricFamily(
        "booking_capacity_utilization_ratio",
        "Booked seats over capacity of bookable (non-legacy) slots starting in the window.",
        labels=["business", "window"],
    )
    rows = ops.future_slots(conn, now)
    for r in rows:
        util.add_metric([r.business, "7d"], _ratio(r.booked_7d or 0, r.capacity_7d or 0))
        util.add_metric([r.business, "30d"], _ratio(r.booked_30d or 0, r.capacity_30d or 0))
    over = per_business(
        "booking_overcommitted_slots",
        "Slots in the next 30 days holding more seats than their capacity (after a capacity cut).",
    )
    overbooked = per_business(
        "booking_overbooked_slots",
        "Slots in the next 30 days holding more seats than capacity, no capacity change explaining it.",
    )
    legacy = per_business(
        "booking_legacy_slots_with_bookings",
        "Legacy slots (dropped from the schedule) in the next 30 days that still hold bookings.",
    )
    for r in rows:
        over.add_metric([r.business], r.overcommitted)
        overbooked.add_metric([r.business], r.overbooked)
        legacy.add_metric([r.business], r.legacy_with_bookings)
    return [util, over, overbooked, legacy]


def payments(conn: Connection, now: datetime) -> list[Metric]:
    by_status = GaugeMetricFamily("booking_payments", "Payments by business and status.", labels=["business", "status"])
    failures = CounterMetricFamily("booking_payment_failures", "Payments that failed.", labels=["business"])
    ratio = per_business(
        "booking_payment_failure_ratio",
        "Payments failed in the last hour over payments created in the last hour.",
    )
    totals: dict[str, list[float]] = {}
    for r in ops.payments_by_status(conn, now):
        by_status.add_metric([r.business, r.status], r.payments)
        t = totals.setdefault(r.business, [0, 0, 0])
        t[0] += r.payments if r.status == "failed" else 0
        t[1] += r.failed_1h
        t[2] += r.created_1h
    for business, (failed, failed_1h, created_1h) in totals.items():
        failures.add_metric([business], failed)
        ratio.add_metric([business], min(1.0, _ratio(failed_1h, created_1h)))
    refunded = CounterMetricFamily("booking_refunds", "Refunds recorded.", labels=["business"])
    for refunds in ops.refunds(conn, now):
        refunded.add_metric([refunds.business], refunds.refunds)
    return [by_status, failures, ratio, refunded]


def integrity(conn: Connection, now: datetime) -> list[Metric]:
    run = check_runs.latest_run(conn)
    out: list[Metric] = []
    if run is not None:
        at = run.finished_at or run.started_at
        out += [
            gauge(
                "booking_integrity_last_run_timestamp_seconds",
                "When the newest finished integrity check run finished (Unix time).",
                at.timestamp(),
            ),
            gauge(
                "booking_integrity_last_run_duration_seconds",
                "How long the newest finished integrity check run took.",
                run.duration_seconds or 0,
            ),
            gauge(
                "booking_integrity_last_run_errored",
                "1 if the newest finished integrity check run errored.",
                run.status == "errored",
            ),
        ]
        good = run.last_good_finished_at or run.last_good_started_at
        if good is not None:  # absent until a run completes without an errored check
            out.append(
                gauge(
                    "booking_integrity_last_good_run_timestamp_seconds",
                    "When the newest integrity check run without an errored check finished (Unix time).",
                    good.timestamp(),
                )
            )
    return [*out, *_check_results(ops.latest_check_results(conn, now))]


def _check_results(rows: list[ops.CheckResult]) -> list[Metric]:
    labels = ["check", "suite"]
    violations = GaugeMetricFamily(
        "booking_integrity_check_violations",
        "Rows the check found in its newest run (information checks count without failing).",
        labels=labels,
    )
    failed = GaugeMetricFamily(
        "booking_integrity_check_failed", "1 if the check failed (found violations) in its newest run.", labels=labels
    )
    errored = GaugeMetricFamily(
        "booking_integrity_check_errored", "1 if the check could not run (error) in its newest run.", labels=labels
    )
    duration = GaugeMetricFamily(
        "booking_integrity_check_duration_seconds", "How long the check took in its newest run.", labels=labels
    )
    last = GaugeMetricFamily(
        "booking_integrity_check_last_run_timestamp_seconds", "When the check last ran (Unix time).", labels=labels
    )
    for r in rows:
        key = [r.check_name, r.suite]
        violations.add_metric(key, r.violation_count)
        failed.add_metric(key, r.status == "failed")
        errored.add_metric(key, r.status == "errored")
        if r.duration_seconds is not None:  # the runner may time only the whole run
            duration.add_metric(key, r.duration_seconds)
        last.add_metric(key, r.run_at.timestamp())
    return [violations, failed, errored, duration, last]


def waitlist(conn: Connection, now: datetime) -> list[Metric]:
    """The live waitlist: open offers, their held seats, overdue offers, stalled promotion."""
    labels = ["business"]
    offers = GaugeMetricFamily("booking_waitlist_offers_open", "Waitlist offers open now.", labels=labels)
    seats = GaugeMetricFamily(
        "booking_waitlist_offer_held_seats",
        "Seats held by open waitlist offers (counted in booked seats).",
        labels=labels,
    )
    overdue = GaugeMetricFamily(
        "booking_waitlist_offers_overdue",
        "Open waitlist offers past their expiry: the expiry sweeper has not run since they expired.",
        labels=labels,
    )
    overdue_age = GaugeMetricFamily(
        "booking_waitlist_oldest_overdue_offer_seconds",
        "How long the oldest open offer has been past its expiry (0 if none).",
        labels=labels,
    )
    promotable = GaugeMetricFamily(
        "booking_waitlist_promotable_entries",
        "Waiting entries that fit the free seats of their bookable future slot: promotion stalled (always 0).",
        labels=labels,
    )
    for r in ops.waitlist_live(conn, now):
        key = [r.business]
        offers.add_metric(key, r.offers)
        seats.add_metric(key, r.offer_seats)
        overdue.add_metric(key, r.overdue)
        age = (now - r.oldest_overdue_at).total_seconds() if r.oldest_overdue_at is not None else 0.0
        overdue_age.add_metric(key, max(0.0, age))
        promotable.add_metric(key, r.promotable)
    return [offers, seats, overdue, overdue_age, promotable]


def waitlist_history(conn: Connection, now: datetime) -> list[Metric]:
    """Waitlist entries by status; expired and accepted offers are final, hence counters."""
    by_status = GaugeMetricFamily(
        "booking_waitlist_entries", "Waitlist entries by business and current status.", labels=["business", "status"]
    )
    expired = CounterMetricFamily(
        "booking_waitlist_offers_expired", "Waitlist offers that expired unanswered.", labels=["business"]
    )
    accepted = CounterMetricFamily(
        "booking_waitlist_offers_accepted", "Waitlist offers accepted (became bookings).", labels=["business"]
    )
    final: dict[str, dict[str, float]] = {}
    for r in ops.waitlist_by_status(conn, now):
        by_status.add_metric([r.business, r.status], r.entries)
        final.setdefault(r.business, {"expired": 0, "accepted": 0})[r.status] = r.entries
    for business, t in final.items():
        expired.add_metric([business], t["expired"])
        accepted.add_metric([business], t["accepted"])
    return [by_status, expired, accepted]


def resources_and_series(conn: Connection, now: datetime) -> list[Metric]:
    multi = CounterMetricFamily(
        "booking_multi_resource_bookings",
        "Bookings made holding further resources (room + staff + equipment).",
        labels=["business"],
    )
    series = CounterMetricFamily("booking_series_created", "Recurring booking series created.", labels=["business"])
    for r in ops.multi_resource_and_series(conn, now):
        multi.add_metric([r.business], r.multi_resource)
        series.add_metric([r.business], r.series)
    return [multi, series]


def seat_accounting(conn: Connection, now: datetime) -> list[Metric]:
    drift = GaugeMetricFamily(
        "booking_seat_accounting_drift_slots",
        "Slots in the next 30 days whose booked seats differ from the seats their bookings,"
        " resources and offers hold (always 0).",
        labels=["business"],
    )
    for r in ops.seat_drift(conn, now):
        drift.add_metric([r.business], r.drift_slots)
    return [drift]


# The waitlist's live part follows live entries through a partial index: every scrape. Seat
# accounting looks up every slot of the next 30 days in three tables: background, like the
# full passes over bookings, payments and the waitlist's history.
def notifications(conn: Connection, now: datetime) -> list[Metric]:
    """The notification outbox (partial indexes only): backlog, oldest due age, dead letters, circuits."""
    from booking_core.reports import notifications as outbox

    backlog = outbox.outbox_backlog(conn, now=now)
    circuit = GaugeMetricFamily(
        "booking_notification_circuit_state",
        "1 for the state each webhook endpoint's circuit breaker was last saved in (closed, open, half_open).",
        labels=["endpoint", "state"],
    )
    for c in outbox.circuits(conn):
        for state in ("closed", "open", "half_open"):
            circuit.add_metric([c.endpoint, state], float(c.state == state))
    return [
        gauge("booking_notifications_pending", "Notifications not yet delivered nor given up.", backlog.pending),
        gauge("booking_notifications_due", "Pending notifications due for an attempt now.", backlog.due),
        gauge(
            "booking_notifications_oldest_due_seconds",
            "Age of the oldest notification due now (0 if none): the dispatcher's lag.",
            backlog.oldest_due_seconds or 0.0,
        ),
        # Dead is final (the outbox refuses to change dead_at), so the count only grows: a counter.
        CounterMetricFamily(
            "booking_notifications_dead", "Notifications given up after their last retry (ever).", value=backlog.dead
        ),
        circuit,
    ]


def checker(conn: Connection, now: datetime) -> list[Metric]:
    """The continuous checker's findings and passes (`booking checker`): small tables, every scrape."""
    from booking_core.reports import violations

    open_ = GaugeMetricFamily(
        "booking_integrity_violations",
        "Violations the checker holds open for this check in this business.",
        labels=["check", "suite", "business"],
    )
    ids = GaugeMetricFamily(
        "booking_integrity_violation_ids_info",
        "1 per check and business with open violations; ids: the first offending subjects (+N more).",
        labels=["check", "business", "ids"],
    )
    for v in violations.open_by_check(conn):
        open_.add_metric([v.check_name, v.suite, v.business], v.open)
        ids.add_metric([v.check_name, v.business, v.ids], 1)
    last = GaugeMetricFamily(
        "booking_checker_last_pass_timestamp_seconds",
        "When the checker last finished a pass of this kind (incremental, full, chain), Unix time.",
        labels=["mode"],
    )
    errors = CounterMetricFamily(
        "booking_checker_pass_errors", "Checker passes of this kind that failed (stored).", labels=["mode"]
    )
    for p in violations.passes(conn):
        if p.last_pass_at is not None:
            last.add_metric([p.mode], p.last_pass_at.timestamp())
        errors.add_metric([p.mode], p.errors)
    unverified = per_business(
        "booking_audit_chain_unverified_rows",
        "Audit rows of the business after the last chain link the checker verified.",
    )
    for u in violations.unverified(conn):
        unverified.add_metric([u.business], u.unverified_rows)
    return [open_, ids, last, errors, unverified]


def freezes(conn: Connection, now: datetime) -> list[Metric]:
    frozen = per_business(
        "booking_business_frozen",
        "1 while ops keep the business's writes frozen (booking freeze), else 0.",
    )
    for r in ops.freezes(conn, now):
        frozen.add_metric([r.business], r.frozen)
    return [frozen]


# ------------------------------------------------------------------ retention (docs/personal-data.md)
# Per business with a retention policy (retention_policies, one row each); businesses without
# one have no series. Businesses that share a name are one series, the furthest behind: the
# oldest policy and last run (none if one of them never ran), the shortest window.
# The named queries live here until they join booking_core.reports.ops.
#
# Every scrape: the policies (one small row per business) and the newest non-dry run of each,
# one index lookup each (retention_runs_latest, business_id, started_at DESC).
RETENTION_POLICIES = text("""
SELECT biz.name AS business,
       min(p.updated_at) AS policy_updated_at,
       coalesce(min(p.erase_inactive_after_months), 0)::int AS erase_inactive_after_months,
       coalesce(min(p.purge_payloads_after_days), 0)::int AS purge_payloads_after_days,
       coalesce(min(p.drop_client_after_days), 0)::int AS drop_client_after_days,
       CASE WHEN bool_and(r.finished_at IS NOT NULL) THEN min(r.finished_at) END AS last_run_at
FROM retention_policies p
JOIN businesses biz ON biz.id = p.business_id
LEFT JOIN LATERAL (SELECT rr.finished_at FROM retention_runs rr
                    WHERE rr.business_id = p.business_id AND NOT rr.dry_run
                    ORDER BY rr.started_at DESC LIMIT 1) r ON true
GROUP BY biz.name ORDER BY 1
""")

# Background: the totals grow with every run and erasure (a row per business a day; a row per
# erased customer), so they are full passes like the other history counters. Dry runs clear
# nothing and count nothing. `cleared_table` is the run's count key: a table's name, or
# booking_audit_log_client (audit rows whose ip address and user agent were dropped).
RETENTION_CLEARED = text("""
SELECT biz.name AS business, c.key AS cleared_table, sum(c.value::bigint)::bigint AS cleared
FROM retention_policies p
JOIN businesses biz ON biz.id = p.business_id
JOIN retention_runs r ON r.business_id = p.business_id AND NOT r.dry_run
CROSS JOIN LATERAL jsonb_each_text(r.cleared) c
GROUP BY biz.name, c.key ORDER BY 1, 2
""")

# Erasures by cause, through customer_erasures' primary key (business_id, id) per business.
CUSTOMER_ERASURES = text("""
SELECT biz.name AS business,
       coalesce(sum(e.request), 0)::bigint AS request,
       coalesce(sum(e.retention), 0)::bigint AS retention,
       coalesce(sum(e.reapplied), 0)::bigint AS reapplied
FROM retention_policies p
JOIN businesses biz ON biz.id = p.business_id
CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE ce.cause = 'request') AS request,
                           count(*) FILTER (WHERE ce.cause = 'retention') AS retention,
                           count(*) FILTER (WHERE ce.cause = 'reapplied') AS reapplied
                      FROM customer_erasures ce WHERE ce.business_id = p.business_id) e
GROUP BY biz.name ORDER BY 1
""")

ERASURE_CAUSES = ("request", "retention", "reapplied")


@dataclass(frozen=True, slots=True)
class RetentionPolicy(ops.ByBusiness):
    """A business's retention windows (0: that data is kept) and its newest non-dry run (None: never)."""

    policy_updated_at: datetime
    erase_inactive_after_months: int
    purge_payloads_after_days: int
    drop_client_after_days: int
    last_run_at: datetime | None


@dataclass(frozen=True, slots=True)
class RetentionCleared(ops.ByBusiness):
    cleared_table: str
    cleared: int


@dataclass(frozen=True, slots=True)
class CustomerErasures(ops.ByBusiness):
    request: int
    retention: int
    reapplied: int


retention_policies = ops.Report(RETENTION_POLICIES, RetentionPolicy)
retention_cleared = ops.Report(RETENTION_CLEARED, RetentionCleared)
customer_erasures = ops.Report(CUSTOMER_ERASURES, CustomerErasures)

_DAY = 86400.0


def retention(conn: Connection, now: datetime) -> list[Metric]:
    """Retention policies and their newest run (`booking retention run`, daily): every scrape."""
    updated = per_business(
        "booking_retention_policy_updated_timestamp_seconds",
        "When the business's retention policy was last set (Unix time); a series per business with a policy.",
    )
    months = per_business(
        "booking_retention_erase_inactive_after_months",
        "Customers inactive this many months are erased by retention (0: kept).",
    )
    payloads = per_business(
        "booking_retention_purge_payloads_after_seconds",
        "Delivered notifications' personal parts are purged after this long (the policy's days; 0: kept).",
    )
    client = per_business(
        "booking_retention_drop_client_after_seconds",
        "Audit rows' ip addresses and user agents are dropped after this long (the policy's days; 0: kept).",
    )
    last = per_business(
        "booking_retention_last_run_timestamp_seconds",
        "When the business's newest retention run (not a dry run) finished (Unix time); absent until one did.",
    )
    for r in retention_policies(conn, now):
        key = [r.business]
        updated.add_metric(key, r.policy_updated_at.timestamp())
        months.add_metric(key, r.erase_inactive_after_months)
        payloads.add_metric(key, r.purge_payloads_after_days * _DAY)
        client.add_metric(key, r.drop_client_after_days * _DAY)
        if r.last_run_at is not None:
            last.add_metric(key, r.last_run_at.timestamp())
    return [updated, months, payloads, client, last]


def retention_history(conn: Connection, now: datetime) -> list[Metric]:
    """What retention cleared (non-dry runs), per table, and the customers erased, by cause."""
    cleared = CounterMetricFamily(
        "booking_retention_cleared_rows",
        "Rows retention runs cleared (dry runs aside), by the run's count key (a table, or booking_audit_log_client).",
        labels=["business", "table"],
    )
    for c in retention_cleared(conn, now):
        cleared.add_metric([c.business, c.cleared_table], c.cleared)
    erased = CounterMetricFamily(
        "booking_customers_erased",
        "Customers erased, by cause (request, retention, reapplied after a restore).",
        labels=["business", "cause"],
    )
    for e in customer_erasures(conn, now):
        for cause in ERASURE_CAUSES:
            erased.add_metric([e.business, cause], getattr(e, cause))
    return [cleared, erased]


LIVE_FAMILIES: tuple[Family, ...] = (capacity, integrity, checker, freezes, waitlist, notifications, retention)
HISTORY_FAMILIES: tuple[Family, ...] = (
    bookings,
    refusals,
    completion,
    payments,
    waitlist_history,
    resources_and_series,
    seat_accounting,
    retention_history,
)
