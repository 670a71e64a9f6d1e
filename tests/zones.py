"""IANA zones that change their UTC offset in the tested years, those changes, and rules around them.

For the time-rule tests (unit, properties and integration), with the check of every property of
the rule that each of them applies to what schedule_slots generated.
"""

from __future__ import annotations

import functools
import uuid
import zoneinfo
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from booking_core.domain.schedule import GeneratedSlots, WeeklyRule, wall_clock
from booking_core.domain.values import READ_AS_ABBREVIATIONS

FIRST_YEAR, LAST_YEAR = 2022, 2030
_STEP = timedelta(days=7)  # offsets are sampled weekly: no zone changes and changes back within a week


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of a zone's UTC offset: `at` is the first instant of the new offset."""

    zone: str
    at: datetime
    before: timedelta
    after: timedelta

    @property
    def local_day(self) -> date:
        """The local date on which the change happens (read with the offset before it)."""
        return (self.at + self.before).date()

    @property
    def is_gap(self) -> bool:
        return self.after > self.before


@functools.cache
def transitions(name: str) -> tuple[Transition, ...]:
    """Every offset change of `name` from FIRST_YEAR to LAST_YEAR, found by sampling and bisection."""
    tz = ZoneInfo(name)
    found: list[Transition] = []
    t = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
    end = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC)
    offset = _offset(t, tz)
    while t < end:
        nxt = t + _STEP
        new = _offset(nxt, tz)
        if new != offset:
            lo, hi = t, nxt
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if _offset(mid, tz) == offset else (lo, mid)
            found.append(Transition(name, hi.replace(microsecond=0), offset, new))
            offset = new
        t = nxt
    return tuple(found)


@functools.cache
def dst_zones() -> tuple[str, ...]:
    """Every zone with at least one offset change in the tested years, sorted."""
    return tuple(sorted(n for n in zoneinfo.available_timezones() if transitions(n)))


def distinct_changes(zone_name: str) -> list[Transition]:
    """The zone's changes, one per kind (offsets before and after, wall time of the change)."""
    kinds = {(t.before, t.after, (t.at + t.before).time()): t for t in reversed(transitions(zone_name))}
    return sorted(kinds.values(), key=lambda t: t.at)


@st.composite
def scenarios(draw: st.DrawFn, zones: tuple[str, ...] | None = None) -> tuple[list[WeeklyRule], date, date, ZoneInfo]:
    """Arbitrary rules over a range around one offset change of an arbitrary zone (of `zones`, default all)."""
    zone_name = draw(st.sampled_from(zones or dst_zones()))
    t: Transition = draw(st.sampled_from(transitions(zone_name)))
    first = t.local_day - timedelta(days=draw(st.integers(0, 8)))
    last = t.local_day + timedelta(days=draw(st.integers(0, 8)))
    change = (t.at + t.before).replace(tzinfo=None)  # the wall clock at the change, before it
    near = st.integers(-180, 180).map(lambda m: (change + timedelta(minutes=m)).time())
    starts = st.one_of(near, st.times(), st.integers(0, 95).map(lambda q: time(q // 4, q % 4 * 15)))
    weekdays = st.one_of(st.just(t.local_day.isoweekday()), st.integers(1, 7))
    ids = st.sampled_from([uuid.UUID(int=1), uuid.UUID(int=2)])
    rules = st.builds(
        WeeklyRule,
        service_id=ids,
        resource_id=ids,
        iso_weekday=weekdays,
        local_start=starts,
        duration=st.integers(1, 24 * 60).map(lambda m: timedelta(minutes=m)),
        capacity=st.integers(1, 20),
    )
    listed = draw(
        st.lists(rules, min_size=1, max_size=10,
                 unique_by=lambda r: (r.service_id, r.resource_id, r.iso_weekday, r.local_start))
    )  # fmt: skip
    return listed, first, last, ZoneInfo(zone_name)


def postgres_reading(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """`(day + wall) AT TIME ZONE tz` as PostgreSQL defines it: of the readings with the offset
    before and after a change, the later instant (a gap moves forward, a repeat is the second)."""
    naive = datetime.combine(day, wall)
    offsets = {naive.replace(tzinfo=tz, fold=f).utcoffset() for f in (0, 1)}
    readings = [(naive - off).replace(tzinfo=UTC) for off in offsets if off is not None]
    return max(readings)


def check_time_rule(g: GeneratedSlots, rules: list[WeeklyRule], first: date, last: date, tz: ZoneInfo) -> None:
    """Every property of the time rule for one generation."""
    keys = Counter(s.key for s in g.slots)
    assert max(keys.values(), default=1) == 1, "two slots on one instant"

    asked = {(r, first + timedelta(days=n)) for r in rules for n in range((last - first).days + 1)}
    asked = {(r, d) for r, d in asked if d.isoweekday() == r.iso_weekday}
    moved = {(m.rule, m.asked_date): m for m in g.moved}
    merged = {(m.rule, m.asked_date): m for m in g.merged}
    assert len(moved) == len(g.moved) and len(merged) == len(g.merged)
    assert not moved.keys() & merged.keys()
    assert len(g.slots) + len(g.merged) == len(asked), "an occurrence was lost or invented"
    by_key = {s.key: s for s in g.slots}
    exact = {(s.service_id, s.resource_id, s.local_date, s.local_start) for s in g.slots}

    for r, day in asked:
        if (r, day) in merged:
            m = merged[(r, day)]
            kept = by_key[(r.service_id, r.resource_id, m.starts_at)]
            assert m.kept is not r
            # The slot standing there belongs to an exact wall time whenever one landed there.
            assert m.was_moved or (kept.local_date, kept.local_start) == (m.local_date, m.local_start)
        elif (r, day) in moved:
            m = moved[(r, day)]
            slot = by_key[(r.service_id, r.resource_id, m.starts_at)]
            assert (slot.local_date, slot.local_start) == (m.local_date, m.local_start)
            assert slot.ends_at - slot.starts_at == r.duration and slot.capacity == r.capacity
        else:
            assert (r.service_id, r.resource_id, day, r.local_start) in exact, f"{r} on {day} silently lost"

    for s in g.slots:
        # The stored wall clock is the instant's own, and reads back to it the PostgreSQL way.
        assert wall_clock(s.starts_at, tz) == (s.local_date, s.local_start)
        assert postgres_reading(s.local_date, s.local_start, tz) == s.starts_at
        assert s.starts_at.tzinfo is not None and s.ends_at > s.starts_at

    for m in g.moved:
        # A wall time in a gap moves forward by exactly the gap.
        naive = datetime.combine(m.asked_date, m.asked_start)
        before, after = (naive.replace(tzinfo=tz, fold=f).utcoffset() for f in (0, 1))  # zoneinfo's folds
        assert before is not None and after is not None
        shift = datetime.combine(m.local_date, m.local_start) - naive
        assert shift == after - before > timedelta(0)
        assert m.starts_at == postgres_reading(m.asked_date, m.asked_start, tz)


def _offset(instant: datetime, tz: ZoneInfo) -> timedelta:
    off = instant.astimezone(tz).utcoffset()
    assert off is not None
    return off


__all__ = [
    "FIRST_YEAR",
    "LAST_YEAR",
    "READ_AS_ABBREVIATIONS",
    "Transition",
    "check_time_rule",
    "distinct_changes",
    "dst_zones",
    "postgres_reading",
    "scenarios",
    "transitions",
]
