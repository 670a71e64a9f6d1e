"""Payment use cases: record, confirm (idempotently), fail, refund; the booking follows in the same transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import column, text

from booking_core.adapters.db import UnitOfWork
from booking_core.adapters.records import PAYMENTS, by_id, change, of_business
from booking_core.domain.errors import (
    CurrencyMismatch,
    IllegalTransition,
    InvalidInput,
    NothingToChange,
    Unavailable,
    UnknownPayment,
)
from booking_core.domain.lifecycle import CLOSED, REFUNDABLE, BookingStatus, PaymentStatus, allowed
from booking_core.domain.model import Booking, Payment
from booking_core.domain.requests import (
    ConfirmationRequest,
    PaymentFailureRequest,
    PaymentRequest,
    RefundDueRequest,
    RefundRequest,
)
from booking_core.domain.values import Money, new_id
from booking_core.services import idempotency
from booking_core.services.bookings import authorize, lock_booking, read_booking, update_booking
from booking_core.services.context import Context

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


_INSERT_PAYMENT = text(
    "INSERT INTO payments (business_id, id, booking_id, amount, currency, provider_ref, idempotency_key,"
    " created_at, updated_at) VALUES (:b, :id, :bk, :amt, :cur, :ref, :key, :now, :now)"
    " RETURNING id, business_id, booking_id, amount, currency, status, refunded_amount"
)


def record_payment(ctx: Context, request: PaymentRequest) -> Payment:
    """Open a pending payment for a booking; a retried key returns the first payment, whatever happened since.

    The request is the booking, the amount and its currency: the same key with another
    booking or amount is an IdempotencyConflict, never the first payment.
    """
    amount, key, business_id = request.amount, request.idempotency_key, request.business_id
    if amount.amount <= 0:
        raise InvalidInput(f"a payment of {amount} receives nothing: pass the amount the customer pays")
    keyed = {
        "booking": request.booking_id,
        "amount": idempotency.amount_text(amount.amount),
        "currency": amount.currency,
    }
    with ctx.db.unit_of_work(request.actor, now=ctx.now, reason="payment started") as uow:
        prior = idempotency.begin(uow, business_id, key, "record_payment", keyed)
        if prior is not None:
            authorize(read_booking(uow, business_id, request.booking_id), request.actor)
            return _payment(uow, business_id, uuid.UUID(str(prior["payment_id"])))
        if key is not None and (first := _keyed_payment(uow, business_id, key)) is not None:
            if (first.booking_id, first.amount, first.currency) != (request.booking_id, amount.amount, amount.currency):
                raise idempotency.conflict(key, "payment")
            authorize(read_booking(uow, business_id, request.booking_id), request.actor)
            return first
        booking = lock_booking(uow, business_id, request.booking_id)
        authorize(booking, request.actor)
        booking.price.same_currency(amount)
        if booking.status in CLOSED:
            raise IllegalTransition(f"booking {booking.id} is {booking.status}: it takes no payments, book again")
        payment = _insert_payment(uow, request)
        idempotency.record(uow, business_id, key, "record_payment", keyed, {"payment_id": payment.id})
        uow.commit()
    return payment


def _insert_payment(uow: UnitOfWork, request: PaymentRequest) -> Payment:
    row = uow.execute(
        _INSERT_PAYMENT,
        b=request.business_id,
        id=new_id(),
        bk=request.booking_id,
        amt=request.amount.amount,
        cur=request.amount.currency,
        ref=request.provider_ref,
        key=request.idempotency_key,
        now=uow.now,
    ).one()
    return Payment.from_row(row)


def _payment(uow: UnitOfWork, business_id: uuid.UUID, payment_id: uuid.UUID) -> Payment:
    return Payment.from_row(uow.execute(by_id(PAYMENTS, business_id, payment_id)).one())


def _keyed_payment(uow: UnitOfWork, business_id: uuid.UUID, key: str) -> Payment | None:
    """The payment carrying this key on its row (recorded before keys had their table, or purged from it)."""
    row = uow.execute(of_business(PAYMENTS, business_id, column("idempotency_key") == key)).one_or_none()
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
    row = uow.execute(by_id(PAYMENTS, business_id, payment_id).with_for_update()).one_or_none()
    if row is None:
        raise UnknownPayment(f"payment {payment_id} does not exist in this business: check the id")
    return Payment.from_row(row)


def _set_status(uow: UnitOfWork, p: Payment, status: PaymentStatus, **extra: object) -> Payment:
    """Move the payment to `status`; `extra`: provider_ref or failure_reason, written with it."""
    row = uow.execute(change(PAYMENTS, p.business_id, p.id, {"status": str(status), **extra})).one()
    return Payment.from_row(row)


def confirm_payment(ctx: Context, request: ConfirmationRequest) -> PaymentOutcome:
    """Mark a payment paid; a draft booking then takes its seats. Confirming twice is a no-op.

    If the seat is gone by the time the money arrives (slot full or legacy), the payment is
    refunded in full in the same transaction: never a paid booking without a seat. A retried
    key returns the payment and booking as they are now, with the first outcome's
    `refunded_for_lost_seat`; the same key for another payment is an IdempotencyConflict.
    """
    business_id, payment_id, key = request.business_id, request.payment_id, request.idempotency_key
    keyed = {"payment": payment_id}
    with ctx.db.unit_of_work(request.actor, now=ctx.now, reason="payment confirmed") as uow:
        prior = idempotency.begin(uow, business_id, key, "confirm_payment", keyed)
        if prior is not None:
            outcome = _replayed(uow, business_id, prior)
            authorize(outcome.booking, request.actor)
            return outcome
        payment, booking = _lock(uow, business_id, payment_id)
        authorize(booking, request.actor)
        lost = False
        if payment.status is PaymentStatus.FAILED:
            raise IllegalTransition(f"payment {payment_id} failed: record a new payment instead")
        if payment.status is PaymentStatus.PENDING:
            payment, booking, lost = _confirm(uow, payment, booking, provider_ref=request.provider_ref)
        elif key is None:
            return PaymentOutcome(payment, booking)  # confirmed before: nothing to write
        result = {"payment_id": payment.id, "refunded_for_lost_seat": lost}
        idempotency.record(uow, business_id, key, "confirm_payment", keyed, result)
        uow.commit()
    return PaymentOutcome(payment, booking, refunded_for_lost_seat=lost)


def _confirm(
    uow: UnitOfWork, payment: Payment, booking: Booking, *, provider_ref: str | None
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
            _insert_refund(uow, payment, Money(payment.amount, payment.currency), SEAT_LOST)
            payment = _payment(uow, business_id, payment.id)
            booking = lock_booking(uow, business_id, booking.id)
            lost = True
    elif booking.status in CLOSED:
        # Money for a booking that no longer stands goes back at once, less the fee it owes.
        booking = _settle(uow, booking, reason=PAID_AFTER_CANCEL)
        payment = _payment(uow, business_id, payment.id)
    return payment, booking, lost


def _replayed(uow: UnitOfWork, business_id: uuid.UUID, prior: dict[str, object]) -> PaymentOutcome:
    """What a keyed payment request did: its payment and booking as they are now; nothing is written."""
    payment = _payment(uow, business_id, uuid.UUID(str(prior["payment_id"])))
    booking = read_booking(uow, business_id, payment.booking_id)
    return PaymentOutcome(payment, booking, refunded_for_lost_seat=bool(prior.get("refunded_for_lost_seat")))


def fail_payment(ctx: Context, request: PaymentFailureRequest) -> Payment:
    with ctx.db.unit_of_work(request.actor, now=ctx.now, reason=request.reason) as uow:
        payment, booking = _lock(uow, request.business_id, request.payment_id)
        authorize(booking, request.actor)
        if payment.status is PaymentStatus.FAILED:
            return payment
        payment = _set_status(uow, payment, PaymentStatus.FAILED, failure_reason=request.reason)
        uow.commit()
    return payment


_INSERT_REFUND = text(
    "INSERT INTO refunds (business_id, id, payment_id, amount, currency, reason, created_at)"
    " VALUES (:b, :id, :p, :amt, :cur, :reason, :now)"
)


def _insert_refund(uow: UnitOfWork, payment: Payment, amount: Money, reason: str) -> uuid.UUID:
    return uow.insert(
        _INSERT_REFUND, payment.business_id, p=payment.id, amt=amount.amount, cur=amount.currency, reason=reason
    )


def refund(ctx: Context, request: RefundRequest) -> PaymentOutcome:
    """Refund part or all of a paid payment; a cancelled booking owed nothing more becomes refunded.

    A retried key returns the payment and booking as they are now and refunds nothing more;
    the same key for another payment or amount is an IdempotencyConflict.
    """
    business_id, amount, key = request.business_id, request.amount, request.idempotency_key
    keyed = {
        "payment": request.payment_id,
        "amount": idempotency.amount_text(amount.amount),
        "currency": amount.currency,
    }
    with ctx.db.unit_of_work(request.actor, now=ctx.now, reason=request.reason) as uow:
        prior = idempotency.begin(uow, business_id, key, "refund", keyed)
        if prior is not None:
            return _replayed(uow, business_id, prior)
        payment, booking = _lock(uow, business_id, request.payment_id)
        if amount.currency != payment.currency:
            raise CurrencyMismatch(
                f"refund in {amount.currency} for a payment in {payment.currency}: refund in {payment.currency}"
            )
        refund_id = _insert_refund(uow, payment, amount, request.reason)
        payment = _payment(uow, business_id, payment.id)
        booking = _close_if_settled(uow, lock_booking(uow, business_id, booking.id))
        idempotency.record(uow, business_id, key, "refund", keyed, {"payment_id": payment.id, "refund_id": refund_id})
        uow.commit()
    return PaymentOutcome(payment, booking)


def refund_due(ctx: Context, request: RefundDueRequest) -> Booking:
    """Refund exactly what the booking is owed back (its policy's refund, or an overpayment), newest payment first.

    NothingToChange when it is owed nothing.
    """
    with ctx.db.unit_of_work(request.actor, now=ctx.now, reason=request.reason) as uow:
        booking = lock_booking(uow, request.business_id, request.booking_id)
        if booking.refund_due == 0:
            raise NothingToChange(f"booking {booking.id} is owed nothing back: no refund written")
        booking = _settle(uow, booking, reason=request.reason)
        uow.commit()
    return booking


def _refundable_payments(uow: UnitOfWork, booking: Booking) -> list[Payment]:
    """The booking's payments that hold money to give back, newest first, locked."""
    query = (
        of_business(PAYMENTS, booking.business_id, PAYMENTS.c.booking_id == booking.id)
        .where(PAYMENTS.c.status.in_([str(s) for s in sorted(REFUNDABLE)]))
        .order_by(column("created_at").desc(), PAYMENTS.c.id.desc())
        .with_for_update()
    )
    return [Payment.from_row(r) for r in uow.execute(query).all()]


def _settle(uow: UnitOfWork, booking: Booking, *, reason: str) -> Booking:
    """Refund the booking's refund_due across its paid payments, newest first (the booking is locked)."""
    owed = booking.refund_due
    for payment in _refundable_payments(uow, booking):
        if owed <= 0:
            break
        share = min(owed, payment.amount - payment.refunded_amount)
        if share > 0:
            _insert_refund(uow, payment, Money(share, payment.currency), reason)
            owed -= share
    return _close_if_settled(uow, lock_booking(uow, booking.business_id, booking.id))


def _close_if_settled(uow: UnitOfWork, booking: Booking) -> Booking:
    """A cancelled booking whose refund is done (something returned, nothing more owed) becomes refunded."""
    done = booking.refunded_amount > 0 and booking.refund_due == 0
    if (
        booking.status is BookingStatus.CANCELLED
        and done
        and allowed(booking.status, BookingStatus.REFUNDED, uow.actor.type)
    ):
        return update_booking(uow, booking, status=BookingStatus.REFUNDED)
    return booking
