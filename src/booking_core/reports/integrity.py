"""Integrity rules as named SQL queries (one place for each rule), and reads of stored check runs.

Each rule is a SELECT of the rows that break it, with `business_id` first and the ids an
operator needs to find the row (booking_id, slot_id, payment_id, ...). Its primary table is
written `{batch}`: Great Expectations substitutes the batch it validates there (checks/), the
plain-SQL reference substitutes the table name (bench/). Every rule joins another table,
because GE renders `{batch}` as a bare parenthesised subquery only for queries with a JOIN,
so `{batch} alias` is valid SQL in both worlds. No rule may contain other braces.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, text

Severity = Literal["error", "info"]

SAMPLE_SIZE = 10

# Settings for a checking session (GE's and the plain reference's alike): the rules hash
# whole tables (a million bookings, millions of audit rows); 4MB would spill them to disk.
SESSION_OPTIONS = "-c work_mem=64MB"

# Seat-holding statuses (booking_holds_seat() in the schema), spelled out so the planner
# sees a plain IN list.
_HOLDS = "('confirmed', 'checked_in', 'completed', 'no_show')"
_PAID = "('paid', 'partially_refunded', 'refunded')"


@dataclass(frozen=True, slots=True)
class Check:
    """One integrity rule: its name, suite, what it means for ops, and the SQL of its violations."""

    name: str
    suite: str
    table: str
    description: str
    sql: str
    severity: Severity = "error"


_HELD_PER_SLOT = """
  SELECT ts.business_id, ts.id AS slot_id, ts.starts_at, ts.max_capacity, h.held_seats
    FROM {batch} ts
    JOIN (SELECT business_id, slot_id, seats AS held_seats FROM slot_seat_holds) h
      ON h.business_id = ts.business_id AND h.slot_id = ts.id
   WHERE h.held_seats > ts.max_capacity
     AND {explained} EXISTS (
       SELECT 1 FROM slot_capacity_changes c
        WHERE c.business_id = ts.business_id AND c.slot_id = ts.id
          AND c.new_capacity < c.booked_seats_at_change
          AND h.held_seats <= c.booked_seats_at_change)
"""

# The set-based form of booking_payment_status(business, booking): the same CASE over one
# GROUP BY of payments instead of one function call per booking (tests check they agree).
_DERIVED_PAYMENT_STATUS = f"""
  SELECT business_id, booking_id, CASE
      WHEN sum(amount) FILTER (WHERE status IN {_PAID}) IS NULL THEN
        CASE WHEN bool_or(status = 'failed') AND NOT bool_or(status = 'pending')
             THEN 'failed' ELSE 'pending' END
      WHEN sum(refunded_amount) = 0 THEN 'paid'
      WHEN sum(refunded_amount) >= sum(amount) FILTER (WHERE status IN {_PAID}) THEN 'refunded'
      ELSE 'partially_refunded' END::payment_status AS derived
    FROM payments GROUP BY business_id, booking_id
"""

CHECKS: list[Check] = [
    # ------------------------------------------------------------------ overbooking
    Check(
        "overbooked_slot",
        "overbooking",
        "time_slots",
        "A slot holds more seats (seat-holding bookings, the resources of multi-resource bookings "
        "and open waitlist offers) than its "
        "capacity, and no recorded capacity reduction explains it: people were booked into seats "
        "that do not exist. Contact the parties and move some to another slot.",
        _HELD_PER_SLOT.replace("{explained}", "NOT"),
    ),
    Check(
        "over_committed_by_reduction",
        "overbooking",
        "time_slots",
        "Information: a slot holds more seats than its capacity only because its capacity was "
        "reduced after the seats were booked (recorded in slot_capacity_changes). Existing "
        "bookings are honoured; no new ones are taken.",
        _HELD_PER_SLOT.replace("{explained}", ""),
        severity="info",
    ),
    Check(
        "seat_counter_drift",
        "overbooking",
        "time_slots",
        "A slot's seat counter (time_slots.booked_seats, which every new booking is checked against) "
        "differs from the seats its bookings, resource allocations and waitlist offers hold: the "
        "capacity guarantee is checking a wrong number. Someone wrote the counter or the rows with "
        "the triggers off; recount it from slot_seat_holds.",
        """
  SELECT ts.business_id, ts.id AS slot_id, ts.booked_seats, coalesce(h.seats, 0) AS held_seats
    FROM {batch} ts
    LEFT JOIN slot_seat_holds h ON h.business_id = ts.business_id AND h.slot_id = ts.id
   WHERE ts.booked_seats <> coalesce(h.seats, 0)
