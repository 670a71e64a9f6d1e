"""Booking use cases: book, cancel, reschedule, change party size, check in, complete, no-show."""

from __future__ import annotations

import hmac
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from booking_core.adapters.db import Database, UnitOfWork
from booking_core.domain.errors import (
    ActorNotAllowed,
    BookingError,
    CapacityExceeded,
    Conflict,
    InvalidPartySize,
    LegacySlot,
    NothingToChange,
    PaymentRequired,
    StaleVersion,
    Unavailable,
    UnknownBooking,
    UnknownSlot,
    WrongToken,
)
from booking_core.domain.lifecycle import BookingStatus, PaymentMethod, check_transition
from booking_core.domain.model import Booking
from booking_core.domain.values import Actor, ActorType, new_id, require_aware
from booking_core.services import idempotency

MAX_PARTY_SIZE = 100
CHECK_IN_OPENS = timedelta(minutes=30)

BOOKING_COLUMNS = (
    "id, business_id, slot_id, customer_id, party_size, status, payment_method, payment_status, amount,"
    " currency, cancellation_token, idempotency_key, version, created_at, updated_at, unit_price, discount,"
    " promo_code, series_id, occurrence, paid_amount, refunded_amount, cancellation_fee, refund_due"
)

_BOOK_SQL = (
    f"SELECT {', '.join('(f.booking).' + c.strip() for c in BOOKING_COLUMNS.split(','))}, f.replayed"
    " FROM booking_create(%(b)s, %(id)s, %(slot)s, %(cust)s, %(party)s, %(key)s, CAST(%(at)s AS actor_type),"
    " %(aid)s, CAST(%(ch)s AS change_channel), %(reason)s, %(now)s, p_promo_code => %(promo)s,"
    " p_series => %(series)s, p_occurrence => %(occ)s, p_status => CAST(%(status)s AS booking_status)) f"
)
# The same statement for a unit of work (SQLAlchemy's named parameters).
_BOOK = text(re.sub(r"%\((\w+)\)s", r":\1", _BOOK_SQL))


