"""Price lock, multi-resource bookings, waitlists and recurring series, with the same guarantees."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest

from booking_core import (
    Actor,
    BookingStatus,
    CapacityExceeded,
    Conflict,
    CurrencyMismatch,
    InvalidInput,
    InvalidPromoCode,
    Money,
    OfferExpired,
    PaymentMethod,
    ResourcesUnavailable,
    Scope,
    SeriesMode,
    SeriesUnavailable,
    UnknownResource,
)
from tests.factories import Shop
from tests.integration.test_schedules import MONDAY


def seats_add_up(raw, shop) -> None:
    drift = raw.execute(
        "SELECT ts.id, ts.booked_seats, coalesce(h.seats, 0) FROM time_slots ts LEFT JOIN slot_seat_holds h"
        " ON h.business_id = ts.business_id AND h.slot_id = ts.id WHERE ts.business_id = %s"
        " AND ts.booked_seats <> coalesce(h.seats, 0)",
        (shop.business_id,),
    ).fetchall()
    assert drift == []


# ---------------------------------------------------------------- price lock
def test_the_price_shown_is_the_price_locked_and_later_price_changes_never_touch_it(system, raw):
    shop = Shop.create(system, now=MONDAY, price="20.00")
    slot = shop.first_slot()
    shop.price_rule("winter", "30")
    quoted = system.quote(shop.business_id, slot_id=slot.id, party_size=2, now=MONDAY)
    booking = shop.book(slot, party=2)
    assert quoted.total == Money("60", "EUR") and booking.amount == 60 and booking.unit_price == 30
    shop.price_rule("hike", "45", priority=5)
    assert system.get_booking(shop.business_id, booking.id).amount == 60  # grandfathered
    assert system.quote(shop.business_id, slot_id=slot.id, party_size=2, now=MONDAY).total == Money("90", "EUR")
    grown = system.change_party_size(shop.business_id, booking.id, party_size=3, actor=shop.admin, now=MONDAY)
    assert grown.amount == 90  # 3 x the locked 30, not the new 45
    with pytest.raises(psycopg.Error, match="price is locked"):
        raw.execute("UPDATE bookings SET amount = 1 WHERE id = %s", (booking.id,))


def test_promo_codes_discount_once_per_use_and_refuse_when_used_up_or_in_another_currency(system):
    shop = Shop.create(system, now=MONDAY, price="50.00")
    slot = shop.first_slot()
    system.add_promo_code(
        shop.business_id,
        code="SPRING10",
        percent_off=Decimal(10),
        currency="EUR",
        valid_from=MONDAY,
        max_uses=1,
        actor=shop.admin,
        now=MONDAY,
    )
    booking = shop.book(slot, party=2, actor=shop.admin, promo_code="SPRING10")
    assert (booking.amount, booking.discount, booking.promo_code) == (90, 10, "SPRING10")
    with pytest.raises(InvalidPromoCode, match="not valid now"):
        shop.book(slot, party=1, customer=1, actor=shop.admin, promo_code="SPRING10")
    with pytest.raises(CurrencyMismatch):
        system.add_promo_code(
            shop.business_id,
            code="USD5",
            amount_off=Money("5", "USD"),
            currency="EUR",
            valid_from=MONDAY,
            actor=shop.admin,
            now=MONDAY,
        )
    with pytest.raises(CurrencyMismatch):
        shop.price_rule("usd", "5", currency="USD")


# ---------------------------------------------------------------- multi-resource
def multi_shop(system, *, room=1, staff=1, gear=3):
    shop = Shop.create(system, now=MONDAY, capacity=room, max_party_size=1)
    resources = [("Anna", "staff", staff), ("Hot stones", "equipment", gear)]
    extra = shop.publish_with_resources(resources, weekdays=(4, 5, 6), capacity=room, horizon_days=30)
    main = next(s for s in shop.slots(days=7) if s.resource_id == shop.resource_id)
    return shop, main, extra


def anna_and_stones(shop, main, extra, **kw):
    """The arguments for booking `main` with Anna and one set of hot stones, for the first customer, by the admin."""
    one_each = {extra["Anna"]: 1, extra["Hot stones"]: 1}
    return {
        "slot_id": main.id,
        "customer_id": shop.customers[0],
        "party_size": 1,
        "resources": one_each,
        "actor": shop.admin,
    } | kw


def test_a_multi_resource_booking_holds_every_resource_or_none_and_says_which_is_missing(system, raw):
    shop, main, extra = multi_shop(system, staff=1, gear=3)
    want = {extra["Anna"]: 1, extra["Hot stones"]: 2}
    booking = shop.book_with_resources(main, want)
    assert booking.status is BookingStatus.CONFIRMED
    seats_add_up(raw, shop)
    before = raw.execute("SELECT count(*) FROM bookings WHERE business_id = %s", (shop.business_id,)).fetchone()
    with pytest.raises(ResourcesUnavailable) as info:
        shop.book_with_resources(main, want, customer=1)
    missing = {m["resource"]: (m["needed"], m["free"]) for m in info.value.missing}
    assert missing == {"Anna": (1, 0), "Hot stones": (2, 1), "the slot itself": (1, 0)}
    assert raw.execute("SELECT count(*) FROM bookings WHERE business_id = %s", (shop.business_id,)).fetchone() == before
    system.cancel(shop.business_id, booking.id, actor=shop.admin, now=MONDAY)
    seats_add_up(raw, shop)
    assert (
        raw.execute("SELECT sum(booked_seats) FROM time_slots WHERE business_id = %s", (shop.business_id,)).fetchone()[
            0
        ]
        == 0
    )
    with pytest.raises(UnknownResource):
        shop.book_with_resources(main, {uuid.uuid4(): 1}, customer=1)


def test_a_multi_resource_booking_cannot_be_moved_and_its_allocations_are_append_only(system, raw):
    shop, main, extra = multi_shop(system)
    booking = shop.book_with_resources(main, {extra["Anna"]: 1})
    other = [s for s in shop.slots(days=7) if s.resource_id == shop.resource_id][1]
    with pytest.raises(Conflict, match="cancel it and book the new time"):
        system.reschedule(shop.business_id, booking.id, new_slot_id=other.id, actor=shop.admin, now=MONDAY)
    with pytest.raises(psycopg.Error, match="append-only"):
        raw.execute("DELETE FROM booking_resources WHERE booking_id = %s", (booking.id,))


def test_a_retried_multi_resource_booking_returns_the_first_even_when_the_resources_are_now_taken(system, raw):
    shop, main, extra = multi_shop(system, staff=1, gear=1)
    ask = anna_and_stones(shop, main, extra, now=MONDAY, idempotency_key="multi-retry-1")
    first = system.book_with_resources(shop.business_id, **ask)
    again = system.book_with_resources(shop.business_id, **ask)
    assert again.id == first.id
    assert raw.execute("SELECT count(*) FROM booking_resources WHERE booking_id = %s", (first.id,)).fetchone() == (2,)
    seats_add_up(raw, shop)


def test_a_malformed_multi_resource_call_is_refused_by_the_database_and_writes_nothing(system, raw):
    shop, main, extra = multi_shop(system)
    before = raw.execute("SELECT count(*) FROM bookings WHERE business_id = %s", (shop.business_id,)).fetchone()
    call = (
        "SELECT * FROM booking_create_multi(%s, gen_random_uuid(), %s, %s, 1, %s, %s, NULL, 'admin', 'raw',"
        " 'sql', NULL, %s)"
    )
    anna = extra["Anna"]
    for resources, quantities in (([anna, anna], [1, 1]), ([anna], [0]), ([anna], [1, 1]), ([], [])):
        with pytest.raises(psycopg.Error) as info:
            raw.execute(call, (shop.business_id, main.id, shop.customers[0], resources, quantities, MONDAY))
        assert info.value.sqlstate == "BK017"
    with pytest.raises(InvalidInput, match="only further resources"):
        shop.book_with_resources(main, {shop.resource_id: 1})
    after = raw.execute("SELECT count(*) FROM bookings WHERE business_id = %s", (shop.business_id,)).fetchone()
    assert after == before


# ---------------------------------------------------------------- waitlists
def full_shop(system, capacity=4, **kw):
    shop = Shop.create(system, now=MONDAY, capacity=capacity, customers=5, **kw)
    slot = shop.first_slot()
    holder = shop.book(slot, party=capacity, customer=0)
    return shop, slot, holder


def test_waitlist_offers_go_first_in_first_out_to_the_first_entry_that_fits(system, raw):
    shop, slot, holder = full_shop(system, capacity=4)
    big = shop.join_waitlist(slot, party=4, customer=1)
    small = shop.join_waitlist(slot, party=2, customer=2, now=MONDAY + timedelta(minutes=1))
    system.change_party_size(shop.business_id, holder.id, party_size=2, actor=shop.admin, now=MONDAY)
    # 2 seats free: the first entry (4) does not fit, the first that fits (2) is offered.
    assert system.waitlist_entry(shop.business_id, big.id).status == "waiting"
    offer = system.waitlist_entry(shop.business_id, small.id)
    assert offer.status == "offered" and offer.offer_expires_at == MONDAY + timedelta(minutes=15)
    assert system.get_slot(shop.business_id, slot.id).booked_seats == 4  # the offer holds its seats
    with pytest.raises(CapacityExceeded):
        shop.book(slot, party=1, customer=3)
    booking = system.accept_waitlist_offer(
        shop.business_id, small.id, actor=Actor.customer(shop.customers[2]), now=MONDAY + timedelta(minutes=5)
    )
    assert booking.status is BookingStatus.CONFIRMED and booking.party_size == 2
    assert system.waitlist_entry(shop.business_id, small.id).status == "accepted"
    assert system.get_slot(shop.business_id, slot.id).booked_seats == 4
    seats_add_up(raw, shop)
    system.cancel(shop.business_id, holder.id, actor=shop.admin, now=MONDAY + timedelta(minutes=6))
    assert system.waitlist_entry(shop.business_id, big.id).status == "waiting"  # 2 free, still does not fit
    system.cancel(shop.business_id, booking.id, actor=shop.admin, now=MONDAY + timedelta(minutes=7))
    assert system.waitlist_entry(shop.business_id, big.id).status == "offered"
    seats_add_up(raw, shop)


def test_an_expired_offer_passes_to_the_next_and_cannot_be_accepted(system, raw):
    shop, slot, holder = full_shop(system, capacity=2)
    first = shop.join_waitlist(slot, party=2, customer=1)
    second = shop.join_waitlist(slot, party=2, customer=2, now=MONDAY + timedelta(seconds=1))
    system.cancel(shop.business_id, holder.id, actor=shop.admin, now=MONDAY)
    later = MONDAY + timedelta(minutes=20)
    with pytest.raises(OfferExpired, match="join the waitlist again"):
        system.accept_waitlist_offer(shop.business_id, first.id, actor=shop.admin, now=later)
    assert system.expire_waitlist_offers(now=later) >= 1  # the sweep covers every business in the database
    assert system.waitlist_entry(shop.business_id, first.id).status == "expired"
    assert system.waitlist_entry(shop.business_id, second.id).status == "offered"
    seats_add_up(raw, shop)
    with pytest.raises(OfferExpired):
        system.accept_waitlist_offer(shop.business_id, first.id, actor=shop.admin, now=later)


def test_waiting_entries_expire_once_their_slot_has_started(system):
    shop, slot, _ = full_shop(system, capacity=2)
    entry = shop.join_waitlist(slot, customer=1)
    system.expire_waitlist_offers(now=slot.starts_at - timedelta(minutes=1))
    assert system.waitlist_entry(shop.business_id, entry.id).status == "waiting"
    system.expire_waitlist_offers(now=slot.starts_at)
    assert system.waitlist_entry(shop.business_id, entry.id).status == "expired"


def test_joining_a_slot_with_room_is_refused_and_raw_sql_cannot_skip_the_offer_step(system, raw):
    shop = Shop.create(system, now=MONDAY, capacity=4)
    slot = shop.first_slot()
    with pytest.raises(Conflict, match="book it instead"):
        shop.join_waitlist(slot)
    shop.book(slot, party=4)
    entry = shop.join_waitlist(slot, customer=1)
    with pytest.raises(psycopg.Error) as info:
        raw.execute("UPDATE waitlist_entries SET status = 'accepted' WHERE id = %s", (entry.id,))
    assert info.value.sqlstate == "BK004"
    with pytest.raises(psycopg.Error) as info:  # an offer must take real seats: the slot is full
        raw.execute(
            "UPDATE waitlist_entries SET status = 'offered', offered_at = now(),"
            " offer_expires_at = now() WHERE id = %s",
            (entry.id,),
        )
    assert info.value.sqlstate == "BK001"


def test_a_pay_now_offer_keeps_its_seats_until_the_payment_confirms_the_booking(system, raw):
    shop, slot, holder = full_shop(system, capacity=2, payment_method=PaymentMethod.PAY_NOW, price="10.00")
    psp = Actor.system("psp")
    paid = system.record_payment(shop.business_id, holder.id, amount=Money("20", "EUR"), actor=psp, now=MONDAY)
    system.confirm_payment(shop.business_id, paid.id, actor=psp, now=MONDAY)
    entry = shop.join_waitlist(slot, party=2, customer=1)
    system.cancel(shop.business_id, holder.id, actor=shop.admin, now=MONDAY)
    draft = system.accept_waitlist_offer(shop.business_id, entry.id, actor=shop.admin, now=MONDAY)
    assert draft.status is BookingStatus.DRAFT
    assert system.waitlist_entry(shop.business_id, entry.id).status == "offered"  # still holding for the payment
    with pytest.raises(CapacityExceeded):
        shop.book(slot, party=1, customer=3)
    payment = system.record_payment(shop.business_id, draft.id, amount=Money("20", "EUR"), actor=psp, now=MONDAY)
    out = system.confirm_payment(shop.business_id, payment.id, actor=psp, now=MONDAY + timedelta(minutes=2))
    assert out.booking.status is BookingStatus.CONFIRMED and not out.refunded_for_lost_seat
    assert system.waitlist_entry(shop.business_id, entry.id).status == "accepted"
    assert system.get_slot(shop.business_id, slot.id).booked_seats == 2
    seats_add_up(raw, shop)


# ---------------------------------------------------------------- series
def test_an_all_or_nothing_series_books_every_occurrence_or_none(system, raw):
    shop = Shop.create(system, now=MONDAY, capacity=2, weekdays=(4,), horizon_days=60)
    first = shop.first_slot(weekday=4)
    blocker = next(s for s in shop.slots(days=30) if s.local_date == first.local_date + timedelta(days=14))
    shop.book(blocker, party=2, customer=2)
    with pytest.raises(SeriesUnavailable) as info:
        shop.series(first, occurrences=4, mode=SeriesMode.ALL_OR_NOTHING)
    assert [k for k, _ in info.value.failures] == [2]
    assert (
        raw.execute(
            "SELECT count(*) FROM bookings WHERE business_id = %s AND series_id IS NOT NULL", (shop.business_id,)
        ).fetchone()[0]
        == 0
    )
    report = shop.series(first, occurrences=4, mode=SeriesMode.BEST_EFFORT)
    assert [b.occurrence for b in report.booked] == [0, 1, 3] and [k for k, _ in report.refused] == [2]
    assert all(len(system.booking_history(shop.business_id, b.id)) == 1 for b in report.booked)


def test_series_edits_apply_to_this_following_or_all_occurrences(system):
    shop = Shop.create(system, now=MONDAY, capacity=5, weekdays=(4,), horizon_days=60)
    first = shop.first_slot(weekday=4)
    report = shop.series(first, occurrences=5, mode=SeriesMode.ALL_OR_NOTHING, skip={4})
    assert [b.occurrence for b in report.booked] == [0, 1, 2, 3]
    sid = report.series_id
    one = system.cancel_series(shop.business_id, sid, scope=Scope.THIS, occurrence=1, actor=shop.admin, now=MONDAY)
    assert [b.occurrence for b in one] == [1]
    grown = system.change_series_party_size(
        shop.business_id, sid, party_size=3, scope=Scope.FOLLOWING, occurrence=2, actor=shop.admin, now=MONDAY
    )
    assert [(b.occurrence, b.party_size) for b in grown] == [(2, 3), (3, 3)]
    rest = system.cancel_series(
        shop.business_id, sid, scope=Scope.ALL, actor=Actor.customer(shop.customers[0]), now=MONDAY
    )
    assert sorted(b.occurrence for b in rest) == [0, 2, 3]
    with pytest.raises(InvalidInput, match="no occurrences left"):
        shop.series(first, occurrences=2, mode=SeriesMode.BEST_EFFORT, skip={0, 1})


def test_a_series_mode_or_scope_that_does_not_exist_is_a_typed_refusal(system):
    from booking_core import InvalidInput, SeriesMode

    shop = Shop.create(system, now=MONDAY)
    slot = shop.first_slot()
    with pytest.raises(InvalidInput, match="pass one of all_or_nothing, best_effort"):
        shop.series(slot, occurrences=2, mode="sometimes")
    report = shop.series(slot, occurrences=2, mode=SeriesMode.BEST_EFFORT)
    with pytest.raises(InvalidInput, match="is not a Scope"):
        system.cancel_series(shop.business_id, report.series_id, scope="most", actor=shop.admin, now=MONDAY)
