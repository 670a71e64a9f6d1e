"""Schedules as temporal data: publish a version, change a slot's capacity, list open slots."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.sql import ColumnElement

from booking_core.adapters.db import UnitOfWork
from booking_core.adapters.records import SLOTS, change, of_business, read_all, read_by_id
from booking_core.domain.errors import InvalidInput, UnknownSlot
from booking_core.domain.lifecycle import OPEN
from booking_core.domain.model import ImpactedBooking, PublishReport, Slot
from booking_core.domain.requests import CapacityRequest, OpenSlotsQuery, ScheduleRequest, SlotQuery
from booking_core.domain.schedule import GeneratedSlots, PublishPlan, WeeklyRule, plan_publish, schedule_slots
from booking_core.domain.values import new_id, require_aware, zone
from booking_core.services.context import Context


def publish_schedule(ctx: Context, request: ScheduleRequest) -> PublishReport:
    """Publish a new schedule version from `effective_date`; nothing with bookings is deleted.

    Existing slots the new version also has are kept (capacity follows the new version,
    honouring seats already booked); slots it no longer has become legacy and keep serving
    their bookings. The report lists the future bookings now on legacy slots, and every rule
    date whose wall time did not exist (moved) or that shares another rule's instant (merged),
    by the time rule of `booking_core.domain.schedule`. Two rules for the same service,
    resource, weekday and start are refused (InvalidInput) before anything is written.
    """
    now = require_aware(ctx.now, "now")
    if not request.rules:
        raise InvalidInput("a schedule needs at least one rule: to close, publish rules with no future dates")
    with ctx.db.unit_of_work(request.actor, now=now, reason=request.note or "schedule published") as uow:
        generated = _generate(uow, request)
        number, version_id = _insert_version(uow, request)
        existing = _future_slots(uow, request)
        plan = plan_publish(
            generated.slots, {(r.service_id, r.resource_id, r.starts_at): r.id for r in existing.values()}
        )
        _create_slots(uow, request.business_id, version_id, plan)
        capacity_changes = _keep_slots(uow, request.business_id, version_id, plan, existing)
        retired = _retire_slots(uow, request.business_id, plan, existing)
        _activate(uow, request.business_id, version_id)
        impacted = _impacted(uow, request.business_id, retired)
        uow.commit()
    return PublishReport(
        schedule_version_id=version_id,
        version_number=number,
        slots_created=len(plan.create),
        slots_kept=len(plan.keep),
        slots_retired=len(retired),
        capacity_changes=capacity_changes,
        impacted=impacted,
        moved=generated.moved,
        merged=generated.merged,
    )


def _generate(uow: UnitOfWork, request: ScheduleRequest) -> GeneratedSlots:
    """One publisher per business at a time; the rules' slots in the business's timezone."""
    business_id = request.business_id
    uow.execute("SELECT pg_advisory_xact_lock(hashtextextended('publish:' || CAST(:b AS text), 0))", b=business_id)
    tz_name = uow.execute("SELECT timezone FROM businesses WHERE id = :b", b=business_id).scalar_one_or_none()
    if tz_name is None:
        raise InvalidInput(f"business {business_id} does not exist: create it first")
    return schedule_slots(
        request.rules, first_day=request.effective_date, last_day=request.horizon_date, tz=zone(tz_name)
    )


_INSERT_VERSION = text(
    "INSERT INTO schedule_versions (business_id, id, version_number, effective_date, horizon_date, note,"
    " created_by, created_by_type, created_at)"
    " SELECT :b, :id, coalesce(max(version_number), 0) + 1, :eff, :hor, :note, :by, :bt, :now"
    " FROM schedule_versions WHERE business_id = :b RETURNING version_number"
)


def _insert_version(uow: UnitOfWork, request: ScheduleRequest) -> tuple[int, uuid.UUID]:
    """The next version number of the business's schedule, and the new version's id (with its rules)."""
    version_id = new_id()
    number = uow.execute(
        _INSERT_VERSION,
        b=request.business_id,
        id=version_id,
        eff=request.effective_date,
        hor=request.horizon_date,
        note=request.note,
        by=request.actor.id,
        bt=str(request.actor.type),
        now=uow.now,
    ).scalar_one()
    _insert_rules(uow, request.business_id, version_id, request.rules)
    return int(number), version_id


def _future_slots(uow: UnitOfWork, request: ScheduleRequest) -> dict[uuid.UUID, Row[Any]]:
    """The business's slots from the effective date, by id, locked in id order."""
    query = (
        of_business(SLOTS, request.business_id, SLOTS.c.local_date >= request.effective_date)
        .order_by(SLOTS.c.id)
        .with_for_update()
    )
    return {r.id: r for r in uow.execute(query).all()}


_INSERT_SLOT = (
    "INSERT INTO time_slots (business_id, id, schedule_version_id, service_id, resource_id, local_date,"
    " local_start, starts_at, ends_at, max_capacity, created_at)"
    " VALUES (:b, :id, :v, :s, :r, :ld, :ls, :st, :en, :cap, :now)"
)


def _create_slots(uow: UnitOfWork, business_id: uuid.UUID, version_id: uuid.UUID, plan: PublishPlan) -> None:
    uow.execute_many(
        _INSERT_SLOT,
        [
            {
                "b": business_id,
                "id": new_id(),
                "v": version_id,
                "s": s.service_id,
                "r": s.resource_id,
                "ld": s.local_date,
                "ls": s.local_start,
                "st": s.starts_at,
                "en": s.ends_at,
                "cap": s.capacity,
                "now": uow.now,
            }
            for s in plan.create
        ],
    )


