"""Records the services return: plain frozen dataclasses, built from database rows."""

from __future__ import annotations

import enum
import uuid
from dataclasses import Field, dataclass, field, fields
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, ClassVar, Self

from booking_core.domain.lifecycle import CLOSED, BookingStatus, PaymentMethod, PaymentStatus
from booking_core.domain.schedule import MergedOccurrence, MovedOccurrence
from booking_core.domain.values import Money

#: The metadata of a field that is no column of its table: read from a row only when the row has it.
NOT_A_COLUMN = {"column": False}


def column_fields(record: Any) -> tuple[Field[Any], ...]:
    """The fields of a record (class or instance) that are columns of its table, in order."""
    return tuple(f for f in fields(record) if f.metadata.get("column", True))


class _FromRow:
    #: Fields held as enums: the database's strings (or any value given) become members on construction.
    _enums: ClassVar[dict[str, type[enum.Enum]]] = {}

    def __post_init__(self) -> None:
        for name, kind in self._enums.items():
            object.__setattr__(self, name, kind(getattr(self, name)))

    @classmethod
    def from_row(cls, row: Any) -> Self:
        m = row._mapping if hasattr(row, "_mapping") else row
        wanted = [f.name for f in fields(cls) if f.metadata.get("column", True) or f.name in m]  # type: ignore[arg-type]
        return cls(**{name: m[name] for name in wanted})


@dataclass(frozen=True, slots=True)
class Business(_FromRow):
    id: uuid.UUID
    name: str
    timezone: str
    currency: str


@dataclass(frozen=True, slots=True)
class Slot(_FromRow):
    id: uuid.UUID
    business_id: uuid.UUID
    service_id: uuid.UUID
    resource_id: uuid.UUID
    schedule_version_id: uuid.UUID
    local_date: date
    local_start: time
    starts_at: datetime
    ends_at: datetime
    max_capacity: int
    booked_seats: int
    is_legacy: bool

    @property
    def free_seats(self) -> int:
        return max(self.max_capacity - self.booked_seats, 0)

    @property
    def over_committed(self) -> bool:
        return self.booked_seats > self.max_capacity


@dataclass(frozen=True, slots=True)
class Booking(_FromRow):
    """A booking as stored, and once, when just made, with the cancellation token it was given.

    The database keeps only the token's hash (`cancellation_token_hash`, the SHA-256 of its 16
    bytes). `cancellation_token` is the token itself on the booking that `book()`,
    `book_with_resources()`, `create_series()` or `accept_waitlist_offer()` returns when it
    makes the booking (hand it to the customer: it is their link), and None on every booking
    read back later, a replayed request's included.
    """

    id: uuid.UUID
    business_id: uuid.UUID
    slot_id: uuid.UUID
    customer_id: uuid.UUID
    party_size: int
    status: BookingStatus
    payment_method: PaymentMethod
    payment_status: PaymentStatus
    amount: Decimal
    currency: str
    cancellation_token_hash: bytes = field(repr=False)
    idempotency_key: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    unit_price: Decimal | None = None  # locked at booking time (None: booked before price rules existed)
    discount: Decimal = Decimal(0)
    promo_code: str | None = None
    series_id: uuid.UUID | None = None
    occurrence: int | None = None
    paid_amount: Decimal = Decimal(0)  # derived: money received (refunds do not lower it)
    refunded_amount: Decimal = Decimal(0)  # derived: money returned
    cancellation_fee: Decimal | None = None  # derived at cancellation from the business's policy
    refund_due: Decimal = Decimal(0)  # derived: money the business owes back
    # Not stored, not compared: the same booking read back has none.
    cancellation_token: uuid.UUID | None = field(default=None, repr=False, compare=False, metadata=NOT_A_COLUMN)

    _enums: ClassVar[dict[str, type[enum.Enum]]] = {
        "status": BookingStatus,
        "payment_method": PaymentMethod,
        "payment_status": PaymentStatus,
    }

    @property
    def price(self) -> Money:
        return Money(self.amount, self.currency)

    @property
    def balance_due(self) -> Money:
        """What is still to be paid for the booking to count as paid."""
        return Money(
            max(self.amount - (self.paid_amount - self.refunded_amount), Decimal(0))
            if self.status not in CLOSED
            else Decimal(0),
            self.currency,
        )


