"""Integrity rules about money: payment status, price lock, what was paid, owed and refunded."""

from __future__ import annotations

from psycopg import sql

from booking_core.domain.lifecycle import SEAT_HOLDING
from booking_core.reports.rule import BATCH, Check, rule

# The seat-holding statuses as a plain IN list (the planner sees them, as booking_holds_seat()
# would hide them), built from the domain's SEAT_HOLDING.
_HOLDS = sql.SQL(", ").join(sql.Literal(s.value) for s in sorted(SEAT_HOLDING))
_PAID = sql.SQL("'paid', 'partially_refunded', 'refunded'")

# A booking's money from its rows: what its payments received, what its refunds returned,
# and the unpaid status its attempts say (pending or failed). One GROUP BY per table rather
# than booking_payment_status() per booking; tests check the two agree.
MONEY_FROM_ROWS = sql.SQL("""
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
""").format(batch=BATCH, paid=_PAID)

# payment_status_of(amount, paid, refunded, unpaid) of the schema, inlined over m.
DERIVED_STATUS = sql.SQL("""CASE
      WHEN m.paid = 0 THEN m.unpaid
      WHEN m.refunded >= m.paid THEN 'refunded'
      WHEN m.paid - m.refunded >= m.amount THEN 'paid'
      WHEN m.refunded > 0 THEN 'partially_refunded'
      ELSE 'partially_paid' END::payment_status""")

# How long a refund may be outstanding before it counts as unmet (the provider's round trip).
REFUND_GRACE = "1 hour"


CHECKS: list[Check] = [
    # ------------------------------------------------------------------ payment mismatch
    Check(
        "payment_status_mismatch",
        "payment_mismatch",
        "bookings",
        "A booking's payment status, paid or refunded amount disagrees with its payment and refund "
        "rows: reports, seat rules and refunds read the wrong money. Someone wrote the booking or "
        "the payments with the triggers off; recompute the booking from its payments.",
        rule(
            """
  SELECT m.business_id, m.booking_id, m.slot_id, m.payment_status AS recorded, {derived} AS derived,
         m.paid_amount, m.paid, m.refunded_amount, m.refunded
    FROM ({money}) m
   WHERE (m.payment_status, m.paid_amount, m.refunded_amount)
         IS DISTINCT FROM ({derived}, m.paid, m.refunded)
""",
            derived=DERIVED_STATUS,
            money=MONEY_FROM_ROWS,
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
        rule(
            """
  SELECT m.business_id, m.booking_id, m.slot_id, m.status, m.payment_status, m.amount, m.paid,
         m.refunded, m.currency
    FROM ({money}) m
   WHERE (m.payment_method = 'pay_now' AND m.status IN ({holds}) AND m.paid < m.amount)
      OR (m.payment_status = 'paid' AND m.paid - m.refunded < m.amount)
""",
            money=MONEY_FROM_ROWS,
            holds=_HOLDS,
        ),
    ),
    Check(
        "refund_obligation_unmet",
        "payment_mismatch",
        "bookings",
        "A booking is owed money back past its due time: a cancelled booking's payments less its "
        "refunds exceed the fee its business's cancellation policy keeps, and the refund recorded as "
        "due at the cancellation (refund_obligations.due_by, the business's refund_within_hours) is "
        f"overdue; or a live booking was paid more than its amount over {REFUND_GRACE} ago. A refund "
        "not yet due is not a violation. Refund what is due (`refund_due`).",
        rule(
            """
  SELECT m.business_id, m.booking_id, m.slot_id, m.status, m.paid, m.refunded,
         m.cancellation_fee, m.paid - m.refunded - CASE WHEN m.status IN ('cancelled', 'refunded')
           THEN coalesce(m.cancellation_fee, 0) ELSE m.amount END AS owed, m.currency, o.due_by
    FROM ({money}) m
    LEFT JOIN refund_obligations o ON o.business_id = m.business_id AND o.booking_id = m.booking_id
   WHERE m.paid - m.refunded > CASE WHEN m.status IN ('cancelled', 'refunded')
                                    THEN coalesce(m.cancellation_fee, 0) ELSE m.amount END
     AND coalesce(o.due_by, m.updated_at + interval {grace}) < now()
""",
            money=MONEY_FROM_ROWS,
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
]