def book_params(
    business_id: uuid.UUID,
    *,
    slot_id: uuid.UUID,
    customer_id: uuid.UUID,
    party_size: int,
    actor: Actor,
    now: datetime,
    idempotency_key: str | None = None,
    reason: str | None = None,
    promo_code: str | None = None,
    series_id: uuid.UUID | None = None,
    occurrence: int | None = None,
    booking_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The parameters of booking_create() for one booking."""
    return {
        "b": business_id,
        "id": booking_id or new_id(),
        "slot": slot_id,
        "cust": customer_id,
        "party": party_size,
        "key": idempotency_key,
        "at": str(actor.type),
        "aid": actor.id,
        "ch": str(actor.channel),
        "reason": reason,
        "now": now,
        "promo": promo_code,
        "series": series_id,
        "occ": occurrence,
        "status": None,
    }


def create_in(uow: UnitOfWork, **params: Any) -> tuple[Booking, bool]:
    """booking_create() inside an open unit of work: the booking, and whether it was a replay."""
    row = uow.execute(_BOOK, **book_params(**params)).one()
    return Booking.from_row(row), bool(row.replayed)


def validate_party_size(party_size: int) -> None:
    if not isinstance(party_size, int) or isinstance(party_size, bool) or not 1 <= party_size <= MAX_PARTY_SIZE:
        raise InvalidPartySize(f"party size {party_size!r} must be a whole number from 1 to {MAX_PARTY_SIZE}")


def book(
    db: Database,
    business_id: uuid.UUID,
    *,
    slot_id: uuid.UUID,
    customer_id: uuid.UUID,
    party_size: int,
    actor: Actor,
    now: datetime,
    idempotency_key: str | None = None,
    reason: str | None = None,
    promo_code: str | None = None,
) -> Booking:
    """Book `party_size` seats in a slot, in one round trip; a retried key returns the first booking.

    The price (the service's, or the price rule matching the slot, less a promo code) is locked
    into the booking; later price changes never touch it.

    Pay-on-arrival bookings are confirmed (seats taken) at once; pay-now bookings start as
    draft and take their seats when the payment is confirmed.
    """
    validate_party_size(party_size)
    require_aware(now, "now")
    if actor.type is ActorType.CUSTOMER and actor.id != str(customer_id):
        raise ActorNotAllowed("a customer can only book for themselves: book as an admin for someone else")
    try:
        row = db.run_one(
            _BOOK_SQL,
            book_params(
                business_id,
                slot_id=slot_id,
                customer_id=customer_id,
                party_size=party_size,
                actor=actor,
                now=now,
                idempotency_key=idempotency_key,
                reason=reason,
                promo_code=promo_code,
            ),
            actor=actor,
        )
    except (Unavailable, UnknownSlot, InvalidPartySize) as exc:  # a refusal the slot's demand counts
        _record_refusal(db, business_id, slot_id, exc, party_size, now)
        raise
    return Booking.from_row(row)


def _refusal_reason(exc: BookingError) -> str:
    if isinstance(exc, CapacityExceeded):
        return "full"
    if isinstance(exc, LegacySlot):
        return "legacy"
    if isinstance(exc, UnknownSlot):
        return "unknown_slot"
    if isinstance(exc, Unavailable):
        return "started"
    return "invalid"


def _record_refusal(
    db: Database,
    business_id: uuid.UUID,
    slot_id: uuid.UUID,
    exc: BookingError,
    party: int,
    now: datetime,
) -> None:
    """Count the refused attempt (for the exporter); its own statement, after the refusal.

    If the database fails now (connection lost, busy), the count is lost, never the refusal:
    the caller still gets the error that says why the booking was refused.
    """
    try:
        with db.connect(autocommit=True) as conn:
            conn.execute(
                text(
                    "INSERT INTO booking_refusals (business_id, slot_id, reason, party_size, occurred_at)"
                    " SELECT :b, :s, CAST(:r AS refusal_reason), :p, :now"
                    " WHERE EXISTS (SELECT 1 FROM businesses WHERE id = :b)"
                ),
                {"b": business_id, "s": slot_id, "r": _refusal_reason(exc), "p": party, "now": now},
            )
    except BookingError as lost:
        if not lost.retryable:
            raise


def get_booking(db: Database, business_id: uuid.UUID, booking_id: uuid.UUID) -> Booking:
    with db.connect() as conn:
        row = conn.execute(
            text(f"SELECT {BOOKING_COLUMNS} FROM bookings WHERE business_id = :b AND id = :id"),
            {"b": business_id, "id": booking_id},
        ).one_or_none()
    if row is None:
        raise UnknownBooking(f"booking {booking_id} does not exist in this business: check the id")
    return Booking.from_row(row)


def authorize(booking: Booking, actor: Actor, token: uuid.UUID | str | None) -> None:
    """Customers need the booking's token or to be its customer; admins and system may act."""
    if actor.type is not ActorType.CUSTOMER:
        return
    if token is not None:
        if hmac.compare_digest(str(token), str(booking.cancellation_token)):
            return
        raise WrongToken("the cancellation token does not match this booking: use the link from your confirmation")
    if actor.id != str(booking.customer_id):
        raise WrongToken("this booking belongs to another customer: use its cancellation token")


def lock_booking(uow: UnitOfWork, business_id: uuid.UUID, booking_id: uuid.UUID) -> Booking:
    row = uow.execute(
        f"SELECT {BOOKING_COLUMNS} FROM bookings WHERE business_id = :b AND id = :id FOR UPDATE",
        b=business_id,
        id=booking_id,
    ).one_or_none()
    if row is None:
        raise UnknownBooking(f"booking {booking_id} does not exist in this business: check the id")
    return Booking.from_row(row)


def update_booking(uow: UnitOfWork, booking: Booking, **changes: Any) -> Booking:
    sets = ", ".join(f"{k} = :{k}" for k in changes)
    row = uow.execute(
        f"UPDATE bookings SET {sets} WHERE business_id = :b AND id = :id RETURNING {BOOKING_COLUMNS}",
        b=booking.business_id,
        id=booking.id,
        **{k: str(v) if isinstance(v, BookingStatus) else v for k, v in changes.items()},
    ).one()
    return Booking.from_row(row)


def _change(
    db: Database,
    business_id: uuid.UUID,
    booking_id: uuid.UUID,
    *,
    actor: Actor,
    now: datetime,
    token: uuid.UUID | str | None,
    expected_version: int | None,
    reason: str | None,
    decide: Callable[[UnitOfWork, Booking], dict[str, Any]],
    keyed: tuple[str, str | None] = ("", None),
) -> Booking:
    """Lock the booking, re-check who and which version, apply `decide`'s changes, commit.

    With `keyed` (operation, idempotency key), the key is looked up first: a replay returns
    the booking it changed, as it is now, to whoever may see it, and writes nothing.
    """
    operation, key = keyed
    request = {"booking": booking_id}
    with db.unit_of_work(actor, now=now, reason=reason) as uow:
        if idempotency.begin(uow, business_id, key, operation, request) is not None:
            booking = _read(uow, business_id, booking_id)
            authorize(booking, actor, token)
            return booking
        booking = lock_booking(uow, business_id, booking_id)
        authorize(booking, actor, token)
        if expected_version is not None and booking.version != expected_version:
            raise StaleVersion(
                f"booking {booking_id} is at version {booking.version}, not {expected_version}: reload it and retry"
            )
        changes = {k: v for k, v in decide(uow, booking).items() if getattr(booking, k) != v}
        if not changes:
            raise NothingToChange(
                f"booking {booking_id} already is {_state(booking)}: nothing to change, nothing written"
            )
        if "status" in changes:
            check_transition(booking.status, changes["status"], actor.type)
        updated = update_booking(uow, booking, **changes)
        idempotency.record(uow, business_id, key, operation, request, {"booking_id": booking_id})
        uow.commit()
    return updated


def _read(uow: UnitOfWork, business_id: uuid.UUID, booking_id: uuid.UUID) -> Booking:
    row = uow.execute(
        f"SELECT {BOOKING_COLUMNS} FROM bookings WHERE business_id = :b AND id = :id", b=business_id, id=booking_id
    ).one()
    return Booking.from_row(row)


def _state(b: Booking) -> str:
    return f"{b.status}, party of {b.party_size}, slot {b.slot_id}"


def _to(status: BookingStatus) -> Callable[[UnitOfWork, Booking], dict[str, Any]]:
    return lambda _uow, _b: {"status": status}


def cancel(
    db: Database,
    business_id: uuid.UUID,
    booking_id: uuid.UUID,
    *,
    actor: Actor,
    now: datetime,
    token: uuid.UUID | str | None = None,
    reason: str | None = None,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
) -> Booking:
    """Cancel (customer with token or identity, or admin); frees the seats. System actors cannot.

    A retried key returns the booking it cancelled, as it is now (cancelled, or refunded
    since), instead of NothingToChange or StaleVersion; the same key for another booking is an
    IdempotencyConflict.
    """
    return _change(
        db,
        business_id,
        booking_id,
        actor=actor,
        now=now,
        token=token,
        expected_version=expected_version,
        reason=reason,
        decide=_to(BookingStatus.CANCELLED),
        keyed=("cancel", idempotency_key),
    )


def check_in(
    db: Database,
    business_id: uuid.UUID,
    booking_id: uuid.UUID,
    *,
    actor: Actor,
    now: datetime,
    expected_version: int | None = None,
) -> Booking:
    """Check the party in, from 30 minutes before the slot until it ends (legacy slots too)."""

    def decide(uow: UnitOfWork, b: Booking) -> dict[str, Any]:
        starts, ends = uow.execute(
            "SELECT starts_at, ends_at FROM time_slots WHERE business_id = :b AND id = :s",
            b=b.business_id,
            s=b.slot_id,
        ).one()
        if not starts - CHECK_IN_OPENS <= now <= ends:
            raise Conflict(
                f"check-in opens at {starts - CHECK_IN_OPENS:%Y-%m-%d %H:%M %Z} and closes when the slot ends"
            )
        return {"status": BookingStatus.CHECKED_IN}

    return _change(
        db,
        business_id,
        booking_id,
        actor=actor,
        now=now,
        token=None,
        expected_version=expected_version,
        reason="checked in",
        decide=decide,
    )


def complete(
    db: Database,
    business_id: uuid.UUID,
    booking_id: uuid.UUID,
    *,
    actor: Actor,
    now: datetime,
) -> Booking:
    return _change(
        db,
        business_id,
        booking_id,
        actor=actor,
        now=now,
        token=None,
        expected_version=None,
        reason="service delivered",
        decide=_to(BookingStatus.COMPLETED),
    )


def mark_no_show(
    db: Database,
    business_id: uuid.UUID,
    booking_id: uuid.UUID,
    *,
    actor: Actor,
    now: datetime,
) -> Booking:
    def decide(uow: UnitOfWork, b: Booking) -> dict[str, Any]:
        starts = uow.execute(
            "SELECT starts_at FROM time_slots WHERE business_id = :b AND id = :s",
            b=b.business_id,
            s=b.slot_id,
        ).scalar_one()
        if now < starts:
            raise Conflict("a booking is a no-show only once its slot has started")
        return {"status": BookingStatus.NO_SHOW}

    return _change(
        db,
        business_id,
        booking_id,
        actor=actor,
        now=now,
        token=None,
        expected_version=None,
        reason="no show",
        decide=decide,
    )


def reschedule(
    db: Database,
    business_id: uuid.UUID,
    booking_id: uuid.UUID,
    *,
    new_slot_id: uuid.UUID,
    actor: Actor,
    now: datetime,
    token: uuid.UUID | str | None = None,
    expected_version: int | None = None,
    reason: str | None = None,
) -> Booking:
    """Move a draft or confirmed booking to another slot of the current schedule, all or nothing."""

    def decide(uow: UnitOfWork, b: Booking) -> dict[str, Any]:
        if not b.status.reschedulable:
            raise Conflict(f"a {b.status} booking cannot be rescheduled: only draft and confirmed ones can")
        row = uow.execute(
            "SELECT starts_at, service_id FROM time_slots WHERE business_id = :b AND id = :s",
            b=b.business_id,
            s=new_slot_id,
        ).one_or_none()
        if row is None:
            raise UnknownSlot(f"slot {new_slot_id} does not exist in this business: list the open slots")
        if row.starts_at <= now:
            from booking_core.domain.errors import Unavailable

            raise Unavailable(f"slot {new_slot_id} has already started: pick a slot in the future")
        return {"slot_id": new_slot_id}

    return _change(
        db,
        business_id,
        booking_id,
        actor=actor,
        now=now,
        token=token,
        expected_version=expected_version,
        reason=reason or "rescheduled",
        decide=decide,
    )


def change_party_size(
    db: Database,
    business_id: uuid.UUID,
    booking_id: uuid.UUID,
    *,
    party_size: int,
    actor: Actor,
    now: datetime,
    token: uuid.UUID | str | None = None,
    expected_version: int | None = None,
) -> Booking:
    """Grow or shrink the party; growth needs free seats, the locked unit price is kept."""
    validate_party_size(party_size)

    def decide(_uow: UnitOfWork, b: Booking) -> dict[str, Any]:
        if b.status not in (BookingStatus.DRAFT, BookingStatus.CONFIRMED):
            raise Conflict(f"the party of a {b.status} booking cannot change")
        if b.unit_price is not None:
            amount = max(b.unit_price * party_size - b.discount, Decimal(0))
        else:
            amount = round(b.amount / b.party_size * party_size, 2)  # booked before unit prices were recorded
        if b.payment_method is PaymentMethod.PAY_NOW and b.status.holds_seat and amount > b.paid_amount:
            raise PaymentRequired(
                f"a party of {party_size} costs {amount} {b.currency} and {b.paid_amount} is paid:"
                f" record and confirm a payment of {amount - b.paid_amount} first, then change the party size"
            )
        return {"party_size": party_size, "amount": amount}

    return _change(
        db,
        business_id,
        booking_id,
        actor=actor,
        now=now,
        token=token,
        expected_version=expected_version,
        reason="party size changed",
        decide=decide,
    )