def _keep_slots(
    uow: UnitOfWork,
    business_id: uuid.UUID,
    version_id: uuid.UUID,
    plan: PublishPlan,
    existing: dict[uuid.UUID, Row[Any]],
) -> int:
    """Move the slots the new version also has onto it (current again); returns how many changed capacity."""
    changed = 0
    for slot_id, spec in plan.keep:
        changed += existing[slot_id].max_capacity != spec.capacity
        uow.execute(
            "UPDATE time_slots SET schedule_version_id = :v, max_capacity = :cap,"
            " is_legacy = false, legacy_since = NULL WHERE business_id = :b AND id = :id",
            v=version_id,
            cap=spec.capacity,
            b=business_id,
            id=slot_id,
        )
    return changed


def _retire_slots(
    uow: UnitOfWork, business_id: uuid.UUID, plan: PublishPlan, existing: dict[uuid.UUID, Row[Any]]
) -> list[uuid.UUID]:
    """Make legacy the current slots the new version no longer has; returns their ids."""
    retired = [sid for sid in plan.retire if not existing[sid].is_legacy]
    if retired:
        uow.execute(
            "UPDATE time_slots SET is_legacy = true, legacy_since = :now WHERE business_id = :b AND id = ANY(:ids)",
            now=uow.now,
            b=business_id,
            ids=retired,
        )
    return retired


def _activate(uow: UnitOfWork, business_id: uuid.UUID, version_id: uuid.UUID) -> None:
    uow.execute("UPDATE schedule_versions SET is_active = false WHERE business_id = :b AND is_active", b=business_id)
    uow.execute(
        "UPDATE schedule_versions SET is_active = true WHERE business_id = :b AND id = :v", b=business_id, v=version_id
    )


_IMPACTED = text(
    "SELECT bk.id AS booking_id, bk.customer_id, bk.slot_id, ts.starts_at, bk.party_size, bk.status"
    " FROM bookings bk JOIN time_slots ts ON ts.business_id = bk.business_id AND ts.id = bk.slot_id"
    " WHERE bk.business_id = :b AND ts.id = ANY(:ids) AND ts.starts_at > :now"
    " AND bk.status = ANY(CAST(:open AS booking_status[])) ORDER BY ts.starts_at, bk.id"
)


def _impacted(uow: UnitOfWork, business_id: uuid.UUID, retired: list[uuid.UUID]) -> tuple[ImpactedBooking, ...]:
    """The open future bookings on the slots just retired: the customers ops should contact."""
    rows = uow.execute(_IMPACTED, b=business_id, ids=retired, now=uow.now, open=[str(s) for s in sorted(OPEN)]).all()
    return tuple(ImpactedBooking.from_row(r) for r in rows)


def _insert_rules(uow: UnitOfWork, business_id: uuid.UUID, version_id: uuid.UUID, rules: Sequence[WeeklyRule]) -> None:
    uow.execute_many(
        "INSERT INTO schedule_rules (business_id, id, schedule_version_id, service_id, resource_id,"
        " iso_weekday, local_start, duration, capacity) VALUES (:b, :id, :v, :s, :r, :d, :ls, :dur, :cap)",
        [
            {
                "b": business_id,
                "id": new_id(),
                "v": version_id,
                "s": r.service_id,
                "r": r.resource_id,
                "d": r.iso_weekday,
                "ls": r.local_start,
                "dur": r.duration,
                "cap": r.capacity,
            }
            for r in rules
        ],
    )


def change_capacity(ctx: Context, request: CapacityRequest) -> Slot:
    """Set a slot's capacity; a reduction below the booked seats honours them (over-committed)."""
    if not 0 <= request.capacity <= 10_000:
        raise InvalidInput(f"capacity {request.capacity} must be 0 to 10000")
    with ctx.db.unit_of_work(request.actor, now=ctx.now, reason=request.reason or "capacity changed") as uow:
        row = uow.execute(
            change(SLOTS, request.business_id, request.slot_id, {"max_capacity": request.capacity})
        ).one_or_none()
        if row is None:
            raise UnknownSlot.for_id(request.slot_id)
        uow.commit()
    return Slot.from_row(row)


def get_slot(ctx: Context, query: SlotQuery) -> Slot:
    return Slot.from_row(read_by_id(ctx.db, SLOTS, query.business_id, query.slot_id, missing=UnknownSlot.for_id))


def open_slots(ctx: Context, query: OpenSlotsQuery) -> list[Slot]:
    """Current-schedule slots between `start` and `end` with at least `min_free` seats."""
    slot = SLOTS.c
    require_aware(query.start, "start")
    require_aware(query.end, "end")
    where: list[ColumnElement[bool]] = [
        slot.starts_at >= query.start,
        slot.starts_at < query.end,
        ~slot.is_legacy,
        slot.max_capacity - slot.booked_seats >= query.min_free,
    ]
    if query.service_id is not None:
        where.append(slot.service_id == query.service_id)
    statement = of_business(SLOTS, query.business_id, *where).order_by(slot.starts_at, slot.id)
    return [Slot.from_row(r) for r in read_all(ctx.db, statement)]
