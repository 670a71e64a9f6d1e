"""The metric families of a scrape: each reads its named queries (booking_core.reports.ops) and builds its metrics.

A family is a function of a connection and the scrape's `now`. LIVE_FAMILIES are read at every
scrape; HISTORY_FAMILIES are full passes over large tables (see metrics.collector.BookingCollector).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from sqlalchemy import Connection

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


LIVE_FAMILIES: tuple[Family, ...] = (capacity, integrity, checker, freezes, waitlist, notifications)
HISTORY_FAMILIES: tuple[Family, ...] = (
    bookings,
    refusals,
    completion,
    payments,
    waitlist_history,
    resources_and_series,
    seat_accounting,
)
