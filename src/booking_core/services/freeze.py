"""Ops' write freeze per business: stop every write during an incident, resume after the repair.

The rule itself is the database's (sql/freeze.sql): while `businesses.frozen_at` is set, every
write to the business's bookings, payments, slots, schedules, catalogue and waitlists is refused
with BusinessFrozen, whichever path it takes. Here ops set and clear it; the change is audited on
the business row (business.frozen / business.unfrozen, with the actor and the reason).
"""

from __future__ import annotations

from sqlalchemy import text

from booking_core.adapters.db import Database
from booking_core.domain.errors import InvalidInput, NotFound, NothingToChange
from booking_core.domain.model import WriteFreeze
from booking_core.domain.requests import FreezeRequest
from booking_core.services.context import Context

_STATE = "SELECT id AS business_id, name AS business, frozen_at, frozen_by, frozen_reason AS reason FROM businesses"
_FREEZE = text(
    "UPDATE businesses SET frozen_at = :now, frozen_by = :by, frozen_reason = :reason"
    " WHERE id = :id AND frozen_at IS NULL"
    " RETURNING id AS business_id, name AS business, frozen_at, frozen_by, frozen_reason AS reason"
)
_UNFREEZE = text(
    "UPDATE businesses SET frozen_at = NULL, frozen_by = NULL, frozen_reason = NULL"
    " WHERE id = :id AND frozen_at IS NOT NULL"
    " RETURNING id AS business_id, name AS business, frozen_at, frozen_by, frozen_reason AS reason"
)
_ONE = text(_STATE + " WHERE id = :id")
_ALL = text(_STATE + " ORDER BY name, id")


def set_freeze(ctx: Context, request: FreezeRequest) -> WriteFreeze:
    """Freeze (or unfreeze) a business's writes; already so is NothingToChange, with since when and why."""
    reason = request.reason.strip()
    if not reason:
        raise InvalidInput("a freeze needs a reason: say what incident it is for (--reason)")
    what = "frozen" if request.frozen else "unfrozen"
    with ctx.db.unit_of_work(request.actor, now=ctx.now, reason=reason) as uow:
        row = uow.execute(
            _FREEZE if request.frozen else _UNFREEZE,
            now=ctx.now,
            by=request.actor.id,
            reason=reason,
            id=request.business_id,
        ).one_or_none()
        if row is None:
            current = uow.execute(_ONE, id=request.business_id).one_or_none()
            if current is None:
                raise NotFound(f"business {request.business_id} does not exist: pass an id from `booking frozen --all`")
            state = WriteFreeze.from_row(current)
            since = f" since {state.frozen_at:%Y-%m-%d %H:%M %Z} ({state.reason})" if state.frozen else ""
            raise NothingToChange(f"business {state.business} is already {what}{since}: nothing was written")
        uow.commit()
    return WriteFreeze.from_row(row)


def businesses(db: Database, *, frozen_only: bool = True) -> list[WriteFreeze]:
    """Every business's freeze state (only the frozen ones by default), by name."""
    with db.connect() as conn:
        states = [WriteFreeze.from_row(r) for r in conn.execute(_ALL)]
    return [s for s in states if s.frozen or not frozen_only]
