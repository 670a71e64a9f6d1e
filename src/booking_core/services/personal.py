"""Personal data's lifecycle: erasure, retention and subject access (docs/personal-data.md).

The database does the clearing (sql/personal.sql): `customer_erase()` and `retention_run()`
are its only writes that make history forget, and they touch no byte the audit chain covers.
This module finds the customer a request names, calls them, and writes the subject access
document: everything held about one customer, nobody else's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from booking_core.adapters.db import Database, UnitOfWork
from booking_core.domain.errors import InvalidInput, NotFound, UnknownCustomer
from booking_core.domain.model import Erasure, RetentionPolicy, RetentionRun
from booking_core.domain.ownership import require_owner, token_hash
from booking_core.domain.requests import (
    CustomerSelector,
    ErasureRequest,
    RetentionPolicyRequest,
    RetentionRunRequest,
    SubjectAccessRequest,
)
from booking_core.services.context import Context

_BY_ID = text("SELECT id FROM customers WHERE business_id = :b AND id = :c")
_STATE = text("SELECT erased_at FROM customers WHERE business_id = :b AND id = :c")
_BY_EMAIL = text("SELECT id FROM customers WHERE business_id = :b AND lower(email) = lower(:e) ORDER BY id")
_BY_TOKEN = text("SELECT customer_id AS id FROM bookings WHERE business_id = :b AND cancellation_token_hash = :h")
_ERASE = text(
    "SELECT (e).* FROM customer_erase(:b, :c, :force, :cause, :by, CAST(:channel AS change_channel), :now, :id) e"
)
_ERASURES = text(
    "SELECT * FROM customer_erasures WHERE CAST(:b AS uuid) IS NULL OR business_id = :b ORDER BY erased_at, id"
)
_SET_POLICY = text("""
INSERT INTO retention_policies (business_id, erase_inactive_after_months, purge_payloads_after_days,
                                drop_client_after_days, updated_at, updated_by)
VALUES (:b, :months, :payload_days, :client_days, :now, :by)
ON CONFLICT (business_id) DO UPDATE
   SET erase_inactive_after_months = excluded.erase_inactive_after_months,
       purge_payloads_after_days = excluded.purge_payloads_after_days,
       drop_client_after_days = excluded.drop_client_after_days,
       updated_at = excluded.updated_at, updated_by = excluded.updated_by
