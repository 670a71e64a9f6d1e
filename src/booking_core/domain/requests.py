"""What each use case is asked to do: one frozen value per use case, built by the facade from the call.

A field is named as the facade's keyword argument (`BookingSystem.book(..., party_size=2)` builds
`BookingRequest(party_size=2)`), so a reader follows a value from the call through the service to
the SQL function it lands in under one name. `now` is the instant of the change; None means the
system's clock, read once per attempt (booking_core.services.context.Context.now).

A change names what it changes as the read of that thing does, and adds who asks: `OnBooking`
is `BookingQuery` (business_id, booking_id, positional) with `ByActor` (actor, now); a request
adds only what is its own, keyword-only (`@request`).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TypeVar, dataclass_transform

from booking_core.domain.lifecycle import PaymentMethod
from booking_core.domain.money import CancellationPolicy
from booking_core.domain.schedule import WeeklyRule
from booking_core.domain.values import Actor, Money

#: How long a recorded idempotency key replays unless purged sooner (`purge_idempotency_keys`).
KEY_RETENTION = timedelta(days=30)

Token = uuid.UUID | str

_R = TypeVar("_R")


@dataclass_transform(frozen_default=True, kw_only_default=True)
def request(cls: type[_R]) -> type[_R]:
    """A frozen dataclass whose own fields are keyword-only; the ids it is about come from its base."""
    return dataclass(frozen=True, slots=True, kw_only=True)(cls)


class SeriesMode(enum.StrEnum):
    ALL_OR_NOTHING = "all_or_nothing"  # every occurrence or none
    BEST_EFFORT = "best_effort"  # book what is free, report the rest


class Role(enum.StrEnum):
    """What a member may see (docs/access.md): per business, but admin across businesses."""

    MANAGER = "manager"  # their businesses' utilization, cancellations, audit log, customer names
    OPS = "ops"  # integrity, alerts and health of the businesses they cover; personal data masked
    ANALYST = "analyst"  # exports and history of their businesses; personal data pseudonymized
    ADMIN = "admin"  # memberships, across businesses


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


@request
class OpenSlotsQuery(BusinessQuery):
    start: datetime
    end: datetime
    service_id: uuid.UUID | None = None
    min_free: int = 1


@request
class QuoteRequest(BusinessQuery):
    slot_id: uuid.UUID
    party_size: int
    promo_code: str | None = None
    now: datetime | None = None


# ---------------------------------------------------------------------------------------- bases
@dataclass(frozen=True, kw_only=True)
class ByActor:
    """Who asks for a change, and its instant (None: the system's clock).

    Not slotted, so that a change is its read query and who asks: `OnBooking(BookingQuery, ByActor)`.
    """

    actor: Actor
    now: datetime | None = None


@dataclass(frozen=True, slots=True)
class InBusiness(BusinessQuery, ByActor):
    """A change in a business."""


@dataclass(frozen=True, slots=True)
class OnBooking(BookingQuery, ByActor):
    """A change to a booking."""


@dataclass(frozen=True, slots=True)
class OnPayment(InBusiness):
    payment_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class OnWaitlistEntry(WaitlistEntryQuery, ByActor):
    """A change to a waitlist entry."""


@dataclass(frozen=True, slots=True)
class OnSeries(InBusiness):
    """Occurrences of a series: this one, this and the following ones, or all."""

    series_id: uuid.UUID
    _: KW_ONLY
    scope: Scope = Scope.ALL
    occurrence: int = 0
    token: Token | None = None


@request
class ForSeats(InBusiness):
    """Seats for a customer's party in a slot."""

    slot_id: uuid.UUID
    customer_id: uuid.UUID
    party_size: int
    idempotency_key: str | None = None


# ------------------------------------------------------------------------------------ catalogue
@request
class BusinessRequest(ByActor):
    name: str
    timezone: str
    currency: str


@request
class CustomerRequest(InBusiness):
    name: str
    email: str | None = None
    phone: str | None = None


@request
class ServiceRequest(InBusiness):
    name: str
    price: Money
    payment_method: PaymentMethod = PaymentMethod.PAY_ON_ARRIVAL
    max_party_size: int = 1
    kind: str = "appointment"


@request
class ResourceRequest(InBusiness):
    name: str
    kind: str = "room"


@dataclass(frozen=True, slots=True)
class CancellationPolicyRequest(InBusiness):
    policy: CancellationPolicy


# ------------------------------------------------------------------------------------ schedules
@request
class ScheduleRequest(InBusiness):
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
@request
class BookingRequest(ForSeats):
    """A booking of `party_size` seats; the fields are booking_create()'s arguments (sql/bookings.sql)."""

    reason: str | None = None
    promo_code: str | None = None


@request
class MultiResourceRequest(ForSeats):
    """A booking that also holds `resources` (resource id -> quantity) at its time (booking_create_multi())."""

    resources: Mapping[uuid.UUID, int]
    reason: str | None = None


@request
class GuardedChange(OnBooking):
    """A change a customer makes with the booking's token, optionally only if it is still the version seen."""

    token: Token | None = None
    expected_version: int | None = None


@request
class CancelRequest(GuardedChange):
    reason: str | None = None
    idempotency_key: str | None = None


@request
class RescheduleRequest(GuardedChange):
    new_slot_id: uuid.UUID
    reason: str | None = None


@request
class PartySizeRequest(GuardedChange):
    party_size: int


@dataclass(frozen=True, slots=True)
class FrontDeskRequest(OnBooking):
    """Check in, complete or mark a no-show: staff moving a booking along on the day."""


# ------------------------------------------------------------------------------------- payments
@request
class PaymentRequest(OnBooking):
    amount: Money
    idempotency_key: str | None = None
    provider_ref: str | None = None


@request
class ConfirmationRequest(OnPayment):
    provider_ref: str | None = None
    idempotency_key: str | None = None


@request
class PaymentFailureRequest(OnPayment):
    reason: str


@request
class RefundRequest(OnPayment):
    amount: Money
    reason: str
    idempotency_key: str | None = None


@request
class RefundDueRequest(OnBooking):
    """Refund exactly what the booking is owed back."""

    reason: str = "refund due"


# --------------------------------------------------------------------------------------- prices
@request
class PriceRuleRequest(InBusiness):
    service_id: uuid.UUID
    name: str
    price: Money
    valid_from: datetime
    valid_to: datetime | None = None
    iso_weekdays: Sequence[int] | None = None
    local_start_from: time | None = None
    local_start_to: time | None = None
    priority: int = 0


@request
class PromoCodeRequest(InBusiness):
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


@request
class OfferAcceptRequest(OnWaitlistEntry):
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class WaitlistLeaveRequest(OnWaitlistEntry):
    """Leave the queue, or decline an offer."""


# ---------------------------------------------------------------------------------- housekeeping
@request
class OfferExpiryRequest:
    """Expire every business's offers past their time."""

    now: datetime | None = None


@request
class KeyPurgeRequest:
    """Forget idempotency keys recorded more than `keep` before `now`, in every business."""

    keep: timedelta = KEY_RETENTION
    now: datetime | None = None


# --------------------------------------------------------------------------------------- series
@request
class SeriesRequest(InBusiness):
    first_slot_id: uuid.UUID
    customer_id: uuid.UUID
    party_size: int
    every_days: int
    occurrences: int
    mode: SeriesMode
    skip: Collection[int] = ()
    reason: str | None = None
    idempotency_key: str | None = None


@request
class SeriesCancelRequest(OnSeries):
    reason: str | None = None


@request
class SeriesPartySizeRequest(OnSeries):
    party_size: int


# ------------------------------------------------------------------------------- write freeze
@request
class FreezeRequest(InBusiness):
    """Stop (or, with `frozen=False`, resume) every write to a business; `reason` is recorded."""

    reason: str
    frozen: bool = True


# ------------------------------------------------------------------------------- memberships
@request
class MembershipRequest(ByActor):
    """Grant (or, with `granted=False`, revoke) `person` the `role`, in `business_id` (None for admin)."""

    person: str
    role: Role | str
    business_id: uuid.UUID | None = None
    reason: str
    granted: bool = True


# ------------------------------------------------------------------------ personal data
@request
class CustomerSelector(BusinessQuery):
    """One customer of a business, named by exactly one of: id, e-mail address, a booking's cancellation token."""

    customer_id: uuid.UUID | None = None
    email: str | None = None
    token: uuid.UUID | str | None = None


@request
class ErasureRequest(CustomerSelector, ByActor):
    """Erase the customer's personal data (docs/personal-data.md); `force` even with paid bookings ahead."""

    force: bool = False
    reason: str = "erasure requested by the customer"


@request
class SubjectAccessRequest(CustomerSelector, ByActor):
    """Everything held about the customer, as a document they can read; the request is logged."""


@request
class RetentionPolicyRequest(InBusiness):
    """A business's retention windows; None keeps that kind of data."""

    erase_inactive_after_months: int | None = None
    purge_payloads_after_days: int | None = None
    drop_client_after_days: int | None = None


@request
class RetentionRunRequest(InBusiness):
    """Run the business's retention policy now; a dry run counts what it would clear, per table."""

    dry_run: bool = False
