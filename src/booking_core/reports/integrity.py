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
from typing import Literal

from psycopg import sql

from booking_core.domain.lifecycle import SEAT_HOLDING
from booking_core.reports.overbooking import over_committed_by_reduction, overbooked

Severity = Literal["error", "info"]

SAMPLE_SIZE = 10

# Settings for a checking session (GE's and the plain reference's alike): the rules hash
# whole tables (a million bookings, millions of audit rows); 4MB would spill them to disk.
SESSION_OPTIONS = "-c work_mem=64MB"

# GE takes a query string, not parameters: constants go in as literals quoted by psycopg.
# The seat-holding statuses as a plain IN list (the planner sees them, as booking_holds_seat()
# would hide them), built from the domain's SEAT_HOLDING.
_HOLDS = sql.SQL(", ").join(sql.Literal(s.value) for s in sorted(SEAT_HOLDING))
_PAID = sql.SQL("'paid', 'partially_refunded', 'refunded'")
_BATCH = sql.SQL("{batch}")


def _rule(template: str, **parts: sql.Composable) -> str:
    """A rule's SQL from its text and named fragments; `{batch}` stays for GE or the plain reference."""
    return sql.SQL(template).format(batch=_BATCH, **parts).as_string(None)


@dataclass(frozen=True, slots=True)
class Check:
    """One integrity rule: its name, suite, what it means for ops, and the SQL of its violations."""

    name: str
    suite: str
    table: str
    description: str
    sql: str
    severity: Severity = "error"


_HELD = sql.Identifier("h", "held_seats")
_HELD_PER_SLOT = """
  SELECT ts.business_id, ts.id AS slot_id, ts.starts_at, ts.max_capacity, h.held_seats
    FROM {batch} ts
    JOIN (SELECT business_id, slot_id, seats AS held_seats FROM slot_seat_holds) h
      ON h.business_id = ts.business_id AND h.slot_id = ts.id
   WHERE {held_beyond_capacity}
"""

# A booking's money from its rows: what its payments received, what its refunds returned,
# and the unpaid status its attempts say (pending or failed). One GROUP BY per table rather
# than booking_payment_status() per booking; tests check the two agree.
_MONEY_FROM_ROWS = sql.SQL("""
  SELECT b.business_id, b.id AS booking_id, b.slot_id, b.status, b.payment_method, b.amount, b.currency,
         b.payment_status, b.paid_amount, b.refunded_amount, b.cancellation_fee, b.updated_at,
         coalesce(p.paid, 0) AS paid, coalesce(r.refunded, 0) AS refunded,
         coalesce(p.unpaid, 'pending'::payment_status) AS unpaid
    FROM {batch} b
    LEFT JOIN (SELECT business_id, booking_id,
                      coalesce(sum(amount) FILTER (WHERE status IN ({paid})), 0) AS paid,
                      CASE WHEN bool_or(status = 'failed') AND NOT bool_or(status = 'pending')
                           THEN 'failed' ELSE 'pending' END::payment_status AS unpaid
                 FROM payments GROUP BY business_id, booking_id) p
      ON p.business_id = b.business_id AND p.booking_id = b.id
    LEFT JOIN (SELECT pm.business_id, pm.booking_id, sum(rf.amount) AS refunded
                 FROM refunds rf JOIN payments pm ON pm.business_id = rf.business_id AND pm.id = rf.payment_id
                GROUP BY pm.business_id, pm.booking_id) r
      ON r.business_id = b.business_id AND r.booking_id = b.id
""").format(batch=_BATCH, paid=_PAID)

# payment_status_of(amount, paid, refunded, unpaid) of the schema, inlined over m.
_DERIVED_STATUS = sql.SQL("""CASE
      WHEN m.paid = 0 THEN m.unpaid
      WHEN m.refunded >= m.paid THEN 'refunded'
      WHEN m.paid - m.refunded >= m.amount THEN 'paid'
      WHEN m.refunded > 0 THEN 'partially_refunded'
      ELSE 'partially_paid' END::payment_status""")

