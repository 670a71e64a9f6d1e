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
from booking_core.services import idempotency
from booking_core.services.bookings import BOOKING_COLUMNS, lock_booking, update_booking

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
    """Open a pending payment for a booking; a retried key returns the first payment, whatever happened since.

    The request is the booking, the amount and its currency: the same key with another
    booking or amount is an IdempotencyConflict, never the first payment.
    """
    if amount.amount <= 0:
        raise InvalidInput(f"a payment of {amount} receives nothing: pass the amount the customer pays")
    request = {"booking": booking_id, "amount": idempotency.amount_text(amount.amount), "currency": amount.currency}
    with db.unit_of_work(actor, now=now, reason="payment started") as uow:
        prior = idempotency.begin(uow, business_id, idempotency_key, "record_payment", request)
        if prior is not None:
            return _payment(uow, business_id, uuid.UUID(str(prior["payment_id"])))
        if idempotency_key is not None and (first := _keyed_payment(uow, business_id, idempotency_key)) is not None:
            if (first.booking_id, first.amount, first.currency) != (booking_id, amount.amount, amount.currency):
                raise idempotency.conflict(idempotency_key, "payment")
            return first
        booking = lock_booking(uow, business_id, booking_id)
        booking.price.same_currency(amount)
        if booking.status in (BookingStatus.CANCELLED, BookingStatus.REFUNDED):
            raise IllegalTransition(f"booking {booking_id} is {booking.status}: it takes no payments, book again")
        row = uow.execute(
            f"INSERT INTO payments (business_id, id, booking_id, amount, currency, provider_ref, idempotency_key,"
            f" created_at, updated_at) VALUES (:b, :id, :bk, :amt, :cur, :ref, :key, :now, :now)"
            f" RETURNING {PAYMENT_COLUMNS}",
            b=business_id,
            id=new_id(),
            bk=booking_id,
            amt=amount.amount,
            cur=amount.currency,
            ref=provider_ref,
            key=idempotency_key,
            now=now,
        ).one()
        idempotency.record(uow, business_id, idempotency_key, "record_payment", request, {"payment_id": row.id})
        uow.commit()
    return Payment.from_row(row)


def _payment(uow: UnitOfWork, business_id: uuid.UUID, payment_id: uuid.UUID) -> Payment:
    return Payment.from_row(
        uow.execute(
            f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE business_id = :b AND id = :id", b=business_id, id=payment_id
        ).one()
    )


def _keyed_payment(uow: UnitOfWork, business_id: uuid.UUID, key: str) -> Payment | None:
    """The payment carrying this key on its row (recorded before keys had their table, or purged from it)."""
    row = uow.execute(
        f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE business_id = :b AND idempotency_key = :key",
        b=business_id,
        key=key,
    ).one_or_none()
    return None if row is None else Payment.from_row(row)


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
    idempotency_key: str | None = None,
) -> PaymentOutcome:
    """Mark a payment paid; a draft booking then takes its seats. Confirming twice is a no-op.

    If the seat is gone by the time the money arrives (slot full or legacy), the payment is
    refunded in full in the same transaction: never a paid booking without a seat. A retried
    key returns the payment and booking as they are now, with the first outcome's
    `refunded_for_lost_seat`; the same key for another payment is an IdempotencyConflict.
    """
    request = {"payment": payment_id}
    with db.unit_of_work(actor, now=now, reason="payment confirmed") as uow:
        prior = idempotency.begin(uow, business_id, idempotency_key, "confirm_payment", request)
        if prior is not None:
            return _replayed(uow, business_id, prior)
        payment, booking = _lock(uow, business_id, payment_id)
        lost = False
        if payment.status is PaymentStatus.FAILED:
            raise IllegalTransition(f"payment {payment_id} failed: record a new payment instead")
        if payment.status is PaymentStatus.PENDING:
            payment, booking, lost = _confirm(uow, payment, booking, actor=actor, now=now, provider_ref=provider_ref)
        elif idempotency_key is None:
            return PaymentOutcome(payment, booking)  # confirmed before: nothing to write
        result = {"payment_id": payment.id, "refunded_for_lost_seat": lost}
        idempotency.record(uow, business_id, idempotency_key, "confirm_payment", request, result)
        uow.commit()
    return PaymentOutcome(payment, booking, refunded_for_lost_seat=lost)


def _confirm(
    uow: UnitOfWork, payment: Payment, booking: Booking, *, actor: Actor, now: datetime, provider_ref: str | None
) -> tuple[Payment, Booking, bool]:
    """Mark the locked pending payment paid; its booking follows (confirmed, or refunded if the seat is gone)."""
    business_id = payment.business_id
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
    return payment, booking, lost


def _replayed(uow: UnitOfWork, business_id: uuid.UUID, prior: dict[str, object]) -> PaymentOutcome:
    """What a keyed payment request did: its payment and booking as they are now; nothing is written."""
    payment = _payment(uow, business_id, uuid.UUID(str(prior["payment_id"])))
    row = uow.execute(
        f"SELECT {BOOKING_COLUMNS} FROM bookings WHERE business_id = :b AND id = :id",
        b=business_id,
        id=payment.booking_id,
    ).one()
    lost = bool(prior.get("refunded_for_lost_seat"))
    return PaymentOutcome(payment, Booking.from_row(row), refunded_for_lost_seat=lost)


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


def _insert_refund(uow: UnitOfWork, payment: Payment, amount: Money, reason: str, now: datetime) -> uuid.UUID:
    refund_id = new_id()
    uow.execute(
        "INSERT INTO refunds (business_id, id, payment_id, amount, currency, reason, created_at)"
        " VALUES (:b, :id, :p, :amt, :cur, :reason, :now)",
        b=payment.business_id,
        id=refund_id,
        p=payment.id,
        amt=amount.amount,
        cur=amount.currency,
        reason=reason,
        now=now,
    )
    return refund_id


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
    idempotency_key: str | None = None,
) -> PaymentOutcome:
    """Refund part or all of a paid payment; a cancelled booking owed nothing more becomes refunded.

    A retried key returns the payment and booking as they are now and refunds nothing more;
    the same key for another payment or amount is an IdempotencyConflict.
    """
    request = {"payment": payment_id, "amount": idempotency.amount_text(amount.amount), "currency": amount.currency}
    with db.unit_of_work(actor, now=now, reason=reason) as uow:
        prior = idempotency.begin(uow, business_id, idempotency_key, "refund", request)
        if prior is not None:
            return _replayed(uow, business_id, prior)
        payment, booking = _lock(uow, business_id, payment_id)
        if amount.currency != payment.currency:
            raise CurrencyMismatch(
                f"refund in {amount.currency} for a payment in {payment.currency}: refund in {payment.currency}"
            )
        refund_id = _insert_refund(uow, payment, amount, reason, now)
        payment = _reload(uow, payment)
        booking = _close_if_settled(uow, lock_booking(uow, business_id, booking.id), actor)
        result = {"payment_id": payment.id, "refund_id": refund_id}
        idempotency.record(uow, business_id, idempotency_key, "refund", request, result)
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
