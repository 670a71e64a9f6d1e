"""Multi-resource bookings: a booking that also holds other resources at its time, all or nothing.

Every slot involved is locked first, in id order, under the unit of work's lock timeout, so
concurrent multi-resource bookings neither overbook nor deadlock.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from booking_core.adapters.db import Database
from booking_core.domain.errors import InvalidInput, ResourcesUnavailable, UnknownResource, UnknownSlot
from booking_core.domain.model import Booking
from booking_core.domain.values import Actor
from booking_core.services.bookings import create_in, validate_party_size


def book_with_resources(
    db: Database,
    business_id: uuid.UUID,
    *,
    slot_id: uuid.UUID,
    customer_id: uuid.UUID,
    party_size: int,
    resources: Mapping[uuid.UUID, int],
    actor: Actor,
    now: datetime,
    idempotency_key: str | None = None,
    reason: str | None = None,
) -> Booking:
    """Book the slot for the party and, at the same time, `quantity` of each further resource.

    Each further resource needs a slot of its own at exactly the same time. If any is short,
    nothing is booked and ResourcesUnavailable lists every missing resource with what it lacks.
    """
    validate_party_size(party_size)
    if not resources:
        raise InvalidInput("a multi-resource booking names at least one further resource: use book() otherwise")
    if any(not isinstance(q, int) or q < 1 for q in resources.values()):
        raise InvalidInput("each resource quantity must be a whole number of at least 1")
    with db.unit_of_work(actor, now=now, reason=reason or "multi-resource booking") as uow:
        main = uow.execute(
            "SELECT starts_at, ends_at, resource_id FROM time_slots WHERE business_id = :b AND id = :s",
            b=business_id,
            s=slot_id,
        ).one_or_none()
        if main is None:
            raise UnknownSlot(f"slot {slot_id} does not exist in this business: list its slots")
        names = dict(
            uow.execute(
                "SELECT id, name FROM resources WHERE business_id = :b AND id = ANY(:ids)",
                b=business_id,
                ids=list(resources),
            ).all()
        )
        unknown = [str(r) for r in resources if r not in names]
        if unknown:
            raise UnknownResource(f"unknown resource {', '.join(unknown)}: list the business's resources")
        if main.resource_id in resources:
            raise InvalidInput("the slot's own resource is booked by the party: list only further resources")
        rows = uow.execute(
            "SELECT DISTINCT ON (resource_id) id, resource_id, max_capacity - booked_seats AS free, is_legacy"
            " FROM time_slots WHERE business_id = :b AND resource_id = ANY(:ids) AND starts_at = :st"
            " AND ends_at = :en ORDER BY resource_id, is_legacy, max_capacity - booked_seats DESC",
            b=business_id,
            ids=list(resources),
            st=main.starts_at,
            en=main.ends_at,
        ).all()
        found = {r.resource_id: r for r in rows}
        # Lock every slot in id order (deadlock-free), then judge availability under the locks.
        slot_ids = sorted([slot_id, *(r.id for r in rows)])
        locked = {
            r.id: r
            for r in uow.execute(
                "SELECT id, max_capacity - booked_seats AS free, is_legacy FROM time_slots"
                " WHERE business_id = :b AND id = ANY(:ids) ORDER BY id FOR UPDATE",
                b=business_id,
                ids=slot_ids,
            ).all()
        }
        missing: list[dict[str, object]] = []
        for resource_id, quantity in resources.items():
            slot = found.get(resource_id)
            state = locked.get(slot.id) if slot else None
            free = 0 if state is None or state.is_legacy else max(state.free, 0)
            if free < quantity:
                missing.append(
                    {
                        "resource_id": str(resource_id),
                        "resource": names[resource_id],
                        "needed": quantity,
                        "free": free,
                        "why": "no slot at that time" if slot is None else "not enough free",
                    }
                )
        if locked[slot_id].is_legacy or locked[slot_id].free < party_size:
            missing.append(
                {
                    "resource_id": str(main.resource_id),
                    "resource": "the slot itself",
                    "needed": party_size,
                    "free": max(locked[slot_id].free, 0),
                    "why": "not enough free",
                }
            )
        if missing:
            parts = "; ".join(f"{m['resource']} needs {m['needed']}, has {m['free']}" for m in missing)
            raise ResourcesUnavailable(
                f"not every resource is free at that time ({parts}): pick another time", missing=missing
            )
        booking, replayed = create_in(
            uow,
            business_id=business_id,
            slot_id=slot_id,
            customer_id=customer_id,
            party_size=party_size,
            actor=actor,
            now=now,
            idempotency_key=idempotency_key,
            reason=reason,
        )
        if replayed:
            return booking
        uow.execute_many(
            "INSERT INTO booking_resources (business_id, booking_id, slot_id, quantity) VALUES (:b, :bk, :s, :q)",
            [
                {"b": business_id, "bk": booking.id, "s": found[r].id, "q": q}
                for r, q in sorted(resources.items(), key=lambda kv: found[kv[0]].id)
            ],
        )
        uow.commit()
    return booking
