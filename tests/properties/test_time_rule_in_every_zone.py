"""The time rule of schedules in every IANA zone that changes offset: nothing lost, one slot per instant.

Pure (no database) but exhaustive: a sweep over more than a hundred zones and a few hundred
random schedules, kept out of tests/unit so that folder stays a few seconds.
"""

from __future__ import annotations

import uuid
from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings

from booking_core.domain.schedule import WeeklyRule, schedule_slots
from tests.zones import check_time_rule, distinct_changes, dst_zones, scenarios

SVC, RES = uuid.UUID(int=1), uuid.UUID(int=2)


def rule(weekday: int, at: time) -> WeeklyRule:
    return WeeklyRule(SVC, RES, weekday, at, timedelta(minutes=60), 5)


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
