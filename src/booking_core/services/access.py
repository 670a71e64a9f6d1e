"""Memberships: who may see which business, in which role (docs/access.md).

A person is the e-mail address their OpenID Connect provider vouches for, in lower case. A
membership is granted or revoked, never edited; the database records every grant and revoke in
membership_changes with who made it, how and why (sql/access.sql), whatever the path.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping

from sqlalchemy import text

from booking_core.adapters.db import Database
from booking_core.domain.errors import InvalidInput, NotFound, NothingToChange
from booking_core.domain.model import Membership
from booking_core.domain.requests import MembershipRequest, Role
from booking_core.services.context import Context

_PERSON = re.compile(r"^[^@\s]+@[^@\s]+$")
_LIST = (
    "SELECT m.person, m.role::text AS role, m.business_id, b.name AS business, m.granted_by, m.granted_at"
    " FROM memberships m LEFT JOIN businesses b ON b.id = m.business_id"
)
_GRANT = text(
    "INSERT INTO memberships (person, role, business_id, granted_by, granted_at)"
    " VALUES (:person, CAST(:role AS member_role), :b, :by, :now) ON CONFLICT DO NOTHING RETURNING person"
)
_REVOKE = text(
    "DELETE FROM memberships WHERE person = :person AND role = CAST(:role AS member_role)"
    " AND business_id IS NOT DISTINCT FROM :b RETURNING person"
)
_ONE = text(
    _LIST + " WHERE m.person = :person AND m.role = CAST(:role AS member_role)"
    " AND m.business_id IS NOT DISTINCT FROM :b"
)
_SOME = text(
    _LIST + " WHERE (CAST(:b AS uuid) IS NULL OR m.business_id = :b OR m.business_id IS NULL)"
    " AND (CAST(:person AS text) IS NULL OR m.person = :person) ORDER BY m.person, m.role, b.name"
)


def person_of(value: str) -> str:
    """The person key of an e-mail address: trimmed, lower case; refused unless it looks like one."""
    person = value.strip().lower()
    if not _PERSON.match(person):
        raise InvalidInput(f"{value!r} is not an e-mail address: pass the address the person logs in with")
    return person


def role_of(value: Role | str) -> Role:
    try:
        return Role(str(value).strip().lower())
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise InvalidInput(f"{value!r} is not a role: pass one of {roles}") from None


def set_membership(ctx: Context, request: MembershipRequest) -> Membership:
    """Grant or revoke one membership; already so is NothingToChange, nothing written."""
    person, role = person_of(request.person), role_of(request.role)
    reason = request.reason.strip()
    if not reason:
        raise InvalidInput("a grant or revoke needs a reason: say why this person needs (or no longer needs) it")
    if (role is Role.ADMIN) != (request.business_id is None):
        raise InvalidInput(
            "admin is held across businesses: drop --business"
            if role is Role.ADMIN
            else f"{role} is held per business: pass --business"
        )
    what = f"{person} as {role}" + ("" if request.business_id is None else f" of business {request.business_id}")
    with ctx.db.unit_of_work(request.actor, now=ctx.now, reason=reason) as uow:
        if request.business_id is not None:
            known = uow.execute("SELECT 1 FROM businesses WHERE id = :b", b=request.business_id).one_or_none()
            if known is None:
                raise NotFound(f"business {request.business_id} does not exist: pass an id from `booking frozen --all`")
        params = {"person": person, "role": str(role), "b": request.business_id}
        if request.granted:
            done = uow.execute(_GRANT, **params, by=_by(request), now=ctx.now).one_or_none()
            if done is None:
                raise NothingToChange(f"{what} is already granted: nothing was written")
            membership = Membership.from_row(uow.execute(_ONE, **params).one())
        else:
            membership_row = uow.execute(_ONE, **params).one_or_none()
            if membership_row is None or uow.execute(_REVOKE, **params).one_or_none() is None:
                raise NothingToChange(f"{what} is not granted: nothing to revoke, nothing was written")
            membership = Membership.from_row(membership_row)
        uow.commit()
    return membership


def _by(request: MembershipRequest) -> str:
    return f"{request.actor.type}:{request.actor.id}"


def memberships(db: Database, *, business_id: uuid.UUID | None = None, person: str | None = None) -> list[Membership]:
    """The memberships, by person, role and business; only a business's (and the admins) or a person's when asked."""
    params = {"b": business_id, "person": None if person is None else person_of(person)}
    with db.connect() as conn:
        return [Membership.from_row(r) for r in conn.execute(_SOME, params)]


_RECORD = text(
    "INSERT INTO access_log (person, what, filter, row_count) VALUES (:person, :what, CAST(:filter AS jsonb), :rows)"
)
_LOOKED = text(
    "SELECT person, what, filter, row_count, at FROM access_log"
    " WHERE CAST(:person AS text) IS NULL OR person = :person ORDER BY at DESC, id DESC LIMIT :limit"
)


def record_access(db: Database, person: str, what: str, filter_: Mapping[str, object], rows: int) -> None:
    """Record that `person` read `rows` rows of `what` (an export, personal data) with this filter."""
    import json

    with db.connect(autocommit=True) as conn:
        conn.execute(
            _RECORD,
            {"person": person_of(person), "what": what, "filter": json.dumps(filter_, default=str), "rows": rows},
        )


def who_looked(db: Database, *, person: str | None = None, limit: int = 100) -> list[dict[str, object]]:
    """The newest records of who looked at what (an admin's view), a person's only when asked."""
    with db.connect() as conn:
        rows = conn.execute(_LOOKED, {"person": None if person is None else person_of(person), "limit": limit})
        return [dict(r._mapping) for r in rows]