# How long a refund may be outstanding before it counts as unmet (the provider's round trip).
REFUND_GRACE = "1 hour"

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
        _rule(_HELD_PER_SLOT, held_beyond_capacity=overbooked("ts", _HELD)),
    ),
    Check(
        "over_committed_by_reduction",
        "overbooking",
        "time_slots",
        "Information: a slot holds more seats than its capacity only because its capacity was "
        "reduced after the seats were booked (recorded in slot_capacity_changes). Existing "
        "bookings are honoured; no new ones are taken.",
        _rule(_HELD_PER_SLOT, held_beyond_capacity=over_committed_by_reduction("ts", _HELD)),
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
        "A booking's payment status, paid or refunded amount disagrees with its payment and refund "
        "rows: reports, seat rules and refunds read the wrong money. Someone wrote the booking or "
        "the payments with the triggers off; recompute the booking from its payments.",
        _rule(
            """
  SELECT m.business_id, m.booking_id, m.slot_id, m.payment_status AS recorded, {derived} AS derived,
         m.paid_amount, m.paid, m.refunded_amount, m.refunded
    FROM ({money}) m
   WHERE (m.payment_status, m.paid_amount, m.refunded_amount)
         IS DISTINCT FROM ({derived}, m.paid, m.refunded)
""",
            derived=_DERIVED_STATUS,
            money=_MONEY_FROM_ROWS,
        ),
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
        "paid_less_than_owed",
        "payment_mismatch",
        "bookings",
        "A booking counts as paid, or holds a pay-now seat, but its paid payments add up to less "
        "than its amount: a seat or a service was given for part of the money. Collect the "
        "balance or cancel the booking.",
        _rule(
            """
  SELECT m.business_id, m.booking_id, m.slot_id, m.status, m.payment_status, m.amount, m.paid,
         m.refunded, m.currency
    FROM ({money}) m
   WHERE (m.payment_method = 'pay_now' AND m.status IN ({holds}) AND m.paid < m.amount)
      OR (m.payment_status = 'paid' AND m.paid - m.refunded < m.amount)
""",
            money=_MONEY_FROM_ROWS,
            holds=_HOLDS,
        ),
    ),
    Check(
        "refund_obligation_unmet",
        "payment_mismatch",
        "bookings",
        f"A booking has been owed money back for over {REFUND_GRACE}: a cancelled booking's "
        "payments less its refunds exceed the fee its business's cancellation policy keeps, or a "
        "live booking was paid more than its amount. Refund what is due (`refund_due`).",
        _rule(
            """
  SELECT m.business_id, m.booking_id, m.slot_id, m.status, m.paid, m.refunded,
         m.cancellation_fee, m.paid - m.refunded - CASE WHEN m.status IN ('cancelled', 'refunded')
           THEN coalesce(m.cancellation_fee, 0) ELSE m.amount END AS owed, m.currency
    FROM ({money}) m
   WHERE m.paid - m.refunded > CASE WHEN m.status IN ('cancelled', 'refunded')
                                    THEN coalesce(m.cancellation_fee, 0) ELSE m.amount END
     AND m.updated_at < now() - interval {grace}
""",
            money=_MONEY_FROM_ROWS,
            grace=sql.Literal(REFUND_GRACE),
        ),
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
    Check(
        "legacy_flag_mismatch",
        "orphaned_bookings",
        "time_slots",
        "A slot's legacy flag disagrees with the current schedule: from the schedule's effective "
        "date on, a slot is bookable exactly when the current schedule version has it. A slot the "
        "schedule dropped but flagged bookable takes bookings for a time that no longer exists; "
        "publish the schedule again to set the flags right.",
        """
  SELECT ts.business_id, ts.id AS slot_id, ts.is_legacy, ts.schedule_version_id, sv.id AS current_version_id
    FROM {batch} ts
    JOIN schedule_versions sv ON sv.business_id = ts.business_id AND sv.is_active
   WHERE ts.local_date >= sv.effective_date AND ts.is_legacy = (ts.schedule_version_id = sv.id)
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
        "version_without_audit",
        "audit_completeness",
        "bookings",
        "A booking's version (one per change) differs from the number of its audit rows: a change "
        "was written without its audit row, or an audit row was removed. Nobody can account for "
        "that change; find it from the booking's history and the database logs.",
        """
  SELECT b.business_id, b.id AS booking_id, b.slot_id, b.version, coalesce(a.n, 0) AS audit_rows
    FROM {batch} b
    LEFT JOIN (SELECT business_id, booking_id, count(*) AS n FROM booking_audit_log
                WHERE entity_type = 'booking' GROUP BY business_id, booking_id) a
      ON a.business_id = b.business_id AND a.booking_id = b.id
   WHERE b.version <> coalesce(a.n, 0)
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

    `{batch}` is left in place for the caller. GE takes a query string, not parameters, so the
    business scope and the limit go in as literals quoted by psycopg (ids parsed as UUIDs first).
    """
    scope: sql.Composable = sql.SQL("")
    if business_ids:
        listed = sql.SQL(", ").join(sql.Literal(str(uuid.UUID(str(b)))) for b in business_ids)
        scope = sql.SQL("WHERE v.business_id IN ({listed})").format(listed=listed)
    # MATERIALIZED: the rule is planned to return all its rows (hash joins, seq scans), not
    # as if the LIMIT made a fast start worth it: the window count reads every row anyway.
    query = sql.SQL(
        "WITH v AS MATERIALIZED ({rule})\nSELECT count(*) OVER () AS violation_count, v.* FROM v {scope} LIMIT {limit}"
    ).format(rule=sql.SQL(check.sql), scope=scope, limit=sql.Literal(int(limit)))
    return query.as_string(None)


def plain_query(check: Check, *, business_ids: Sequence[uuid.UUID] = (), limit: int = SAMPLE_SIZE) -> str:
    """The rule as plain SQL on its table (the reference the benchmark compares GE against)."""
    on_table = sql.SQL(violations_query(check, business_ids=business_ids, limit=limit)).format(
        batch=sql.Identifier(check.table)
    )
    return on_table.as_string(None)


__all__ = [
    "BY_NAME",
    "CHECKS",
    "SAMPLE_SIZE",
    "SESSION_OPTIONS",
    "SUITES",
    "Check",
    "Severity",
    "plain_query",
    "select_checks",
    "violations_query",
]