""",
    ),
    # ------------------------------------------------------------------ waitlists and resources
    Check(
        "waitlist_promotion_stalled",
        "waitlist_and_resources",
        "waitlist_entries",
        "A waiting entry would fit the free seats of its (future, current-schedule) slot but was "
        "never offered them: freed seats are sitting empty while a customer waits. The promotion "
        "trigger was bypassed; run waitlist_promote(business, slot).",
        """
  SELECT w.business_id, w.id AS waitlist_entry_id, w.slot_id, w.party_size,
         ts.max_capacity - ts.booked_seats AS free_seats
    FROM {batch} w
    JOIN time_slots ts ON ts.business_id = w.business_id AND ts.id = w.slot_id
   WHERE w.status = 'waiting' AND NOT ts.is_legacy AND ts.starts_at > now()
     AND w.party_size <= ts.max_capacity - ts.booked_seats
""",
    ),
    Check(
        "resource_allocation_time_mismatch",
        "waitlist_and_resources",
        "booking_resources",
        "A multi-resource booking holds a further resource (staff, equipment) in a slot at another "
        "time than the booking itself: that resource is blocked when it is not needed and missing "
        "when it is. Cancel the booking and book it again.",
        """
  SELECT r.business_id, r.booking_id, r.slot_id AS resource_slot_id, b.slot_id
    FROM {batch} r
    JOIN bookings b ON b.business_id = r.business_id AND b.id = r.booking_id
    JOIN time_slots main ON main.business_id = b.business_id AND main.id = b.slot_id
    JOIN time_slots extra ON extra.business_id = r.business_id AND extra.id = r.slot_id
   WHERE (extra.starts_at, extra.ends_at) <> (main.starts_at, main.ends_at)
""",
    ),
    # ------------------------------------------------------------------ notifications
    Check(
        "notification_failed_for_good",
        "notifications",
        "notification_outbox",
        "A notification (booking confirmed or cancelled, reminder, waitlist offer, schedule change) "
        "was given up after its last retry: the customer was never told. Check the webhook's delivery "
        "log (notification_deliveries), fix the receiver, and tell the customer another way.",
        """
  SELECT o.business_id, o.id AS notification_id, o.booking_id, o.event_type, o.attempts, o.last_error, o.dead_at
    FROM {batch} o
    JOIN businesses biz ON biz.id = o.business_id
   WHERE o.dead_at IS NOT NULL
""",
    ),
    Check(
        "notification_backlog_stale",
        "notifications",
        "notification_outbox",
        "A notification has waited more than an hour without being delivered: the dispatcher "
        "(`booking notify`) is not running, or the receiver has been failing for an hour. Start the "
        "dispatcher or fix the receiver; nothing is lost, it is delivered once they are back.",
        """
  SELECT o.business_id, o.id AS notification_id, o.booking_id, o.event_type, o.attempts, o.created_at
    FROM {batch} o
    JOIN businesses biz ON biz.id = o.business_id
   WHERE o.delivered_at IS NULL AND o.dead_at IS NULL AND o.created_at < now() - interval '1 hour'
