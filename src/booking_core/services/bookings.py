"""Booking use cases: book, cancel, reschedule, change party size, check in, complete, no-show.

A booking is made by one SQL function, booking_create() (src/booking_core/sql/bookings.sql):
`booking_create_args` names its arguments, each taken by name from the BookingRequest.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from booking_core.adapters.db import UnitOfWork
from booking_core.adapters.records import BOOKING_COLUMNS as BOOKING_COLUMNS  # read by bench/hot_slot.py
from booking_core.adapters.records import BOOKINGS, SLOTS, by_id, change, read_by_id
from booking_core.domain.errors import (
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
)
from booking_core.domain.lifecycle import OPEN, BookingStatus, PaymentMethod, check_in_window, check_transition
from booking_core.domain.model import Booking
from booking_core.domain.money import party_amount
from booking_core.domain.ownership import require_owner
from booking_core.domain.requests import (
    BookingQuery,
    BookingRequest,
    CancelRequest,
    ForSeats,
    FrontDeskRequest,
    PartySizeRequest,
    RescheduleRequest,
    Token,
)
from booking_core.domain.values import Actor, new_id, require_aware
from booking_core.services import idempotency
from booking_core.services.context import Context

MAX_PARTY_SIZE = 100

# booking_create() returns (booking bookings, replayed boolean, issued_token uuid); `(f.booking).*`
# spreads the row, and the token issued (None on a replay) is the Booking's cancellation_token.
BOOKING_CREATE = (
    "SELECT (f.booking).*, f.replayed, f.issued_token AS cancellation_token FROM booking_create("
    "p_business => %(p_business)s, p_id => %(p_id)s, p_slot => %(p_slot)s, p_customer => %(p_customer)s,"
    " p_party => %(p_party)s, p_idempotency_key => %(p_idempotency_key)s,"
    " p_actor_type => CAST(%(p_actor_type)s AS actor_type), p_actor_id => %(p_actor_id)s,"
    " p_channel => CAST(%(p_channel)s AS change_channel), p_reason => %(p_reason)s,"
    " p_occurred_at => %(p_occurred_at)s, p_promo_code => %(p_promo_code)s, p_series => %(p_series)s,"
    " p_occurrence => %(p_occurrence)s) f"
)
# The same call inside a unit of work (SQLAlchemy's named parameters).
_BOOKING_CREATE_IN = text(BOOKING_CREATE.replace("%(", ":").replace(")s", ""))


def booking_create_args(
    request: BookingRequest,
    *,
    now: datetime,
    booking_id: uuid.UUID | None = None,
    series_id: uuid.UUID | None = None,
    occurrence: int | None = None,
) -> dict[str, object]:
    """The arguments of booking_create(), by its parameter names, from the request's fields."""
    return {
        **seat_args(request, now=now, booking_id=booking_id),
        "p_reason": request.reason,
        "p_promo_code": request.promo_code,
        "p_series": series_id,
        "p_occurrence": occurrence,
    }


def seat_args(request: ForSeats, *, now: datetime, booking_id: uuid.UUID | None = None) -> dict[str, object]:
    """The arguments booking_create() and booking_create_multi() share: what is booked, by whom, when."""
    return {
        "p_business": request.business_id,
        "p_id": booking_id or new_id(),
        "p_slot": request.slot_id,
        "p_customer": request.customer_id,
        "p_party": request.party_size,
        "p_idempotency_key": request.idempotency_key,
        "p_actor_type": str(request.actor.type),
        "p_actor_id": request.actor.id,
        "p_channel": str(request.actor.channel),
        "p_occurred_at": now,
    }


def create_in(uow: UnitOfWork, request: BookingRequest, **made_as: Any) -> tuple[Booking, bool]:
    """booking_create() inside an open unit of work: the booking, and whether it was a replay.

    `made_as`: booking_id, series_id, occurrence (see booking_create_args).
    """
    row = uow.execute(_BOOKING_CREATE_IN, **booking_create_args(request, now=uow.now, **made_as)).one()
    return Booking.from_row(row), bool(row.replayed)


def validate_party_size(party_size: int) -> None:
    if not isinstance(party_size, int) or isinstance(party_size, bool) or not 1 <= party_size <= MAX_PARTY_SIZE:
        raise InvalidPartySize(f"party size {party_size!r} must be a whole number from 1 to {MAX_PARTY_SIZE}")


