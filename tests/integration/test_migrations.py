"""Migrations are backward-compatible: a database populated at an older revision upgrades in place."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest

from booking_core import Actor, PaymentMethod, PaymentStatus, new_id
from booking_core.adapters.db import Database
from booking_core.bootstrap import BookingSystem
from tests.conftest import create_database, drop_database
from tests.factories import Shop
from tests.integration.test_schedules import MONDAY


def _raw(url: str) -> psycopg.Connection:
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def _book_at_old_revision(url: str, shop: Shop, slot_id, *, party: int, status: str = "confirmed") -> uuid.UUID:
    """Book as an older release did: the library's own statement names columns an old schema lacks."""
    booking_id = new_id()
    with _raw(url) as raw:
        raw.execute(
            "SELECT * FROM booking_create(%s, %s, %s, %s, %s, NULL, 'customer', 'old-client', 'api', NULL, %s,"
            " p_status => %s::booking_status)",
            (shop.business_id, booking_id, slot_id, shop.customers[0], party, shop.now, status),
        )
    return booking_id


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
        _book_at_old_revision(older_database, shop, first.id, party=2)

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


def test_money_columns_are_filled_from_the_payments_and_cancellations_already_recorded(older_database):
    db = Database(older_database)
    try:
        db.upgrade("0007_booking_create_multi")
        system = BookingSystem(db)
        shop = Shop.create(system, now=MONDAY, capacity=5, payment_method=PaymentMethod.PAY_NOW)
        slot = shop.slots()[0]
        paid, late = (_book_at_old_revision(older_database, shop, slot.id, party=1, status="draft") for _ in "ab")
        with _raw(older_database) as raw:
            for booking_id, status in ((paid, "paid"), (late, "paid")):
                raw.execute(
                    "INSERT INTO payments (business_id, id, booking_id, amount, currency, status, created_at,"
                    " updated_at) SELECT business_id, %s, id, amount, currency, %s, %s, %s FROM bookings WHERE id = %s",
                    (new_id(), status, shop.now, shop.now, booking_id),
                )
        # The old library is not at hand: confirm both and cancel one late, by raw SQL, as it would have.
        late_cancel = slot.starts_at - timedelta(hours=2)
        with _raw(older_database) as raw:
            raw.execute(
                "SELECT set_config('booking.actor_type', 'customer', false),"
                " set_config('booking.occurred_at', %s, false)",
                (late_cancel.isoformat(),),
            )
            raw.execute("UPDATE bookings SET status = 'confirmed' WHERE id = ANY(%s)", ([paid, late],))
            raw.execute("UPDATE bookings SET status = 'cancelled' WHERE id = %s", (late,))

        db.upgrade()
        on_time, cancelled = (system.get_booking(shop.business_id, b) for b in (paid, late))
        assert (on_time.paid_amount, on_time.refunded_amount, on_time.cancellation_fee) == (
            on_time.amount,
            Decimal(0),
            None,
        )
        assert on_time.payment_status is PaymentStatus.PAID and on_time.refund_due == 0
        # Cancelled by the customer two hours before: the default policy keeps half.
        assert cancelled.cancellation_fee == (cancelled.amount / 2).quantize(Decimal("0.01"))
        assert cancelled.refund_due == cancelled.amount - cancelled.cancellation_fee
        refunded = system.refund_due(shop.business_id, late, actor=Actor.admin("ops"))
        assert refunded.refund_due == 0 and refunded.refunded_amount == cancelled.refund_due
    finally:
        db.dispose()
