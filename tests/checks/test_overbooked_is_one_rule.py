"""The integrity rule and the exporter's report call the same slots overbooked (reports.overbooking)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from checks.runner import run_all
from sqlalchemy import create_engine, text

from booking_core.config import sqlalchemy_url
from booking_core.reports import ops
from tests.checks.conftest import World, inject


def overbooked_by_each(world: World) -> tuple[set[str], set[str], int, int]:
    """(slots the integrity rules call overbooked, over-committed by a reduction; the ops report's
    overbooked and over-committed counts) for the world's first shop."""
    shop = world.shop
    summary = run_all(world.url, ["overbooking"], business_ids=[shop.business_id], triggered_by="test")
    slots = {r.name: {str(row["slot_id"]) for row in r.sample} for r in summary.results}
    engine = create_engine(sqlalchemy_url(world.url))
    try:
        with engine.connect() as conn:
            name = conn.execute(text("SELECT name FROM businesses WHERE id = :b"), {"b": shop.business_id}).scalar()
            (report,) = [r for r in ops.future_slots(conn, shop.now) if r.business == name]
    finally:
        engine.dispose()
    return slots["overbooked_slot"], slots["over_committed_by_reduction"], report.overbooked, report.overcommitted


def cut_silently(world: World, slot: uuid.UUID, capacity: int) -> None:
    inject(world.url, "UPDATE time_slots SET max_capacity = %(c)s WHERE id = %(s)s", s=slot, c=capacity)


def cut_on_record(world: World, slot: uuid.UUID, capacity: int, hours: int) -> None:
    shop = world.shop
    when = shop.now + timedelta(hours=hours)
    shop.system.change_capacity(shop.business_id, slot, capacity=capacity, actor=shop.admin, reason="cut", now=when)


def test_a_slot_cut_below_its_seats_without_a_record_is_overbooked_for_both(world: World) -> None:
    fri = world.ids["fri_slot"]  # 2 seats held
    cut_silently(world, fri, 1)
    assert overbooked_by_each(world) == ({str(fri)}, set(), 1, 1)


def test_a_recorded_cut_below_the_seats_is_over_committed_not_overbooked_for_both(world: World) -> None:
    fri = world.ids["fri_slot"]
    cut_on_record(world, fri, 1, hours=3)
    assert overbooked_by_each(world) == (set(), {str(fri)}, 0, 1)


def test_an_earlier_recorded_cut_does_not_explain_a_later_silent_one(world: World) -> None:
    # 4 seats; cut to 2 on record (honoured); then the capacity is set to 3 behind the database's
    # back. The record explains 4 seats in 2, not in 3: nothing says 4 were booked when it became 3.
    shop, fri = world.shop, world.ids["fri_slot"]
    shop.book(shop.system.get_slot(shop.business_id, fri), party=2, customer=2)
    cut_on_record(world, fri, 2, hours=3)
    assert overbooked_by_each(world) == (set(), {str(fri)}, 0, 1)
    cut_silently(world, fri, 3)
    assert overbooked_by_each(world) == ({str(fri)}, set(), 1, 1)


@pytest.mark.parametrize("capacity", [2, 5])
def test_a_slot_within_its_capacity_is_neither(world: World, capacity: int) -> None:
    cut_on_record(world, world.ids["fri_slot"], capacity, hours=3)
    assert overbooked_by_each(world) == (set(), set(), 0, 0)
