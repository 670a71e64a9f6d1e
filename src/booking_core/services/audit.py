"""The audit trail: seal rows into the per-business hash chain, verify it, read a booking's history."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import text

from booking_core.adapters.db import Database
from booking_core.domain.model import ChainReport
from booking_core.domain.requests import BookingQuery, BusinessQuery
from booking_core.services.context import Context


def seal(ctx: Context, query: BusinessQuery) -> int:
    """Chain every committed, unsealed audit row of the business; returns how many were sealed."""
    with ctx.db.connect() as conn, conn.begin():
        return int(conn.execute(text("SELECT audit_seal(:b)"), {"b": query.business_id}).scalar_one())


def seal_all(db: Database) -> int:
    with db.connect() as conn, conn.begin():
        return int(conn.execute(text("SELECT coalesce(sum(audit_seal(id)), 0) FROM businesses")).scalar_one())


def verify(ctx: Context, query: BusinessQuery) -> ChainReport:
    """The business's hash chain checked link by link, and its head hash."""
    business_id = query.business_id
    with ctx.db.connect() as conn:
        r = conn.execute(text("SELECT * FROM audit_verify(:b)"), {"b": business_id}).one()
        head = conn.execute(
            text("SELECT encode(hash, 'hex') FROM audit_chain WHERE business_id = :b ORDER BY seq DESC LIMIT 1"),
            {"b": business_id},
        ).scalar_one_or_none()
    return ChainReport(
        links=r.links,
        unsealed=r.unsealed,
        first_bad_seq=r.first_bad_seq,
        problem=r.problem,
        head_hash=head,
    )


def history(ctx: Context, query: BookingQuery) -> list[dict[str, object]]:
    """A booking's audit rows, oldest first: who, when, what (before/after), why, how."""
    business_id, booking_id = query.business_id, query.booking_id
    with ctx.db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, action, entity_type, old_values, new_values, reason, performed_by, performed_by_id,"
                " channel, occurred_at, recorded_at FROM booking_audit_log"
                " WHERE business_id = :b AND booking_id = :bk ORDER BY id"
            ),
            {"b": business_id, "bk": booking_id},
        ).all()
    return [dict(r._mapping) for r in rows]


def transitions(db: Database, business_id: uuid.UUID, booking_id: uuid.UUID) -> list[tuple[str | None, str, datetime]]:
    with db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT from_status, to_status, occurred_at FROM booking_state_transitions"
                " WHERE business_id = :b AND booking_id = :bk ORDER BY id"
            ),
            {"b": business_id, "bk": booking_id},
        ).all()
    return [(r.from_status, r.to_status, r.occurred_at) for r in rows]
