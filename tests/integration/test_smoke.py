from booking_core import BookingStatus


def test_a_pay_on_arrival_booking_is_confirmed_and_takes_its_seats(shop):
    slot = shop.first_slot()
    booking = shop.book(slot, party=3)
    assert booking.status is BookingStatus.CONFIRMED
    assert shop.system.get_slot(shop.business_id, slot.id).booked_seats == 3
