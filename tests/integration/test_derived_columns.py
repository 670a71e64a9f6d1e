"""Every derived column is refused when written directly (the checks find it when triggers are bypassed).

One raw-SQL attempt per column, on a real row, as any code path (present or future) might
make it; each must fail with a typed refusal and leave the row as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import psycopg
import pytest
from psycopg import sql

from booking_core import Actor, Money, PaymentMethod
from tests.conftest import MONDAY
from tests.factories import Shop


@dataclass
class Rows:
    paid: object  # a confirmed pay-now booking, paid in full
    cancelled: object  # a cancelled booking with a fee
    payment: object  # the paid booking's payment
    slot: object  # the paid booking's slot
    legacy: object  # a slot the schedule dropped
    business: object


@pytest.fixture(scope="module")
def rows(system) -> Rows:  # type: ignore[no-untyped-def]
    shop = Shop.create(system, now=MONDAY, payment_method=PaymentMethod.PAY_NOW, price="20.00")
    thursday, friday = shop.first_slot(4), shop.first_slot(5)
    paid = shop.book(friday, party=2)
    pay = system.record_payment(shop.business_id, paid.id, amount=Money("40.00", "EUR"), actor=shop.admin, now=MONDAY)
    system.confirm_payment(shop.business_id, pay.id, actor=shop.admin, now=MONDAY)
    cancelled = shop.book(friday, party=1, customer=1)
    system.cancel(shop.business_id, cancelled.id, actor=Actor.customer(shop.customers[1]),
                  now=friday.starts_at - timedelta(hours=1))  # fmt: skip
    shop.publish((5, 6), capacity=10, effective=MONDAY.date(), now=MONDAY)  # Thursdays leave the schedule
    return Rows(paid.id, cancelled.id, pay.id, friday.id, thursday.id, shop.business_id)


ATTEMPTS: dict[str, tuple[str, str, str, str]] = {
    # column: (table, SET clause, which row, what the refusal says)
    "time_slots.booked_seats": ("time_slots", "booked_seats = booked_seats + 1", "slot", "derived from bookings"),
    "time_slots.is_legacy": ("time_slots", "is_legacy = false, legacy_since = NULL", "legacy", "publish a schedule"),
    "time_slots.local_date": ("time_slots", "local_date = local_date + 1", "slot", "never change"),
    "time_slots.local_start": ("time_slots", "local_start = local_start + interval '1 hour'", "slot", "never change"),
    "time_slots.business_id": ("time_slots", "business_id = gen_random_uuid()", "slot", "never change"),
    "time_slots.id": ("time_slots", "id = gen_random_uuid()", "slot", "never change"),
    "time_slots.service_id": ("time_slots", "service_id = gen_random_uuid()", "slot", "never change"),
    "time_slots.resource_id": ("time_slots", "resource_id = gen_random_uuid()", "slot", "never change"),
    "time_slots.starts_at": ("time_slots", "starts_at = starts_at - interval '1 minute'", "slot", "never change"),
    "time_slots.ends_at": ("time_slots", "ends_at = ends_at + interval '1 minute'", "slot", "never change"),
    "time_slots.created_at": ("time_slots", "created_at = created_at - interval '1 day'", "slot", "never change"),
    "bookings.payment_status": ("bookings", "payment_status = 'pending'", "paid", "derived from its payments"),
    "bookings.paid_amount": ("bookings", "paid_amount = 0.01", "paid", "derived from its payments"),
    "bookings.refunded_amount": ("bookings", "refunded_amount = 1", "paid", "derived from its payments"),
    "bookings.cancellation_fee": ("bookings", "cancellation_fee = 0", "cancelled", "fixed by its business's policy"),
    "bookings.refund_due": ("bookings", "refund_due = 0", "cancelled", "can only be updated to DEFAULT"),
    "bookings.amount (price lock)": ("bookings", "amount = amount + 5", "paid", "price is locked"),
    "payments.refunded_amount": ("payments", "refunded_amount = 1", "payment", "the sum of its refunds"),
}


def _row(raw: psycopg.Connection, table: str, row_id: object) -> tuple[object, ...]:
    return raw.execute(sql.SQL("SELECT * FROM {} WHERE id = %s").format(sql.Identifier(table)), (row_id,)).fetchone()  # type: ignore[return-value]


@pytest.mark.parametrize("column", sorted(ATTEMPTS))
def test_a_derived_column_written_by_hand_is_refused_and_the_row_stays(rows: Rows, raw, column: str) -> None:
    table, assignment, which, says = ATTEMPTS[column]
    row_id = getattr(rows, which)
    before = _row(raw, table, row_id)
    with pytest.raises(psycopg.Error) as refused:
        update = sql.SQL("UPDATE {} SET {} WHERE id = %s").format(sql.Identifier(table), sql.SQL(assignment))
        raw.execute(update, (row_id,))
    assert refused.value.sqlstate in ("BK007", "428C9"), refused.value  # a guard, or a generated column
    assert says in str(refused.value)
    assert _row(raw, table, row_id) == before


def test_a_version_written_by_hand_is_ignored_and_writes_no_history(rows: Rows, raw) -> None:
    before = _row(raw, "bookings", rows.paid)
    raw.execute("UPDATE bookings SET version = 1 WHERE id = %s", (rows.paid,))
    assert _row(raw, "bookings", rows.paid) == before


def test_a_slot_whose_local_time_is_not_its_instant_is_refused(rows: Rows, raw) -> None:
    count: Callable[[], object] = lambda: raw.execute("SELECT count(*) FROM time_slots").fetchone()  # noqa: E731
    before = count()
    with pytest.raises(psycopg.Error, match="derive them from the instant") as refused:
        raw.execute(
            "INSERT INTO time_slots (business_id, id, schedule_version_id, service_id, resource_id, local_date,"
            " local_start, starts_at, ends_at, max_capacity, created_at, updated_at)"
            " SELECT business_id, gen_random_uuid(), schedule_version_id, service_id, resource_id, local_date,"
            " local_start + interval '1 hour', starts_at, ends_at, max_capacity, now(), now()"
            " FROM time_slots WHERE id = %s",
            (rows.slot,),
        )
    assert refused.value.sqlstate == "BK007" and count() == before