""",
    ),
    # ------------------------------------------------------------------ payment mismatch
    Check(
        "payment_status_mismatch",
        "payment_mismatch",
        "bookings",
        "A booking's payment_status disagrees with what its payments say (paid, refunded, "
        "failed, ...). Reports and refunds read the wrong state; recompute it from the payments.",
        f"""
  SELECT b.business_id, b.id AS booking_id, b.slot_id, b.payment_status AS recorded,
         coalesce(p.derived, 'pending'::payment_status) AS derived
    FROM {{batch}} b
    LEFT JOIN ({_DERIVED_PAYMENT_STATUS}) p ON p.business_id = b.business_id AND p.booking_id = b.id
   WHERE b.payment_status IS DISTINCT FROM coalesce(p.derived, 'pending'::payment_status)
""",
    ),
    Check(
        "price_lock_broken",
        "payment_mismatch",
        "bookings",
        "A booking's amount is not its party at the unit price locked when it was made, less its "
        "discount: a later price change (or a manual edit) reached an existing booking. Restore the "
        "locked amount; charge or refund the difference only with the customer's agreement.",
        """
  SELECT b.business_id, b.id AS booking_id, b.slot_id, b.amount, b.unit_price, b.party_size, b.discount
    FROM {batch} b
    JOIN businesses biz ON biz.id = b.business_id
   WHERE b.unit_price IS NOT NULL AND b.amount <> greatest(b.unit_price * b.party_size - b.discount, 0)
""",
    ),
    Check(
        "pay_now_confirmed_unpaid",
        "payment_mismatch",
        "bookings",
        "A pay-now booking holds a seat (confirmed or later) but has no paid payment: a seat was "
        "given away without money. Collect the payment or cancel the booking.",
        f"""
  SELECT b.business_id, b.id AS booking_id, b.slot_id, b.status, b.payment_status
    FROM {{batch}} b
    LEFT JOIN payments p ON p.business_id = b.business_id AND p.booking_id = b.id
                        AND p.status IN {_PAID}
   WHERE b.payment_method = 'pay_now' AND b.status IN {_HOLDS} AND p.id IS NULL
""",
    ),
    Check(
        "paid_on_cancelled_unrefunded",
        "payment_mismatch",
        "bookings",
        "A cancelled booking still has a paid payment and no refund at all: the customer's money "
        "is kept for a service that will not happen. Refund it (or record why not).",
        """
  SELECT b.business_id, b.id AS booking_id, b.slot_id, p.id AS payment_id, p.amount, p.currency
    FROM {batch} b
    JOIN payments p ON p.business_id = b.business_id AND p.booking_id = b.id
    LEFT JOIN refunds r ON r.business_id = p.business_id AND r.payment_id = p.id
   WHERE b.status = 'cancelled' AND p.status = 'paid' AND r.id IS NULL
""",
    ),
    Check(
        "refund_exceeds_payment",
        "payment_mismatch",
        "bookings",
        "The refunds recorded against a payment add up to more than the payment: money went out "
        "that never came in. Check the refund ledger with the payment provider.",
        """
  SELECT b.business_id, b.id AS booking_id, b.slot_id, p.id AS payment_id, p.amount AS paid,
         r.refunded
    FROM {batch} b
    JOIN payments p ON p.business_id = b.business_id AND p.booking_id = b.id
    JOIN (SELECT business_id, payment_id, sum(amount) AS refunded FROM refunds
           GROUP BY business_id, payment_id) r
      ON r.business_id = p.business_id AND r.payment_id = p.id
   WHERE r.refunded > p.amount
""",
    ),
    # ------------------------------------------------------------------ orphaned bookings
    Check(
        "orphaned_booking",
        "orphaned_bookings",
        "bookings",
        "An active booking (draft, confirmed, checked-in) points at a slot that is missing, or "
        "at a slot that is neither in the current schedule nor marked legacy: the customer will "
        "arrive for a time the business no longer knows. Restore the slot or mark it legacy.",
        """
  SELECT b.business_id, b.id AS booking_id, b.slot_id, b.status,
         CASE WHEN ts.id IS NULL THEN 'slot missing'
              ELSE 'slot neither in the current schedule nor legacy' END AS problem
    FROM {batch} b
    LEFT JOIN time_slots ts ON ts.business_id = b.business_id AND ts.id = b.slot_id
    LEFT JOIN schedule_versions sv ON sv.business_id = b.business_id AND sv.is_active
   WHERE b.status IN ('draft', 'confirmed', 'checked_in')
     AND (ts.id IS NULL
          OR (NOT ts.is_legacy AND ts.schedule_version_id IS DISTINCT FROM sv.id
              AND ts.local_date >= sv.effective_date))
