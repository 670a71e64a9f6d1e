"""Joining twice and accepting twice are typed refusals (or an idempotent replay), never raw errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from booking_core import (
    Actor,
    AlreadyOnWaitlist,
    Conflict,
    NotOwner,
    OfferAlreadyAccepted,
    OfferExpired,
)
from tests.integration.test_price_lock_multi_resource_waitlists_and_series import full_shop, seats_add_up
from tests.integration.test_schedules import MONDAY


def _footprint(raw, shop) -> tuple[object, ...]:
    """Everything a join could write: entries, audit rows, notifications, seats."""
    return raw.execute(
        "SELECT (SELECT count(*) FROM waitlist_entries WHERE business_id = %(b)s),"
        " (SELECT count(*) FROM booking_audit_log WHERE business_id = %(b)s),"
        " (SELECT count(*) FROM notification_outbox WHERE business_id = %(b)s),"
        " (SELECT sum(booked_seats) FROM time_slots WHERE business_id = %(b)s)",
        {"b": shop.business_id},
    ).fetchone()


def _offer(system, shop, slot, holder, *, customer=1, party=2):
    """A waitlist entry of `customer`, offered once the holder cancels."""
    entry = shop.join_waitlist(slot, party=party, customer=customer)
    system.cancel(shop.business_id, holder.id, actor=shop.admin, now=MONDAY)
    assert system.waitlist_entry(shop.business_id, entry.id).status == "offered"
    return entry


def test_joining_a_waitlist_twice_is_refused_as_already_on_waitlist_and_changes_nothing(system, raw):
    shop, slot, _ = full_shop(system, capacity=2)
    first = shop.join_waitlist(slot, customer=1)
    before = _footprint(raw, shop)
    for party in (1, 2):  # the same request again, or another party size
        with pytest.raises(AlreadyOnWaitlist, match=r"already on the waitlist .* leave it first") as info:
            shop.join_waitlist(
                slot,
                party=party,
                customer=1,
                actor=Actor.customer(shop.customers[1]),
                now=MONDAY + timedelta(minutes=1),
            )
        assert info.value.context["entry_id"] == first.id and not info.value.retryable
        assert "waitlist_entries_one_live" not in str(info.value)
    assert _footprint(raw, shop) == before
    assert [e.id for e in system.waitlist_queue(shop.business_id, slot.id)] == [first.id]


def test_joining_again_while_holding_an_offer_says_to_accept_or_leave_it(system, raw):
    shop, slot, holder = full_shop(system, capacity=2)
    entry = _offer(system, shop, slot, holder)
    before = _footprint(raw, shop)
    with pytest.raises(AlreadyOnWaitlist, match="accept or leave that offer"):
        shop.join_waitlist(slot, party=2, customer=1)
    assert _footprint(raw, shop) == before
    assert system.waitlist_entry(shop.business_id, entry.id).status == "offered"


def test_a_second_live_entry_written_behind_the_services_back_is_still_already_on_waitlist(system, shop):
    slot = shop.first_slot()
    insert = text(
        "INSERT INTO waitlist_entries (business_id, slot_id, customer_id, party_size, joined_at)"
        " VALUES (:b, :s, :c, 1, :now)"
    )
    params = {"b": shop.business_id, "s": slot.id, "c": shop.customers[0], "now": MONDAY}
    with pytest.raises(AlreadyOnWaitlist, match="already on this slot's waitlist"), system.db.connect() as conn:
        conn.execute(insert, params)
        conn.execute(insert, params)  # rolled back with the first when the connection closes


def test_accepting_an_offer_twice_gives_its_customer_and_its_acceptor_the_same_booking(system, raw):
    shop, slot, holder = full_shop(system, capacity=2)
    entry = _offer(system, shop, slot, holder)
    desk = Actor.admin("front-desk")
    booking = system.accept_waitlist_offer(
        shop.business_id, entry.id, actor=desk, idempotency_key="accept-1", now=MONDAY + timedelta(minutes=1)
    )
    before = _footprint(raw, shop)
    later = MONDAY + timedelta(minutes=2)
    for actor, key in (
        (desk, None),  # the acceptor again
        (Actor.customer(shop.customers[1]), None),  # the customer whose booking it is
        (Actor.admin("another-desk"), "accept-1"),  # a retry of the same request
    ):
        again = system.accept_waitlist_offer(shop.business_id, entry.id, actor=actor, idempotency_key=key, now=later)
        assert again.id == booking.id and again.version == booking.version
    assert _footprint(raw, shop) == before
    assert system.waitlist_entry(shop.business_id, entry.id).booking_id == booking.id
    seats_add_up(raw, shop)


def test_accepting_someone_elses_accepted_offer_is_already_accepted_for_staff_and_not_owner_for_a_customer(system, raw):
    shop, slot, holder = full_shop(system, capacity=2)
    entry = _offer(system, shop, slot, holder)
    system.accept_waitlist_offer(
        shop.business_id, entry.id, actor=Actor.customer(shop.customers[1]), now=MONDAY + timedelta(minutes=1)
    )
    before = _footprint(raw, shop)
    later = MONDAY + timedelta(minutes=2)
    with pytest.raises(OfferAlreadyAccepted, match=r"already accepted .* instead of accepting again") as info:
        system.accept_waitlist_offer(shop.business_id, entry.id, actor=Actor.admin("another-desk"), now=later)
    assert isinstance(info.value, Conflict) and not info.value.retryable
    with pytest.raises(NotOwner, match="belongs to another customer"):
        system.accept_waitlist_offer(shop.business_id, entry.id, actor=Actor.customer(shop.customers[2]), now=later)
    assert _footprint(raw, shop) == before


def test_accepting_an_expired_offer_is_offer_expired_before_and_after_the_sweep(system):
    shop, slot, holder = full_shop(system, capacity=2)
    entry = _offer(system, shop, slot, holder)
    later = MONDAY + timedelta(minutes=16)  # offers hold for 15 minutes
    with pytest.raises(OfferExpired, match="join the waitlist again"):
        system.accept_waitlist_offer(shop.business_id, entry.id, actor=shop.admin, now=later)
    system.expire_waitlist_offers(now=later)
    assert system.waitlist_entry(shop.business_id, entry.id).status == "expired"
    with pytest.raises(OfferExpired, match="expired, not offered: join the waitlist again"):
        system.accept_waitlist_offer(shop.business_id, entry.id, actor=Actor.customer(shop.customers[1]), now=later)