def book(ctx: Context, request: BookingRequest) -> Booking:
    """Book `party_size` seats in a slot, in one round trip; a retried key returns the first booking.

    The new booking carries its cancellation token, shown this once (the database keeps its
    hash; the booking's notification carries it to the customer). A retried key returns the
    booking without it.

    The price (the service's, or the price rule matching the slot, less a promo code) is locked
    into the booking; later price changes never touch it.

    Pay-on-arrival bookings are confirmed (seats taken) at once; pay-now bookings start as
    draft and take their seats when the payment is confirmed.
    """
    validate_party_size(request.party_size)
    now = require_aware(ctx.now, "now")
    actor = request.actor
    require_owner(actor, request.customer_id, "this booking request")
    try:
        row = ctx.db.run_one(BOOKING_CREATE, booking_create_args(request, now=now), actor=actor)
    except (Unavailable, UnknownSlot, InvalidPartySize) as exc:  # a refusal the slot's demand counts
        _record_refusal(ctx, request, exc)
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


_RECORD_REFUSAL = text(
    "INSERT INTO booking_refusals (business_id, slot_id, reason, party_size, occurred_at)"
    " SELECT :b, :s, CAST(:r AS refusal_reason), :p, :now"
    " WHERE EXISTS (SELECT 1 FROM businesses WHERE id = :b)"
)


def _record_refusal(ctx: Context, request: BookingRequest, exc: BookingError) -> None:
    """Count the refused attempt (for the exporter); its own statement, after the refusal.

    If the database fails now (connection lost, busy), the count is lost, never the refusal:
    the caller still gets the error that says why the booking was refused.
    """
    params = {"b": request.business_id, "s": request.slot_id, "r": _refusal_reason(exc), "p": request.party_size}
    try:
        with ctx.db.connect(autocommit=True) as conn:
            conn.execute(_RECORD_REFUSAL, {**params, "now": ctx.now})
    except BookingError as lost:
        if not lost.retryable:
            raise


def get_booking(ctx: Context, query: BookingQuery) -> Booking:
    return Booking.from_row(
        read_by_id(ctx.db, BOOKINGS, query.business_id, query.booking_id, missing=UnknownBooking.for_id)
    )


def authorize(booking: Booking, actor: Actor, token: Token | None = None) -> None:
    """The ownership rule (domain/ownership.py) for a booking: its customer, or its token's holder, or staff."""
    require_owner(
        actor, booking.customer_id, f"booking {booking.id}", token=token, secret=booking.cancellation_token_hash
    )


def read_booking(uow: UnitOfWork, business_id: uuid.UUID, booking_id: uuid.UUID) -> Booking:
    return Booking.from_row(uow.execute(by_id(BOOKINGS, business_id, booking_id)).one())


def lock_booking(uow: UnitOfWork, business_id: uuid.UUID, booking_id: uuid.UUID) -> Booking:
    row = uow.execute(by_id(BOOKINGS, business_id, booking_id).with_for_update()).one_or_none()
    if row is None:
        raise UnknownBooking.for_id(booking_id)
    return Booking.from_row(row)


def update_booking(uow: UnitOfWork, booking: Booking, **changes: Any) -> Booking:
    values = {k: str(v) if isinstance(v, BookingStatus) else v for k, v in changes.items()}
    return Booking.from_row(uow.execute(change(BOOKINGS, booking.business_id, booking.id, values)).one())


Decide = Callable[[UnitOfWork, Booking], dict[str, Any]]


def _change(
    ctx: Context,
    request: CancelRequest | RescheduleRequest | PartySizeRequest | FrontDeskRequest,
    *,
    reason: str | None,
    decide: Decide,
    operation: str = "",
) -> Booking:
    """Lock the booking, re-check who and which version, apply `decide`'s changes, commit.

    With an idempotency key on the request (and the `operation` it names), the key is looked
    up first: a replay returns the booking it changed, as it is now, to whoever may see it,
    and writes nothing.
    """
    business_id, booking_id, actor = request.business_id, request.booking_id, request.actor
    token = getattr(request, "token", None)
    key = getattr(request, "idempotency_key", None)
    keyed = {"booking": booking_id}
    with ctx.db.unit_of_work(actor, now=ctx.now, reason=reason) as uow:
        if idempotency.begin(uow, business_id, key, operation, keyed) is not None:
            booking = read_booking(uow, business_id, booking_id)
            authorize(booking, actor, token)
            return booking
        booking = lock_booking(uow, business_id, booking_id)
        authorize(booking, actor, token)
        _require_version(booking, getattr(request, "expected_version", None))
        changes = {k: v for k, v in decide(uow, booking).items() if getattr(booking, k) != v}
        if not changes:
            raise NothingToChange(
                f"booking {booking_id} already is {_state(booking)}: nothing to change, nothing written"
            )
        if "status" in changes:
            check_transition(booking.status, changes["status"], actor.type)
        updated = update_booking(uow, booking, **changes)
        idempotency.record(uow, business_id, key, operation, keyed, {"booking_id": booking_id})
        uow.commit()
    return updated