""",
    ),
    # ------------------------------------------------------------------ audit completeness
    Check(
        "booking_without_created_audit",
        "audit_completeness",
        "bookings",
        "A booking has no 'booking.created' audit entry: nobody can tell who made it, when or "
        "how. Find how it was written (raw SQL, a restore) and record the missing history.",
        """
  SELECT b.business_id, b.id AS booking_id, b.slot_id, b.created_at
    FROM {batch} b
    LEFT JOIN booking_audit_log a ON a.business_id = b.business_id AND a.booking_id = b.id
                                 AND a.action = 'booking.created'
   WHERE a.action IS NULL
""",
    ),
    Check(
        "transition_without_audit",
        "audit_completeness",
        "booking_state_transitions",
        "A booking state transition has no matching audit entry ('booking.created' or "
        "'booking.<new status>'): the status changed without a trace of who and why.",
        """
  SELECT t.business_id, t.booking_id, b.slot_id, t.id AS transition_id, t.from_status,
         t.to_status, t.occurred_at
    FROM {batch} t
    LEFT JOIN bookings b ON b.business_id = t.business_id AND b.id = t.booking_id
    LEFT JOIN booking_audit_log a
      ON a.business_id = t.business_id AND a.booking_id = t.booking_id
     AND a.action = CASE WHEN t.from_status IS NULL THEN 'booking.created'
                         ELSE 'booking.' || t.to_status::text END
   WHERE a.action IS NULL
""",
    ),
    Check(
        "status_not_last_transition",
        "audit_completeness",
        "bookings",
        "A booking's status is not the target of its last recorded state transition (or it has "
        "none): the status was changed outside the state machine. Review its history.",
        """
  SELECT b.business_id, b.id AS booking_id, b.slot_id, b.status, lt.to_status AS last_transition_to
    FROM {batch} b
    LEFT JOIN (SELECT DISTINCT ON (business_id, booking_id) business_id, booking_id, to_status
                 FROM booking_state_transitions ORDER BY business_id, booking_id, id DESC) lt
      ON lt.business_id = b.business_id AND lt.booking_id = b.id
   WHERE lt.to_status IS DISTINCT FROM b.status
""",
    ),
    Check(
        "audit_chain_broken",
        "audit_completeness",
        "businesses",
        "A business's sealed audit hash chain does not verify (audit_verify): an audit row was "
        "altered or deleted after sealing, or a link is missing. Treat the audit trail as "
        "tampered from this link on and restore it from a backup.",
        """
  SELECT biz.id AS business_id, a.booking_id, v.first_bad_seq, c.audit_id, v.problem
    FROM {batch} biz
    CROSS JOIN LATERAL audit_verify(biz.id) v
    LEFT JOIN audit_chain c ON c.business_id = biz.id AND c.seq = v.first_bad_seq
    LEFT JOIN booking_audit_log a ON a.business_id = c.business_id AND a.id = c.audit_id
   WHERE v.first_bad_seq IS NOT NULL
""",
    ),
    # ------------------------------------------------------------------ state validity
    Check(
        "status_outside_state_machine",
        "state_validity",
        "bookings",
        "A booking is in a status that no edge of the state machine leads to: no legal sequence "
        "of actions could have put it there.",
        """
  SELECT b.business_id, b.id AS booking_id, b.slot_id, b.status
    FROM {batch} b
    LEFT JOIN (SELECT DISTINCT to_status FROM booking_status_edges) e ON e.to_status = b.status
   WHERE e.to_status IS NULL
