"""Multi-resource bookings: a booking that also holds other resources at its time, all or nothing.

One statement, booking_create_multi() (src/booking_core/sql/bookings.sql): every slot involved
is locked in id order under a lock timeout, so concurrent multi-resource bookings neither
overbook nor deadlock, and availability is judged under those locks.
"""

from __future__ import annotations

from booking_core.domain.errors import InvalidInput
from booking_core.domain.model import Booking
from booking_core.domain.ownership import require_owner
from booking_core.domain.requests import MultiResourceRequest
from booking_core.services.bookings import seat_args, validate_party_size
from booking_core.services.context import Context

# booking_create_multi() returns what booking_create() does (services/bookings.py, BOOKING_CREATE).
BOOKING_CREATE_MULTI = (
    "SELECT (f.booking).*, f.replayed, f.issued_token AS cancellation_token FROM booking_create_multi("
    "p_business => %(p_business)s, p_id => %(p_id)s, p_slot => %(p_slot)s, p_customer => %(p_customer)s,"
    " p_party => %(p_party)s, p_resources => %(p_resources)s, p_quantities => %(p_quantities)s,"
    " p_idempotency_key => %(p_idempotency_key)s, p_actor_type => CAST(%(p_actor_type)s AS actor_type),"
    " p_actor_id => %(p_actor_id)s, p_channel => CAST(%(p_channel)s AS change_channel),"
    " p_reason => %(p_reason)s, p_occurred_at => %(p_occurred_at)s) f"
)


def book_with_resources(ctx: Context, request: MultiResourceRequest) -> Booking:
    """Book the slot for the party and, at the same time, `quantity` of each further resource.

    Each further resource needs a slot of its own at exactly the same time. If any is short,
    nothing is booked and ResourcesUnavailable lists every missing resource with what it lacks.
    """
    validate_party_size(request.party_size)
    require_owner(request.actor, request.customer_id, "this booking request")
    resources = request.resources
    if not resources:
        raise InvalidInput("a multi-resource booking names at least one further resource: use book() otherwise")
    if any(not isinstance(q, int) or isinstance(q, bool) or q < 1 for q in resources.values()):
        raise InvalidInput("each resource quantity must be a whole number of at least 1")
    args = {
        **seat_args(request, now=ctx.now),
        "p_resources": list(resources),
        "p_quantities": list(resources.values()),
        "p_reason": request.reason or "multi-resource booking",
    }
    return Booking.from_row(ctx.db.run_one(BOOKING_CREATE_MULTI, args, actor=request.actor))
