"""Waitlists: join a full slot, FIFO offers (the first entry that fits) that hold seats and expire.

Every path locks the slot before any of its entries (docs/invariants.md, "Lock order"): an
entry's slot never changes, so it is read first without a lock, then slot and entry are
locked in that order.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text

from booking_core.adapters.db import UnitOfWork
from booking_core.adapters.records import WAITLIST_ENTRIES, by_id, of_business, read_all, read_by_id
from booking_core.domain.errors import (
    AlreadyOnWaitlist,
    Conflict,
    LegacySlot,
    OfferAlreadyAccepted,
    OfferExpired,
    UnknownSlot,
    UnknownWaitlistEntry,
)
from booking_core.domain.model import Booking, WaitlistEntry
from booking_core.domain.ownership import require_owner
from booking_core.domain.requests import (
    BookingRequest,
    OfferAcceptRequest,
    OfferExpiryRequest,
    SlotQuery,
    WaitlistEntryQuery,
    WaitlistJoinRequest,
    WaitlistLeaveRequest,
)
from booking_core.domain.values import Actor, ActorType, new_id
from booking_core.services import idempotency
from booking_core.services.bookings import create_in, read_booking, validate_party_size
from booking_core.services.context import Context

__all__ = ["WaitlistEntry", "accept", "expire_offers", "get", "join", "leave", "queue"]

_INSERT_ENTRY = text(
    "INSERT INTO waitlist_entries (business_id, id, slot_id, customer_id, party_size, joined_at)"
    " VALUES (:b, :id, :s, :c, :p, :now) RETURNING id"
)


def join(ctx: Context, request: WaitlistJoinRequest) -> WaitlistEntry:
    """Queue for a full slot; if seats are free, book instead (the entry would be offered at once).

    A retried key returns the entry it made, as it is now (perhaps offered or accepted since),
    even if the slot has since filled, started or left the schedule.
    """
    validate_party_size(request.party_size)
    require_owner(request.actor, request.customer_id, "this waitlist request")
    business_id, key = request.business_id, request.idempotency_key
    keyed = {"slot": request.slot_id, "customer": request.customer_id, "party": request.party_size}
    with ctx.db.unit_of_work(request.actor, now=ctx.now, reason="joined the waitlist") as uow:
        prior = idempotency.begin(uow, business_id, key, "join_waitlist", keyed)
        if prior is not None:
            return _read(uow, business_id, uuid.UUID(str(prior["entry_id"])))
        _require_full_and_open(uow, request)
        entry_id = uow.execute(
            _INSERT_ENTRY,
            b=business_id,
            id=new_id(),
            s=request.slot_id,
            c=request.customer_id,
            p=request.party_size,
            now=uow.now,
        ).scalar_one()
        # Seats may be free but promised to earlier entries; let the queue decide.
        uow.execute("SELECT waitlist_promote(:b, :s)", b=business_id, s=request.slot_id)
        entry = _lock(uow, business_id, entry_id)
        idempotency.record(uow, business_id, key, "join_waitlist", keyed, {"entry_id": entry.id})
        uow.commit()
    return entry


def _require_full_and_open(uow: UnitOfWork, request: WaitlistJoinRequest) -> None:
    """Lock the slot; refuse unless it is current, not started, full (or queued for) and the customer not queued."""
    business_id, slot_id = request.business_id, request.slot_id
    slot = uow.execute(
        "SELECT max_capacity - booked_seats AS free, is_legacy, starts_at FROM time_slots"
        " WHERE business_id = :b AND id = :s FOR NO KEY UPDATE",
        b=business_id,
        s=slot_id,
    ).one_or_none()
    if slot is None:
        raise UnknownSlot.for_id(slot_id)
    if slot.is_legacy:
        raise LegacySlot(f"slot {slot_id} is no longer in the schedule: wait for a slot of the current schedule")
    if slot.starts_at <= uow.now:
        raise Conflict(f"slot {slot_id} has started: its waitlist is closed")
    _require_not_queued(uow, request)
    queued = uow.execute(
        "SELECT count(*) FROM waitlist_entries WHERE business_id = :b AND slot_id = :s AND status = 'waiting'",
        b=business_id,
        s=slot_id,
    ).scalar_one()
    if slot.free >= request.party_size and queued == 0:
        raise Conflict(f"slot {slot_id} has {slot.free} free seats: book it instead of waiting")


def _require_not_queued(uow: UnitOfWork, request: WaitlistJoinRequest) -> None:
    live = uow.execute(
        "SELECT id, status FROM waitlist_entries WHERE business_id = :b AND slot_id = :s AND customer_id = :c"
        " AND status IN ('waiting', 'offered')",
        b=request.business_id,
        s=request.slot_id,
        c=request.customer_id,
    ).one_or_none()
    if live is not None:
        todo = "accept or leave that offer" if live.status == "offered" else "wait for its offer, or leave it first"
        raise AlreadyOnWaitlist(
            f"customer {request.customer_id} is already on the waitlist of slot {request.slot_id}"
            f" (entry {live.id}, {live.status}): {todo}",
            entry_id=live.id,
        )


def _read(uow: UnitOfWork, business_id: uuid.UUID, entry_id: uuid.UUID) -> WaitlistEntry:
    return WaitlistEntry.from_row(uow.execute(by_id(WAITLIST_ENTRIES, business_id, entry_id)).one())


def _lock_slot_then_entry(uow: UnitOfWork, business_id: uuid.UUID, entry_id: uuid.UUID) -> WaitlistEntry:
    """Lock an entry's slot, then the entry: the lock order of every path."""
    slot_id = uow.execute(
        "SELECT slot_id FROM waitlist_entries WHERE business_id = :b AND id = :id", b=business_id, id=entry_id
    ).scalar_one_or_none()
    if slot_id is None:
        raise UnknownWaitlistEntry.for_id(entry_id)
    uow.execute("SELECT slot_lock(:b, :slots)", b=business_id, slots=[slot_id])
    return _lock(uow, business_id, entry_id)


