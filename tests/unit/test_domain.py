"""The pure domain: no database."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

import booking_core
from booking_core.domain import errors as e
from booking_core.domain.schedule import (
    SlotSpec,
    WeeklyRule,
    plan_publish,
    resolve_local,
    schedule_slots,
)
from booking_core.domain.values import Money, new_id, require_aware, zone

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("day", "wall", "tz", "utc"),
    [
        (date(2026, 7, 1), time(14, 0), BERLIN, datetime(2026, 7, 1, 12, 0, tzinfo=UTC)),
        (date(2026, 1, 1), time(14, 0), BERLIN, datetime(2026, 1, 1, 13, 0, tzinfo=UTC)),
        # Spring-forward gap: 02:30 does not exist, read with the offset before the change.
        (date(2026, 3, 29), time(2, 30), BERLIN, datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
        (date(2026, 3, 8), time(2, 30), NEW_YORK, datetime(2026, 3, 8, 7, 30, tzinfo=UTC)),
        # Fall-back overlap: 02:30 happens twice, the second (standard-time) one is meant.
        (date(2026, 10, 25), time(2, 30), BERLIN, datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
        (date(2026, 11, 1), time(1, 30), NEW_YORK, datetime(2026, 11, 1, 6, 30, tzinfo=UTC)),
    ],
)
def test_local_wall_times_resolve_to_utc_by_postgresqls_dst_rule(day, wall, tz, utc):
    assert resolve_local(day, wall, tz) == utc


def test_a_weekly_rule_generates_one_slot_per_matching_local_day():
    svc, res = uuid.uuid4(), uuid.uuid4()
    rules = [WeeklyRule(svc, res, 4, time(14), timedelta(hours=2), 10)]
    slots = schedule_slots(rules, first_day=date(2026, 3, 23), last_day=date(2026, 4, 5), tz=BERLIN).slots
    assert [s.local_date for s in slots] == [date(2026, 3, 26), date(2026, 4, 2)]
    # Same wall time, different UTC instant across the DST change.
    assert [s.starts_at.hour for s in slots] == [13, 12]
    assert all(s.ends_at - s.starts_at == timedelta(hours=2) for s in slots)


def test_publishing_plans_to_keep_matching_slots_and_retire_the_rest_never_delete():
    svc, res = uuid.uuid4(), uuid.uuid4()
    t1, t2 = datetime(2026, 1, 8, 13, tzinfo=UTC), datetime(2026, 1, 9, 13, tzinfo=UTC)
    kept, retired = uuid.uuid4(), uuid.uuid4()
    spec = SlotSpec(svc, res, t2.date(), time(14), t2, t2 + timedelta(hours=1), 5)
    new = SlotSpec(svc, res, t2.date(), time(15), t2 + timedelta(hours=1), t2 + timedelta(hours=2), 5)
    plan = plan_publish([spec, new], {(svc, res, t1): retired, (svc, res, t2): kept})
    assert plan.keep == ((kept, spec),)
    assert plan.create == (new,)
    assert plan.retire == (retired,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"iso_weekday": 0}, "weekday"),
        ({"duration": timedelta(0)}, "duration"),
        ({"capacity": 0}, "capacity"),
        ({"local_start": time(9, tzinfo=UTC)}, "wall-clock"),
    ],
)
def test_a_malformed_rule_is_refused_with_a_message_saying_what_to_fix(kwargs, message):
    base = {
        "service_id": uuid.uuid4(),
        "resource_id": uuid.uuid4(),
        "iso_weekday": 1,
        "local_start": time(9),
        "duration": timedelta(hours=1),
        "capacity": 1,
    }
    with pytest.raises(e.InvalidInput, match=message):
        WeeklyRule(**{**base, **kwargs})


def test_money_rounds_to_cents_and_keeps_its_currency():
    m = Money(Decimal("10.005"), "EUR")
    assert m.amount == Decimal("10.00") and str(m) == "10.00 EUR"
    with pytest.raises(e.CurrencyMismatch):
        m.same_currency(Money("1", "USD"))
    for bad in ("-1", "abc", "NaN"):
        with pytest.raises(e.InvalidInput):
            Money(bad, "EUR")  # type: ignore[arg-type]
    with pytest.raises(e.InvalidInput, match="three-letter"):
        Money("1", "eur")


def test_naive_datetimes_and_unknown_timezones_are_refused():
    with pytest.raises(e.NaiveDatetime, match="no timezone"):
        require_aware(datetime(2026, 1, 1, 12))
    assert require_aware(datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(e.UnknownTimezone, match="IANA"):
        zone("Mars/Olympus_Mons")
    assert zone("Europe/Berlin") == BERLIN


def test_ids_are_time_ordered_version_7_uuids():
    ids = [new_id() for _ in range(200)]
    assert all(i.version == 7 for i in ids)
    assert len(set(ids)) == 200
    assert [i.bytes[:6] for i in ids] == sorted(i.bytes[:6] for i in ids)


def test_every_error_message_is_one_line():
    err = e.CapacityExceeded("slot full: choose another\nsecond line")
    assert str(err) == "slot full: choose another"
    assert isinstance(err, e.Unavailable) and isinstance(err, e.BookingError)


def test_the_public_surface_is_explicit_and_importable():
    assert sorted(booking_core.__all__) == booking_core.__all__
    for name in booking_core.__all__:
        assert hasattr(booking_core, name), name
    assert {n for n in dir(booking_core) if not n.startswith("_")} - set(booking_core.__all__) <= {
        "adapters",
        "bootstrap",
        "config",
        "domain",
        "services",
        "cli",
        "reports",
        "demo",
        "export",
        "notify",
        "personal_cli",
        "ports",
        "retries",
        "sql",
    }
