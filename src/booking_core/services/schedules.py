"""Schedules as temporal data: publish a version, change a slot's capacity, list open slots."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import text

from booking_core.adapters.db import Database, UnitOfWork
from booking_core.domain.errors import InvalidInput, UnknownSlot
from booking_core.domain.lifecycle import BookingStatus
from booking_core.domain.model import ImpactedBooking, PublishReport, Slot
from booking_core.domain.schedule import WeeklyRule, plan_publish, schedule_slots
from booking_core.domain.values import Actor, new_id, require_aware, zone

SLOT_COLUMNS = (
    "id, business_id, service_id, resource_id, schedule_version_id, local_date, local_start,"
    " starts_at, ends_at, max_capacity, booked_seats, is_legacy"
)


def publish_schedule(
    db: Database,
    business_id: uuid.UUID,
    *,
    rules: Sequence[WeeklyRule],
    effective_date: date,
    horizon_date: date,
    actor: Actor,
    now: datetime,
    note: str | None = None,
) -> PublishReport:
    """Publish a new schedule version from `effective_date`; nothing with bookings is deleted.

    Existing slots the new version also has are kept (capacity follows the new version,
    honouring seats already booked); slots it no longer has become legacy and keep serving
    their bookings. The report lists the future bookings now on legacy slots, and every rule
    date whose wall time did not exist (moved) or that shares another rule's instant (merged),
    by the time rule of `booking_core.domain.schedule`. Two rules for the same service,
    resource, weekday and start are refused (InvalidInput) before anything is written.
    """
    require_aware(now, "now")
    if not rules:
        raise InvalidInput("a schedule needs at least one rule: to close, publish rules with no future dates")
    with db.unit_of_work(actor, now=now, reason=note or "schedule published") as uow:
        uow.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('publish:' || CAST(:b AS text), 0))",
            b=business_id,
        )
        tz_name = uow.execute("SELECT timezone FROM businesses WHERE id = :b", b=business_id).scalar_one_or_none()
        if tz_name is None:
            raise InvalidInput(f"business {business_id} does not exist: create it first")
        generated = schedule_slots(rules, first_day=effective_date, last_day=horizon_date, tz=zone(tz_name))
        number = uow.execute(
            "SELECT coalesce(max(version_number), 0) + 1 FROM schedule_versions WHERE business_id = :b",
            b=business_id,
        ).scalar_one()
        version_id = new_id()
        uow.execute(
            "INSERT INTO schedule_versions (business_id, id, version_number, effective_date, horizon_date, note,"
            " created_by, created_by_type, created_at) VALUES (:b, :id, :n, :eff, :hor, :note, :by, :bt, :now)",
            b=business_id,
            id=version_id,
            n=number,
            eff=effective_date,
            hor=horizon_date,
            note=note,
            by=actor.id,
            bt=str(actor.type),
            now=now,
        )
        _insert_rules(uow, business_id, version_id, rules)
        existing_rows = uow.execute(
            "SELECT id, service_id, resource_id, starts_at, max_capacity, is_legacy FROM time_slots"
            " WHERE business_id = :b AND local_date >= :eff ORDER BY id FOR UPDATE",
            b=business_id,
            eff=effective_date,
        ).all()
        existing = {(r.service_id, r.resource_id, r.starts_at): r.id for r in existing_rows}
        by_id = {r.id: r for r in existing_rows}
        plan = plan_publish(generated.slots, existing)
        if plan.create:
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
                        "now": now,
                    }
                    for s in plan.create
                ],
            )
        capacity_changes = 0
        for slot_id, spec in plan.keep:
            old = by_id[slot_id]
            capacity_changes += old.max_capacity != spec.capacity
            uow.execute(
                "UPDATE time_slots SET schedule_version_id = :v, max_capacity = :cap,"
                " is_legacy = false, legacy_since = NULL WHERE business_id = :b AND id = :id",
                v=version_id,
                cap=spec.capacity,
                b=business_id,
                id=slot_id,
            )
        retired = [sid for sid in plan.retire if not by_id[sid].is_legacy]
        if retired:
            uow.execute(
                "UPDATE time_slots SET is_legacy = true, legacy_since = :now WHERE business_id = :b AND id = ANY(:ids)",
                now=now,
                b=business_id,
                ids=retired,
            )
        uow.execute(
            "UPDATE schedule_versions SET is_active = false WHERE business_id = :b AND is_active",
            b=business_id,
        )
        uow.execute(
            "UPDATE schedule_versions SET is_active = true WHERE business_id = :b AND id = :v",
            b=business_id,
            v=version_id,
        )
        impacted = uow.execute(
            "SELECT bk.id AS booking_id, bk.customer_id, bk.slot_id, ts.starts_at, bk.party_size, bk.status"
            " FROM bookings bk JOIN time_slots ts ON ts.business_id = bk.business_id AND ts.id = bk.slot_id"
            " WHERE bk.business_id = :b AND ts.id = ANY(:ids) AND ts.starts_at > :now"
            " AND bk.status IN ('draft', 'confirmed') ORDER BY ts.starts_at, bk.id",
            b=business_id,
            ids=retired,
            now=now,
        ).all()
        uow.commit()
    return PublishReport(
        schedule_version_id=version_id,
        version_number=number,
        slots_created=len(plan.create),
        slots_kept=len(plan.keep),
        slots_retired=len(retired),
        capacity_changes=capacity_changes,
        impacted=tuple(
            ImpactedBooking(
                r.booking_id,
                r.customer_id,
                r.slot_id,
                r.starts_at,
                r.party_size,
                BookingStatus(r.status),
            )
            for r in impacted
        ),
        moved=generated.moved,
        merged=generated.merged,
    )


_INSERT_SLOT = (
    "INSERT INTO time_slots (business_id, id, schedule_version_id, service_id, resource_id, local_date,"
    " local_start, starts_at, ends_at, max_capacity, created_at)"
    " VALUES (:b, :id, :v, :s, :r, :ld, :ls, :st, :en, :cap, :now)"
)


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


def change_capacity(
    db: Database,
    business_id: uuid.UUID,
    slot_id: uuid.UUID,
    *,
    capacity: int,
    actor: Actor,
    now: datetime,
    reason: str | None = None,
) -> Slot:
    """Set a slot's capacity; a reduction below the booked seats honours them (over-committed)."""
    if not 0 <= capacity <= 10_000:
        raise InvalidInput(f"capacity {capacity} must be 0 to 10000")
    with db.unit_of_work(actor, now=now, reason=reason or "capacity changed") as uow:
        row = uow.execute(
            f"UPDATE time_slots SET max_capacity = :cap WHERE business_id = :b AND id = :id RETURNING {SLOT_COLUMNS}",
            cap=capacity,
            b=business_id,
            id=slot_id,
        ).one_or_none()
        if row is None:
            raise UnknownSlot(f"slot {slot_id} does not exist in this business: list its slots")
        uow.commit()
    return Slot.from_row(row)


