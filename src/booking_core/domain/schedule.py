"""Weekly schedule rules and the slots they generate: local wall time to instants, by one rule.

The time rule (docs/invariants.md, "Time"), PostgreSQL's own reading of
`timestamp AT TIME ZONE zone`, so SQL and Python agree on every instant:

* a wall time that does not exist (spring-forward gap) moves forward by the gap: 02:30 becomes 03:30;
* a wall time that occurs twice (fall-back overlap) is the second occurrence (the offset after the change);
* a slot stores the wall clock of the instant it got, so `(local_date + local_start) AT TIME
  ZONE tz = starts_at` holds for every slot (a moved 02:30 is stored as 03:30);
* occurrences that land on the same (service, resource, starts_at) make one slot: the one
  whose wall time exists wins, then the earliest asked date and time, the larger capacity,
  the longer duration, the rule listed first. Every other one is reported, never dropped.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from booking_core.domain.errors import InvalidInput


def resolve_local(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock `wall` on `day` in `tz`, as PostgreSQL reads it (the time rule above)."""
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first.astimezone(UTC)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        # A gap: the time does not exist; fold=0 uses the offset before the change.
        return first.astimezone(UTC)
    # An overlap: the later occurrence, fold=1 (the offset after the change).
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


def wall_clock(instant: datetime, tz: ZoneInfo) -> tuple[date, time]:
    """The local date and wall time of `instant` in `tz`."""
    local = instant.astimezone(tz)
    return local.date(), local.time().replace(fold=0)


def place(day: date, wall: time, tz: ZoneInfo) -> tuple[datetime, date, time]:
    """Where the wall time `wall` on `day` lands: its instant and the wall clock stored with it.

    Usually the asked date and time; a time in a gap lands later. If that later wall time
    happens to be the first of a repeated hour (two transitions close together), PostgreSQL
    reads it as the second occurrence, so that is the instant the slot gets.
    """
    instant = resolve_local(day, wall, tz)
    local_date, local_start = wall_clock(instant, tz)
    settled = resolve_local(local_date, local_start, tz)
    if settled != instant:
        instant = settled
        local_date, local_start = wall_clock(instant, tz)
    return instant, local_date, local_start


@dataclass(frozen=True, slots=True)
class MovedOccurrence:
    """A rule's date whose wall time does not exist: its slot starts at a later wall time."""

    rule: WeeklyRule
    asked_date: date
    asked_start: time
    local_date: date
    local_start: time
    starts_at: datetime


@dataclass(frozen=True, slots=True)
class MergedOccurrence:
    """A rule's date that landed on the instant of another's slot: it shares that slot (`kept`)."""

    rule: WeeklyRule
    asked_date: date
    asked_start: time
    local_date: date  # where it landed (differs from the asked wall time when it was moved)
    local_start: time
    starts_at: datetime
    kept: WeeklyRule  # the rule whose slot stands at starts_at

    @property
    def was_moved(self) -> bool:
        return (self.asked_date, self.asked_start) != (self.local_date, self.local_start)


@dataclass(frozen=True, slots=True)
class GeneratedSlots:
    """The slots of a schedule, and every occurrence that did not become a slot at its asked time.

    Each occurrence (rule, date) is exactly one of: a slot at its asked wall time, a slot in
    `moved`, an entry in `merged`.
    """

    slots: tuple[SlotSpec, ...]
    moved: tuple[MovedOccurrence, ...] = ()
    merged: tuple[MergedOccurrence, ...] = ()


