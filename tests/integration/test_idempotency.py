"""A keyed write's key is looked up before anything is judged; a replay returns the first result.

For every keyed write: the same key and the same request after the world changed (slot filled
by others, schedule republished, slot started, booking cancelled, payment refunded) returns the
first result and writes nothing (row counts, audit rows); the same key with another request is
an IdempotencyConflict and writes nothing; 8 processes sending one key make one effect.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from booking_core import (
    Actor,
    BookingStatus,
    CapacityExceeded,
    IdempotencyConflict,
    InvalidInput,
    Money,
    NothingToChange,
    NotOwner,
    PaymentMethod,
    PaymentStatus,
    SeriesMode,
    connect,
)
from tests.factories import Shop
from tests.integration.test_price_lock_multi_resource_waitlists_and_series import anna_and_stones, multi_shop
from tests.integration.test_schedules import MONDAY
from tests.processes import race

TABLES = (
    "bookings",
    "booking_resources",
    "booking_series",
    "booking_state_transitions",
    "booking_audit_log",
    "booking_refusals",
    "payments",
    "refunds",
    "waitlist_entries",
    "notification_outbox",
    "idempotency_keys",
)

COUNT = sql.SQL("SELECT count(*) FROM {} WHERE business_id = %s")


def counts(raw: psycopg.Connection, business_id: uuid.UUID) -> dict[str, int]:
    return {t: raw.execute(COUNT.format(sql.Identifier(t)), (business_id,)).fetchone()[0] for t in TABLES}


@contextmanager
def writes_nothing(raw: psycopg.Connection, business_id: uuid.UUID) -> Iterator[None]:
    before = counts(raw, business_id)
    yield
    assert counts(raw, business_id) == before


def fill(shop: Shop, slot, customer: int = 1) -> None:  # type: ignore[no-untyped-def]
    """Someone else takes every seat left in the slot."""
    free = shop.system.get_slot(shop.business_id, slot.id)
    left = free.max_capacity - free.booked_seats
    if left > 0:
        shop.book(slot, party=left, customer=customer, actor=shop.admin)


def make_legacy(shop: Shop) -> None:
    """Republish the schedule at another hour: every slot of the first one leaves the schedule."""
    shop.publish((4, 5, 6), capacity=10, effective=MONDAY.date(), start=MONDAY.time().replace(hour=18))


# ---------------------------------------------------------------- single bookings
@pytest.mark.parametrize("method", [PaymentMethod.PAY_ON_ARRIVAL, PaymentMethod.PAY_NOW])
def test_a_retried_booking_that_took_the_last_seat_returns_that_booking_not_capacity_exceeded(system, raw, method):
    shop = Shop.create(system, now=MONDAY, capacity=2, payment_method=method)
    slot = shop.first_slot()
    first = shop.book(slot, party=2, idempotency_key="last-seat")
    if method is PaymentMethod.PAY_NOW:  # a draft holds no seat: the slot shrinks below the party meanwhile
        system.change_capacity(shop.business_id, slot.id, capacity=1, actor=shop.admin, now=MONDAY)
    with writes_nothing(raw, shop.business_id):
        again = shop.book(slot, party=2, idempotency_key="last-seat", now=MONDAY + timedelta(minutes=1))
    assert again == first


def test_a_retried_booking_replays_after_the_schedule_changed_the_slot_started_and_it_was_cancelled(system, raw):
    shop = Shop.create(system, now=MONDAY, capacity=4)
    slot = shop.first_slot()
    first = shop.book(slot, party=2, idempotency_key="k-world")
    make_legacy(shop)
    assert system.get_slot(shop.business_id, slot.id).is_legacy
    with writes_nothing(raw, shop.business_id):
        assert shop.book(slot, party=2, idempotency_key="k-world").id == first.id
    cancelled = system.cancel(shop.business_id, first.id, actor=shop.admin, now=MONDAY)
    later = slot.starts_at + timedelta(hours=1)
    with writes_nothing(raw, shop.business_id):
        again = shop.book(slot, party=2, idempotency_key="k-world", now=later)
    assert again == cancelled and again.status is BookingStatus.CANCELLED


def test_a_booking_key_reused_for_another_slot_party_or_promo_is_a_conflict_and_writes_nothing(system, raw):
    shop = Shop.create(system, now=MONDAY, capacity=4)
    first_slot, other_slot = shop.slots()[:2]
    shop.book(first_slot, party=2, idempotency_key="k-diff")
    with writes_nothing(raw, shop.business_id):
        for change in ({"party": 3}, {"slot": other_slot}, {"customer": 1}, {"promo_code": "NOPE"}):
            ask = {"slot": first_slot, "party": 2, "idempotency_key": "k-diff"} | change
            with pytest.raises(IdempotencyConflict, match="use a new key"):
                shop.book(ask.pop("slot"), **ask)


def test_a_key_is_one_request_across_operations(system, raw):
    shop = Shop.create(system, now=MONDAY, capacity=4)
    booking = shop.book(shop.first_slot(), party=2, idempotency_key="k-op")
    with writes_nothing(raw, shop.business_id), pytest.raises(IdempotencyConflict, match="another operation"):
        system.cancel(shop.business_id, booking.id, actor=shop.admin, now=MONDAY, idempotency_key="k-op")
    assert system.get_booking(shop.business_id, booking.id).status is BookingStatus.CONFIRMED


# ---------------------------------------------------------------- multi-resource bookings
def test_a_retried_multi_resource_booking_replays_after_its_slots_filled_and_its_schedule_changed(system, raw):
    shop, main, extra = multi_shop(system, room=2, staff=1, gear=1)
    ask = anna_and_stones(shop, main, extra, idempotency_key="multi-1")
    first = system.book_with_resources(shop.business_id, now=MONDAY, **ask)
    fill(shop, main)
    with writes_nothing(raw, shop.business_id):
        assert system.book_with_resources(shop.business_id, now=MONDAY, **ask) == first
        with pytest.raises(IdempotencyConflict):
            system.book_with_resources(shop.business_id, now=MONDAY, **(ask | {"resources": {extra["Anna"]: 1}}))
        with pytest.raises(IdempotencyConflict, match="another operation"):
            shop.book(main, party=1, idempotency_key="multi-1")
    system.cancel(shop.business_id, first.id, actor=shop.admin, now=MONDAY)
    with writes_nothing(raw, shop.business_id):
        again = system.book_with_resources(shop.business_id, now=main.starts_at + timedelta(hours=3), **ask)
    assert again.id == first.id and again.status is BookingStatus.CANCELLED


# ---------------------------------------------------------------- series
def test_a_retried_series_returns_the_first_series_after_it_was_cancelled_and_refuses_another(system, raw):
    shop = Shop.create(system, now=MONDAY, capacity=2)
    ask = {
        "first_slot_id": shop.first_slot(weekday=4).id,
        "customer_id": shop.customers[0],
        "party_size": 2,
        "every_days": 7,
        "occurrences": 3,
        "mode": SeriesMode.BEST_EFFORT,
        "actor": shop.admin,
        "idempotency_key": "series-1",
    }
    first = system.create_series(shop.business_id, now=MONDAY, **ask)
    assert len(first.booked) == 3
    system.cancel_series(shop.business_id, first.series_id, actor=shop.admin, now=MONDAY)
    with writes_nothing(raw, shop.business_id):
        again = system.create_series(shop.business_id, now=MONDAY + timedelta(hours=1), **ask)
        with pytest.raises(IdempotencyConflict):
            system.create_series(shop.business_id, now=MONDAY, **(ask | {"occurrences": 2}))
    assert again.series_id == first.series_id and again.refused == first.refused
    assert [b.id for b in again.booked] == [b.id for b in first.booked]
    assert {b.status for b in again.booked} == {BookingStatus.CANCELLED}


# ---------------------------------------------------------------- waitlist
def test_a_retried_waitlist_join_returns_its_entry_after_it_was_offered_and_the_schedule_changed(system, raw):
    shop = Shop.create(system, now=MONDAY, capacity=2)
    slot = shop.first_slot()
    taken = shop.book(slot, party=2, customer=1, actor=shop.admin)
    ask = {"slot_id": slot.id, "customer_id": shop.customers[0], "party_size": 1, "actor": shop.admin}
    entry = system.join_waitlist(shop.business_id, now=MONDAY, idempotency_key="wait-1", **ask)
    system.cancel(shop.business_id, taken.id, actor=shop.admin, now=MONDAY)  # the entry is offered the seats
    make_legacy(shop)
    with writes_nothing(raw, shop.business_id):
        again = system.join_waitlist(shop.business_id, now=MONDAY, idempotency_key="wait-1", **ask)
        with pytest.raises(IdempotencyConflict):
            system.join_waitlist(shop.business_id, now=MONDAY, idempotency_key="wait-1", **(ask | {"party_size": 2}))
    assert again.id == entry.id and entry.status == "waiting" and again.status == "offered"


# ---------------------------------------------------------------- payments
def paid_booking(system, raw) -> tuple[Shop, object, object]:  # type: ignore[no-untyped-def]
    shop = Shop.create(system, now=MONDAY, capacity=2, payment_method=PaymentMethod.PAY_NOW)
    booking = shop.book(shop.first_slot(), party=2)
    payment = system.record_payment(
        shop.business_id, booking.id, amount=Money("50", "EUR"), actor=shop.admin, now=MONDAY, idempotency_key="pay-1"
    )
    return shop, booking, payment


def test_a_payment_key_with_another_amount_or_booking_is_a_conflict_not_the_first_payment(system, raw):
    shop, booking, payment = paid_booking(system, raw)
    other = shop.book(shop.first_slot(), party=1, customer=1)
    record = {"actor": shop.admin, "now": MONDAY, "idempotency_key": "pay-1"}
    with writes_nothing(raw, shop.business_id):
        with pytest.raises(IdempotencyConflict):
            system.record_payment(shop.business_id, booking.id, amount=Money("40", "EUR"), **record)
        with pytest.raises(IdempotencyConflict):
            system.record_payment(shop.business_id, other.id, amount=Money("50", "EUR"), **record)
        again = system.record_payment(shop.business_id, booking.id, amount=Money("50.00", "EUR"), **record)
    assert again == payment


def test_payment_record_confirm_and_refund_replay_after_the_money_moved_on(system, raw):
    shop, booking, payment = paid_booking(system, raw)
    biz, admin = shop.business_id, shop.admin
    confirmed = system.confirm_payment(biz, payment.id, actor=admin, now=MONDAY, idempotency_key="confirm-1")
    assert confirmed.booking.status is BookingStatus.CONFIRMED
    refunded = system.refund(
        biz, payment.id, amount=Money("20", "EUR"), reason="goodwill", actor=admin, now=MONDAY, idempotency_key="r-1"
    )
    system.cancel(biz, booking.id, actor=admin, now=MONDAY)
    system.refund_due(biz, booking.id, actor=admin, now=MONDAY)  # the rest goes back: fully refunded
    with writes_nothing(raw, biz):
        again_record = system.record_payment(
            biz, booking.id, amount=Money("50", "EUR"), actor=admin, now=MONDAY, idempotency_key="pay-1"
        )
        again_confirm = system.confirm_payment(biz, payment.id, actor=admin, now=MONDAY, idempotency_key="confirm-1")
        again_refund = system.refund(
            biz, payment.id, amount=Money("20", "EUR"), reason="again", actor=admin, now=MONDAY, idempotency_key="r-1"
        )
        with pytest.raises(IdempotencyConflict):
            system.refund(
                biz, payment.id, amount=Money("5", "EUR"), reason="x", actor=admin, now=MONDAY, idempotency_key="r-1"
            )
    assert again_record.id == payment.id and again_record.status is PaymentStatus.REFUNDED
    assert again_confirm.payment.id == payment.id and not again_confirm.refunded_for_lost_seat
    assert again_refund.payment.id == refunded.payment.id and again_refund.payment.refunded_amount == 50
    assert again_refund.booking.status is BookingStatus.REFUNDED


def test_a_retried_confirmation_whose_seat_was_lost_still_says_it_was_refunded(system, raw):
    shop = Shop.create(system, now=MONDAY, capacity=2, payment_method=PaymentMethod.PAY_NOW)
    slot = shop.first_slot()
    booking = shop.book(slot, party=2)
    payment = system.record_payment(
        shop.business_id, booking.id, amount=Money("50", "EUR"), actor=shop.admin, now=MONDAY
    )
    make_legacy(shop)  # the seat is gone when the money arrives
    first = system.confirm_payment(shop.business_id, payment.id, actor=shop.admin, now=MONDAY, idempotency_key="c-lost")
    with writes_nothing(raw, shop.business_id):
        again = system.confirm_payment(
            shop.business_id, payment.id, actor=shop.admin, now=MONDAY, idempotency_key="c-lost"
        )
    assert first.refunded_for_lost_seat and again.refunded_for_lost_seat and again.payment == first.payment


# ---------------------------------------------------------------- cancel
def test_a_retried_cancel_returns_the_booking_it_cancelled_instead_of_nothing_to_change(system, raw):
    shop = Shop.create(system, now=MONDAY, capacity=4)
    slot = shop.first_slot()
    booking = shop.book(slot, party=2)
    customer = Actor.customer(shop.customers[0])
    cancel = {"actor": customer, "now": MONDAY, "expected_version": booking.version, "idempotency_key": "cancel-1"}
    first = system.cancel(shop.business_id, booking.id, **cancel)
    fill(shop, slot)
    with writes_nothing(raw, shop.business_id):
        assert system.cancel(shop.business_id, booking.id, **cancel) == first
        with pytest.raises(NotOwner):  # a replay shows the booking only to whoever may see it
            system.cancel(shop.business_id, booking.id, **(cancel | {"actor": Actor.customer(shop.customers[1])}))
    other = shop.book(shop.slots()[1], party=1)
    with writes_nothing(raw, shop.business_id), pytest.raises(IdempotencyConflict):
        system.cancel(shop.business_id, other.id, **cancel)
    with pytest.raises(NothingToChange):  # without the key, the same call is judged anew
        system.cancel(shop.business_id, booking.id, actor=customer, now=MONDAY)


# ---------------------------------------------------------------- retention
def test_purged_keys_are_forgotten_but_booking_and_payment_keys_replay_from_their_rows(system, raw):
    shop, booking, payment = paid_booking(system, raw)
    biz, admin = shop.business_id, shop.admin
    keyed = shop.book(shop.first_slot(), party=1, customer=1, idempotency_key="book-old")
    system.cancel(biz, keyed.id, actor=admin, now=MONDAY, idempotency_key="cancel-old")
    system.purge_idempotency_keys(now=MONDAY + timedelta(days=29))
    assert counts(raw, biz)["idempotency_keys"] == 3  # younger than 30 days: kept
    purged = system.purge_idempotency_keys(now=MONDAY + timedelta(days=31))
    assert purged >= 3 and counts(raw, biz)["idempotency_keys"] == 0  # the purge covers every business
    later = MONDAY + timedelta(days=1)
    with writes_nothing(raw, biz):
        assert shop.book(shop.first_slot(), party=1, customer=1, idempotency_key="book-old", now=later).id == keyed.id
        record = {"actor": admin, "now": later, "idempotency_key": "pay-1"}
        assert system.record_payment(biz, booking.id, amount=Money("50", "EUR"), **record).id == payment.id
        with pytest.raises(IdempotencyConflict):
            system.record_payment(biz, booking.id, amount=Money("10", "EUR"), **record)
        with pytest.raises(IdempotencyConflict):
            shop.book(shop.first_slot(), party=2, customer=1, idempotency_key="book-old", now=later)
        with pytest.raises(NothingToChange):  # a forgotten cancel key is a new request
            system.cancel(biz, keyed.id, actor=admin, now=later, idempotency_key="cancel-old")
    with pytest.raises(InvalidInput, match="at least 1 day"):
        system.purge_idempotency_keys(keep=timedelta(hours=1), now=later)


def test_keys_are_append_only_outside_the_purge_and_a_long_key_is_refused(system, raw):
    shop = Shop.create(system, now=MONDAY, capacity=4)
    booking = shop.book(shop.first_slot(), party=1)
    system.cancel(shop.business_id, booking.id, actor=shop.admin, now=MONDAY, idempotency_key="kept")
    for statement in (
        "UPDATE idempotency_keys SET operation = 'book' WHERE business_id = %(b)s",
        "DELETE FROM idempotency_keys WHERE business_id = %(b)s",
    ):
        with pytest.raises(psycopg.Error) as info:
            raw.execute(statement, {"b": shop.business_id})
        assert info.value.sqlstate == "BK006"
    with pytest.raises(psycopg.Error, match="append-only"):
        raw.execute("TRUNCATE idempotency_keys")
    with pytest.raises(InvalidInput, match="1 to 200 characters"):
        system.cancel(shop.business_id, booking.id, actor=shop.admin, now=MONDAY, idempotency_key="k" * 201)


# ---------------------------------------------------------------- one key, many processes
PROCESSES = 8


def _same_key(url: str, business_id: str, op: str, target: str, customer: str, barrier, results) -> None:
    system = connect(url, migrate=False, pool_size=1)
    biz, admin = uuid.UUID(business_id), Actor.admin("racer")
    barrier.wait(timeout=120)
    try:
        if op == "book":
            made = system.book(
                biz,
                slot_id=uuid.UUID(target),
                customer_id=uuid.UUID(customer),
                party_size=3,
                actor=admin,
                now=MONDAY,
                idempotency_key="race-book",
            )
            results.put(str(made.id))
        elif op == "refund":
            out = system.refund(
                biz,
                uuid.UUID(target),
                amount=Money("10", "EUR"),
                reason="race",
                actor=admin,
                now=MONDAY,
                idempotency_key="race-refund",
            )
            results.put(str(out.payment.refunded_amount))
        else:
            cancelled = system.cancel(biz, uuid.UUID(target), actor=admin, now=MONDAY, idempotency_key="race-cancel")
            results.put(str(cancelled.version))
    except Exception as exc:  # reported, so the test says which process failed how
        results.put(f"{type(exc).__name__}: {exc}")
    finally:
        system.close()


def _race(database_url: str, business_id: uuid.UUID, op: str, target: uuid.UUID, customer: uuid.UUID) -> list[str]:
    args = (database_url, str(business_id), op, str(target), str(customer))
    return race(_same_key, lambda _: args, PROCESSES)


def test_eight_processes_sending_one_key_make_exactly_one_effect(system, database_url, raw):
    shop = Shop.create(system, now=MONDAY, capacity=3)
    slot = shop.first_slot()  # room for one party of 3: the seven that come second can only replay
    booked = _race(database_url, shop.business_id, "book", slot.id, shop.customers[2])
    assert len(set(booked)) == 1 and uuid.UUID(booked[0]), booked
    assert system.get_slot(shop.business_id, slot.id).booked_seats == 3
    assert counts(raw, shop.business_id)["bookings"] == 1

    shop, booking, payment = paid_booking(system, raw)
    system.confirm_payment(shop.business_id, payment.id, actor=shop.admin, now=MONDAY)
    refunds = _race(database_url, shop.business_id, "refund", payment.id, shop.customers[0])
    assert refunds == ["10.00"] * PROCESSES
    assert raw.execute("SELECT count(*) FROM refunds WHERE payment_id = %s", (payment.id,)).fetchone() == (1,)

    versions = _race(database_url, shop.business_id, "cancel", booking.id, shop.customers[0])
    assert len(set(versions)) == 1, versions
    cancellations = raw.execute(
        "SELECT count(*) FROM booking_state_transitions WHERE booking_id = %s AND to_status = 'cancelled'",
        (booking.id,),
    ).fetchone()
    assert cancellations == (1,)


# ---------------------------------------------------------------- any sequence of requests and replays
KEYS = ("k1", "k2", "k3")
step = st.one_of(
    st.tuples(st.just("book"), st.sampled_from(KEYS), st.integers(0, 1), st.integers(1, 2)),
    st.tuples(st.just("cancel"), st.sampled_from(KEYS), st.integers(0, 3), st.just(0)),
    st.tuples(st.just("world"), st.just(""), st.integers(0, 3), st.just(0)),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=12))
def test_any_sequence_of_keyed_requests_makes_one_effect_per_key_and_replays_the_rest(system, raw, steps):
    shop = Shop.create(system, now=MONDAY, capacity=3)
    slots = shop.slots()[:2]
    made: list[uuid.UUID] = []  # every booking, in the order made
    first: dict[str, tuple[tuple[object, ...], uuid.UUID]] = {}  # key -> (its request, what it made or changed)
    for op, key, target, party in steps:
        if op == "world":  # someone else cancels a booking, or fills a slot
            if made and target < 2:
                booking = system.get_booking(shop.business_id, made[target % len(made)])
                if booking.status is BookingStatus.CONFIRMED:
                    system.cancel(shop.business_id, booking.id, actor=shop.admin, now=MONDAY)
            else:
                fill(shop, slots[target % 2], customer=2)
            continue
        request: tuple[object, ...]
        if op == "book":
            request = ("book", target, party)
        else:
            if not made:
                continue
            request = ("cancel", made[target % len(made)])
        before = counts(raw, shop.business_id)
        try:
            if op == "book":
                result = shop.book(slots[target], party=party, idempotency_key=key).id
            else:
                result = system.cancel(
                    shop.business_id, made[target % len(made)], actor=shop.admin, now=MONDAY, idempotency_key=key
                ).id
        except IdempotencyConflict:
            assert key in first and first[key][0] != request
            assert counts(raw, shop.business_id) == before
            continue
        except (NothingToChange, CapacityExceeded):
            assert key not in first  # a refusal, and only a new request is judged
            after = counts(raw, shop.business_id)
            assert after | {"booking_refusals": 0} == before | {"booking_refusals": 0}  # the refusal is counted
            continue
        if key in first:
            assert first[key] == (request, result)
            assert counts(raw, shop.business_id) == before
        else:
            first[key] = (request, result)
            if op == "book":
                made.append(result)
    keyed = raw.execute("SELECT count(*) FROM idempotency_keys WHERE business_id = %s", (shop.business_id,)).fetchone()[
        0
    ]
    assert keyed == len(first)


def test_booking_idempotency_purge_says_how_many_it_forgot_and_refuses_a_retention_under_a_day(database_url):
    from tests.e2e.test_cli import run

    done = run("idempotency", "purge", "--keep-days", "30", url=database_url)
    assert done.returncode == 0 and done.stdout.startswith("purged ") and "older than 30 days" in done.stdout
    refused = run("idempotency", "purge", "--keep-days", "0", url=database_url)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
