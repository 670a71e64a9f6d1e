"""Waitlists: join a full slot, FIFO offers (the first entry that fits) that hold seats and expire.

Every path locks the slot before any of its entries (docs/invariants.md, "Lock order"): an
entry's slot never changes, so it is read first without a lock, then slot and entry are
locked in that order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text

from booking_core.adapters.db import Database, UnitOfWork
from booking_core.domain.errors import (
    AlreadyOnWaitlist,
    Conflict,
    LegacySlot,
    OfferAlreadyAccepted,
    OfferExpired,
    UnknownSlot,
    UnknownWaitlistEntry,
)
from booking_core.domain.model import Booking
from booking_core.domain.values import Actor, ActorType, new_id
from booking_core.services import idempotency
from booking_core.services.bookings import BOOKING_COLUMNS, create_in, validate_party_size

ENTRY_COLUMNS = (
    "id, business_id, slot_id, customer_id, party_size, status, joined_at, offered_at, offer_expires_at, booking_id"
)


@dataclass(frozen=True, slots=True)
class WaitlistEntry:
    id: uuid.UUID
    business_id: uuid.UUID
    slot_id: uuid.UUID
    customer_id: uuid.UUID
    party_size: int
    status: str
    joined_at: datetime
    offered_at: datetime | None
    offer_expires_at: datetime | None
    booking_id: uuid.UUID | None

    @classmethod
    def from_row(cls, row: Any) -> WaitlistEntry:
        return cls(**dict(row._mapping))


def join(
    db: Database,
    business_id: uuid.UUID,
    *,
    slot_id: uuid.UUID,
    customer_id: uuid.UUID,
    party_size: int,
    actor: Actor,
    now: datetime,
    idempotency_key: str | None = None,
) -> WaitlistEntry:
    """Queue for a full slot; if seats are free, book instead (the entry would be offered at once).

    A retried key returns the entry it made, as it is now (perhaps offered or accepted since),
    even if the slot has since filled, started or left the schedule.
    """
    validate_party_size(party_size)
    request = {"slot": slot_id, "customer": customer_id, "party": party_size}
    with db.unit_of_work(actor, now=now, reason="joined the waitlist") as uow:
        prior = idempotency.begin(uow, business_id, idempotency_key, "join_waitlist", request)
        if prior is not None:
            return _read(uow, business_id, uuid.UUID(str(prior["entry_id"])))
        slot = uow.execute(
            "SELECT max_capacity - booked_seats AS free, is_legacy, starts_at FROM time_slots"
            " WHERE business_id = :b AND id = :s FOR NO KEY UPDATE",
            b=business_id,
            s=slot_id,
        ).one_or_none()
        if slot is None:
            raise UnknownSlot(f"slot {slot_id} does not exist in this business: list its slots")
        if slot.is_legacy:
            raise LegacySlot(f"slot {slot_id} is no longer in the schedule: wait for a slot of the current schedule")
        if slot.starts_at <= now:
            raise Conflict(f"slot {slot_id} has started: its waitlist is closed")
        live = uow.execute(
            "SELECT id, status FROM waitlist_entries WHERE business_id = :b AND slot_id = :s AND customer_id = :c"
            " AND status IN ('waiting', 'offered')",
            b=business_id,
            s=slot_id,
            c=customer_id,
        ).one_or_none()
        if live is not None:
            todo = "accept or leave that offer" if live.status == "offered" else "wait for its offer, or leave it first"
            raise AlreadyOnWaitlist(
                f"customer {customer_id} is already on the waitlist of slot {slot_id} (entry {live.id}, {live.status}):"
                f" {todo}",
                entry_id=live.id,
            )
        queued = uow.execute(
            "SELECT count(*) FROM waitlist_entries WHERE business_id = :b AND slot_id = :s AND status = 'waiting'",
            b=business_id,
            s=slot_id,
        ).scalar_one()
        if slot.free >= party_size and queued == 0:
            raise Conflict(f"slot {slot_id} has {slot.free} free seats: book it instead of waiting")
        row = uow.execute(
            f"INSERT INTO waitlist_entries (business_id, id, slot_id, customer_id, party_size, joined_at)"
            f" VALUES (:b, :id, :s, :c, :p, :now) RETURNING {ENTRY_COLUMNS}",
            b=business_id,
            id=new_id(),
            s=slot_id,
            c=customer_id,
            p=party_size,
            now=now,
        ).one()
        # Seats may be free but promised to earlier entries; let the queue decide.
        uow.execute("SELECT waitlist_promote(:b, :s)", b=business_id, s=slot_id)
        row = _lock(uow, business_id, row.id)
        idempotency.record(uow, business_id, idempotency_key, "join_waitlist", request, {"entry_id": row.id})
        uow.commit()
    return row


def _read(uow: UnitOfWork, business_id: uuid.UUID, entry_id: uuid.UUID) -> WaitlistEntry:
    row = uow.execute(
        f"SELECT {ENTRY_COLUMNS} FROM waitlist_entries WHERE business_id = :b AND id = :id", b=business_id, id=entry_id
    ).one()
    return WaitlistEntry.from_row(row)


def _lock_slot_then_entry(uow: UnitOfWork, business_id: uuid.UUID, entry_id: uuid.UUID) -> WaitlistEntry:
    """Lock an entry's slot, then the entry: the lock order of every path."""
    slot_id = uow.execute(
        "SELECT slot_id FROM waitlist_entries WHERE business_id = :b AND id = :id", b=business_id, id=entry_id
    ).scalar_one_or_none()
    if slot_id is None:
        raise UnknownWaitlistEntry(f"waitlist entry {entry_id} does not exist in this business")
    uow.execute("SELECT slot_lock(:b, :slots)", b=business_id, slots=[slot_id])
    return _lock(uow, business_id, entry_id)


