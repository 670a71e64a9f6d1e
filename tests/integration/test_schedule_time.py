"""The time rule on real PostgreSQL: schedules across DST changes publish, lose nothing, and read back."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import HealthCheck, assume, given, settings

from booking_core import Actor, BookingSystem, InvalidInput, Money, UnknownTimezone, WeeklyRule
from booking_core.domain.schedule import resolve_local, schedule_slots
from tests.conftest import MONDAY
from tests.zones import (
    FIRST_YEAR,
    LAST_YEAR,
    READ_AS_ABBREVIATIONS,
    distinct_changes,
    dst_zones,
    scenarios,
    transitions,
)

SETUP = datetime(2020, 1, 1, tzinfo=UTC)
SPRING, AUTUMN = date(2026, 3, 29), date(2026, 10, 25)  # Berlin's Sundays of change
ADMIN = Actor.admin("admin-time")
# Zones SQL reads as IANA zones: the rest are PostgreSQL abbreviations with a fixed offset (see the test below).
SQL_ZONES = tuple(z for z in dst_zones() if z not in READ_AS_ABBREVIATIONS)


@dataclasses.dataclass
class Tenant:
    business_id: uuid.UUID
    services: tuple[uuid.UUID, ...]
    resources: tuple[uuid.UUID, ...]

    def rule(self, weekday: int, at: time, *, capacity: int = 5, n: int = 0) -> WeeklyRule:
        return WeeklyRule(self.services[n], self.resources[n], weekday, at, timedelta(hours=1), capacity)


def tenant(system: BookingSystem, zone: str) -> Tenant:
    biz = system.create_business(name=f"Time {uuid.uuid4().hex[:6]}", timezone=zone, currency="EUR", actor=ADMIN,
                                 now=SETUP)  # fmt: skip
    services = tuple(
        system.add_service(biz.id, name=f"Service {i}", price=Money("10.00", "EUR"), actor=ADMIN, now=SETUP)
        for i in range(2)
    )
    resources = tuple(system.add_resource(biz.id, name=f"Room {i}", actor=ADMIN, now=SETUP) for i in range(2))
    return Tenant(biz.id, services, resources)


def publish(system: BookingSystem, t: Tenant, rules: list[WeeklyRule], first: date, last: date):  # type: ignore[no-untyped-def]
    return system.publish_schedule(t.business_id, rules=rules, effective_date=first, horizon_date=last, actor=ADMIN,
                                   now=SETUP + timedelta(days=1))  # fmt: skip


def stored(raw, business_id: uuid.UUID, *, legacy: bool = False) -> set[tuple[object, ...]]:  # type: ignore[no-untyped-def]
    rows = raw.execute(
        "SELECT service_id, resource_id, starts_at, local_date, local_start FROM time_slots"
        " WHERE business_id = %s AND is_legacy = %s",
        (business_id, legacy),
    ).fetchall()
    return set(rows)


def misread(raw, business_id: uuid.UUID) -> int:  # type: ignore[no-untyped-def]
    """Slots whose stored wall clock does not read back to their instant in PostgreSQL."""
    return raw.execute(
        "SELECT count(*) FROM time_slots ts JOIN businesses b ON b.id = ts.business_id"
        " WHERE ts.business_id = %s AND (ts.local_date + ts.local_start) AT TIME ZONE b.timezone <> ts.starts_at",
        (business_id,),
    ).fetchone()[0]


def test_two_thirty_and_three_thirty_publish_on_a_new_business_across_spring_forward(system, raw):
    t = tenant(system, "Europe/Berlin")
    rules = [t.rule(7, time(2, 30)), t.rule(7, time(3, 30))]
    report = publish(system, t, rules, date(2026, 3, 23), date(2026, 4, 12))
    assert report.slots_created == 5  # two Sundays with two slots, the spring Sunday with one
    (m,) = report.merged
    assert (m.asked_date, m.asked_start, m.local_start, m.kept) == (SPRING, time(2, 30), time(3, 30), rules[1])
    spring = [s for s in stored(raw, t.business_id) if s[3] == SPRING]
    assert spring == [(t.services[0], t.resources[0], datetime(2026, 3, 29, 1, 30, tzinfo=UTC), SPRING, time(3, 30))]
    assert misread(raw, t.business_id) == 0


def test_the_same_rules_publish_on_a_business_with_slots_and_lose_none(system, raw):
    t = tenant(system, "Europe/Berlin")
    first, last = date(2026, 3, 23), date(2026, 4, 12)
    publish(system, t, [t.rule(7, time(3, 30))], first, last)
    before = stored(raw, t.business_id)
    rules = [t.rule(7, time(2, 15)), t.rule(7, time(2, 30)), t.rule(7, time(3, 30))]
    report = publish(system, t, rules, first, last)
    assert report.slots_kept == 3 and report.slots_created == 5 and report.slots_retired == 0
    assert [(m.asked_start, m.local_start) for m in report.moved] == [(time(2, 15), time(3, 15))]
    assert [(m.asked_start, m.local_start) for m in report.merged] == [(time(2, 30), time(3, 30))]
    after = stored(raw, t.business_id)
    assert before <= after and len(after) == 8
    assert stored(raw, t.business_id, legacy=True) == set()
    assert misread(raw, t.business_id) == 0


def test_hourly_rules_round_the_clock_publish_across_both_changes_of_the_year(system, raw):
    t = tenant(system, "Europe/Berlin")
    rules = [t.rule(7, time(h)) for h in range(24)]  # both changes are on a Sunday
    first, last = date(2026, 3, 1), date(2026, 11, 30)
    report = publish(system, t, rules, first, last)
    days = sum(1 for n in range((last - first).days + 1) if (first + timedelta(days=n)).isoweekday() == 7)
    assert report.slots_created == days * 24 - 1 and len(report.merged) == 1 and report.moved == ()
    autumn = [s for s in stored(raw, t.business_id) if s[3] == AUTUMN]
    assert len(autumn) == 24
    assert (t.services[0], t.resources[0], datetime(2026, 10, 25, 1, tzinfo=UTC), AUTUMN, time(2)) in autumn
    assert misread(raw, t.business_id) == 0
    again = publish(system, t, rules, first, last)  # publishing the same version again keeps every slot
    assert (again.slots_kept, again.slots_created, again.slots_retired) == (days * 24 - 1, 0, 0)


def test_a_repeated_wall_time_in_autumn_is_the_second_occurrence(system, raw):
    t = tenant(system, "America/New_York")
    publish(system, t, [t.rule(7, time(1, 30))], date(2026, 11, 1), date(2026, 11, 1))
    ((*_, starts, _day, local),) = stored(raw, t.business_id)
    assert starts == datetime(2026, 11, 1, 6, 30, tzinfo=UTC) and local == time(1, 30)  # EST, not EDT
    assert misread(raw, t.business_id) == 0


def test_two_rules_for_one_weekday_and_start_are_refused_before_anything_is_written(system, raw):
    t = tenant(system, "Europe/Berlin")
    with pytest.raises(InvalidInput, match="keep one rule per service, resource, weekday and start"):
        publish(system, t, [t.rule(7, time(9)), t.rule(7, time(9), capacity=2)], SPRING, SPRING)
    versions = raw.execute("SELECT count(*) FROM schedule_versions WHERE business_id = %s", (t.business_id,))
    assert versions.fetchone()[0] == 0


def test_postgresql_reads_a_few_iana_zone_names_as_fixed_offset_abbreviations(raw):
    # CET the IANA zone has summer time; CET the PostgreSQL abbreviation is always +01:00, and
    # AT TIME ZONE takes the abbreviation. Slots in these zones cannot read back in SQL.
    abbreviations = {r[0] for r in raw.execute("SELECT abbrev FROM pg_timezone_abbrevs").fetchall()}
    assert set(dst_zones()) & abbreviations == READ_AS_ABBREVIATIONS
    summer = raw.execute("SELECT timestamp '2026-07-01 12:00' AT TIME ZONE 'CET'").fetchone()[0]
    assert summer == datetime(2026, 7, 1, 11, tzinfo=UTC) != resolve_local(date(2026, 7, 1), time(12), ZoneInfo("CET"))


@pytest.mark.parametrize("name", sorted(READ_AS_ABBREVIATIONS))
def test_a_business_in_a_zone_sql_reads_as_an_abbreviation_is_refused_up_front_and_by_the_database(system, raw, name):
    with pytest.raises(UnknownTimezone, match="use a city zone"):
        system.create_business(name="Bistro", timezone=name, currency="EUR", actor=Actor.admin("a"), now=MONDAY)
    (valid,) = raw.execute("SELECT booking_is_valid_timezone(%s)", (name,)).fetchone()
    assert valid is False


@pytest.fixture(scope="module")
def skewed(database_url: str) -> frozenset[str]:
    """Zones whose rules differ between the server's tz database and Python's (by UTC offsets).

    A server with its own bundled tz database (the embedded one) can be older or newer than the
    system's: around a change it then reads some instants with another offset. Those zones are
    a property of the installation, not of the time rule; the rule is tested on the others.
    """
    zones: list[str] = []
    instants: list[datetime] = []
    offsets: list[timedelta] = []
    # Around every change Python knows (a zone can differ in one year only: British Columbia's
    # 2026 change is in one database and not the other), and once a week over the tested years
    # (a change only the server knows).
    weekly = [
        datetime(FIRST_YEAR, 1, 1, 12, tzinfo=UTC) + timedelta(days=7 * w)
        for w in range(53 * (LAST_YEAR - FIRST_YEAR + 1))
    ]
    for zone in SQL_ZONES:
        tz = ZoneInfo(zone)
        around = [t.at + timedelta(minutes=15 * q) for t in transitions(zone) for q in range(-12, 13)]
        for at in around + weekly:
            zones.append(zone)
            instants.append(at)
            offsets.append(at.astimezone(tz).utcoffset())  # type: ignore[arg-type]
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        rows = conn.execute(
            "SELECT DISTINCT z FROM unnest(%s::text[], %s::timestamptz[], %s::interval[]) AS x(z, i, o)"
            " WHERE (i AT TIME ZONE z) - (i AT TIME ZONE 'UTC') <> o",
            (zones, instants, offsets),
        ).fetchall()
    found = frozenset(r[0] for r in rows)
    print(f"\nzones whose tz rules differ between this server and Python: {sorted(found) or 'none'}")
    assert len(found) <= 5, f"the server's tz database differs from Python's in many zones: {sorted(found)}"
    return found


def test_python_and_postgresql_read_every_quarter_hour_around_every_change_alike(raw, skewed):
    """resolve_local is PostgreSQL's `AT TIME ZONE` around each kind of change of every zone, 2022-2030."""
    names: list[str] = []
    walls: list[datetime] = []
    instants: list[datetime] = []
    for zone in (z for z in SQL_ZONES if z not in skewed):
        tz = ZoneInfo(zone)
        for t in distinct_changes(zone):
            for day in (t.local_day, t.local_day + timedelta(days=1)):
                for q in range(96):
                    wall = time(q // 4, q % 4 * 15)
                    names.append(zone)
                    walls.append(datetime.combine(day, wall))
                    instants.append(resolve_local(day, wall, tz))
    disagree = raw.execute(
        "SELECT z, w, i, w AT TIME ZONE z FROM unnest(%s::text[], %s::timestamp[], %s::timestamptz[]) AS x(z, w, i)"
        " WHERE w AT TIME ZONE z <> i LIMIT 5",
        (names, walls, instants),
    ).fetchall()
    assert disagree == []
    assert len(names) > 50_000


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenarios(SQL_ZONES), scenarios(SQL_ZONES))
def test_random_rules_in_random_zones_publish_twice_and_the_database_holds_what_the_rule_says(
    system, database_url, skewed, first_draw, second_draw
):
    assume(first_draw[3].key not in skewed and second_draw[3].key not in skewed)
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as raw:
        publish_twice_and_check(system, raw, first_draw, second_draw)


