"""Rule 1: schedules are temporal data; publishing never deletes or orphans a booking."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from booking_core import Actor, BookingStatus, LegacySlot
from tests.factories import Shop

# The seed's scenario, in 2030: Monday 7 Jan, Tuesday 8, Thursday 10.
MONDAY = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
TUESDAY = MONDAY + timedelta(days=1)


def _count(raw, sql, *args):
    return raw.execute(sql, args).fetchone()[0]


def test_the_seeds_thursday_booking_survives_a_switch_from_thu_sat_to_fri_sun(system, raw):
    # Monday: a customer books Thursday 2 PM while the business opens Thu-Sat.
    shop = Shop.create(system, now=MONDAY, weekdays=(4, 5, 6))
    thursday = shop.first_slot(weekday=4)
    assert thursday.local_date == date(2030, 1, 10) and thursday.local_start == time(14)
    booking = shop.book(thursday, party=2)
    slots_before = _count(raw, "SELECT count(*) FROM time_slots WHERE business_id = %s", shop.business_id)

    # Tuesday: the business changes to Fri-Sun.
    report = shop.publish((5, 6, 7), capacity=10, effective=TUESDAY.date(), now=TUESDAY)

    # Nothing was deleted; Thursday is legacy, the booking is intact and in the impact report.
    assert _count(raw, "SELECT count(*) FROM time_slots WHERE business_id = %s", shop.business_id) >= slots_before
    slot = system.get_slot(shop.business_id, thursday.id)
    assert slot.is_legacy and slot.booked_seats == 2 and slot.starts_at == thursday.starts_at
    assert [i.booking_id for i in report.impacted] == [booking.id]
    assert report.slots_retired > 0 and report.version_number == 2
    assert system.get_booking(shop.business_id, booking.id).status is BookingStatus.CONFIRMED

    # Thursday: the customer arrives and is checked in; nobody new can book that slot.
    checked = system.check_in(
        shop.business_id, booking.id, actor=shop.admin, now=thursday.starts_at - timedelta(minutes=5)
    )
    assert checked.status is BookingStatus.CHECKED_IN
    with pytest.raises(LegacySlot, match="pick a slot from the current schedule"):
        shop.book(thursday, party=1, customer=1, now=TUESDAY)


def test_a_legacy_booking_can_be_cancelled_or_rescheduled_away_but_not_back(system):
    shop = Shop.create(system, now=MONDAY, weekdays=(4, 5))
    thursday, friday = shop.first_slot(weekday=4), shop.first_slot(weekday=5)
    a, b = shop.book(thursday, party=2), shop.book(thursday, party=3, customer=1)
    shop.publish((5,), capacity=10, effective=TUESDAY.date(), now=TUESDAY)

    moved = system.reschedule(
        shop.business_id, a.id, new_slot_id=friday.id, actor=Actor.customer(shop.customers[0]), now=TUESDAY
    )
    assert moved.slot_id == friday.id
    cancelled = system.cancel(
        shop.business_id, b.id, actor=Actor.customer(shop.customers[1]), now=TUESDAY, reason="the day moved"
    )
    assert cancelled.status is BookingStatus.CANCELLED
    assert system.get_slot(shop.business_id, thursday.id).booked_seats == 0
    assert system.get_slot(shop.business_id, friday.id).booked_seats == 2
    with pytest.raises(LegacySlot):
        system.reschedule(shop.business_id, a.id, new_slot_id=thursday.id, actor=shop.admin, now=TUESDAY)


def test_a_slot_that_returns_in_a_later_version_is_restored_not_duplicated(system, raw):
    shop = Shop.create(system, now=MONDAY, weekdays=(4,))
    thursday = shop.first_slot(weekday=4)
    shop.book(thursday, party=1)
    shop.publish((5,), capacity=10, effective=TUESDAY.date(), now=TUESDAY)
    report = shop.publish((4, 5), capacity=12, effective=TUESDAY.date(), now=TUESDAY + timedelta(hours=1))
    slot = system.get_slot(shop.business_id, thursday.id)
    assert not slot.is_legacy and slot.max_capacity == 12 and slot.booked_seats == 1
    assert report.slots_retired == 0 and report.impacted == ()
    assert (
        _count(
            raw,
            "SELECT count(*) FROM time_slots WHERE business_id = %s AND starts_at = %s",
            shop.business_id,
            thursday.starts_at,
        )
        == 1
    )


def test_schedule_versions_are_numbered_effective_dated_and_attributed(system, raw):
    shop = Shop.create(system, now=MONDAY)
    shop.publish((5,), capacity=4, effective=TUESDAY.date(), now=TUESDAY)
    rows = raw.execute(
        "SELECT version_number, effective_date, created_by, created_by_type, is_active FROM schedule_versions"
        " WHERE business_id = %s ORDER BY version_number",
        (shop.business_id,),
    ).fetchall()
    assert rows == [
        (1, MONDAY.date(), "admin-1", "admin", False),
        (2, TUESDAY.date(), "admin-1", "admin", True),
    ]


@pytest.mark.parametrize(
    ("tz", "day", "wall", "expected_utc"),
    [
        ("Europe/Berlin", date(2030, 3, 31), time(2, 30), datetime(2030, 3, 31, 1, 30, tzinfo=UTC)),
        (
            "Europe/Berlin",
            date(2030, 10, 27),
            time(2, 30),
            datetime(2030, 10, 27, 1, 30, tzinfo=UTC),
        ),
        (
            "America/New_York",
            date(2030, 3, 10),
            time(2, 30),
            datetime(2030, 3, 10, 7, 30, tzinfo=UTC),
        ),
        (
            "America/New_York",
            date(2030, 11, 3),
            time(1, 30),
            datetime(2030, 11, 3, 6, 30, tzinfo=UTC),
        ),
    ],
)
def test_slots_on_dst_change_days_resolve_the_same_in_python_and_postgresql(system, raw, tz, day, wall, expected_utc):
    now = datetime.combine(day - timedelta(days=3), time(9), tzinfo=UTC)
    shop = Shop.create(system, now=now, timezone=tz, weekdays=(day.isoweekday(),), start=wall, horizon_days=6)
    slot = next(s for s in shop.slots(days=7) if s.local_date == day)
    assert slot.starts_at == expected_utc
    sql_instant = raw.execute(
        "SELECT (local_date + local_start) AT TIME ZONE %s FROM time_slots WHERE id = %s",
        (tz, slot.id),
    ).fetchone()[0]
    assert sql_instant == slot.starts_at