RETURNING *""")
_POLICIES = text("SELECT * FROM retention_policies ORDER BY business_id")
_RUN = text("SELECT (r).* FROM retention_run(:b, :now, :dry, :by, CAST(:channel AS change_channel)) r")
_RUNS = text(
    "SELECT * FROM retention_runs WHERE CAST(:b AS uuid) IS NULL OR business_id = :b"
    " ORDER BY started_at DESC, id LIMIT :limit"
)


def find_customer(uow: UnitOfWork, who: CustomerSelector) -> uuid.UUID:
    """The one customer `who` names (by id, e-mail address or cancellation token), or a typed error."""
    named = [v for v in (who.customer_id, who.email, who.token) if v is not None]
    if len(named) != 1:
        raise InvalidInput("name the customer by exactly one of: id, e-mail address, cancellation token")
    b = who.business_id
    if who.customer_id is not None:
        rows = uow.execute(_BY_ID, b=b, c=who.customer_id).all()
    elif who.email is not None:
        rows = uow.execute(_BY_EMAIL, b=b, e=who.email.strip()).all()
    else:
        try:
            token = who.token if isinstance(who.token, uuid.UUID) else uuid.UUID(str(who.token).strip())
        except ValueError:
            raise InvalidInput(
                f"{who.token!r} is not a cancellation token: pass the uuid the customer was sent"
            ) from None
        rows = uow.execute(_BY_TOKEN, b=b, h=token_hash(token)).all()
    if not rows:
        raise UnknownCustomer(f"no customer of business {b} matches: check the id, address or token")
    if len(rows) > 1:
        ids = ", ".join(str(r.id) for r in rows)
        raise InvalidInput(f"{len(rows)} customers of business {b} have that address ({ids}): name one by id")
    found: uuid.UUID = rows[0].id
    return found


def erase(ctx: Context, request: ErasureRequest) -> Erasure:
    """Erase one customer in one transaction; erasing an erased customer returns their erasure.

    Staff erase anyone of the business; a customer only themselves.
    """
    with ctx.db.unit_of_work(request.actor, now=ctx.now, reason=request.reason) as uow:
        customer = find_customer(uow, request)
        require_owner(request.actor, customer, f"customer {customer}")
        row = uow.execute(_ERASE, **_erase_params(uow, request.business_id, customer, request.force, "request")).one()
        uow.commit()
    return Erasure.from_row(row)


def _erase_params(
    uow: UnitOfWork,
    business: uuid.UUID,
    customer: uuid.UUID,
    force: bool,
    cause: str,
    erasure_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    a = uow.actor
    return {"b": business, "c": customer, "force": force, "cause": cause, "by": a.id,
            "channel": str(a.channel), "now": uow.now, "id": erasure_id}  # fmt: skip


def erasures(db: Database, business_id: uuid.UUID | None = None) -> list[Erasure]:
    """The erasure log (all businesses, or one), oldest first."""
    with db.connect() as conn:
        return [Erasure.from_row(r) for r in conn.execute(_ERASURES, {"b": business_id})]


def erasure_log_lines(log: Iterable[Erasure]) -> Iterator[str]:
    """The erasure log as JSON lines: what `reapply` reads back. Ids and times only, no personal data."""
    for e in log:
        yield json.dumps(
            {"business_id": str(e.business_id), "erasure_id": str(e.id), "customer_id": str(e.customer_id),
             "erased_at": e.erased_at.isoformat(), "cause": e.cause},
            sort_keys=True,
        )  # fmt: skip


def reapply(ctx: Context, lines: Iterable[str], *, actor: Any) -> tuple[int, int]:
    """Re-apply an exported erasure log (after a restore from before some erasures): (erased now, already erased).

    Each erasure is re-applied under its own id, forced (the customer's erasure was decided
    already), in one transaction for the whole log: all of it, or nothing.
    """
    entries = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            e = json.loads(line)
            entries.append((uuid.UUID(e["business_id"]), uuid.UUID(e["customer_id"]), uuid.UUID(e["erasure_id"])))
        except (ValueError, KeyError, TypeError):
            raise InvalidInput(
                f"line {number} of the erasure log is not an erasure: export it with `booking customers erasures`"
            ) from None
    done = again = 0
    with ctx.db.unit_of_work(actor, now=ctx.now, reason="erasure re-applied after a restore") as uow:
        for business, customer, erasure_id in entries:
            known = uow.execute(_STATE, b=business, c=customer).one_or_none()
            if known is None:
                continue  # a customer added after the backup was taken: nothing of them was restored
            if known.erased_at is not None:
                again += 1
                continue
            uow.execute(_ERASE, **_erase_params(uow, business, customer, True, "reapplied", erasure_id)).one()
            done += 1
        uow.commit()
    return done, again


def set_policy(ctx: Context, request: RetentionPolicyRequest) -> RetentionPolicy:
    windows = {
        "months": request.erase_inactive_after_months,
        "payload_days": request.purge_payloads_after_days,
        "client_days": request.drop_client_after_days,
    }
    for value in windows.values():
        if value is not None and value < 1:
            raise InvalidInput(f"a retention window of {value} is too short: pass 1 or more (omit it to keep the data)")
    with ctx.db.unit_of_work(request.actor, now=ctx.now) as uow:
        _business(uow, request.business_id)
        row = uow.execute(_SET_POLICY, b=request.business_id, now=uow.now, by=request.actor.id, **windows).one()
        uow.commit()
    return RetentionPolicy.from_row(row)


def policies(db: Database) -> list[RetentionPolicy]:
    with db.connect() as conn:
        return [RetentionPolicy.from_row(r) for r in conn.execute(_POLICIES)]


def run_retention(ctx: Context, request: RetentionRunRequest) -> RetentionRun:
    """Run one business's policy now (or count what it would clear): one transaction, logged."""
    with ctx.db.unit_of_work(request.actor, now=ctx.now, reason="retention policy") as uow:
        _business(uow, request.business_id)
        a = uow.actor
        row = uow.execute(
            _RUN, b=request.business_id, now=uow.now, dry=request.dry_run, by=a.id, channel=str(a.channel)
        ).one()
        uow.commit()
    return RetentionRun.from_row(row)


def runs(db: Database, business_id: uuid.UUID | None = None, limit: int = 50) -> list[RetentionRun]:
    with db.connect() as conn:
        return [RetentionRun.from_row(r) for r in conn.execute(_RUNS, {"b": business_id, "limit": limit})]


def _business(uow: UnitOfWork, business_id: uuid.UUID) -> Any:
    """The business's id, name and zone; NotFound when there is none."""
    row = uow.execute("SELECT id, name, timezone FROM businesses WHERE id = :b", b=business_id).one_or_none()
    if row is None:
        raise NotFound(f"business {business_id} does not exist: pass an id from `booking frozen --all`")
    return row


# ------------------------------------------------------------------------------ subject access
_PROFILE = text(
    "SELECT id, name, email, phone, created_at, erased_at FROM customers WHERE business_id = :b AND id = :c"
)
_BOOKINGS = text("""
SELECT b.id, b.status::text AS status, b.party_size, b.amount, b.currency, b.payment_status::text AS payment_status,
       b.paid_amount, b.refunded_amount, b.cancellation_fee, b.promo_code, b.created_at, b.updated_at,
       ts.starts_at, ts.ends_at, sv.name AS service, rs.name AS resource
  FROM bookings b
  JOIN time_slots ts ON ts.business_id = b.business_id AND ts.id = b.slot_id
  JOIN services sv ON sv.business_id = ts.business_id AND sv.id = ts.service_id
  JOIN resources rs ON rs.business_id = ts.business_id AND rs.id = ts.resource_id
 WHERE b.business_id = :b AND b.customer_id = :c ORDER BY ts.starts_at, b.id""")