def publish_twice_and_check(system, raw, first_draw, second_draw) -> None:  # type: ignore[no-untyped-def]
    rules, first, last, tz = first_draw
    t = tenant(system, tz.key)
    ids = {uuid.UUID(int=1): 0, uuid.UUID(int=2): 1}

    def ours(rs: list[WeeklyRule]) -> list[WeeklyRule]:
        return [dataclasses.replace(r, service_id=t.services[ids[r.service_id]],
                                    resource_id=t.resources[ids[r.resource_id]]) for r in rs]  # fmt: skip

    a, b = ours(rules), ours(second_draw[0])
    report = publish(system, t, a, first, last)
    expected = schedule_slots(a, first_day=first, last_day=last, tz=tz)
    assert (report.moved, report.merged) == (expected.moved, expected.merged)
    assert stored(raw, t.business_id) == {
        (s.service_id, s.resource_id, s.starts_at, s.local_date, s.local_start) for s in expected.slots
    }
    # A second version over the first one's slots: what it has is current, the rest legacy, nothing lost.
    report = publish(system, t, b, first, last)
    wanted = {s.key for s in schedule_slots(b, first_day=first, last_day=last, tz=tz).slots}
    current = stored(raw, t.business_id)
    assert {s[:3] for s in current} == wanted
    assert {s[:3] for s in stored(raw, t.business_id, legacy=True)} == {s.key for s in expected.slots} - wanted
    assert misread(raw, t.business_id) == 0
