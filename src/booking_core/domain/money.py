"""What a booking's money means: its payment status, its cancellation fee, what is owed back.

The database derives the same figures in triggers (payment_status_of, booking_cancellation_fee
and the generated column bookings.refund_due); tests compare the two on random inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from booking_core.domain.lifecycle import CLOSED, BookingStatus, PaymentStatus
from booking_core.domain.values import ActorType

CENT = Decimal("0.01")


def payment_status(amount: Decimal, paid: Decimal, refunded: Decimal, unpaid: PaymentStatus) -> PaymentStatus:
    """A booking's payment status from what it costs, what came in and what went back.

    `unpaid` (pending or failed, from the attempts) until something is received; paid once
    what is kept covers the amount; otherwise partly refunded or partly paid.
    """
    if paid == 0:
        return unpaid
    if refunded >= paid:
        return PaymentStatus.REFUNDED
    if paid - refunded >= amount:
        return PaymentStatus.PAID
    if refunded > 0:
        return PaymentStatus.PARTIALLY_REFUNDED
    return PaymentStatus.PARTIALLY_PAID


@dataclass(frozen=True, slots=True)
class CancellationPolicy:
    """A business's rule: free until `free_hours` before the start, then `late_fee_percent` is kept."""

    free_hours: int = 24
    late_fee_percent: Decimal = Decimal(50)

    def fee(self, amount: Decimal, *, actor: ActorType, cancelled_at: datetime, starts_at: datetime) -> Decimal:
        """What the business keeps: nothing when it cancels itself or the customer cancels in time."""
        if actor is not ActorType.CUSTOMER or cancelled_at <= starts_at - timedelta(hours=self.free_hours):
            return Decimal("0.00")
        # round() in PostgreSQL takes halves away from zero: the same for these non-negative amounts.
        return (amount * self.late_fee_percent / 100).quantize(CENT, ROUND_HALF_UP)


def refund_due(
    *, status: BookingStatus, amount: Decimal, paid: Decimal, refunded: Decimal, fee: Decimal | None
) -> Decimal:
    """What the business owes back: a cancelled booking's money less its fee, else any overpayment."""
    keeps = (fee or Decimal(0)) if status in CLOSED else amount
    return max(paid - refunded - keeps, Decimal(0))


def party_amount(unit_price: Decimal, discount: Decimal, party_size: int) -> Decimal:
    """What a booking costs for a party at its locked unit price, less its discount, never below zero.

    The bookings price-lock trigger (sql/bookings.sql) refuses any other amount when a party changes.
    """
    return max(unit_price * party_size - discount, Decimal(0))
