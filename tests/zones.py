"""IANA zones that change their UTC offset in the tested years, those changes, and rules around them.

For the time-rule tests (unit and integration).
"""

from __future__ import annotations

import functools
import uuid
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from booking_core.domain.schedule import WeeklyRule
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


def _offset(instant: datetime, tz: ZoneInfo) -> timedelta:
    off = instant.astimezone(tz).utcoffset()
    assert off is not None
    return off


__all__ = [
    "FIRST_YEAR",
    "LAST_YEAR",
    "READ_AS_ABBREVIATIONS",
    "Transition",
    "distinct_changes",
    "dst_zones",
    "scenarios",
    "transitions",
]
