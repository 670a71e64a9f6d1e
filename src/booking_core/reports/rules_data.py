"""Integrity rules about data hygiene: slot instants, party sizes, idempotency keys, required fields."""

from __future__ import annotations

from booking_core.reports.rule import Check

CHECKS: list[Check] = [
    # ------------------------------------------------------------------ time sanity
    Check(
        "slot_instant_mismatch",
        "time_sanity",
        "time_slots",
        "A slot's instant (starts_at) is not its local date and time in the business's timezone "
        "(DST resolved as PostgreSQL does): customers see one time, the system another.",
        """
  SELECT ts.business_id, ts.id AS slot_id, ts.local_date, ts.local_start, biz.timezone,
         ts.starts_at, (ts.local_date + ts.local_start) AT TIME ZONE biz.timezone AS expected
    FROM {batch} ts
    JOIN businesses biz ON biz.id = ts.business_id
   WHERE ts.starts_at <> (ts.local_date + ts.local_start) AT TIME ZONE biz.timezone
""",
    ),
    # ------------------------------------------------------------------ hygiene
    Check(
        "party_size_out_of_range",
        "hygiene",
        "bookings",
        "A booking's party size is below 1 or above what its service takes: seats and prices "
        "computed from it are wrong. Correct the party or split the booking.",
        """
  SELECT b.business_id, b.id AS booking_id, b.slot_id, b.party_size, s.max_party_size
    FROM {batch} b
    JOIN time_slots ts ON ts.business_id = b.business_id AND ts.id = b.slot_id
    JOIN services s ON s.business_id = ts.business_id AND s.id = ts.service_id
   WHERE b.party_size < 1 OR b.party_size > s.max_party_size
""",
    ),
    Check(
        "duplicate_idempotency_key",
        "hygiene",
        "bookings",
        "Two bookings of one business share an idempotency key: a retried request made a second "
        "booking (the unique index is missing or was bypassed). Cancel the duplicate.",
        """
  SELECT b.business_id, b.id AS booking_id, b.slot_id, b.idempotency_key,
         d.id AS duplicate_booking_id
    FROM {batch} b
    JOIN bookings d ON d.business_id = b.business_id AND d.idempotency_key = b.idempotency_key
                   AND d.id <> b.id
""",
    ),
    Check(
        "required_fields_missing",
        "hygiene",
        "bookings",
        "A booking lacks something it needs: its customer is missing or has no name, or its "
        "currency or amount is missing. Nobody can be contacted or charged; fill it in.",
        """
  SELECT b.business_id, b.id AS booking_id, b.slot_id, b.customer_id,
         CASE WHEN c.id IS NULL THEN 'customer missing'
              WHEN coalesce(btrim(c.name), '') = '' THEN 'customer has no name'
              ELSE 'currency or amount missing' END AS problem
    FROM {batch} b
    LEFT JOIN customers c ON c.business_id = b.business_id AND c.id = b.customer_id
   WHERE c.id IS NULL OR coalesce(btrim(c.name), '') = ''
      OR b.currency IS NULL OR b.amount IS NULL
""",
    ),
]
