"""Migrations are backward-compatible: a database populated at an older revision upgrades in place."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from booking_core.adapters.db import Database
from booking_core.bootstrap import BookingSystem
from tests.conftest import create_database, drop_database
from tests.factories import Shop
from tests.integration.test_schedules import MONDAY


@pytest.fixture
def older_database(admin_url: str) -> Iterator[str]:
    url = create_database(admin_url, prefix="migration_test")
    try:
        yield url
    finally:
        drop_database(admin_url, url)


def test_slot_keys_upgrade_a_populated_database_and_its_slots_stay_bookable(older_database):
    db = Database(older_database)
    try:
        db.upgrade("0005_outbox")
        system = BookingSystem(db)
        shop = Shop.create(system, now=MONDAY, capacity=3)
        first, second = shop.slots()[:2]
        shop.book(first, party=2)

        db.upgrade()
        assert db.current_revision() == db.head_revision()
        shop.book(first, party=1)
        shop.book(second, party=3)
        assert system.get_slot(shop.business_id, first.id).booked_seats == 3

        with psycopg.connect(older_database.replace("postgresql+psycopg://", "postgresql://")) as raw:
            counts = "SELECT (SELECT count(*) FROM slot_keys), (SELECT count(*) FROM time_slots)"
            keys, slots = raw.execute(counts).fetchone()
            target = raw.execute(
                "SELECT confrelid::regclass::text FROM pg_constraint"
                " WHERE conname = 'bookings_business_id_slot_id_fkey'"
            ).fetchone()
        assert keys == slots > 0
        assert target == ("slot_keys",)
    finally:
        db.dispose()