def _lock(uow: UnitOfWork, business_id: uuid.UUID, entry_id: uuid.UUID) -> WaitlistEntry:
    row = uow.execute(by_id(WAITLIST_ENTRIES, business_id, entry_id).with_for_update()).one_or_none()
    if row is None:
        raise UnknownWaitlistEntry.for_id(entry_id)
    return WaitlistEntry.from_row(row)


def get(ctx: Context, query: WaitlistEntryQuery) -> WaitlistEntry:
    return WaitlistEntry.from_row(
        read_by_id(ctx.db, WAITLIST_ENTRIES, query.business_id, query.entry_id, missing=UnknownWaitlistEntry.for_id)
    )


def accept(ctx: Context, request: OfferAcceptRequest) -> Booking:
    """Turn an open offer into a booking; its held seats pass to the booking in the same transaction.

    Accepting an offer already accepted returns its booking to the same customer, the same
    acceptor or a retry with the same idempotency key; anyone else gets OfferAlreadyAccepted.
    """
    business_id, key, actor = request.business_id, request.idempotency_key, request.actor
    with ctx.db.unit_of_work(actor, now=ctx.now, reason="waitlist offer accepted") as uow:
        if key is not None:  # the key before the slot and entry: first in the lock order
            uow.execute("SELECT idempotency_lock(:b, :k)", b=business_id, k=key)
        entry = _lock_slot_then_entry(uow, business_id, request.entry_id)
        require_owner(actor, entry.customer_id, f"waitlist entry {entry.id}")
        if entry.booking_id is not None and entry.status in ("offered", "accepted"):
            booking = _accepted(uow, entry, actor, key)
        else:
            _require_open_offer(uow, entry, actor)
            booking = _book_offer(uow, entry, request)
        uow.commit()
    return booking