def _lock(uow: UnitOfWork, business_id: uuid.UUID, entry_id: uuid.UUID) -> WaitlistEntry:
    row = uow.execute(
        f"SELECT {ENTRY_COLUMNS} FROM waitlist_entries WHERE business_id = :b AND id = :id FOR UPDATE",
        b=business_id,
        id=entry_id,
    ).one_or_none()
    if row is None:
        raise UnknownWaitlistEntry(f"waitlist entry {entry_id} does not exist in this business")
    return WaitlistEntry.from_row(row)


def get(db: Database, business_id: uuid.UUID, entry_id: uuid.UUID) -> WaitlistEntry:
    with db.connect() as conn:
        row = conn.execute(
            text(f"SELECT {ENTRY_COLUMNS} FROM waitlist_entries WHERE business_id = :b AND id = :id"),
            {"b": business_id, "id": entry_id},
        ).one_or_none()
    if row is None:
        raise UnknownWaitlistEntry(f"waitlist entry {entry_id} does not exist in this business")
    return WaitlistEntry.from_row(row)


def accept(
    db: Database,
    business_id: uuid.UUID,
    entry_id: uuid.UUID,
    *,
    actor: Actor,
    now: datetime,
    idempotency_key: str | None = None,
) -> Booking:
    """Turn an open offer into a booking; its held seats pass to the booking in the same transaction.

    Accepting an offer already accepted returns its booking to the same customer, the same
    acceptor or a retry with the same idempotency key; anyone else gets OfferAlreadyAccepted.
    """
    with db.unit_of_work(actor, now=now, reason="waitlist offer accepted") as uow:
        if idempotency_key is not None:  # the key before the slot and entry: first in the lock order
            uow.execute("SELECT idempotency_lock(:b, :k)", b=business_id, k=idempotency_key)
        entry = _lock_slot_then_entry(uow, business_id, entry_id)
        if entry.booking_id is not None and entry.status in ("offered", "accepted"):
            booking = _accepted(uow, entry, actor, idempotency_key)
            uow.commit()
            return booking
        if actor.type is ActorType.CUSTOMER and actor.id != str(entry.customer_id):
            raise Conflict("this offer belongs to another customer")
        if entry.status != "offered":
            raise OfferExpired(f"waitlist entry {entry_id} is {entry.status}, not offered: join the waitlist again")
        if entry.offer_expires_at is not None and entry.offer_expires_at <= now:
            raise OfferExpired(
                f"the offer expired at {entry.offer_expires_at:%Y-%m-%d %H:%M %Z}: join the waitlist again"
            )
        booking_id = new_id()
        uow.execute(
            "UPDATE waitlist_entries SET booking_id = :bk WHERE business_id = :b AND id = :id",
            bk=booking_id,
            b=business_id,
            id=entry_id,
        )
        booking, _ = create_in(
            uow,
            business_id=business_id,
            slot_id=entry.slot_id,
            customer_id=entry.customer_id,
            party_size=entry.party_size,
            actor=actor,
            now=now,
            booking_id=booking_id,
            idempotency_key=idempotency_key,
            reason="from the waitlist",
        )
        uow.commit()
    return booking


def _accepted(uow: UnitOfWork, entry: WaitlistEntry, actor: Actor, idempotency_key: str | None) -> Booking:
    """The booking of an accepted offer, for its customer, its acceptor or a retry of the acceptance."""
    row = uow.execute(
        f"SELECT {BOOKING_COLUMNS} FROM bookings WHERE business_id = :b AND id = :id",
        b=entry.business_id,
        id=entry.booking_id,
    ).one()
    booking = Booking.from_row(row)
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


def leave(db: Database, business_id: uuid.UUID, entry_id: uuid.UUID, *, actor: Actor, now: datetime) -> WaitlistEntry:
    """Leave the queue (or decline an offer: its seats go to the next in line)."""
    with db.unit_of_work(actor, now=now, reason="left the waitlist") as uow:
        entry = _lock_slot_then_entry(uow, business_id, entry_id)
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


def expire_offers(db: Database, *, now: datetime) -> int:
    """Expire offers past their time (each passes its seats to the next in line); returns how many."""
    with db.unit_of_work(Actor.system("waitlist-expiry"), now=now, reason="offer expired") as uow:
        n = int(uow.execute("SELECT waitlist_expire_offers(:now)", now=now).scalar_one())
        uow.commit()
    return n


def queue(db: Database, business_id: uuid.UUID, slot_id: uuid.UUID) -> list[WaitlistEntry]:
    from sqlalchemy import text

    with db.connect() as conn:
        rows = conn.execute(
            text(
                f"SELECT {ENTRY_COLUMNS} FROM waitlist_entries WHERE business_id = :b AND slot_id = :s"
                " ORDER BY joined_at, id"
            ),
            {"b": business_id, "s": slot_id},
        ).all()
    return [WaitlistEntry.from_row(r) for r in rows]
