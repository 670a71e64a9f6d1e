"""A lost race for a lock is Busy: typed, retryable, nothing changed, and the retry succeeds."""

from __future__ import annotations

import psycopg
import pytest

from booking_core import BookingStatus, Busy, Conflict, new_id
from booking_core.adapters.errors import translate
from tests.integration.test_schedules import MONDAY


@pytest.mark.slow  # waits out the unit of work's 5 s lock timeout
def test_a_lock_held_past_the_lock_timeout_makes_a_cancellation_busy_and_retryable(system, shop, database_url):
    booking = shop.book(shop.first_slot(), party=2)
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as other:  # another client holding the booking's row lock
        other.execute(
            "SELECT 1 FROM bookings WHERE business_id = %s AND id = %s FOR UPDATE", (shop.business_id, booking.id)
        )
        with pytest.raises(Busy, match=r"lock timeout.*try again") as info:
            system.cancel(shop.business_id, booking.id, actor=shop.admin, now=MONDAY)
        other.rollback()
    assert info.value.retryable and info.value.sqlstate == "55P03"
    assert isinstance(info.value, Conflict)
    assert system.get_booking(shop.business_id, booking.id).status is BookingStatus.CONFIRMED
    retried = system.cancel(shop.business_id, booking.id, actor=shop.admin, now=MONDAY)
    assert retried.status is BookingStatus.CANCELLED


def test_a_deadlock_a_serialization_failure_and_a_statement_timeout_are_busy_too(raw):
    for sqlstate in ("40P01", "40001", "57014"):
        with pytest.raises(psycopg.Error) as info:
            raw.execute(f"DO $$ BEGIN RAISE EXCEPTION 'raced' USING ERRCODE = '{sqlstate}'; END $$")
        busy = translate(info.value)
        assert isinstance(busy, Busy) and busy.retryable and busy.sqlstate == sqlstate
        assert str(busy).endswith("try again")


def test_refusals_that_a_retry_cannot_change_are_not_retryable(system, shop):
    from booking_core import UnknownBooking

    with pytest.raises(UnknownBooking) as info:
        system.cancel(shop.business_id, new_id(), actor=shop.admin, now=MONDAY)
    assert info.value.retryable is False
