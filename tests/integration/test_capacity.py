"""Rule 2: capacity (with party sizes) cannot be exceeded on any write path, not even raw SQL."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import psycopg
import pytest

from booking_core import Actor, BookingStatus, CapacityExceeded, IntegrityRefused, InvalidPartySize
from tests.factories import Shop
from tests.integration.test_schedules import MONDAY


def seats(system, shop, slot):
    return system.get_slot(shop.business_id, slot.id).booked_seats


def test_party_sizes_fill_a_slot_and_the_next_party_that_does_not_fit_is_refused(system):
    shop = Shop.create(system, now=MONDAY, capacity=10)
    slot = shop.first_slot()
    shop.book(slot, party=6)
    shop.book(slot, party=4, customer=1)
    with pytest.raises(CapacityExceeded, match="0 of 10 seats free, 1 requested: choose another slot"):
        shop.book(slot, party=1, customer=2)
    assert seats(system, shop, slot) == 10


def test_cancelled_bookings_free_their_seats(system):
    shop = Shop.create(system, now=MONDAY, capacity=4)
    slot = shop.first_slot()
    b = shop.book(slot, party=4)
    system.cancel(shop.business_id, b.id, actor=shop.admin, now=MONDAY, reason="customer called")
    assert seats(system, shop, slot) == 0
    shop.book(slot, party=4, customer=1)


def test_a_capacity_reduction_honours_existing_bookings_but_takes_no_new_seat_until_back_under(
    system,
):
    shop = Shop.create(system, now=MONDAY, capacity=10)
    slot = shop.first_slot()
    a = shop.book(slot, party=5)
    shop.book(slot, party=3, customer=1)
    reduced = system.change_capacity(
        shop.business_id, slot.id, capacity=6, actor=shop.admin, now=MONDAY, reason="staff shortage"
    )
    assert reduced.over_committed and reduced.booked_seats == 8 and reduced.free_seats == 0
    assert system.get_booking(shop.business_id, a.id).status is BookingStatus.CONFIRMED
    with pytest.raises(CapacityExceeded):
        shop.book(slot, party=1, customer=2)
    system.cancel(shop.business_id, a.id, actor=shop.admin, now=MONDAY)
    shop.book(slot, party=3, customer=2)  # 3 + 3 = 6: back at capacity
    with pytest.raises(CapacityExceeded):
        shop.book(slot, party=1, customer=2)


def test_growing_a_party_or_rescheduling_into_a_full_slot_is_refused_and_changes_nothing(system):
    shop = Shop.create(system, now=MONDAY, capacity=4)
    first, second = shop.slots(days=14)[:2]
    a = shop.book(first, party=2)
    shop.book(second, party=4, customer=1)
    with pytest.raises(CapacityExceeded):
        system.change_party_size(shop.business_id, a.id, party_size=5, actor=shop.admin, now=MONDAY)
    with pytest.raises(CapacityExceeded):
        system.reschedule(shop.business_id, a.id, new_slot_id=second.id, actor=shop.admin, now=MONDAY)
    after = system.get_booking(shop.business_id, a.id)
    assert (after.slot_id, after.party_size, after.version) == (first.id, 2, 1)
    assert (seats(system, shop, first), seats(system, shop, second)) == (2, 4)
    grown = system.change_party_size(shop.business_id, a.id, party_size=4, actor=shop.admin, now=MONDAY)
    assert grown.party_size == 4 and grown.amount == 2 * a.amount and seats(system, shop, first) == 4


@pytest.mark.parametrize("party", [0, -1, 101, 10**9])
def test_absurd_party_sizes_are_refused_before_reaching_the_database(system, party):
    shop = Shop.create(system, now=MONDAY)
    with pytest.raises(InvalidPartySize, match="from 1 to 100"):
        shop.book(shop.first_slot(), party=party)


def test_a_party_above_the_services_maximum_is_refused(system):
    shop = Shop.create(system, now=MONDAY, max_party_size=4, capacity=20)
    with pytest.raises(InvalidPartySize, match="split the party"):
        shop.book(shop.first_slot(), party=5)


def _raw_insert(raw, shop, slot, party, status="confirmed"):
    raw.execute(
        "INSERT INTO bookings (business_id, slot_id, customer_id, party_size, status, payment_method, currency,"
        " created_at, updated_at) VALUES (%s, %s, %s, %s, %s, 'pay_on_arrival', 'EUR', now(), now())",
        (shop.business_id, slot.id, shop.customers[0], party, status),
    )


def test_a_raw_sql_insert_that_bypasses_the_library_cannot_overbook(system, raw):
    shop = Shop.create(system, now=MONDAY, capacity=5)
    slot = shop.first_slot()
    _raw_insert(raw, shop, slot, 5)
    assert seats(system, shop, slot) == 5
    with pytest.raises(psycopg.Error) as info:
        _raw_insert(raw, shop, slot, 1)
    assert info.value.sqlstate == "BK001"
    assert seats(system, shop, slot) == 5


def test_raw_sql_cannot_move_the_seat_counter_or_grow_a_party_past_capacity(system, raw):
    shop = Shop.create(system, now=MONDAY, capacity=5)
    slot = shop.first_slot()
    b = shop.book(slot, party=3)
    with pytest.raises(psycopg.Error, match="derived from bookings"):
        raw.execute("UPDATE time_slots SET booked_seats = 0 WHERE id = %s", (slot.id,))
    with pytest.raises(psycopg.Error, match="seats free"):
        raw.execute("UPDATE bookings SET party_size = 6 WHERE id = %s", (b.id,))
    with pytest.raises(psycopg.Error, match="never change"):
        raw.execute(
            "UPDATE time_slots SET starts_at = starts_at + interval '1 day' WHERE id = %s",
            (slot.id,),
        )
    with pytest.raises(psycopg.Error, match="never deleted"):
        raw.execute("DELETE FROM bookings WHERE id = %s", (b.id,))
    with pytest.raises(psycopg.Error, match="never deleted"):
        raw.execute("DELETE FROM time_slots WHERE id = %s", (slot.id,))
    assert seats(system, shop, slot) == 3


def test_a_cancelled_booking_cannot_be_revived_by_raw_sql_into_a_full_slot(system, raw):
    shop = Shop.create(system, now=MONDAY, capacity=2)
    slot = shop.first_slot()
    b = shop.book(slot, party=2)
    system.cancel(shop.business_id, b.id, actor=shop.admin, now=MONDAY)
    shop.book(slot, party=2, customer=1)
    with pytest.raises(psycopg.Error) as info:
        raw.execute("UPDATE bookings SET status = 'confirmed' WHERE id = %s", (b.id,))
    assert info.value.sqlstate == "BK004"  # cancelled is final: no edge back


def test_the_seat_counter_always_equals_the_seat_holding_rows(system, raw):
    shop = Shop.create(system, now=MONDAY, capacity=30)
    slots = shop.slots(days=10)[:3]
    parties = [1, 2, 3, 4, 5, 6, 7, 1, 2]
    made = [shop.book(s, party=p, customer=i % 3) for i, (s, p) in enumerate(zip(slots * 3, parties, strict=True))]
    system.cancel(shop.business_id, made[0].id, actor=shop.admin, now=MONDAY)
    system.reschedule(shop.business_id, made[1].id, new_slot_id=slots[0].id, actor=shop.admin, now=MONDAY)
    system.change_party_size(shop.business_id, made[2].id, party_size=1, actor=shop.admin, now=MONDAY)
    drift = raw.execute(
        "SELECT ts.id FROM time_slots ts LEFT JOIN bookings b ON b.business_id = ts.business_id AND b.slot_id = ts.id"
        " AND booking_holds_seat(b.status) WHERE ts.business_id = %s GROUP BY ts.id, ts.booked_seats"
        " HAVING ts.booked_seats <> coalesce(sum(b.party_size), 0)",
        (shop.business_id,),
    ).fetchall()
    assert drift == []


def test_the_application_role_has_no_delete_or_history_update_privileges(system, raw):
    shop = Shop.create(system, now=MONDAY)
    b = shop.book(shop.first_slot())
    raw.execute("SET ROLE booking_app")
    try:
        for sql in (
            "DELETE FROM bookings WHERE id = %s",
            "UPDATE booking_audit_log SET reason = 'x' WHERE booking_id = %s",
            "UPDATE bookings SET cancellation_token_hash = booking_token_hash(gen_random_uuid()) WHERE id = %s",
            "DELETE FROM booking_state_transitions WHERE booking_id = %s",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                raw.execute(sql, (b.id,))
    finally:
        raw.execute("RESET ROLE")
    _ = (uuid, Actor, IntegrityRefused)


def test_a_raw_booking_on_a_slot_that_does_not_exist_is_refused_by_the_key(system, raw):
    shop = Shop.create(system, now=MONDAY)
    ghost = SimpleNamespace(id=uuid.uuid4())
    with pytest.raises(psycopg.Error) as info:
        _raw_insert(raw, shop, ghost, 1)
    assert info.value.sqlstate == "23503"
    assert info.value.diag.constraint_name == "bookings_business_id_slot_id_fkey"


def test_every_slot_has_its_key_even_when_inserted_with_the_triggers_switched_off(system, raw):
    shop = Shop.create(system, now=MONDAY)
    slot = shop.first_slot()
    with raw.transaction():
        raw.execute("SET LOCAL session_replication_role = replica")
        (copy,) = raw.execute(
            "INSERT INTO time_slots (business_id, id, schedule_version_id, service_id, resource_id, local_date,"
            " local_start, starts_at, ends_at, max_capacity, created_at, updated_at)"
            " SELECT business_id, gen_random_uuid(), schedule_version_id, service_id, resource_id, local_date,"
            "        local_start, starts_at + interval '1 year', ends_at + interval '1 year', max_capacity,"
            "        created_at, updated_at FROM time_slots WHERE id = %s RETURNING id",
            (slot.id,),
        ).fetchone()
    missing = raw.execute(
        "SELECT count(*) FROM time_slots ts WHERE business_id = %s"
        " AND NOT EXISTS (SELECT 1 FROM slot_keys k WHERE k.business_id = ts.business_id AND k.id = ts.id)",
        (shop.business_id,),
    ).fetchone()
    assert missing == (0,)
    with pytest.raises(psycopg.Error, match="append-only"):
        raw.execute("DELETE FROM slot_keys WHERE id = %s", (copy,))