def _require_version(booking: Booking, expected_version: int | None) -> None:
    if expected_version is not None and booking.version != expected_version:
        raise StaleVersion(
            f"booking {booking.id} is at version {booking.version}, not {expected_version}: reload it and retry"
        )


def _state(b: Booking) -> str:
    return f"{b.status}, party of {b.party_size}, slot {b.slot_id}"


def _to(status: BookingStatus) -> Decide:
    return lambda _uow, _b: {"status": status}


def _slot_times(uow: UnitOfWork, b: Booking) -> tuple[datetime, datetime]:
    """The booking's slot's (starts_at, ends_at)."""
    slot = SLOTS.c
    row = uow.execute(
        SLOTS.select()
        .with_only_columns(slot.starts_at, slot.ends_at)
        .where(slot.business_id == b.business_id, slot.id == b.slot_id)
    ).one()
    return row.starts_at, row.ends_at


def cancel(ctx: Context, request: CancelRequest) -> Booking:
    """Cancel (customer with token or identity, or admin); frees the seats. System actors cannot.

    A retried key returns the booking it cancelled, as it is now (cancelled, or refunded
    since), instead of NothingToChange or StaleVersion; the same key for another booking is an
    IdempotencyConflict.
    """
    return _change(ctx, request, reason=request.reason, decide=_to(BookingStatus.CANCELLED), operation="cancel")


def check_in(ctx: Context, request: FrontDeskRequest) -> Booking:
    """Check the party in within the slot's check-in window (domain/lifecycle.py; legacy slots too)."""
    now = ctx.now

    def decide(uow: UnitOfWork, b: Booking) -> dict[str, Any]:
        opens, closes = check_in_window(*_slot_times(uow, b))
        if not opens <= now <= closes:
            raise Conflict(f"check-in opens at {opens:%Y-%m-%d %H:%M %Z} and closes when the slot ends")
        return {"status": BookingStatus.CHECKED_IN}

    return _change(ctx, request, reason="checked in", decide=decide)


def complete(ctx: Context, request: FrontDeskRequest) -> Booking:
    return _change(ctx, request, reason="service delivered", decide=_to(BookingStatus.COMPLETED))


def mark_no_show(ctx: Context, request: FrontDeskRequest) -> Booking:
    now = ctx.now

    def decide(uow: UnitOfWork, b: Booking) -> dict[str, Any]:
        starts, _ends = _slot_times(uow, b)
        if now < starts:
            raise Conflict("a booking is a no-show only once its slot has started")
        return {"status": BookingStatus.NO_SHOW}

    return _change(ctx, request, reason="no show", decide=decide)


def reschedule(ctx: Context, request: RescheduleRequest) -> Booking:
    """Move a draft or confirmed booking to another slot of the current schedule, all or nothing."""
    now, new_slot_id = ctx.now, request.new_slot_id

    def decide(uow: UnitOfWork, b: Booking) -> dict[str, Any]:
        if not b.status.reschedulable:
            raise Conflict(f"a {b.status} booking cannot be rescheduled: only draft and confirmed ones can")
        starts_at = uow.execute(
            SLOTS.select()
            .with_only_columns(SLOTS.c.starts_at)
            .where(SLOTS.c.business_id == b.business_id, SLOTS.c.id == new_slot_id)
        ).scalar_one_or_none()
        if starts_at is None:
            raise UnknownSlot(f"slot {new_slot_id} does not exist in this business: list the open slots")
        if starts_at <= now:
            raise Unavailable(f"slot {new_slot_id} has already started: pick a slot in the future")
        return {"slot_id": new_slot_id}

    return _change(ctx, request, reason=request.reason or "rescheduled", decide=decide)


def change_party_size(ctx: Context, request: PartySizeRequest) -> Booking:
    """Grow or shrink the party; growth needs free seats, the locked unit price is kept."""
    party_size = request.party_size
    validate_party_size(party_size)

    def decide(_uow: UnitOfWork, b: Booking) -> dict[str, Any]:
        if b.status not in OPEN:
            raise Conflict(f"the party of a {b.status} booking cannot change")
        amount = price_for_party(b, party_size)
        if b.payment_method is PaymentMethod.PAY_NOW and b.status.holds_seat and amount > b.paid_amount:
            raise PaymentRequired(
                f"a party of {party_size} costs {amount} {b.currency} and {b.paid_amount} is paid:"
                f" record and confirm a payment of {amount - b.paid_amount} first, then change the party size"
            )
        return {"party_size": party_size, "amount": amount}

    return _change(ctx, request, reason="party size changed", decide=decide)


def price_for_party(b: Booking, party_size: int) -> Decimal:
    """What the booking costs for another party size, at its locked unit price less its discount."""
    if b.unit_price is not None:
        return party_amount(b.unit_price, b.discount, party_size)
    return round(b.amount / b.party_size * party_size, 2)  # booked before unit prices were recorded
