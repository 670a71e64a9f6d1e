"""Idempotency keys of the keyed writes that run as a unit of work: look up first, record last, purge old.

Each keyed write calls `begin` as the first statement of its unit of work. It locks the key
(a retry with the same key waits there, holding nothing else: the first step of the lock
order in docs/invariants.md) and returns what the first request with that key recorded, or
None when the key is new. A key used for another operation or another request raises
IdempotencyConflict (BK008). On None the write does its work and calls `record` before it
commits; a refused request rolls its key back with everything else, so only successes are
remembered. Bookings do the same inside booking_create() (migration 0010).

The request is what says *what* to do (ids, sizes, amounts), never who asks, why, when or
with which token: a retry after a lost reply sends the same request with a later clock.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from booking_core.adapters.db import UnitOfWork
from booking_core.domain.errors import IdempotencyConflict, InvalidInput
from booking_core.domain.requests import KEY_RETENTION, KeyPurgeRequest
from booking_core.domain.values import Actor, require_aware
from booking_core.services.context import Context

MAX_KEY_LENGTH = 200
# How long `purge` keeps a key by default: a retry within this window replays.
DEFAULT_RETENTION = KEY_RETENTION
MIN_RETENTION = timedelta(days=1)


def check_key(key: str | None) -> None:
    if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH):
        raise InvalidInput(f"an idempotency key is 1 to {MAX_KEY_LENGTH} characters: send a shorter key, e.g. a UUID")


def amount_text(amount: Decimal) -> str:
    """An amount as the fingerprint sees it: 10, 10.0 and 10.00 are one request."""
    text = format(amount.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _json(values: Mapping[str, Any]) -> str:
    return json.dumps({k: str(v) if isinstance(v, uuid.UUID) else v for k, v in values.items()})


def begin(
    uow: UnitOfWork, business_id: uuid.UUID, key: str | None, operation: str, request: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Lock the key and return the first request's recorded result (a replay), or None (a new key)."""
    if key is None:
        return None
    check_key(key)
    prior = uow.execute(
        "SELECT idempotency_begin(:b, :k, :op, CAST(:req AS jsonb))",
        b=business_id,
        k=key,
        op=operation,
        req=_json(request),
    ).scalar_one()
    return dict(prior) if prior is not None else None


def record(
    uow: UnitOfWork,
    business_id: uuid.UUID,
    key: str | None,
    operation: str,
    request: Mapping[str, Any],
    result: Mapping[str, Any],
) -> None:
    """Remember this request's result under its key, in the unit of work that made it."""
    if key is None:
        return
    uow.execute(
        "SELECT idempotency_record(:b, :k, :op, CAST(:req AS jsonb), CAST(:res AS jsonb), :now)",
        b=business_id,
        k=key,
        op=operation,
        req=_json(request),
        res=_json(result),
        now=uow.now,
    )


def conflict(key: str, what: str) -> IdempotencyConflict:
    return IdempotencyConflict(
        f"idempotency key {key} was used for a different {what}: use a new key for a new request"
    )


def purge(ctx: Context, request: KeyPurgeRequest) -> int:
    """Forget keys recorded more than `keep` (30 days by default) before `now`; returns how many.

    A retry of a forgotten key is judged as a new request, except that a booking's or a
    payment's key stays on its row for ever and still replays.
    """
    now, keep = require_aware(ctx.now, "now"), request.keep
    if keep < MIN_RETENTION:
        raise InvalidInput(f"keys are kept at least {MIN_RETENTION.days} day: pass a longer retention")
    with ctx.db.unit_of_work(Actor.system("idempotency-purge"), now=now, reason="idempotency keys purged") as uow:
        n = int(uow.execute("SELECT idempotency_purge(:before)", before=now - keep).scalar_one())
        uow.commit()
    return n