def schedule_slots(rules: Iterable[WeeklyRule], *, first_day: date, last_day: date, tz: ZoneInfo) -> GeneratedSlots:
    """Every slot the rules ask for from `first_day` to `last_day` inclusive (local dates), by the time rule."""
    if last_day < first_day:
        raise InvalidInput(f"horizon {last_day} is before the effective date {first_day}")
    listed = tuple(rules)
    _refuse_duplicate_rules(listed)
    by_weekday: dict[int, list[tuple[int, WeeklyRule]]] = {}
    for index, rule in enumerate(listed):
        by_weekday.setdefault(rule.iso_weekday, []).append((index, rule))
    placed: dict[tuple[date, time], tuple[datetime, date, time]] = {}  # many resources share a wall time
    groups: dict[tuple[uuid.UUID, uuid.UUID, datetime], list[_Occurrence]] = {}
    day = first_day
    while day <= last_day:
        for index, rule in by_weekday.get(day.isoweekday(), ()):
            at = placed.get((day, rule.local_start))
            if at is None:
                at = placed[(day, rule.local_start)] = place(day, rule.local_start, tz)
            starts, local_date, local_start = at
            occurrence = _Occurrence(rule, index, day, starts, local_date, local_start)
            groups.setdefault((rule.service_id, rule.resource_id, starts), []).append(occurrence)
        day += timedelta(days=1)
    slots: list[tuple[datetime, int, SlotSpec]] = []
    moved: list[MovedOccurrence] = []
    merged: list[MergedOccurrence] = []
    for group in groups.values():
        kept, *others = sorted(group, key=_Occurrence.rank) if len(group) > 1 else group
        slots.append((kept.starts_at, kept.index, kept.spec()))
        if kept.moved:
            moved.append(kept.as_moved())
        merged.extend(o.as_merged(kept.rule) for o in others)
    slots.sort(key=lambda s: s[:2])
    return GeneratedSlots(tuple(s for _, _, s in slots), tuple(moved), tuple(merged))


@dataclass(frozen=True, slots=True)
class _Occurrence:
    """One rule on one date, placed."""

    rule: WeeklyRule
    index: int
    asked_date: date
    starts_at: datetime
    local_date: date
    local_start: time

    @property
    def moved(self) -> bool:
        return self.local_date != self.asked_date or self.local_start != self.rule.local_start

    def rank(self) -> tuple[bool, date, time, int, timedelta, int]:
        r = self.rule
        return (self.moved, self.asked_date, r.local_start, -r.capacity, -r.duration, self.index)

    def spec(self) -> SlotSpec:
        r = self.rule
        return SlotSpec(r.service_id, r.resource_id, self.local_date, self.local_start, self.starts_at,
                        self.starts_at + r.duration, r.capacity)  # fmt: skip

    def as_moved(self) -> MovedOccurrence:
        return MovedOccurrence(self.rule, self.asked_date, self.rule.local_start, self.local_date, self.local_start,
                               self.starts_at)  # fmt: skip

    def as_merged(self, kept: WeeklyRule) -> MergedOccurrence:
        return MergedOccurrence(self.rule, self.asked_date, self.rule.local_start, self.local_date, self.local_start,
                                self.starts_at, kept)  # fmt: skip


def _refuse_duplicate_rules(rules: Sequence[WeeklyRule]) -> None:
    """Two rules for one (service, resource, weekday, start) are a mistake to fix, not to guess at."""
    seen: set[tuple[uuid.UUID, uuid.UUID, int, time]] = set()
    for r in rules:
        key = (r.service_id, r.resource_id, r.iso_weekday, r.local_start)
        if key in seen:
            raise InvalidInput(
                f"two rules open service {r.service_id} on resource {r.resource_id} on weekday {r.iso_weekday}"
                f" at {r.local_start.isoformat()}: keep one rule per service, resource, weekday and start"
            )
        seen.add(key)


@dataclass(frozen=True, slots=True)
class PublishPlan:
    """What publishing a version does to the existing future slots."""

    create: tuple[SlotSpec, ...]
    keep: tuple[tuple[uuid.UUID, SlotSpec], ...]  # existing slot id, its spec in the new version
    retire: tuple[uuid.UUID, ...]  # existing slots that leave the schedule: become legacy


def plan_publish(
    wanted: Iterable[SlotSpec], existing: dict[tuple[uuid.UUID, uuid.UUID, datetime], uuid.UUID]
) -> PublishPlan:
    """Match the new version's slots to existing ones; nothing is ever deleted.

    `wanted` has one slot per (service, resource, starts_at), as `schedule_slots` makes them;
    two for one instant would be one slot lost, so they are refused.
    """
    create: list[SlotSpec] = []
    keep: list[tuple[uuid.UUID, SlotSpec]] = []
    seen: set[tuple[uuid.UUID, uuid.UUID, datetime]] = set()
    for spec in wanted:
        if spec.key in seen:
            raise InvalidInput(
                f"two slots start at {spec.starts_at.isoformat()} on one service and resource:"
                " build them with schedule_slots, which merges them"
            )
        seen.add(spec.key)
        slot_id = existing.get(spec.key)
        if slot_id is None:
            create.append(spec)
        else:
            keep.append((slot_id, spec))
    retire = tuple(slot_id for key, slot_id in existing.items() if key not in seen)
    return PublishPlan(tuple(create), tuple(keep), retire)
