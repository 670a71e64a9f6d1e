"""Every write path records the full change context (actor, channel, ip, user agent, reason).

Each test makes a change as an actor that brings an ip address and a user agent, then reads the
audit rows it wrote straight from booking_audit_log: the one-statement booking (which sets the
context in the same round trip), the multi-resource booking, a cancel, a payment, a waitlist join
and a recurring series.
"""

from __future__ import annotations

import uuid

import psycopg

from booking_core import Actor, ActorType, Channel, Money, PaymentMethod, SeriesMode
from tests.conftest import MONDAY
from tests.factories import Shop
from tests.integration.test_price_lock_multi_resource_waitlists_and_series import full_shop, multi_shop

IP, UA = "198.51.100.23", "Mozilla/5.0 (booking test)"


def desk() -> Actor:
    return Actor(ActorType.ADMIN, f"desk-{uuid.uuid4().hex[:6]}", Channel.UI, ip_address=IP, user_agent=UA)


def audit_rows(raw: psycopg.Connection[tuple[object, ...]], shop: Shop, actor: Actor) -> list[tuple[object, ...]]:
    """(action, performed_by, channel, ip, user agent, reason) of every row the actor wrote."""
    return raw.execute(
        "SELECT action, performed_by::text, channel::text, host(ip_address), user_agent, reason"
        " FROM booking_audit_log WHERE business_id = %s AND performed_by_id = %s ORDER BY id",
        (shop.business_id, actor.id),
    ).fetchall()


def assert_full_context(rows: list[tuple[object, ...]], *actions: str, reason: str | None = None) -> None:
    assert {r[0] for r in rows} >= set(actions), rows
    for action, by, channel, ip, ua, why in rows:
        assert (by, channel, ip, ua) == ("admin", "ui", IP, UA), action
        if reason is not None:
            assert why == reason, action


def test_the_one_statement_booking_records_ip_and_user_agent(system, raw):
    shop = Shop.create(system, now=MONDAY)
    actor = desk()
    shop.book(shop.first_slot(), party=2, actor=actor, reason="walk-in")
    assert_full_context(audit_rows(raw, shop, actor), "booking.created", reason="walk-in")


def test_the_one_statement_booking_without_ip_or_agent_leaves_them_empty_and_none_leaks_to_the_next(system, raw):
    shop = Shop.create(system, now=MONDAY)
    slot = shop.first_slot()
    shop.book(slot, party=1, actor=desk())
    bare = Actor.admin(f"bare-{uuid.uuid4().hex[:6]}")
    shop.book(slot, party=1, actor=bare)
    ((_, _, _, ip, ua, _),) = audit_rows(raw, shop, bare)
    assert (ip, ua) == (None, None)


def test_a_multi_resource_booking_records_ip_and_user_agent(system, raw):
    shop, main, extra = multi_shop(system)
    actor = desk()
    shop.book_with_resources(main, {extra["Anna"]: 1}, actor=actor, reason="massage with Anna")
    assert_full_context(audit_rows(raw, shop, actor), "booking.created", reason="massage with Anna")


def test_a_cancel_records_ip_user_agent_and_reason(system, raw):
    shop = Shop.create(system, now=MONDAY)
    booking = shop.book(shop.first_slot(), party=1)
    actor = desk()
    system.cancel(shop.business_id, booking.id, actor=actor, reason="guest called", now=MONDAY)
    assert_full_context(audit_rows(raw, shop, actor), "booking.cancelled", reason="guest called")


def test_a_payment_records_ip_and_user_agent(system, raw):
    shop = Shop.create(system, now=MONDAY, payment_method=PaymentMethod.PAY_NOW)
    actor = desk()
    booking = shop.book(shop.first_slot(), party=1, actor=actor)
    payment = system.record_payment(shop.business_id, booking.id, amount=Money("25.00", "EUR"), actor=actor, now=MONDAY)
    system.confirm_payment(shop.business_id, payment.id, actor=actor, now=MONDAY)
    rows = audit_rows(raw, shop, actor)
    assert any(r[0].startswith("payment.") for r in rows), rows  # type: ignore[union-attr]
    assert_full_context(rows, "booking.created")


def test_a_waitlist_join_records_ip_and_user_agent(system, raw):
    shop, slot, _holder = full_shop(system, capacity=2)
    actor = desk()
    shop.join_waitlist(slot, customer=1, actor=actor)
    rows = audit_rows(raw, shop, actor)
    assert any(r[0].startswith("waitlist.") for r in rows), rows  # type: ignore[union-attr]
    assert_full_context(rows)


def test_a_series_records_ip_and_user_agent_on_the_series_and_every_booking(system, raw):
    shop = Shop.create(system, now=MONDAY, weekdays=(4,), horizon_days=60)
    actor = desk()
    report = shop.series(
        shop.first_slot(weekday=4), occurrences=3, mode=SeriesMode.ALL_OR_NOTHING, actor=actor, reason="weekly lesson"
    )
    assert len(report.booked) == 3
    rows = audit_rows(raw, shop, actor)
    assert sum(r[0] == "booking.created" for r in rows) == 3
    assert any(r[0].startswith("series.") for r in rows), rows  # type: ignore[union-attr]
    assert_full_context(rows, reason="weekly lesson")
