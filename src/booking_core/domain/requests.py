"""What each use case is asked to do: one frozen value per use case, built by the facade from the call.

A field is named as the facade's keyword argument (`BookingSystem.book(..., party_size=2)` builds
`BookingRequest(party_size=2)`), so a reader follows a value from the call through the service to
the SQL function it lands in under one name. `now` is the instant of the change; None means the
system's clock, read once per attempt (booking_core.services.context.Context.now).

Requests about the same thing share a base that holds its ids (`OnBooking`: business_id,
booking_id) and who asks (`ByActor`: actor, now); a request adds only what is its own.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from booking_core.domain.lifecycle import PaymentMethod
from booking_core.domain.money import CancellationPolicy
from booking_core.domain.schedule import WeeklyRule
from booking_core.domain.values import Actor, Money

#: How long a recorded idempotency key replays unless purged sooner (`purge_idempotency_keys`).
KEY_RETENTION = timedelta(days=30)

Token = uuid.UUID | str


class SeriesMode(enum.StrEnum):
    ALL_OR_NOTHING = "all_or_nothing"  # every occurrence or none
    BEST_EFFORT = "best_effort"  # book what is free, report the rest


class Scope(enum.StrEnum):
    THIS = "this"
    FOLLOWING = "following"  # this occurrence and every later one
    ALL = "all"


# ---------------------------------------------------------------------------------------- reads
@dataclass(frozen=True, slots=True)
class BusinessQuery:
    business_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class BookingQuery(BusinessQuery):
    booking_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class SlotQuery(BusinessQuery):
    slot_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class WaitlistEntryQuery(BusinessQuery):
    entry_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class OpenSlotsQuery(BusinessQuery):
    _: KW_ONLY
    start: datetime
    end: datetime
    service_id: uuid.UUID | None = None
    min_free: int = 1


@dataclass(frozen=True, slots=True)
class QuoteRequest(BusinessQuery):
    _: KW_ONLY
    slot_id: uuid.UUID
    party_size: int
    promo_code: str | None = None
    now: datetime | None = None


# ---------------------------------------------------------------------------------------- bases
@dataclass(frozen=True, slots=True)
class ByActor:
    """Who asks for a change, and its instant (None: the system's clock)."""

    _: KW_ONLY
    actor: Actor
    now: datetime | None = None


@dataclass(frozen=True, slots=True)
class InBusiness(ByActor):
    business_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class OnBooking(InBusiness):
    booking_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class OnPayment(InBusiness):
    payment_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class OnWaitlistEntry(InBusiness):
    entry_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class OnSeries(InBusiness):
    """Occurrences of a series: this one, this and the following ones, or all."""

    series_id: uuid.UUID
    _: KW_ONLY
    scope: Scope = Scope.ALL
    occurrence: int = 0
    token: Token | None = None


@dataclass(frozen=True, slots=True)
class ForSeats(InBusiness):
    """Seats for a customer's party in a slot."""

    _: KW_ONLY
    slot_id: uuid.UUID
    customer_id: uuid.UUID
    party_size: int
    idempotency_key: str | None = None


# ------------------------------------------------------------------------------------ catalogue
@dataclass(frozen=True, slots=True)
class BusinessRequest(ByActor):
    _: KW_ONLY
    name: str
    timezone: str
    currency: str


@dataclass(frozen=True, slots=True)
class CustomerRequest(InBusiness):
    _: KW_ONLY
    name: str
    email: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceRequest(InBusiness):
    _: KW_ONLY
    name: str
    price: Money
    payment_method: PaymentMethod = PaymentMethod.PAY_ON_ARRIVAL
    max_party_size: int = 1
    kind: str = "appointment"


@dataclass(frozen=True, slots=True)
class ResourceRequest(InBusiness):
    _: KW_ONLY
    name: str
    kind: str = "room"


@dataclass(frozen=True, slots=True)
class CancellationPolicyRequest(InBusiness):
    policy: CancellationPolicy


# ------------------------------------------------------------------------------------ schedules
@dataclass(frozen=True, slots=True)
class ScheduleRequest(InBusiness):
    _: KW_ONLY
    rules: Sequence[WeeklyRule]
    effective_date: date
    horizon_date: date
    note: str | None = None


@dataclass(frozen=True, slots=True)
class CapacityRequest(InBusiness):
    slot_id: uuid.UUID
    _: KW_ONLY
    capacity: int
    reason: str | None = None


# ------------------------------------------------------------------------------------- bookings
@dataclass(frozen=True, slots=True)
class BookingRequest(ForSeats):
    """A booking of `party_size` seats; the fields are booking_create()'s arguments (sql/bookings.sql)."""

    _: KW_ONLY
    reason: str | None = None
    promo_code: str | None = None


@dataclass(frozen=True, slots=True)
class MultiResourceRequest(ForSeats):
    """A booking that also holds `resources` (resource id -> quantity) at its time (booking_create_multi())."""

    _: KW_ONLY
    resources: Mapping[uuid.UUID, int]
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class CancelRequest(OnBooking):
    _: KW_ONLY
    token: Token | None = None
    reason: str | None = None
    expected_version: int | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class RescheduleRequest(OnBooking):
    _: KW_ONLY
    new_slot_id: uuid.UUID
    token: Token | None = None
    expected_version: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class PartySizeRequest(OnBooking):
    _: KW_ONLY
    party_size: int
    token: Token | None = None
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class FrontDeskRequest(OnBooking):
    """Check in, complete or mark a no-show: staff moving a booking along on the day."""


# ------------------------------------------------------------------------------------- payments
@dataclass(frozen=True, slots=True)
class PaymentRequest(OnBooking):
    _: KW_ONLY
    amount: Money
    idempotency_key: str | None = None
    provider_ref: str | None = None


@dataclass(frozen=True, slots=True)
class ConfirmationRequest(OnPayment):
    _: KW_ONLY
    provider_ref: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentFailureRequest(OnPayment):
    _: KW_ONLY
    reason: str


@dataclass(frozen=True, slots=True)
class RefundRequest(OnPayment):
    _: KW_ONLY
    amount: Money
    reason: str
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class RefundDueRequest(OnBooking):
    """Refund exactly what the booking is owed back."""

    _: KW_ONLY
    reason: str = "refund due"


# --------------------------------------------------------------------------------------- prices
@dataclass(frozen=True, slots=True)
class PriceRuleRequest(InBusiness):
    _: KW_ONLY
    service_id: uuid.UUID
    name: str
    price: Money
    valid_from: datetime
    valid_to: datetime | None = None
    iso_weekdays: Sequence[int] | None = None
    local_start_from: time | None = None
    local_start_to: time | None = None
    priority: int = 0


@dataclass(frozen=True, slots=True)
class PromoCodeRequest(InBusiness):
    _: KW_ONLY
    code: str
    currency: str
    valid_from: datetime
    percent_off: Decimal | None = None
    amount_off: Money | None = None
    valid_to: datetime | None = None
    max_uses: int | None = None


# ------------------------------------------------------------------------------------ waitlists
@dataclass(frozen=True, slots=True)
class WaitlistJoinRequest(ForSeats):
    """Queue for a full slot."""


@dataclass(frozen=True, slots=True)
class OfferAcceptRequest(OnWaitlistEntry):
    _: KW_ONLY
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class WaitlistLeaveRequest(OnWaitlistEntry):
    """Leave the queue, or decline an offer."""


# ---------------------------------------------------------------------------------- housekeeping
@dataclass(frozen=True, slots=True)
class OfferExpiryRequest:
    """Expire every business's offers past their time."""

    _: KW_ONLY
    now: datetime | None = None


@dataclass(frozen=True, slots=True)
class KeyPurgeRequest:
    """Forget idempotency keys recorded more than `keep` before `now`, in every business."""

    _: KW_ONLY
    keep: timedelta = KEY_RETENTION
    now: datetime | None = None


# --------------------------------------------------------------------------------------- series
@dataclass(frozen=True, slots=True)
class SeriesRequest(InBusiness):
    _: KW_ONLY
    first_slot_id: uuid.UUID
    customer_id: uuid.UUID
    party_size: int
    every_days: int
    occurrences: int
    mode: SeriesMode
    skip: Collection[int] = ()
    reason: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class SeriesCancelRequest(OnSeries):
    _: KW_ONLY
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SeriesPartySizeRequest(OnSeries):
    _: KW_ONLY
    party_size: int