def get_slot(db: Database, business_id: uuid.UUID, slot_id: uuid.UUID) -> Slot:
    with db.connect() as conn:
        row = conn.execute(
            text(f"SELECT {SLOT_COLUMNS} FROM time_slots WHERE business_id = :b AND id = :id"),
            {"b": business_id, "id": slot_id},
        ).one_or_none()
    if row is None:
        raise UnknownSlot(f"slot {slot_id} does not exist in this business: list its slots")
    return Slot.from_row(row)


def open_slots(
    db: Database,
    business_id: uuid.UUID,
    *,
    start: datetime,
    end: datetime,
    service_id: uuid.UUID | None = None,
    min_free: int = 1,
) -> list[Slot]:
    """Current-schedule slots between `start` and `end` with at least `min_free` seats."""
    require_aware(start, "start")
    require_aware(end, "end")
    with db.connect() as conn:
        rows = conn.execute(
            text(
                f"SELECT {SLOT_COLUMNS} FROM time_slots WHERE business_id = :b AND starts_at >= :s"
                " AND starts_at < :e AND NOT is_legacy AND max_capacity - booked_seats >= :m"
                " AND (CAST(:svc AS uuid) IS NULL OR service_id = :svc) ORDER BY starts_at, id"
            ),
            {"b": business_id, "s": start, "e": end, "m": min_free, "svc": service_id},
        ).all()
    return [Slot.from_row(r) for r in rows]
