"""The core's invariants as SQL counts of violations (0 everywhere = the dataset is sound).

Shared by the demo-dataset and bulk-seed tests and the seed benchmark; the integrity
checks (checks/) are the product's version of these, this is the tests' own.
"""

from __future__ import annotations

import psycopg

QUERIES = {
    # Every slot's stored wall clock reads back to its instant (docs/invariants.md, Time).
    "slot_wall_clock_misread": """
        SELECT count(*) FROM time_slots ts JOIN businesses b ON b.id = ts.business_id
         WHERE (ts.local_date + ts.local_start) AT TIME ZONE b.timezone <> ts.starts_at""",
    # booked_seats is the sum of the party sizes of the seat-holding bookings.
    "booked_seats_mismatch": """
        SELECT count(*) FROM time_slots ts
        LEFT JOIN (SELECT business_id, slot_id, sum(party_size) AS seats FROM bookings
                    WHERE booking_holds_seat(status) GROUP BY 1, 2) h
               ON h.business_id = ts.business_id AND h.slot_id = ts.id
         WHERE ts.booked_seats <> coalesce(h.seats, 0)""",
    # Above capacity only when a later reduction left it so (over-committed, explained).
    "over_capacity_unexplained": """
        SELECT count(*) FROM time_slots ts
         WHERE ts.booked_seats > ts.max_capacity
           AND NOT EXISTS (SELECT 1 FROM slot_capacity_changes c
                            WHERE c.business_id = ts.business_id AND c.slot_id = ts.id
                              AND c.new_capacity = ts.max_capacity
                              AND c.booked_seats_at_change >= ts.booked_seats)""",
    "booking_without_created_audit": """
        SELECT count(*) FROM bookings b
         WHERE NOT EXISTS (SELECT 1 FROM booking_audit_log a WHERE a.business_id = b.business_id
                              AND a.booking_id = b.id AND a.action = 'booking.created')""",
    # The transitions of a booking start from nothing, chain, and end at its status.
    "transitions_broken": """
        WITH t AS (
          SELECT business_id, booking_id, from_status, to_status,
                 lag(to_status) OVER w AS prev, row_number() OVER w AS n,
                 row_number() OVER (PARTITION BY business_id, booking_id ORDER BY id DESC) AS back
            FROM booking_state_transitions WINDOW w AS (PARTITION BY business_id, booking_id ORDER BY id))
        SELECT (SELECT count(*) FROM t WHERE (n = 1 AND from_status IS NOT NULL)
                                          OR (n > 1 AND from_status IS DISTINCT FROM prev))
             + (SELECT count(*) FROM bookings b WHERE NOT EXISTS (
                  SELECT 1 FROM t WHERE t.business_id = b.business_id AND t.booking_id = b.id
                                    AND t.back = 1 AND t.to_status = b.status))""",
    "transition_not_in_state_machine": """
        SELECT count(*) FROM booking_state_transitions t
         WHERE NOT EXISTS (SELECT 1 FROM booking_status_edges e
                            WHERE e.from_status IS NOT DISTINCT FROM t.from_status AND e.to_status = t.to_status)""",
    # One audit row per status step.
    "status_steps_without_audit": """
        SELECT count(*) FROM (
          SELECT business_id, booking_id, count(*) AS steps FROM booking_state_transitions
           WHERE from_status IS NOT NULL GROUP BY 1, 2) s
        LEFT JOIN (
          SELECT business_id, booking_id, count(*) AS rows FROM booking_audit_log
           WHERE entity_type = 'booking' AND action IN ('booking.confirmed', 'booking.checked_in',
                 'booking.completed', 'booking.no_show', 'booking.cancelled', 'booking.refunded')
           GROUP BY 1, 2) a USING (business_id, booking_id)
         WHERE coalesce(a.rows, 0) <> s.steps""",
    "payment_status_mismatch": """
        SELECT count(*) FROM bookings b
         WHERE b.payment_status <> coalesce(booking_payment_status(b.business_id, b.id), 'pending')""",
    "refunds_mismatch": """
        SELECT count(*) FROM payments p
         WHERE p.refunded_amount <> coalesce((SELECT sum(r.amount) FROM refunds r
                                               WHERE r.business_id = p.business_id AND r.payment_id = p.id), 0)""",
    "pay_now_seat_unpaid": """
        SELECT count(*) FROM bookings WHERE payment_method = 'pay_now' AND booking_holds_seat(status)
           AND payment_status NOT IN ('paid', 'partially_refunded', 'refunded')""",
    # The booking's money is its payments' (received, returned), and what a booking owes back is paid.
    "money_columns_drift": """
        SELECT count(*) FROM bookings b
          LEFT JOIN (SELECT business_id, booking_id,
                            sum(amount) FILTER (WHERE status IN ('paid', 'partially_refunded', 'refunded')) AS paid,
                            sum(refunded_amount) AS refunded FROM payments GROUP BY 1, 2) p
                 ON p.business_id = b.business_id AND p.booking_id = b.id
         WHERE (b.paid_amount, b.refunded_amount) <> (coalesce(p.paid, 0), coalesce(p.refunded, 0))""",
    "paid_less_than_owed": """
        SELECT count(*) FROM bookings WHERE payment_method = 'pay_now' AND booking_holds_seat(status)
           AND paid_amount < amount""",
    "refund_due_unpaid": "SELECT count(*) FROM bookings WHERE refund_due > 0",
    "cancellation_fee_off_policy": """
        SELECT count(*) FROM bookings b
          JOIN businesses biz ON biz.id = b.business_id
          JOIN time_slots ts ON ts.business_id = b.business_id AND ts.id = b.slot_id
          JOIN LATERAL (SELECT actor_type, occurred_at FROM booking_state_transitions t
                         WHERE t.business_id = b.business_id AND t.booking_id = b.id AND t.to_status = 'cancelled'
                         ORDER BY id DESC LIMIT 1) t ON true
         WHERE b.cancellation_fee IS DISTINCT FROM booking_cancellation_fee(
                 b.amount, t.actor_type, t.occurred_at, ts.starts_at, biz.free_cancellation_hours,
                 biz.late_cancellation_fee_percent)""",
    # History with no gaps: one booking audit row per version.
    "version_without_audit": """
        SELECT count(*) FROM bookings b
          LEFT JOIN (SELECT business_id, booking_id, count(*) AS n FROM booking_audit_log
                      WHERE entity_type = 'booking' GROUP BY 1, 2) a
                 ON a.business_id = b.business_id AND a.booking_id = b.id
         WHERE b.version <> coalesce(a.n, 0)""",
    "audit_chain_broken_or_unsealed": """
        SELECT count(*) FROM businesses b, LATERAL audit_verify(b.id) v
         WHERE v.first_bad_seq IS NOT NULL OR v.unsealed > 0""",
}


def violations(database_url: str) -> dict[str, int]:
    """Each invariant's violation count."""
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        return {name: int(conn.execute(sql).fetchone()[0]) for name, sql in QUERIES.items()}  # type: ignore[index]