def _require_open_offer(uow: UnitOfWork, entry: WaitlistEntry, actor: Actor) -> None:
    if entry.status != "offered":
        raise OfferExpired(f"waitlist entry {entry.id} is {entry.status}, not offered: join the waitlist again")
    if entry.offer_expires_at is not None and entry.offer_expires_at <= uow.now:
        raise OfferExpired(f"the offer expired at {entry.offer_expires_at:%Y-%m-%d %H:%M %Z}: join the waitlist again")


def _book_offer(uow: UnitOfWork, entry: WaitlistEntry, request: OfferAcceptRequest) -> Booking:
    """The entry's booking, its id written on the entry first (the offer's seats pass to it)."""
    booking_id = new_id()
    uow.execute(
        "UPDATE waitlist_entries SET booking_id = :bk WHERE business_id = :b AND id = :id",
        bk=booking_id,
        b=entry.business_id,
        id=entry.id,
    )
    booking_request = BookingRequest(
        entry.business_id,
        slot_id=entry.slot_id,
        customer_id=entry.customer_id,
        party_size=entry.party_size,
        actor=request.actor,
        idempotency_key=request.idempotency_key,
        reason="from the waitlist",
    )
    booking, _ = create_in(uow, booking_request, booking_id=booking_id)
    return booking


def _accepted(uow: UnitOfWork, entry: WaitlistEntry, actor: Actor, idempotency_key: str | None) -> Booking:
    """The booking of an accepted offer, for its customer, its acceptor or a retry of the acceptance."""
    assert entry.booking_id is not None
    booking = read_booking(uow, entry.business_id, entry.booking_id)
    acceptor = uow.execute(
        "SELECT actor_type, actor_id FROM booking_state_transitions"
        " WHERE business_id = :b AND booking_id = :id AND from_status IS NULL",
        b=entry.business_id,
        id=entry.booking_id,
    ).one_or_none()
    same = (
        (idempotency_key is not None and idempotency_key == booking.idempotency_key)
        or (actor.type is ActorType.CUSTOMER and actor.id == str(entry.customer_id))
        or (acceptor is not None and (acceptor.actor_type, acceptor.actor_id) == (str(actor.type), actor.id))
    )
    if not same:
        raise OfferAlreadyAccepted(
            f"the offer of waitlist entry {entry.id} was already accepted by another request:"
            " look up the customer's booking instead of accepting again"
        )
    return booking


def leave(ctx: Context, request: WaitlistLeaveRequest) -> WaitlistEntry:
    """Leave the queue (or decline an offer: its seats go to the next in line)."""
    business_id, entry_id = request.business_id, request.entry_id
    with ctx.db.unit_of_work(request.actor, now=ctx.now, reason="left the waitlist") as uow:
        entry = _lock_slot_then_entry(uow, business_id, entry_id)
        require_owner(request.actor, entry.customer_id, f"waitlist entry {entry.id}")
        if entry.status not in ("waiting", "offered"):
            raise Conflict(f"waitlist entry {entry_id} is already {entry.status}")
        uow.execute(
            "UPDATE waitlist_entries SET status = 'cancelled' WHERE business_id = :b AND id = :id",
            b=business_id,
            id=entry_id,
        )
        entry = _lock(uow, business_id, entry_id)
        uow.commit()
    return entry


def expire_offers(ctx: Context, _request: OfferExpiryRequest) -> int:
    """Expire offers past their time (each passes its seats to the next in line); returns how many."""
    now = ctx.now
    with ctx.db.unit_of_work(Actor.system("waitlist-expiry"), now=now, reason="offer expired") as uow:
        n = int(uow.execute("SELECT waitlist_expire_offers(:now)", now=now).scalar_one())
        uow.commit()
    return n


def queue(ctx: Context, query: SlotQuery) -> list[WaitlistEntry]:
    entries = WAITLIST_ENTRIES.c
    statement = of_business(WAITLIST_ENTRIES, query.business_id, entries.slot_id == query.slot_id).order_by(
        entries.joined_at, entries.id
    )
    return [WaitlistEntry.from_row(r) for r in read_all(ctx.db, statement)]