@dataclass(frozen=True, slots=True)
class Payment(_FromRow):
    id: uuid.UUID
    business_id: uuid.UUID
    booking_id: uuid.UUID
    amount: Decimal
    currency: str
    status: PaymentStatus
    refunded_amount: Decimal

    _enums: ClassVar[dict[str, type[enum.Enum]]] = {"status": PaymentStatus}


@dataclass(frozen=True, slots=True)
class WaitlistEntry(_FromRow):
    """A customer's place in a slot's queue; `offered` entries hold seats until `offer_expires_at`."""

    id: uuid.UUID
    business_id: uuid.UUID
    slot_id: uuid.UUID
    customer_id: uuid.UUID
    party_size: int
    status: str
    joined_at: datetime
    offered_at: datetime | None
    offer_expires_at: datetime | None
    booking_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class ImpactedBooking(_FromRow):
    """A future booking that now sits on a legacy slot: the customer ops should contact."""

    booking_id: uuid.UUID
    customer_id: uuid.UUID
    slot_id: uuid.UUID
    starts_at: datetime
    party_size: int
    status: BookingStatus

    _enums: ClassVar[dict[str, type[enum.Enum]]] = {"status": BookingStatus}


@dataclass(frozen=True, slots=True)
class PublishReport:
    schedule_version_id: uuid.UUID
    version_number: int
    slots_created: int
    slots_kept: int
    slots_retired: int
    capacity_changes: int
    impacted: tuple[ImpactedBooking, ...]
    # Rule dates whose wall time did not exist, and those sharing another rule's slot (docs/invariants.md, Time).
    moved: tuple[MovedOccurrence, ...] = ()
    merged: tuple[MergedOccurrence, ...] = ()


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The audit hash chain of one business: links checked, rows not yet sealed, first break."""

    links: int
    unsealed: int
    first_bad_seq: int | None
    problem: str | None
    head_hash: str | None = None  # record it elsewhere: cutting the tail is only visible against it

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


@dataclass(frozen=True, slots=True)
class WriteFreeze(_FromRow):
    """A business's write freeze: set by ops during an incident, cleared when they resume writes."""

    business_id: uuid.UUID
    business: str
    frozen_at: datetime | None
    frozen_by: str | None
    reason: str | None

    @property
    def frozen(self) -> bool:
        return self.frozen_at is not None


@dataclass(frozen=True, slots=True)
class Membership(_FromRow):
    """A person's role in a business (admin: across businesses, `business_id` None)."""

    person: str
    role: str
    business_id: uuid.UUID | None
    business: str | None
    granted_by: str
    granted_at: datetime


@dataclass(frozen=True, slots=True)
class Erasure(_FromRow):
    """A customer's erasure, as the erasure log keeps it: who, when, why (cause), what was cleared; no personal data."""

    business_id: uuid.UUID
    id: uuid.UUID
    customer_id: uuid.UUID
    erased_at: datetime
    erased_by: str
    channel: str
    cause: str
    forced: bool
    cleared: dict[str, int]


@dataclass(frozen=True, slots=True)
class RetentionPolicy(_FromRow):
    business_id: uuid.UUID
    erase_inactive_after_months: int | None
    purge_payloads_after_days: int | None
    drop_client_after_days: int | None
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True, slots=True)
class RetentionRun(_FromRow):
    """One run of a retention policy: what it cleared (or, dry, would clear) per table."""

    business_id: uuid.UUID
    id: uuid.UUID
    started_at: datetime
    finished_at: datetime
    dry_run: bool
    run_by: str
    cleared: dict[str, int]
