"""One ownership rule: a customer acts only on what is theirs.

Every use case a customer starts (book, single or with resources; a series: create, cancel,
change; the waitlist: join, accept, leave; a booking: cancel, reschedule, change the party; a
payment: start, confirm, fail) calls `require_owner` with the customer the thing belongs to,
before it writes anything. A customer proves ownership by being that customer, or by the
booking's cancellation token (the link in their confirmation; the booking keeps only its hash,
compared digest to digest). Staff (admin) and system actors act for any customer; their role
is the actor's type, recorded with every audit row.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

from booking_core.domain.errors import NotOwner, WrongToken
from booking_core.domain.values import Actor, ActorType

Token = uuid.UUID | str  # as booking_core.domain.requests.Token


def token_hash(token: uuid.UUID) -> bytes:
    """What a booking keeps of its cancellation token: the SHA-256 of the token's 16 bytes.

    The same as the database's booking_token_hash() (sql/context.sql), which writes it.
    """
    return hashlib.sha256(token.bytes).digest()


def require_owner(
    actor: Actor,
    owner: uuid.UUID,
    what: str,
    *,
    token: Token | None = None,
    secret: bytes | None = None,
) -> None:
    """Refuse a customer acting on `what`, which belongs to customer `owner`, unless it is theirs.

    With a `token`, its hash must be `secret` (the booking's cancellation_token_hash): whoever
    holds the token may act, whichever customer id they give. Without one, the actor must be `owner`.
    """
    if actor.type is not ActorType.CUSTOMER:
        return
    if token is not None:
        presented = _presented_hash(token)
        if secret is not None and presented is not None and hmac.compare_digest(presented, secret):
            return
        raise WrongToken(f"the cancellation token does not match {what}: use the link from your confirmation")
    if actor.id != str(owner):
        raise NotOwner(
            f"{what} belongs to another customer: act as that customer, with the booking's token, or as staff"
        )


def _presented_hash(token: Token) -> bytes | None:
    """The hash of a presented token in any form uuid.UUID reads (None: no token can be that text)."""
    try:
        return token_hash(token if isinstance(token, uuid.UUID) else uuid.UUID(str(token).strip()))
    except ValueError:
        return None