_PAYMENTS = text("""
SELECT p.id, p.booking_id, p.amount, p.currency, p.status::text AS status, p.failure_reason, p.created_at, p.updated_at
  FROM payments p JOIN bookings b ON b.business_id = p.business_id AND b.id = p.booking_id
 WHERE b.business_id = :b AND b.customer_id = :c ORDER BY p.created_at, p.id""")
_REFUNDS = text("""
SELECT r.id, p.booking_id, r.amount, r.currency, r.reason, r.created_at
  FROM refunds r JOIN payments p ON p.business_id = r.business_id AND p.id = r.payment_id
  JOIN bookings b ON b.business_id = p.business_id AND b.id = p.booking_id
 WHERE b.business_id = :b AND b.customer_id = :c ORDER BY r.created_at, r.id""")
_WAITLIST = text("""
SELECT w.id, w.status, w.party_size, w.joined_at, w.offered_at, w.offer_expires_at, ts.starts_at, sv.name AS service
  FROM waitlist_entries w
  JOIN time_slots ts ON ts.business_id = w.business_id AND ts.id = w.slot_id
  JOIN services sv ON sv.business_id = ts.business_id AND sv.id = ts.service_id
 WHERE w.business_id = :b AND w.customer_id = :c ORDER BY w.joined_at, w.id""")
# The changes to their bookings, waitlist entries and series: what, when, how, why, from where.
# Who made a change is said by kind only (the customer, staff, the system): a staff member's
# identity is not the customer's data.
_HISTORY = text("""
SELECT a.occurred_at, a.action, a.entity_type, a.entity_id, a.booking_id,
       CASE WHEN a.performed_by = 'customer' AND a.performed_by_id = CAST(:c AS text) THEN 'you'
            ELSE a.performed_by::text END AS by,
       a.channel::text AS channel, a.reason, host(a.ip_address) AS ip_address, a.user_agent
  FROM booking_audit_log a
 WHERE a.business_id = :b
   AND (a.booking_id IN (SELECT id FROM bookings WHERE business_id = :b AND customer_id = :c)
        OR a.entity_type IN ('waitlist', 'series') AND a.entity_id IN (
             SELECT id FROM waitlist_entries WHERE business_id = :b AND customer_id = :c
             UNION ALL SELECT id FROM booking_series WHERE business_id = :b AND customer_id = :c))
 ORDER BY a.id""")
_NOTIFICATIONS = text("""
SELECT o.id, o.event_type, o.created_at, o.delivered_at, o.dead_at,
       outbox_with_contact(o.payload, o.business_id, o.customer_id) AS content
  FROM notification_outbox o WHERE o.business_id = :b AND o.customer_id = :c ORDER BY o.created_at, o.id""")
_LOG_REQUEST = text(
    "INSERT INTO subject_access_requests (business_id, customer_id, requested_at, answered_by, channel)"
    " VALUES (:b, :c, :now, :by, CAST(:channel AS change_channel))"
)


def subject_access(ctx: Context, request: SubjectAccessRequest) -> dict[str, Any]:
    """Everything held about one customer (profile, bookings, payments, refunds, waitlist, history,
    notifications), times in the business's zone; the request is logged in the same transaction."""
    with ctx.db.unit_of_work(request.actor, now=ctx.now) as uow:
        customer = find_customer(uow, request)
        require_owner(request.actor, customer, f"customer {customer}")  # a customer asks for their own
        business = _business(uow, request.business_id)
        zone = ZoneInfo(business.timezone)
        params = {"b": request.business_id, "c": customer}

        def rows(statement: Any) -> list[dict[str, Any]]:
            return [_readable(r._mapping, zone) for r in uow.execute(statement, **params)]

        document = {
            "about": "Everything this business holds about you, as of the time below.",
            "generated_at": _readable({"t": uow.now}, zone)["t"],
            "business": {"id": str(business.id), "name": business.name},
            "profile": rows(_PROFILE)[0],
            "bookings": rows(_BOOKINGS),
            "payments": rows(_PAYMENTS),
            "refunds": rows(_REFUNDS),
            "waitlist": rows(_WAITLIST),
            "history": rows(_HISTORY),
            "notifications": rows(_NOTIFICATIONS),
        }
        a = uow.actor
        uow.execute(_LOG_REQUEST, **params, now=uow.now, by=a.id, channel=str(a.channel))
        uow.commit()
    return document


def _readable(row: Mapping[Any, Any], zone: ZoneInfo) -> dict[str, Any]:
    """A row as JSON values: times in the business's zone with their offset, ids and amounts as text."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            out[key] = value.astimezone(zone).isoformat()
        elif isinstance(value, uuid.UUID | Decimal):
            out[key] = str(value)
        else:
            out[key] = value
    return out
