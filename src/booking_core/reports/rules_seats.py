"""Integrity rules about seats: overbooking, the seat counter, waitlist promotion, resource allocations."""

from __future__ import annotations

from psycopg import sql

from booking_core.reports.overbooking import over_committed_by_reduction, overbooked
from booking_core.reports.rule import Check, rule

_HELD = sql.Identifier("h", "held_seats")
_HELD_PER_SLOT = """
  SELECT ts.business_id, ts.id AS slot_id, ts.starts_at, ts.max_capacity, h.held_seats
    FROM {batch} ts
    JOIN (SELECT business_id, slot_id, seats AS held_seats FROM slot_seat_holds) h
      ON h.business_id = ts.business_id AND h.slot_id = ts.id
   WHERE {held_beyond_capacity}
"""


CHECKS: list[Check] = [
    # ------------------------------------------------------------------ overbooking
    Check(
        "overbooked_slot",
        "overbooking",
        "time_slots",
        "A slot holds more seats (seat-holding bookings, the resources of multi-resource bookings "
        "and open waitlist offers) than its "
        "capacity, and no recorded capacity reduction explains it: people were booked into seats "
        "that do not exist. Contact the parties and move some to another slot.",
        rule(_HELD_PER_SLOT, held_beyond_capacity=overbooked("ts", _HELD)),
    ),
    Check(
        "over_committed_by_reduction",
        "overbooking",
        "time_slots",
        "Information: a slot holds more seats than its capacity only because its capacity was "
        "reduced after the seats were booked (recorded in slot_capacity_changes). Existing "
        "bookings are honoured; no new ones are taken.",
        rule(_HELD_PER_SLOT, held_beyond_capacity=over_committed_by_reduction("ts", _HELD)),
        severity="info",
    ),
    Check(
        "seat_counter_drift",
        "overbooking",
        "time_slots",
        "A slot's seat counter (time_slots.booked_seats, which every new booking is checked against) "
        "differs from the seats its bookings, resource allocations and waitlist offers hold: the "
        "capacity guarantee is checking a wrong number. Someone wrote the counter or the rows with "
        "the triggers off; recount it from slot_seat_holds.",
        """
  SELECT ts.business_id, ts.id AS slot_id, ts.booked_seats, coalesce(h.seats, 0) AS held_seats
    FROM {batch} ts
    LEFT JOIN slot_seat_holds h ON h.business_id = ts.business_id AND h.slot_id = ts.id
   WHERE ts.booked_seats <> coalesce(h.seats, 0)
""",
    ),
    # ------------------------------------------------------------------ waitlists and resources
    Check(
        "waitlist_promotion_stalled",
        "waitlist_and_resources",
        "waitlist_entries",
        "A waiting entry would fit the free seats of its (future, current-schedule) slot but was "
        "never offered them: freed seats are sitting empty while a customer waits. The promotion "
        "trigger was bypassed; run waitlist_promote(business, slot).",
        """
  SELECT w.business_id, w.id AS waitlist_entry_id, w.slot_id, w.party_size,
         ts.max_capacity - ts.booked_seats AS free_seats
    FROM {batch} w
    JOIN time_slots ts ON ts.business_id = w.business_id AND ts.id = w.slot_id
   WHERE w.status = 'waiting' AND NOT ts.is_legacy AND ts.starts_at > now()
     AND w.party_size <= ts.max_capacity - ts.booked_seats
""",
    ),
    Check(
        "resource_allocation_time_mismatch",
        "waitlist_and_resources",
        "booking_resources",
        "A multi-resource booking holds a further resource (staff, equipment) in a slot at another "
        "time than the booking itself: that resource is blocked when it is not needed and missing "
        "when it is. Cancel the booking and book it again.",
        """
  SELECT r.business_id, r.booking_id, r.slot_id AS resource_slot_id, b.slot_id
    FROM {batch} r
    JOIN bookings b ON b.business_id = r.business_id AND b.id = r.booking_id
    JOIN time_slots main ON main.business_id = b.business_id AND main.id = b.slot_id
    JOIN time_slots extra ON extra.business_id = r.business_id AND extra.id = r.slot_id
   WHERE (extra.starts_at, extra.ends_at) <> (main.starts_at, main.ends_at)
""",
    ),
]
