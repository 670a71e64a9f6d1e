"""One ownership rule: a customer acts only on what is theirs.

Every use case a customer starts (book, single or with resources; a series: create, cancel,
change; the waitlist: join, accept, leave; a booking: cancel, reschedule, change the party; a
payment: start, confirm, fail) calls `require_owner` with the customer the thing belongs to,
before it writes anything. A customer proves ownership by being that customer, or by the
booking's cancellation token (the link in their confirmation). Staff (admin) and system actors
act for any customer; their role is the actor's type, recorded with every audit row.
"""

from __future__ import annotations

import hmac
import uuid

from booking_core.domain.errors import NotOwner, WrongToken
from booking_core.domain.values import Actor, ActorType

Token = uuid.UUID | str  # as booking_core.domain.requests.Token


def require_owner(
    actor: Actor,
    owner: uuid.UUID,
    what: str,
    *,
    token: Token | None = None,
    secret: uuid.UUID | None = None,
) -> None:
    """Refuse a customer acting on `what`, which belongs to customer `owner`, unless it is theirs.

    With a `token`, it must be `secret` (the booking's cancellation token): whoever holds the
    token may act, whichever customer id they give. Without one, the actor must be `owner`.
    """
    if actor.type is not ActorType.CUSTOMER:
        return
    if token is not None:
        if secret is not None and hmac.compare_digest(str(token), str(secret)):
            return
        raise WrongToken(f"the cancellation token does not match {what}: use the link from your confirmation")
    if actor.id != str(owner):
        raise NotOwner(
            f"{what} belongs to another customer: act as that customer, with the booking's token, or as staff"
        )
