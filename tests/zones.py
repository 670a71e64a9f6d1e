"""IANA zones that change their UTC offset in the tested years, and those changes: for the time-rule tests."""

from __future__ import annotations

import functools
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

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


def _offset(instant: datetime, tz: ZoneInfo) -> timedelta:
    off = instant.astimezone(tz).utcoffset()
    assert off is not None
    return off


__all__ = ["FIRST_YEAR", "LAST_YEAR", "Transition", "dst_zones", "transitions"]