""",
    ),
    Check(
        "transition_not_in_state_machine",
        "state_validity",
        "booking_state_transitions",
        "A recorded state transition walks an edge the state machine does not have (for example "
        "cancelled -> confirmed): the booking's state was forced. Review the booking.",
        """
  SELECT t.business_id, t.booking_id, t.id AS transition_id, t.from_status, t.to_status,
         t.actor_type, t.occurred_at
    FROM {batch} t
    LEFT JOIN booking_status_edges e
      ON coalesce(e.from_status::text, '') = coalesce(t.from_status::text, '')
     AND e.to_status = t.to_status
   WHERE e.to_status IS NULL
""",
    ),
    Check(
        "check_in_before_slot_opens",
        "state_validity",
        "booking_state_transitions",
        "A booking was checked in more than 30 minutes before its slot starts (check-in opens "
        "30 minutes before): a clock, timezone or wrong-booking error at the front desk.",
        """
  SELECT t.business_id, t.booking_id, b.slot_id, t.id AS transition_id,
         t.occurred_at AS checked_in_at, ts.starts_at
    FROM {batch} t
    JOIN bookings b ON b.business_id = t.business_id AND b.id = t.booking_id
    JOIN time_slots ts ON ts.business_id = b.business_id AND ts.id = b.slot_id
   WHERE t.to_status = 'checked_in' AND t.occurred_at < ts.starts_at - interval '30 minutes'
""",
    ),
    # ------------------------------------------------------------------ time sanity
    Check(
        "slot_instant_mismatch",
        "time_sanity",
        "time_slots",
        "A slot's instant (starts_at) is not its local date and time in the business's timezone "
        "(DST resolved as PostgreSQL does): customers see one time, the system another.",
        """
  SELECT ts.business_id, ts.id AS slot_id, ts.local_date, ts.local_start, biz.timezone,
         ts.starts_at, (ts.local_date + ts.local_start) AT TIME ZONE biz.timezone AS expected
    FROM {batch} ts
    JOIN businesses biz ON biz.id = ts.business_id
   WHERE ts.starts_at <> (ts.local_date + ts.local_start) AT TIME ZONE biz.timezone
""",
    ),
    # ------------------------------------------------------------------ hygiene
    Check(
        "party_size_out_of_range",
        "hygiene",
        "bookings",
        "A booking's party size is below 1 or above what its service takes: seats and prices "
        "computed from it are wrong. Correct the party or split the booking.",
        """
  SELECT b.business_id, b.id AS booking_id, b.slot_id, b.party_size, s.max_party_size
    FROM {batch} b
    JOIN time_slots ts ON ts.business_id = b.business_id AND ts.id = b.slot_id
    JOIN services s ON s.business_id = ts.business_id AND s.id = ts.service_id
   WHERE b.party_size < 1 OR b.party_size > s.max_party_size
""",
    ),
    Check(
        "duplicate_idempotency_key",
        "hygiene",
        "bookings",
        "Two bookings of one business share an idempotency key: a retried request made a second "
        "booking (the unique index is missing or was bypassed). Cancel the duplicate.",
        """
  SELECT b.business_id, b.id AS booking_id, b.slot_id, b.idempotency_key,
         d.id AS duplicate_booking_id
    FROM {batch} b
    JOIN bookings d ON d.business_id = b.business_id AND d.idempotency_key = b.idempotency_key
                   AND d.id <> b.id
""",
    ),
    Check(
        "required_fields_missing",
        "hygiene",
        "bookings",
        "A booking lacks something it needs: its customer is missing or has no name, or its "
        "currency or amount is missing. Nobody can be contacted or charged; fill it in.",
        """
  SELECT b.business_id, b.id AS booking_id, b.slot_id, b.customer_id,
         CASE WHEN c.id IS NULL THEN 'customer missing'
              WHEN coalesce(btrim(c.name), '') = '' THEN 'customer has no name'
              ELSE 'currency or amount missing' END AS problem
    FROM {batch} b
    LEFT JOIN customers c ON c.business_id = b.business_id AND c.id = b.customer_id
   WHERE c.id IS NULL OR coalesce(btrim(c.name), '') = ''
      OR b.currency IS NULL OR b.amount IS NULL
