"""Multi-resource bookings: a booking that also holds other resources at its time, all or nothing.

One statement, `booking_create_multi()` (migration 0007): every slot involved is locked in id
order under a lock timeout, so concurrent multi-resource bookings neither overbook nor
deadlock, and availability is judged under those locks.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from booking_core.adapters.db import Database
from booking_core.domain.errors import InvalidInput
from booking_core.domain.model import Booking
from booking_core.domain.values import Actor
from booking_core.services.bookings import BOOKING_COLUMNS, book_params, validate_party_size

_BOOK_MULTI_SQL = (
    f"SELECT {', '.join('(f.booking).' + c.strip() for c in BOOKING_COLUMNS.split(','))}, f.replayed"
    " FROM booking_create_multi(%(b)s, %(id)s, %(slot)s, %(cust)s, %(party)s, %(resources)s, %(quantities)s,"
    " %(key)s, CAST(%(at)s AS actor_type), %(aid)s, CAST(%(ch)s AS change_channel), %(reason)s, %(now)s) f"
)


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
    if any(not isinstance(q, int) or isinstance(q, bool) or q < 1 for q in resources.values()):
        raise InvalidInput("each resource quantity must be a whole number of at least 1")
    params = book_params(
        business_id,
        slot_id=slot_id,
        customer_id=customer_id,
        party_size=party_size,
        actor=actor,
        now=now,
        idempotency_key=idempotency_key,
        reason=reason or "multi-resource booking",
    )
    params["resources"] = list(resources)
    params["quantities"] = list(resources.values())
    return Booking.from_row(db.run_one(_BOOK_MULTI_SQL, params, actor=actor))
