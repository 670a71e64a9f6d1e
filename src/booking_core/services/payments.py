"""Payment use cases: record, confirm (idempotently), fail, refund; the booking follows in the same transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from booking_core.adapters.db import Database, UnitOfWork
from booking_core.domain.errors import (
    CurrencyMismatch,
    IllegalTransition,
    InvalidInput,
    NothingToChange,
    Unavailable,
    UnknownPayment,
)
from booking_core.domain.lifecycle import BookingStatus, PaymentStatus, allowed
from booking_core.domain.model import Booking, Payment
from booking_core.domain.values import Actor, Money, new_id
from booking_core.services.bookings import lock_booking, update_booking

PAYMENT_COLUMNS = "id, business_id, booking_id, amount, currency, status, refunded_amount"
SEAT_LOST = "seat no longer available when the payment arrived"
PAID_AFTER_CANCEL = "payment arrived after the booking was cancelled"


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    """A payment and its booking after a payment use case; the booking says what is still owed either way."""

    payment: Payment
    booking: Booking
    refunded_for_lost_seat: bool = False

    @property
    def balance_due(self) -> Money:
        """What the customer still has to pay (a partial payment leaves a draft booking unconfirmed)."""
        return self.booking.balance_due

    @property
    def refund_due(self) -> Money:
        """What the business owes back (an overpayment, or a cancelled booking's money less its fee)."""
        return Money(self.booking.refund_due, self.booking.currency)


def record_payment(
    db: Database,
    business_id: uuid.UUID,
    booking_id: uuid.UUID,
    *,
    amount: Money,
    actor: Actor,
    now: datetime,
    idempotency_key: str | None = None,
    provider_ref: str | None = None,
) -> Payment:
    """Open a pending payment for a booking; a retried key returns the first payment."""
    if amount.amount <= 0:
        raise InvalidInput(f"a payment of {amount} receives nothing: pass the amount the customer pays")
    with db.unit_of_work(actor, now=now, reason="payment started") as uow:
        booking = lock_booking(uow, business_id, booking_id)
        booking.price.same_currency(amount)
        if booking.status in (BookingStatus.CANCELLED, BookingStatus.REFUNDED):
            raise IllegalTransition(f"booking {booking_id} is {booking.status}: it takes no payments, book again")
        row = uow.execute(
            f"INSERT INTO payments (business_id, id, booking_id, amount, currency, provider_ref, idempotency_key,"
            f" created_at, updated_at) VALUES (:b, :id, :bk, :amt, :cur, :ref, :key, :now, :now)"
            f" ON CONFLICT (business_id, idempotency_key) DO NOTHING RETURNING {PAYMENT_COLUMNS}",
            b=business_id,
            id=new_id(),
            bk=booking_id,
            amt=amount.amount,
            cur=amount.currency,
            ref=provider_ref,
            key=idempotency_key,
            now=now,
        ).one_or_none()
        if row is None:
            row = uow.execute(
                f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE business_id = :b AND idempotency_key = :key",
                b=business_id,
                key=idempotency_key,
            ).one()
        uow.commit()
    return Payment.from_row(row)


def _lock(uow: UnitOfWork, business_id: uuid.UUID, payment_id: uuid.UUID) -> tuple[Payment, Booking]:
    """Lock a payment's booking, then the payment: every payment path takes them in that order."""
    booking_id = uow.execute(
        "SELECT booking_id FROM payments WHERE business_id = :b AND id = :id", b=business_id, id=payment_id
    ).scalar_one_or_none()
    if booking_id is None:
        raise UnknownPayment(f"payment {payment_id} does not exist in this business: check the id")
    booking = lock_booking(uow, business_id, booking_id)
    return _lock_payment(uow, business_id, payment_id), booking


def _lock_payment(uow: UnitOfWork, business_id: uuid.UUID, payment_id: uuid.UUID) -> Payment:
    row = uow.execute(
        f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE business_id = :b AND id = :id FOR UPDATE",
        b=business_id,
        id=payment_id,
    ).one_or_none()
    if row is None:
        raise UnknownPayment(f"payment {payment_id} does not exist in this business: check the id")
    return Payment.from_row(row)


def _set_status(uow: UnitOfWork, p: Payment, status: PaymentStatus, **extra: object) -> Payment:
    sets = "".join(f", {k} = :{k}" for k in extra)
    row = uow.execute(
        f"UPDATE payments SET status = :st{sets} WHERE business_id = :b AND id = :id RETURNING {PAYMENT_COLUMNS}",
        st=str(status),
        b=p.business_id,
        id=p.id,
        **extra,
    ).one()
    return Payment.from_row(row)


def confirm_payment(
    db: Database,
    business_id: uuid.UUID,
    payment_id: uuid.UUID,
    *,
    actor: Actor,
    now: datetime,
    provider_ref: str | None = None,
) -> PaymentOutcome:
    """Mark a payment paid; a draft booking then takes its seats. Confirming twice is a no-op.

    If the seat is gone by the time the money arrives (slot full or legacy), the payment is
    refunded in full in the same transaction: never a paid booking without a seat.
    """
    with db.unit_of_work(actor, now=now, reason="payment confirmed") as uow:
        payment, booking = _lock(uow, business_id, payment_id)
        if payment.status is not PaymentStatus.PENDING:
            if payment.status is PaymentStatus.FAILED:
                raise IllegalTransition(f"payment {payment_id} failed: record a new payment instead")
            return PaymentOutcome(payment, booking)
        payment = _set_status(uow, payment, PaymentStatus.PAID, provider_ref=provider_ref)
        booking = lock_booking(uow, business_id, booking.id)
        lost = False
        if booking.status is BookingStatus.DRAFT and booking.paid_amount >= booking.amount:
            try:
                with uow.savepoint():
                    booking = update_booking(uow, booking, status=BookingStatus.CONFIRMED)
            except Unavailable:
                uow.set_reason(SEAT_LOST)
                _insert_refund(uow, payment, Money(payment.amount, payment.currency), SEAT_LOST, now)
                payment = _reload(uow, payment)
                booking = lock_booking(uow, business_id, booking.id)
                lost = True
        elif booking.status in (BookingStatus.CANCELLED, BookingStatus.REFUNDED):
            # Money for a booking that no longer stands goes back at once, less the fee it owes.
            booking = _settle(uow, booking, actor=actor, reason=PAID_AFTER_CANCEL, now=now)
            payment = _reload(uow, payment)
        uow.commit()
    return PaymentOutcome(payment, booking, refunded_for_lost_seat=lost)


def fail_payment(
    db: Database,
    business_id: uuid.UUID,
    payment_id: uuid.UUID,
    *,
    reason: str,
    actor: Actor,
    now: datetime,
) -> Payment:
    with db.unit_of_work(actor, now=now, reason=reason) as uow:
        payment, _booking = _lock(uow, business_id, payment_id)
        if payment.status is PaymentStatus.FAILED:
            return payment
        payment = _set_status(uow, payment, PaymentStatus.FAILED, failure_reason=reason)
        uow.commit()
    return payment


def _insert_refund(uow: UnitOfWork, payment: Payment, amount: Money, reason: str, now: datetime) -> None:
    uow.execute(
        "INSERT INTO refunds (business_id, id, payment_id, amount, currency, reason, created_at)"
        " VALUES (:b, :id, :p, :amt, :cur, :reason, :now)",
        b=payment.business_id,
        id=new_id(),
        p=payment.id,
        amt=amount.amount,
        cur=amount.currency,
        reason=reason,
        now=now,
    )


def _reload(uow: UnitOfWork, payment: Payment) -> Payment:
    return Payment.from_row(
        uow.execute(
            f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE business_id = :b AND id = :id",
            b=payment.business_id,
            id=payment.id,
        ).one()
    )


def refund(
    db: Database,
    business_id: uuid.UUID,
    payment_id: uuid.UUID,
    *,
    amount: Money,
    reason: str,
    actor: Actor,
    now: datetime,
) -> PaymentOutcome:
    """Refund part or all of a paid payment; a cancelled booking owed nothing more becomes refunded."""
    with db.unit_of_work(actor, now=now, reason=reason) as uow:
        payment, booking = _lock(uow, business_id, payment_id)
        if amount.currency != payment.currency:
            raise CurrencyMismatch(
                f"refund in {amount.currency} for a payment in {payment.currency}: refund in {payment.currency}"
            )
        _insert_refund(uow, payment, amount, reason, now)
        payment = _reload(uow, payment)
        booking = _close_if_settled(uow, lock_booking(uow, business_id, booking.id), actor)
        uow.commit()
    return PaymentOutcome(payment, booking)


def refund_due(
    db: Database,
    business_id: uuid.UUID,
    booking_id: uuid.UUID,
    *,
    actor: Actor,
    now: datetime,
    reason: str = "refund due",
) -> Booking:
    """Refund exactly what the booking is owed back (its policy's refund, or an overpayment), newest payment first."""
    with db.unit_of_work(actor, now=now, reason=reason) as uow:
        booking = lock_booking(uow, business_id, booking_id)
        if booking.refund_due == 0:
            raise NothingToChange(f"booking {booking_id} is owed nothing back: no refund written")
        booking = _settle(uow, booking, actor=actor, reason=reason, now=now)
        uow.commit()
    return booking


def _settle(uow: UnitOfWork, booking: Booking, *, actor: Actor, reason: str, now: datetime) -> Booking:
    """Refund the booking's refund_due across its paid payments, newest first (the booking is locked)."""
    owed = booking.refund_due
    rows = uow.execute(
        f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE business_id = :b AND booking_id = :bk"
        " AND status IN ('paid', 'partially_refunded') ORDER BY created_at DESC, id DESC FOR UPDATE",
        b=booking.business_id,
        bk=booking.id,
    ).all()
    for payment in map(Payment.from_row, rows):
        if owed <= 0:
            break
        share = min(owed, payment.amount - payment.refunded_amount)
        if share > 0:
            _insert_refund(uow, payment, Money(share, payment.currency), reason, now)
            owed -= share
    return _close_if_settled(uow, lock_booking(uow, booking.business_id, booking.id), actor)


def _close_if_settled(uow: UnitOfWork, booking: Booking, actor: Actor) -> Booking:
    """A cancelled booking whose refund is done (something returned, nothing more owed) becomes refunded."""
    done = booking.refunded_amount > 0 and booking.refund_due == 0
    if (
        booking.status is BookingStatus.CANCELLED
        and done
        and allowed(booking.status, BookingStatus.REFUNDED, actor.type)
    ):
        return update_booking(uow, booking, status=BookingStatus.REFUNDED)
    return booking
