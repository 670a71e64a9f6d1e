"""Who to contact about an incident: the bookings of the slots, bookings or hours it touched, with the customer.

The incident playbook (docs/runbooks) starts with "identify affected bookings, contact customers,
offer alternatives". An incident is named by what ops know: slot ids (from an alert or a check's
offending rows), booking ids, or a window of slot start times. Only bookings that still hold their
seats are listed unless closed ones are asked for too: a guest who already cancelled is not
expecting to come. Rows carry what a person needs to make the call (name, e-mail, the booking's
reference, the slot as the business names it, the party, what was paid) and the ids to act on.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import TextIO

from sqlalchemy import Connection

from booking_core.domain.errors import InvalidInput, NaiveDatetime
from booking_core.reports.common import compose, ref, slot_label


@dataclass(frozen=True, slots=True)
class IncidentScope:
    """One business and what the incident touched: slots, bookings, and/or slots starting in [start, end)."""

    business_id: uuid.UUID
    slot_ids: Sequence[uuid.UUID] = ()
    booking_ids: Sequence[uuid.UUID] = ()
    start: datetime | None = None
    end: datetime | None = None
    closed_too: bool = False

    def __post_init__(self) -> None:
        if (self.start is None) != (self.end is None):
            raise InvalidInput("a time window needs both ends: pass --from and --to")
        for instant in (self.start, self.end):
            if instant is not None and instant.tzinfo is None:
                raise NaiveDatetime(f"{instant} has no timezone: pass it with an offset, like 2030-01-10T14:00+01:00")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise InvalidInput("the time window ends before it starts: pass --to after --from")
        if not (self.slot_ids or self.booking_ids or self.start):
            raise InvalidInput("name what the incident touched: --slot, --booking, or --from and --to")


@dataclass(frozen=True, slots=True)
class Contact:
    """One affected booking and how to reach its customer."""

    booking: str
    customer: str
    email: str | None
    slot: str
    starts_at: datetime
    service: str
    resource: str
    party_size: int
    status: str
    payment_status: str
    paid: Decimal
    currency: str
    booking_id: uuid.UUID
    slot_id: uuid.UUID
    customer_id: uuid.UUID


_CONTACTS = compose(
    """
SELECT {ref} AS booking, c.name AS customer, c.email, {slot} AS slot, s.starts_at, sv.name AS service,
       r.name AS resource, b.party_size, b.status::text AS status, b.payment_status::text AS payment_status,
       b.paid_amount - b.refunded_amount AS paid, b.currency, b.id AS booking_id, b.slot_id, b.customer_id
  FROM bookings b
  JOIN time_slots s ON s.business_id = b.business_id AND s.id = b.slot_id
  JOIN customers c ON c.business_id = b.business_id AND c.id = b.customer_id
  JOIN services sv ON sv.business_id = s.business_id AND sv.id = s.service_id
  JOIN resources r ON r.business_id = s.business_id AND r.id = s.resource_id
 WHERE b.business_id = :b
   AND (b.slot_id = ANY (CAST(:slots AS uuid[])) OR b.id = ANY (CAST(:bookings AS uuid[]))
        OR (s.starts_at >= :start AND s.starts_at < :end))
   AND (:closed_too OR booking_holds_seat(b.status))
 ORDER BY s.starts_at, c.name, b.id
""",
    ref=ref("b", "id"),
    slot=slot_label("s"),
)


def contacts(conn: Connection, scope: IncidentScope) -> list[Contact]:
    """The affected bookings, by slot time then customer name."""
    rows = conn.execute(
        _CONTACTS,
        {
            "b": scope.business_id,
            "slots": [str(s) for s in scope.slot_ids],
            "bookings": [str(b) for b in scope.booking_ids],
            "start": scope.start,
            "end": scope.end,
            "closed_too": scope.closed_too,
        },
    )
    return [Contact(**row._mapping) for row in rows]


def write_csv(found: Iterable[Contact], out: TextIO) -> int:
    """Write the contacts as CSV with a header row; return how many rows."""
    writer = csv.writer(out)
    writer.writerow([f.name for f in fields(Contact)])
    n = 0
    for contact in found:
        writer.writerow(astuple(contact))
        n += 1
    return n