""",
    ),
]

BY_NAME: dict[str, Check] = {c.name: c for c in CHECKS}
SUITES: list[str] = list(dict.fromkeys(c.suite for c in CHECKS))


def select_checks(only: list[str] | None) -> list[Check]:
    """The checks named (a check or a whole suite), in CHECKS order; all when `only` is empty.

    Raises KeyError naming the first unknown name.
    """
    if not only:
        return list(CHECKS)
    for name in only:
        if name not in BY_NAME and name not in SUITES:
            raise KeyError(name)
    wanted = set(only)
    return [c for c in CHECKS if c.name in wanted or c.suite in wanted]


def violations_query(check: Check, *, business_ids: Sequence[uuid.UUID] = (), limit: int = SAMPLE_SIZE) -> str:
    """One query for a rule: its violation count (on every row) and a sample of `limit` rows.

    `{batch}` is left in place for the caller. A business scope is inlined from UUIDs
    (never text from outside), because GE takes a query string, not parameters.
    """
    scope = ""
    if business_ids:
        listed = ", ".join(f"'{uuid.UUID(str(b))}'" for b in business_ids)
        scope = f"WHERE v.business_id IN ({listed})"
    # MATERIALIZED: the rule is planned to return all its rows (hash joins, seq scans), not
    # as if the LIMIT made a fast start worth it: the window count reads every row anyway.
    return (
        f"WITH v AS MATERIALIZED ({check.sql})\n"
        f"SELECT count(*) OVER () AS violation_count, v.* FROM v {scope} LIMIT {int(limit)}"
    )


def plain_query(check: Check, **kw: Any) -> str:
    """The rule as plain SQL on its table (the reference the benchmark compares GE against)."""
    return violations_query(check, **kw).replace("{batch}", check.table)


# ---------------------------------------------------------------------- stored runs
def latest_run(conn: Connection) -> dict[str, Any] | None:
    """The newest finished check run (id, started_at, duration_seconds, status), or None."""
    row = conn.execute(
        text(
            "SELECT id, started_at, finished_at, duration_seconds, status, triggered_by"
            " FROM integrity_check_runs WHERE status <> 'running'"
            " ORDER BY started_at DESC LIMIT 1"
        )
    ).first()
    return dict(row._mapping) if row else None


def latest_results(conn: Connection) -> list[dict[str, Any]]:
    """Per check, the result of the newest run that ran it (so `--only` runs do not hide others)."""
    rows = conn.execute(
        text(
            "SELECT DISTINCT ON (r.check_name) r.run_id, run.started_at, r.check_name, r.suite,"
            " r.description, r.status, r.violation_count, r.sample, r.error, r.duration_seconds"
            " FROM integrity_check_results r JOIN integrity_check_runs run ON run.id = r.run_id"
            " ORDER BY r.check_name, run.started_at DESC"
        )
    ).all()
    return [_with_severity(dict(r._mapping)) for r in rows]


def check_history(conn: Connection, check_name: str, limit: int = 50) -> list[dict[str, Any]]:
    """The newest `limit` results of one check, newest first."""
    rows = conn.execute(
        text(
            "SELECT r.run_id, run.started_at, r.check_name, r.suite, r.status, r.violation_count,"
            " r.sample, r.error, r.duration_seconds"
            " FROM integrity_check_results r JOIN integrity_check_runs run ON run.id = r.run_id"
            " WHERE r.check_name = :name ORDER BY run.started_at DESC LIMIT :limit"
        ),
        {"name": check_name, "limit": limit},
    ).all()
    return [_with_severity(dict(r._mapping)) for r in rows]


def _with_severity(row: dict[str, Any]) -> dict[str, Any]:
    check = BY_NAME.get(row["check_name"])
    row["severity"] = check.severity if check else "error"
    return row


__all__ = [
    "BY_NAME",
    "CHECKS",
    "SAMPLE_SIZE",
    "SESSION_OPTIONS",
    "SUITES",
    "Check",
    "check_history",
    "latest_results",
    "latest_run",
    "plain_query",
    "select_checks",
    "violations_query",
]
