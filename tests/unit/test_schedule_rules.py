"""Weekly rules, slot generation and schedule versions, without a database.

The time rule across DST is tested by hand in test_schedule_time.py (Berlin) and in every zone
in tests/properties; here: the rules' limits, New York's changes and publishing a new version.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from booking_core.domain.errors import InvalidInput
from booking_core.domain.schedule import SlotSpec, WeeklyRule, plan_publish, resolve_local, schedule_slots

NEW_YORK, BERLIN = ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")
NY_SPRING, NY_AUTUMN = date(2026, 3, 8), date(2026, 11, 1)  # Sundays of New York's changes
SVC, ROOM, TERRACE = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)


def rule(weekday: int, at: time, *, resource: uuid.UUID = ROOM, hours: float = 1, capacity: int = 4) -> WeeklyRule:
    return WeeklyRule(SVC, resource, weekday, at, timedelta(hours=hours), capacity)


# ---------------------------------------------------------------- a rule's limits


@pytest.mark.parametrize(
    ("weekday", "duration", "capacity"),
    [(1, timedelta(minutes=1), 1), (7, timedelta(hours=24), 10_000)],
)
def test_a_rule_at_the_edges_of_its_limits_is_accepted(weekday, duration, capacity):
    assert WeeklyRule(SVC, ROOM, weekday, time(9), duration, capacity).capacity == capacity


@pytest.mark.parametrize(
    ("weekday", "duration", "capacity", "message"),
    [
        (8, timedelta(hours=1), 1, "weekday 8 must be 1"),
        (1, timedelta(hours=24, seconds=1), 1, "at most 24 hours"),
        (1, timedelta(hours=-1), 1, "more than 0"),
        (1, timedelta(hours=1), 10_001, "capacity 10001 must be 1 to 10000"),
        (1, timedelta(hours=1), -3, "capacity -3"),
    ],
)
def test_a_rule_just_past_its_limits_is_refused_saying_which_limit(weekday, duration, capacity, message):
    with pytest.raises(InvalidInput, match=message):
        WeeklyRule(SVC, ROOM, weekday, time(9), duration, capacity)


# ---------------------------------------------------------------- generating slots


def test_a_horizon_before_the_effective_date_is_refused():
    with pytest.raises(InvalidInput, match="before the effective date"):
        schedule_slots([rule(1, time(9))], first_day=date(2026, 6, 2), last_day=date(2026, 6, 1), tz=BERLIN)


def test_no_rules_make_no_slots():
    g = schedule_slots([], first_day=date(2026, 6, 1), last_day=date(2026, 6, 30), tz=BERLIN)
    assert (g.slots, g.moved, g.merged) == ((), (), ())


def test_a_one_day_horizon_holds_that_days_slots_only():
    g = schedule_slots(
        [rule(1, time(9)), rule(2, time(9))], first_day=date(2026, 6, 1), last_day=date(2026, 6, 1), tz=BERLIN
    )
    assert [(s.local_date, s.local_start) for s in g.slots] == [(date(2026, 6, 1), time(9))]


def test_each_slot_carries_its_rules_capacity_and_duration_and_the_list_is_in_time_order():
    rules = [rule(3, time(18), hours=2, capacity=8), rule(1, time(9), hours=0.5, capacity=2)]
    g = schedule_slots(rules, first_day=date(2026, 6, 1), last_day=date(2026, 6, 14), tz=BERLIN)
    assert [(s.local_date.isoweekday(), s.capacity, s.ends_at - s.starts_at) for s in g.slots] == [
        (1, 2, timedelta(minutes=30)),
        (3, 8, timedelta(hours=2)),
    ] * 2
    assert [s.starts_at for s in g.slots] == sorted(s.starts_at for s in g.slots)


def test_two_resources_open_at_the_same_wall_time_each_get_their_own_slot():
    g = schedule_slots(
        [rule(1, time(9)), rule(1, time(9), resource=TERRACE)],
        first_day=date(2026, 6, 1),
        last_day=date(2026, 6, 1),
        tz=BERLIN,
    )
    assert {s.resource_id for s in g.slots} == {ROOM, TERRACE} and g.merged == ()


def test_in_new_york_a_wall_time_in_the_spring_gap_moves_an_hour_later_and_is_reported():
    g = schedule_slots([rule(7, time(2, 30))], first_day=NY_SPRING, last_day=NY_SPRING, tz=NEW_YORK)
    (slot,) = g.slots
    assert (slot.local_start, slot.starts_at) == (time(3, 30), datetime(2026, 3, 8, 7, 30, tzinfo=UTC))
    (moved,) = g.moved
    assert (moved.asked_start, moved.local_start, moved.starts_at) == (time(2, 30), time(3, 30), slot.starts_at)


def test_in_new_york_a_repeated_wall_time_in_autumn_is_its_second_occurrence_and_not_moved():
    g = schedule_slots([rule(7, time(1, 30))], first_day=NY_AUTUMN, last_day=NY_AUTUMN, tz=NEW_YORK)
    (slot,) = g.slots
    assert slot.starts_at == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST, not EDT
    assert g.moved == g.merged == ()


def test_the_same_wall_time_is_a_different_instant_on_either_side_of_a_change():
    before, after = (resolve_local(d, time(9), NEW_YORK) for d in (date(2026, 3, 7), date(2026, 3, 9)))
    assert (before.hour, after.hour) == (14, 13)


def test_a_merged_occurrence_says_which_rule_kept_the_slot():
    big, small = rule(7, time(2, 30), capacity=9), rule(7, time(3, 30), capacity=1)
    (merged,) = schedule_slots([big, small], first_day=NY_SPRING, last_day=NY_SPRING, tz=NEW_YORK).merged
    assert (merged.rule, merged.kept, merged.was_moved) == (big, small, True)


WEEKLY_RULES = st.lists(
    st.builds(
        rule,
        weekday=st.integers(1, 7),
        at=st.integers(0, 95).map(lambda q: time(q // 4, q % 4 * 15)),
        resource=st.sampled_from([ROOM, TERRACE]),
    ),
    max_size=8,
    unique_by=lambda r: (r.resource_id, r.iso_weekday, r.local_start),
)


@settings(max_examples=40, deadline=None)
@given(rules=WEEKLY_RULES, first=st.dates(date(2026, 1, 1), date(2026, 12, 31)), days=st.integers(0, 20))
def test_generation_is_deterministic_and_gives_one_slot_per_resource_and_instant(rules, first, days):
    last = first + timedelta(days=days)
    g = schedule_slots(rules, first_day=first, last_day=last, tz=NEW_YORK)
    assert g == schedule_slots(rules, first_day=first, last_day=last, tz=NEW_YORK)
    assert len({s.key for s in g.slots}) == len(g.slots)


# ---------------------------------------------------------------- publishing a new version


def spec(day: int, hour: int = 9) -> SlotSpec:
    starts = datetime(2026, 6, day, hour, tzinfo=UTC)
    return SlotSpec(SVC, ROOM, starts.date(), time(hour), starts, starts + timedelta(hours=1), 4)


def test_republishing_the_same_schedule_keeps_every_slot_and_retires_none():
    wanted = [spec(1), spec(2)]
    existing = {s.key: uuid.uuid4() for s in wanted}
    plan = plan_publish(wanted, existing)
    assert plan.create == () and plan.retire == ()
    assert [slot_id for slot_id, _ in plan.keep] == list(existing.values())


def test_a_version_without_any_slot_retires_every_existing_slot_and_deletes_none():
    existing = {spec(1).key: uuid.uuid4(), spec(2).key: uuid.uuid4()}
    plan = plan_publish([], existing)
    assert set(plan.retire) == set(existing.values()) and plan.create == plan.keep == ()


def test_a_first_version_creates_every_slot():
    assert plan_publish([spec(1), spec(2)], {}).create == (spec(1), spec(2))


def test_a_slot_whose_capacity_changes_is_kept_with_its_new_capacity_not_replaced():
    slot_id = uuid.uuid4()
    bigger = dataclasses.replace(spec(1), capacity=12)
    plan = plan_publish([bigger], {spec(1).key: slot_id})
    assert plan.keep == ((slot_id, bigger),) and plan.create == plan.retire == ()


@settings(deadline=None)
@given(wanted_days=st.sets(st.integers(1, 28)), existing_days=st.sets(st.integers(1, 28)))
def test_every_existing_slot_is_kept_or_retired_exactly_once_and_every_wanted_one_kept_or_created(
    wanted_days, existing_days
):
    existing = {spec(d).key: uuid.UUID(int=d) for d in existing_days}
    plan = plan_publish([spec(d) for d in sorted(wanted_days)], existing)
    kept_ids = [slot_id for slot_id, _ in plan.keep]
    assert sorted(kept_ids + list(plan.retire)) == sorted(existing.values())
    assert len(plan.create) + len(plan.keep) == len(wanted_days)
