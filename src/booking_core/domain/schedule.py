"""Weekly schedule rules and the slots they generate, resolved from local wall time to UTC.

DST policy (PostgreSQL's, so SQL and Python always agree on a slot's instant):
a wall time that does not exist (spring-forward gap) is read with the offset before the
change, which moves it forward by the gap (02:30 becomes 03:30); a wall time that occurs
twice (fall-back overlap) is the second, standard-time occurrence.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from booking_core.domain.errors import InvalidInput


def resolve_local(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock `wall` on `day` in `tz`, by the policy above."""
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first.astimezone(UTC)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        # A gap: the time does not exist; fold=0 uses the offset before the change.
        return first.astimezone(UTC)
    # An overlap: the later, standard-time occurrence.
    return second.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class WeeklyRule:
    """One recurring opening: every `iso_weekday` at `local_start` for `duration`."""

    service_id: uuid.UUID
    resource_id: uuid.UUID
    iso_weekday: int
    local_start: time
    duration: timedelta
    capacity: int

    def __post_init__(self) -> None:
        if not 1 <= self.iso_weekday <= 7:
            raise InvalidInput(f"weekday {self.iso_weekday} must be 1 (Monday) to 7 (Sunday)")
        if not timedelta(0) < self.duration <= timedelta(hours=24):
            raise InvalidInput(f"duration {self.duration} must be more than 0 and at most 24 hours")
        if not 1 <= self.capacity <= 10_000:
            raise InvalidInput(f"capacity {self.capacity} must be 1 to 10000")
        if self.local_start.tzinfo is not None:
            raise InvalidInput("a rule's start is a wall-clock time: pass it without tzinfo")


@dataclass(frozen=True, slots=True)
class SlotSpec:
    """A slot a schedule asks for; identity is (service, resource, starts_at)."""

    service_id: uuid.UUID
    resource_id: uuid.UUID
    local_date: date
    local_start: time
    starts_at: datetime
    ends_at: datetime
    capacity: int

    @property
    def key(self) -> tuple[uuid.UUID, uuid.UUID, datetime]:
        return (self.service_id, self.resource_id, self.starts_at)


def generate_slots(rules: Iterable[WeeklyRule], *, first_day: date, last_day: date, tz: ZoneInfo) -> Iterator[SlotSpec]:
    """Every slot the rules ask for from `first_day` to `last_day` inclusive, in local dates."""
    if last_day < first_day:
        raise InvalidInput(f"horizon {last_day} is before the effective date {first_day}")
    by_weekday: dict[int, list[WeeklyRule]] = {}
    for rule in rules:
        by_weekday.setdefault(rule.iso_weekday, []).append(rule)
    day = first_day
    while day <= last_day:
        for rule in by_weekday.get(day.isoweekday(), ()):
            starts = resolve_local(day, rule.local_start, tz)
            yield SlotSpec(
                service_id=rule.service_id,
                resource_id=rule.resource_id,
                local_date=day,
                local_start=rule.local_start,
                starts_at=starts,
                ends_at=starts + rule.duration,
                capacity=rule.capacity,
            )
        day += timedelta(days=1)


@dataclass(frozen=True, slots=True)
class PublishPlan:
    """What publishing a version does to the existing future slots."""

    create: tuple[SlotSpec, ...]
    keep: tuple[tuple[uuid.UUID, SlotSpec], ...]  # existing slot id, its spec in the new version
    retire: tuple[uuid.UUID, ...]  # existing slots that leave the schedule: become legacy


def plan_publish(
    wanted: Iterable[SlotSpec], existing: dict[tuple[uuid.UUID, uuid.UUID, datetime], uuid.UUID]
) -> PublishPlan:
    """Match the new version's slots to existing ones; nothing is ever deleted."""
    create: list[SlotSpec] = []
    keep: list[tuple[uuid.UUID, SlotSpec]] = []
    seen: set[tuple[uuid.UUID, uuid.UUID, datetime]] = set()
    for spec in wanted:
        seen.add(spec.key)
        slot_id = existing.get(spec.key)
        if slot_id is None:
            create.append(spec)
        else:
            keep.append((slot_id, spec))
    retire = tuple(slot_id for key, slot_id in existing.items() if key not in seen)
    return PublishPlan(tuple(create), tuple(keep), retire)
