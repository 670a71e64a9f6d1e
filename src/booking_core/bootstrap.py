"""The composition root: `connect()` builds a BookingSystem (database, clock) when called, never at import."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime

from booking_core.adapters.db import Database
from booking_core.config import Settings
from booking_core.domain.lifecycle import PaymentMethod
from booking_core.domain.model import Booking, Business, ChainReport, Payment, PublishReport, Slot
from booking_core.domain.schedule import WeeklyRule
from booking_core.domain.values import Actor, Money
from booking_core.services import audit, bookings, catalogue, payments, schedules
from booking_core.services.payments import PaymentOutcome

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def connect(
    database_url: str | None = None,
    *,
    clock: Clock = utc_now,
    migrate: bool = True,
    pool_size: int = 5,
) -> BookingSystem:
    """Open the database (BOOKING_DATABASE_URL, or the embedded server) and migrate it."""
    settings = Settings.from_env()
    if database_url:
        settings = Settings(database_url=database_url, data_dir=settings.data_dir)
    db = Database.from_settings(settings, pool_size=pool_size)
    if migrate:
        db.upgrade()
    else:
        db.require_migrated()
    return BookingSystem(db, clock=clock)


class BookingSystem:
    """The public API: every method is one use case in one transaction. `now` defaults to the clock."""

    def __init__(self, db: Database, *, clock: Clock = utc_now) -> None:
        self.db = db
        self.clock = clock

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
        now: datetime | None = None,
    ) -> PaymentOutcome:
        return payments.confirm_payment(
            self.db, business_id, payment_id, actor=actor, now=self._now(now), provider_ref=provider_ref
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
        now: datetime | None = None,
    ) -> PaymentOutcome:
        return payments.refund(
            self.db, business_id, payment_id, amount=amount, reason=reason, actor=actor, now=self._now(now)
        )

    # -- audit
    def seal_audit(self, business_id: uuid.UUID) -> int:
        return audit.seal(self.db, business_id)

    def verify_audit(self, business_id: uuid.UUID) -> ChainReport:
        return audit.verify(self.db, business_id)

    def booking_history(self, business_id: uuid.UUID, booking_id: uuid.UUID) -> list[dict[str, object]]:
        return audit.history(self.db, business_id, booking_id)
