"""The time rule of schedules, in every IANA zone that changes offset: nothing lost, one slot per instant."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings

from booking_core.domain.errors import InvalidInput
from booking_core.domain.schedule import (
    GeneratedSlots,
    SlotSpec,
    WeeklyRule,
    plan_publish,
    schedule_slots,
    wall_clock,
)
from tests.zones import distinct_changes, dst_zones, scenarios

BERLIN = ZoneInfo("Europe/Berlin")
SPRING, AUTUMN = date(2026, 3, 29), date(2026, 10, 25)  # Berlin's Sundays of change
SVC, RES = uuid.UUID(int=1), uuid.UUID(int=2)


def rule(weekday: int, at: time, *, capacity: int = 5, minutes: int = 60, svc=SVC, res=RES) -> WeeklyRule:
    return WeeklyRule(svc, res, weekday, at, timedelta(minutes=minutes), capacity)


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


# ---------------------------------------------------------------- Berlin, by hand


def test_two_thirty_and_three_thirty_on_the_spring_sunday_make_one_slot_and_report_the_merge():
    rules = [rule(7, time(2, 30)), rule(7, time(3, 30))]
    g = schedule_slots(rules, first_day=SPRING, last_day=SPRING, tz=BERLIN)
    assert [(s.local_start, s.starts_at) for s in g.slots] == [(time(3, 30), datetime(2026, 3, 29, 1, 30, tzinfo=UTC))]
    (m,) = g.merged
    assert (m.rule, m.asked_start, m.local_start, m.kept) == (rules[0], time(2, 30), time(3, 30), rules[1])
    assert m.was_moved and g.moved == ()


def test_a_time_in_the_gap_alone_moves_forward_by_the_gap_and_is_reported_moved():
    g = schedule_slots([rule(7, time(2, 15))], first_day=SPRING, last_day=SPRING + timedelta(days=7), tz=BERLIN)
    assert [(s.local_date, s.local_start) for s in g.slots] == [(SPRING, time(3, 15)), (date(2026, 4, 5), time(2, 15))]
    (m,) = g.moved
    assert (m.asked_start, m.local_start, m.starts_at) == (time(2, 15), time(3, 15), g.slots[0].starts_at)


def test_hourly_rules_round_the_clock_give_23_slots_in_spring_and_24_in_autumn():
    rules = [rule(7, time(h)) for h in range(24)]
    spring = schedule_slots(rules, first_day=SPRING, last_day=SPRING, tz=BERLIN)
    assert len(spring.slots) == 23 and [m.asked_start for m in spring.merged] == [time(2)]
    autumn = schedule_slots(rules, first_day=AUTUMN, last_day=AUTUMN, tz=BERLIN)
    assert len(autumn.slots) == 24 and autumn.moved == autumn.merged == ()
    two = next(s for s in autumn.slots if s.local_start == time(2))
    assert two.starts_at == datetime(2026, 10, 25, 1, 0, tzinfo=UTC)  # the second 02:00 (CET)
    check_time_rule(autumn, rules, AUTUMN, AUTUMN, BERLIN)


def test_the_exact_wall_time_wins_a_merge_whatever_the_order_or_capacity():
    moved_big, exact_small = rule(7, time(2, 30), capacity=50), rule(7, time(3, 30), capacity=1)
    for rules in ([moved_big, exact_small], [exact_small, moved_big]):
        (slot,) = schedule_slots(rules, first_day=SPRING, last_day=SPRING, tz=BERLIN).slots
        assert slot.capacity == 1


def test_a_day_that_does_not_exist_moves_its_slots_to_the_next_day():
    # Samoa skipped Friday 30 December 2011 entirely.
    apia = ZoneInfo("Pacific/Apia")
    friday, saturday = rule(5, time(10)), rule(6, time(10))
    g = schedule_slots([friday, saturday], first_day=date(2011, 12, 30), last_day=date(2011, 12, 31), tz=apia)
    assert [(s.local_date, s.local_start) for s in g.slots] == [(date(2011, 12, 31), time(10))]
    (m,) = g.merged
    assert (m.rule, m.asked_date, m.local_date, m.kept) == (friday, date(2011, 12, 30), date(2011, 12, 31), saturday)


def test_two_rules_for_the_same_weekday_and_start_are_refused_with_what_to_do():
    with pytest.raises(InvalidInput, match="keep one rule per service, resource, weekday and start"):
        schedule_slots([rule(7, time(9)), rule(7, time(9), capacity=3)], first_day=SPRING, last_day=SPRING, tz=BERLIN)


def test_planning_refuses_two_slots_on_one_instant_rather_than_lose_one():
    at = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    spec = SlotSpec(SVC, RES, SPRING, time(3, 30), at, at + timedelta(hours=1), 5)
    with pytest.raises(InvalidInput, match="merges them"):
        plan_publish([spec, spec], {})


# ---------------------------------------------------------------- every zone that changes offset

QUARTER_HOURS = [rule(d, time(h, m)) for d in range(1, 8) for h in range(24) for m in (0, 15, 30, 45)]


def test_the_tested_zones_include_the_unusual_changes():
    zones = dst_zones()
    assert {"Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Antarctica/Troll"} <= set(zones)
    assert len(zones) > 100


@pytest.mark.parametrize("zone_name", dst_zones())
def test_every_quarter_hour_round_the_clock_publishes_across_each_kind_of_change_of_the_zone(zone_name):
    tz = ZoneInfo(zone_name)
    for t in distinct_changes(zone_name):
        # The day of the change and the next: a gap late in the day moves slots across midnight.
        first, last = t.local_day, t.local_day + timedelta(days=1)
        g = schedule_slots(QUARTER_HOURS, first_day=first, last_day=last, tz=tz)
        check_time_rule(g, QUARTER_HOURS, first, last, tz)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_arbitrary_rules_across_a_change_lose_nothing_and_share_no_instant(scenario):
    rules, first, last, tz = scenario
    g = schedule_slots(rules, first_day=first, last_day=last, tz=tz)
    check_time_rule(g, rules, first, last, tz)
    # Deterministic whatever the order the rules are listed in, up to which rule is "first listed".
    again = schedule_slots(list(reversed(rules)), first_day=first, last_day=last, tz=tz)
    assert {(s.key, s.local_date, s.local_start) for s in again.slots} == {
        (s.key, s.local_date, s.local_start) for s in g.slots
    }
