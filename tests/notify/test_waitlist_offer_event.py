"""A waitlist offer is announced in the transaction that made it, with its expiry in the business's time."""

from __future__ import annotations

from tests.factories import Shop
from tests.integration.test_schedules import MONDAY


def test_an_offer_writes_a_waitlist_offer_event_with_the_seats_held_until_a_local_time(system, raw):
    shop = Shop.create(system, now=MONDAY, capacity=2, customers=3)  # Europe/Berlin, winter: +01:00
    slot = shop.first_slot()
    holder = shop.book(slot, party=2)
    entry = shop.join_waitlist(slot, party=2, customer=1)
    system.cancel(shop.business_id, holder.id, actor=shop.admin, now=MONDAY)
    (payload,) = [
        r[0]
        for r in raw.execute(
            "SELECT payload FROM notification_outbox WHERE business_id = %s AND event_type = 'waitlist.offer'",
            (shop.business_id,),
        )
    ]
    assert payload["waitlist_entry_id"] == str(entry.id)
    assert payload["customer"]["id"] == str(shop.customers[1]) and payload["party_size"] == 2
    assert payload["offer_expires_at"] == "2030-01-07T10:15:00+01:00"
