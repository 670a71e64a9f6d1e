"""The time rule of schedules, by hand around Berlin's changes: nothing lost, one slot per instant.

The same rule in every IANA zone that changes offset: tests/properties/test_time_rule_in_every_zone.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings

from booking_core.domain.errors import InvalidInput
from booking_core.domain.schedule import SlotSpec, WeeklyRule, plan_publish, schedule_slots
from tests.zones import check_time_rule, scenarios

BERLIN = ZoneInfo("Europe/Berlin")
SPRING, AUTUMN = date(2026, 3, 29), date(2026, 10, 25)  # Berlin's Sundays of change
SVC, RES = uuid.UUID(int=1), uuid.UUID(int=2)


def rule(weekday: int, at: time, *, capacity: int = 5, minutes: int = 60, svc=SVC, res=RES) -> WeeklyRule:
    return WeeklyRule(svc, res, weekday, at, timedelta(minutes=minutes), capacity)


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


@settings(max_examples=60, deadline=None)
@given(scenarios(zones=("Europe/Berlin", "America/New_York")))
def test_arbitrary_rules_across_a_change_in_berlin_or_new_york_lose_nothing_and_share_no_instant(scenario):
    rules, first, last, tz = scenario
    check_time_rule(schedule_slots(rules, first_day=first, last_day=last, tz=tz), rules, first, last, tz)
