"""The composition root: `connect()` builds a BookingSystem (database, clock) when called, never at import."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from booking_core.adapters.db import Database
from booking_core.config import Settings
from booking_core.domain.lifecycle import PaymentMethod
from booking_core.domain.model import Booking, Business, ChainReport, Payment, PublishReport, Slot
from booking_core.domain.money import CancellationPolicy
from booking_core.domain.schedule import WeeklyRule
from booking_core.domain.values import Actor, Money
from booking_core.retries import RetryPolicy, guarded, policy_of
from booking_core.services import (
    audit,
    bookings,
    catalogue,
    idempotency,
    multi,
    payments,
    pricing,
    schedules,
    series,
    waitlist,
)
from booking_core.services.payments import PaymentOutcome
from booking_core.services.pricing import Quote
from booking_core.services.series import Scope, SeriesMode, SeriesReport
from booking_core.services.waitlist import WaitlistEntry

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def connect(
    database_url: str | None = None,
    *,
    clock: Clock = utc_now,
    migrate: bool = True,
    pool_size: int = 5,
    retries: bool | RetryPolicy = True,
) -> BookingSystem:
    """Open the database (BOOKING_DATABASE_URL, or the embedded server) and migrate it.

    `retries`: retry reads and keyed writes on retryable errors (the default), not at all
    (False), or under a RetryPolicy of one's own; see booking_core.retries.
    """
    settings = Settings.from_env()
    if database_url:
        settings = dataclasses.replace(settings, database_url=database_url)
    db = Database.from_settings(settings, pool_size=pool_size)
    try:
        if migrate:
            db.upgrade()
        else:
            db.require_migrated()
    except BaseException:
        db.dispose()
        raise
    return BookingSystem(db, clock=clock, retries=retries)


# Every public method of BookingSystem goes through the fault boundary (booking_core.retries):
# only booking_core errors leave it; these reads, and writes called with an idempotency key,
# are retried on retryable errors.
_READS = frozenset({
    "open_slots", "get_slot", "get_booking", "verify_audit", "booking_history", "quote",
    "waitlist_entry", "waitlist_queue",
})  # fmt: skip


@guarded(reads=_READS, exempt=frozenset({"close"}))
class BookingSystem:
    """The public API: every method is one use case in one transaction. `now` defaults to the clock.

    Every method raises only booking_core errors. Reads, and writes given an idempotency key,
    are retried on retryable errors (a lost connection, a restarting server, a lock timeout)
    unless `retries=False`; a write without a key is never resent.
    """

    def __init__(self, db: Database, *, clock: Clock = utc_now, retries: bool | RetryPolicy = True) -> None:
        self.db = db
        self.clock = clock
        self.retry_policy: RetryPolicy | None = policy_of(retries)

    def close(self) -> None:
        self.db.dispose()

    def __enter__(self) -> BookingSystem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _now(self, now: datetime | None) -> datetime:
        return self.clock() if now is None else now

    # -- catalogue
    def create_business(
        self, *, name: str, timezone: str, currency: str, actor: Actor, now: datetime | None = None
    ) -> Business:
        return catalogue.create_business(
            self.db, name=name, timezone=timezone, currency=currency, actor=actor, now=self._now(now)
        )

    def add_customer(
        self, business_id: uuid.UUID, *, name: str, email: str | None = None, actor: Actor, now: datetime | None = None
    ) -> uuid.UUID:
        return catalogue.add_customer(self.db, business_id, name=name, email=email, actor=actor, now=self._now(now))

    def add_service(
        self,
        business_id: uuid.UUID,
        *,
        name: str,
        price: Money,
        payment_method: PaymentMethod = PaymentMethod.PAY_ON_ARRIVAL,
        max_party_size: int = 1,
        kind: str = "appointment",
        actor: Actor,
        now: datetime | None = None,
    ) -> uuid.UUID:
        return catalogue.add_service(
            self.db,
            business_id,
            name=name,
            price=price,
            payment_method=payment_method,
            max_party_size=max_party_size,
            kind=kind,
            actor=actor,
            now=self._now(now),
        )

    def add_resource(
        self, business_id: uuid.UUID, *, name: str, kind: str = "room", actor: Actor, now: datetime | None = None
    ) -> uuid.UUID:
        return catalogue.add_resource(self.db, business_id, name=name, kind=kind, actor=actor, now=self._now(now))

    # -- schedules
    def publish_schedule(
        self,
        business_id: uuid.UUID,
        *,
        rules: Sequence[WeeklyRule],
        effective_date: date,
        horizon_date: date,
        actor: Actor,
        now: datetime | None = None,
        note: str | None = None,
    ) -> PublishReport:
        return schedules.publish_schedule(
            self.db,
            business_id,
            rules=rules,
            effective_date=effective_date,
            horizon_date=horizon_date,
            actor=actor,
            now=self._now(now),
            note=note,
        )

    def change_capacity(
        self,
        business_id: uuid.UUID,
        slot_id: uuid.UUID,
        *,
        capacity: int,
        actor: Actor,
        reason: str | None = None,
        now: datetime | None = None,
    ) -> Slot:
        return schedules.change_capacity(
            self.db, business_id, slot_id, capacity=capacity, actor=actor, now=self._now(now), reason=reason
        )

    def open_slots(
        self,
        business_id: uuid.UUID,
        *,
        start: datetime,
        end: datetime,
        service_id: uuid.UUID | None = None,
        min_free: int = 1,
    ) -> list[Slot]:
        return schedules.open_slots(
            self.db, business_id, start=start, end=end, service_id=service_id, min_free=min_free
        )

    def get_slot(self, business_id: uuid.UUID, slot_id: uuid.UUID) -> Slot:
        return schedules.get_slot(self.db, business_id, slot_id)

    # -- bookings
    def book(
        self,
        business_id: uuid.UUID,
        *,
        slot_id: uuid.UUID,
        customer_id: uuid.UUID,
        party_size: int,
        actor: Actor,
        idempotency_key: str | None = None,
        reason: str | None = None,
        promo_code: str | None = None,
        now: datetime | None = None,
    ) -> Booking:
        return bookings.book(
            self.db,
            business_id,
            slot_id=slot_id,
            customer_id=customer_id,
            party_size=party_size,
            actor=actor,
            now=self._now(now),
            idempotency_key=idempotency_key,
            reason=reason,
            promo_code=promo_code,
        )

    def get_booking(self, business_id: uuid.UUID, booking_id: uuid.UUID) -> Booking:
        return bookings.get_booking(self.db, business_id, booking_id)

    def cancel(
        self,
        business_id: uuid.UUID,
        booking_id: uuid.UUID,
        *,
        actor: Actor,
        token: uuid.UUID | str | None = None,
        reason: str | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
        now: datetime | None = None,
    ) -> Booking:
        return bookings.cancel(
            self.db,
            business_id,
            booking_id,
            actor=actor,
            now=self._now(now),
            token=token,
            reason=reason,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
        )

    def reschedule(
        self,
        business_id: uuid.UUID,
        booking_id: uuid.UUID,
        *,
        new_slot_id: uuid.UUID,
        actor: Actor,
        token: uuid.UUID | str | None = None,
        expected_version: int | None = None,
        reason: str | None = None,
        now: datetime | None = None,
    ) -> Booking:
        return bookings.reschedule(
            self.db,
            business_id,
            booking_id,
            new_slot_id=new_slot_id,
            actor=actor,
            now=self._now(now),
            token=token,
            expected_version=expected_version,
            reason=reason,
        )

    def change_party_size(
        self,
        business_id: uuid.UUID,
        booking_id: uuid.UUID,
        *,
        party_size: int,
        actor: Actor,
        token: uuid.UUID | str | None = None,
        expected_version: int | None = None,
        now: datetime | None = None,
    ) -> Booking:
        return bookings.change_party_size(
            self.db,
            business_id,
            booking_id,
            party_size=party_size,
            actor=actor,
            now=self._now(now),
            token=token,
            expected_version=expected_version,
        )

    def check_in(
        self, business_id: uuid.UUID, booking_id: uuid.UUID, *, actor: Actor, now: datetime | None = None
    ) -> Booking:
        return bookings.check_in(self.db, business_id, booking_id, actor=actor, now=self._now(now))

    def complete(
        self, business_id: uuid.UUID, booking_id: uuid.UUID, *, actor: Actor, now: datetime | None = None
    ) -> Booking:
        return bookings.complete(self.db, business_id, booking_id, actor=actor, now=self._now(now))

    def mark_no_show(
        self, business_id: uuid.UUID, booking_id: uuid.UUID, *, actor: Actor, now: datetime | None = None
    ) -> Booking:
        return bookings.mark_no_show(self.db, business_id, booking_id, actor=actor, now=self._now(now))

    # -- payments
    def record_payment(
        self,
        business_id: uuid.UUID,
        booking_id: uuid.UUID,
        *,
        amount: Money,
        actor: Actor,
        idempotency_key: str | None = None,
        provider_ref: str | None = None,
        now: datetime | None = None,
    ) -> Payment:
        return payments.record_payment(
            self.db,
            business_id,
            booking_id,
            amount=amount,
            actor=actor,
            now=self._now(now),
            idempotency_key=idempotency_key,
            provider_ref=provider_ref,
        )

    def confirm_payment(
        self,
        business_id: uuid.UUID,
        payment_id: uuid.UUID,
        *,
        actor: Actor,
        provider_ref: str | None = None,
        idempotency_key: str | None = None,
        now: datetime | None = None,
    ) -> PaymentOutcome:
        return payments.confirm_payment(
            self.db,
            business_id,
            payment_id,
            actor=actor,
            now=self._now(now),
            provider_ref=provider_ref,
            idempotency_key=idempotency_key,
        )

    def fail_payment(
        self, business_id: uuid.UUID, payment_id: uuid.UUID, *, reason: str, actor: Actor, now: datetime | None = None
    ) -> Payment:
        return payments.fail_payment(self.db, business_id, payment_id, reason=reason, actor=actor, now=self._now(now))

    def refund(
        self,
        business_id: uuid.UUID,
        payment_id: uuid.UUID,
        *,
        amount: Money,
        reason: str,
        actor: Actor,
        idempotency_key: str | None = None,
        now: datetime | None = None,
    ) -> PaymentOutcome:
        return payments.refund(
            self.db,
            business_id,
            payment_id,
            amount=amount,
            reason=reason,
            actor=actor,
            now=self._now(now),
            idempotency_key=idempotency_key,
        )

    def refund_due(
        self,
        business_id: uuid.UUID,
        booking_id: uuid.UUID,
        *,
        actor: Actor,
        reason: str = "refund due",
        now: datetime | None = None,
    ) -> Booking:
        """Refund exactly what the booking is owed back; NothingToChange when it is owed nothing."""
        return payments.refund_due(self.db, business_id, booking_id, actor=actor, now=self._now(now), reason=reason)

    def set_cancellation_policy(
        self, business_id: uuid.UUID, policy: CancellationPolicy, *, actor: Actor, now: datetime | None = None
    ) -> CancellationPolicy:
        return catalogue.set_cancellation_policy(self.db, business_id, policy, actor=actor, now=self._now(now))

    # -- audit
    def seal_audit(self, business_id: uuid.UUID) -> int:
        return audit.seal(self.db, business_id)

    def verify_audit(self, business_id: uuid.UUID) -> ChainReport:
        return audit.verify(self.db, business_id)

    def booking_history(self, business_id: uuid.UUID, booking_id: uuid.UUID) -> list[dict[str, object]]:
        return audit.history(self.db, business_id, booking_id)

    # -- idempotency keys (docs/invariants.md, "Idempotency")
    def purge_idempotency_keys(
        self, *, keep: timedelta = idempotency.DEFAULT_RETENTION, now: datetime | None = None
    ) -> int:
        """Forget keys older than `keep` (30 days by default); a booking's or payment's key replays for ever."""
        return idempotency.purge(self.db, now=self._now(now), keep=keep)

    # -- prices (issue 7): locked into each booking when it is made
    def add_price_rule(
        self,
        business_id: uuid.UUID,
        *,
        service_id: uuid.UUID,
        name: str,
        price: Money,
        valid_from: datetime,
        valid_to: datetime | None = None,
        iso_weekdays: Sequence[int] | None = None,
        local_start_from: time | None = None,
        local_start_to: time | None = None,
        priority: int = 0,
        actor: Actor,
        now: datetime | None = None,
    ) -> uuid.UUID:
        return pricing.add_price_rule(
            self.db,
            business_id,
            service_id=service_id,
            name=name,
            price=price,
            valid_from=valid_from,
            valid_to=valid_to,
            iso_weekdays=iso_weekdays,
            local_start_from=local_start_from,
            local_start_to=local_start_to,
            priority=priority,
            actor=actor,
            now=self._now(now),
        )

    def add_promo_code(
        self,
        business_id: uuid.UUID,
        *,
        code: str,
        currency: str,
        valid_from: datetime,
        percent_off: Decimal | None = None,
        amount_off: Money | None = None,
        valid_to: datetime | None = None,
        max_uses: int | None = None,
        actor: Actor,
        now: datetime | None = None,
    ) -> str:
        return pricing.add_promo_code(
            self.db,
            business_id,
            code=code,
            valid_from=valid_from,
            percent_off=percent_off,
            amount_off=amount_off,
            currency=currency,
            valid_to=valid_to,
            max_uses=max_uses,
            actor=actor,
            now=self._now(now),
        )

    def quote(
        self,
        business_id: uuid.UUID,
        *,
        slot_id: uuid.UUID,
        party_size: int,
        promo_code: str | None = None,
        now: datetime | None = None,
    ) -> Quote:
        return pricing.quote(
            self.db, business_id, slot_id=slot_id, party_size=party_size, now=self._now(now), promo_code=promo_code
        )

    # -- multi-resource bookings (issue 7)
    def book_with_resources(
        self,
        business_id: uuid.UUID,
        *,
        slot_id: uuid.UUID,
        customer_id: uuid.UUID,
        party_size: int,
        resources: Mapping[uuid.UUID, int],
        actor: Actor,
        idempotency_key: str | None = None,
        reason: str | None = None,
        now: datetime | None = None,
    ) -> Booking:
        return multi.book_with_resources(
            self.db,
            business_id,
            slot_id=slot_id,
            customer_id=customer_id,
            party_size=party_size,
            resources=resources,
            actor=actor,
            now=self._now(now),
            idempotency_key=idempotency_key,
            reason=reason,
        )

    # -- waitlists (issue 7)
    def join_waitlist(
        self,
        business_id: uuid.UUID,
        *,
        slot_id: uuid.UUID,
        customer_id: uuid.UUID,
        party_size: int,
        actor: Actor,
        idempotency_key: str | None = None,
        now: datetime | None = None,
    ) -> WaitlistEntry:
        return waitlist.join(
            self.db,
            business_id,
            slot_id=slot_id,
            customer_id=customer_id,
            party_size=party_size,
            actor=actor,
            now=self._now(now),
            idempotency_key=idempotency_key,
        )

    def accept_waitlist_offer(
        self,
        business_id: uuid.UUID,
        entry_id: uuid.UUID,
        *,
        actor: Actor,
        idempotency_key: str | None = None,
        now: datetime | None = None,
    ) -> Booking:
        return waitlist.accept(
            self.db, business_id, entry_id, actor=actor, now=self._now(now), idempotency_key=idempotency_key
        )

    def leave_waitlist(
        self, business_id: uuid.UUID, entry_id: uuid.UUID, *, actor: Actor, now: datetime | None = None
    ) -> WaitlistEntry:
        return waitlist.leave(self.db, business_id, entry_id, actor=actor, now=self._now(now))

    def expire_waitlist_offers(self, *, now: datetime | None = None) -> int:
        return waitlist.expire_offers(self.db, now=self._now(now))

    def waitlist_entry(self, business_id: uuid.UUID, entry_id: uuid.UUID) -> WaitlistEntry:
        return waitlist.get(self.db, business_id, entry_id)

    def waitlist_queue(self, business_id: uuid.UUID, slot_id: uuid.UUID) -> list[WaitlistEntry]:
        return waitlist.queue(self.db, business_id, slot_id)

    # -- recurring series (issue 7)
    def create_series(
        self,
        business_id: uuid.UUID,
        *,
        first_slot_id: uuid.UUID,
        customer_id: uuid.UUID,
        party_size: int,
        every_days: int,
        occurrences: int,
        mode: SeriesMode,
        actor: Actor,
        skip: Collection[int] = (),
        reason: str | None = None,
        idempotency_key: str | None = None,
        now: datetime | None = None,
    ) -> SeriesReport:
        return series.create_series(
            self.db,
            business_id,
            first_slot_id=first_slot_id,
            customer_id=customer_id,
            party_size=party_size,
            every_days=every_days,
            occurrences=occurrences,
            mode=mode,
            actor=actor,
            now=self._now(now),
            skip=skip,
            reason=reason,
            idempotency_key=idempotency_key,
        )

    def cancel_series(
        self,
        business_id: uuid.UUID,
        series_id: uuid.UUID,
        *,
        scope: Scope = Scope.ALL,
        occurrence: int = 0,
        actor: Actor,
        token: uuid.UUID | str | None = None,
        reason: str | None = None,
        now: datetime | None = None,
    ) -> list[Booking]:
        return series.cancel_series(
            self.db,
            business_id,
            series_id,
            scope=scope,
            occurrence=occurrence,
            actor=actor,
            now=self._now(now),
            token=token,
            reason=reason,
        )

    def change_series_party_size(
        self,
        business_id: uuid.UUID,
        series_id: uuid.UUID,
        *,
        party_size: int,
        scope: Scope = Scope.ALL,
        occurrence: int = 0,
        actor: Actor,
        token: uuid.UUID | str | None = None,
        now: datetime | None = None,
    ) -> list[Booking]:
        return series.change_series_party_size(
            self.db,
            business_id,
            series_id,
            party_size=party_size,
            scope=scope,
            occurrence=occurrence,
            actor=actor,
            now=self._now(now),
            token=token,
        )
