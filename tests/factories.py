"""Builders for test tenants through the public API."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from booking_core import Actor, BookingSystem, Money, PaymentMethod, SeriesMode, Slot, WeeklyRule


@dataclass
class Shop:
    system: BookingSystem
    business_id: uuid.UUID
    service_id: uuid.UUID
    resource_id: uuid.UUID
    admin: Actor
    now: datetime
    timezone: str
    customers: list[uuid.UUID] = field(default_factory=list)
    currency: str = "EUR"

    @classmethod
    def create(
        cls,
        system: BookingSystem,
        *,
        now: datetime,
        timezone: str = "Europe/Berlin",
        capacity: int = 10,
        weekdays: tuple[int, ...] = (4, 5, 6),
        start: time = time(14, 0),
        payment_method: PaymentMethod = PaymentMethod.PAY_ON_ARRIVAL,
        price: str = "25.00",
        max_party_size: int = 8,
        horizon_days: int = 56,
        customers: int = 3,
        currency: str = "EUR",
    ) -> Shop:
        admin = Actor.admin("admin-1")
        biz = system.create_business(
            name=f"Shop {uuid.uuid4().hex[:6]}", timezone=timezone, currency=currency, actor=admin, now=now
        )
        svc = system.add_service(
            biz.id,
            name="Dinner",
            price=Money(price, currency),
            payment_method=payment_method,
            max_party_size=max_party_size,
            actor=admin,
            now=now,
        )
        res = system.add_resource(biz.id, name="Main room", actor=admin, now=now)
        shop = cls(system, biz.id, svc, res, admin, now, timezone, currency=currency)
        shop.publish(
            weekdays,
            capacity=capacity,
            start=start,
            effective=now.date(),
            horizon_days=horizon_days,
        )
        shop.customers = [
            system.add_customer(biz.id, name=f"Customer {i}", actor=admin, now=now) for i in range(customers)
        ]
        return shop

    def rules(self, weekdays: tuple[int, ...], *, capacity: int, start: time = time(14, 0)) -> list[WeeklyRule]:
        return [WeeklyRule(self.service_id, self.resource_id, d, start, timedelta(hours=2), capacity) for d in weekdays]

    def publish(
        self,
        weekdays: tuple[int, ...],
        *,
        capacity: int,
        effective: date,
        now: datetime | None = None,
        start: time = time(14, 0),
        horizon_days: int = 56,
    ):  # type: ignore[no-untyped-def]
        return self.system.publish_schedule(
            self.business_id,
            rules=self.rules(weekdays, capacity=capacity, start=start),
            effective_date=effective,
            horizon_date=effective + timedelta(days=horizon_days),
            actor=self.admin,
            now=now or self.now,
        )

    def publish_with_resources(
        self,
        resources: Sequence[tuple[str, str, int]],
        *,
        weekdays: tuple[int, ...],
        capacity: int,
        horizon_days: int = 56,
    ) -> dict[str, uuid.UUID]:
        """Add resources (name, kind, capacity) and publish the room and each of them at the same times.

        Returns the new resources' ids by name; the room keeps `capacity`.
        """
        start = self.first_slot().local_start
        ids = {
            name: self.system.add_resource(self.business_id, name=name, kind=kind, actor=self.admin, now=self.now)
            for name, kind, _ in resources
        }
        rules = self.rules(weekdays, capacity=capacity, start=start)
        rules += [
            WeeklyRule(self.service_id, ids[name], d, start, timedelta(hours=2), seats)
            for name, _, seats in resources
            for d in weekdays
        ]
        self.system.publish_schedule(
            self.business_id,
            rules=rules,
            effective_date=self.now.date(),
            horizon_date=self.now.date() + timedelta(days=horizon_days),
            actor=self.admin,
            now=self.now,
        )
        return ids

    def slots(self, days: int = 7, now: datetime | None = None) -> list[Slot]:
        start = now or self.now
        return self.system.open_slots(self.business_id, start=start, end=start + timedelta(days=days), min_free=0)

    def first_slot(self, weekday: int | None = None) -> Slot:
        for s in self.slots(days=14):
            if weekday is None or s.local_date.isoweekday() == weekday:
                return s
        raise LookupError(weekday)

    def book(self, slot: Slot, party: int = 2, customer: int = 0, **kw):  # type: ignore[no-untyped-def]
        cust = self.customers[customer]
        kw.setdefault("now", self.now)
        kw.setdefault("actor", Actor.customer(cust))
        return self.system.book(self.business_id, slot_id=slot.id, customer_id=cust, party_size=party, **kw)

    def _by_admin(self, kw: dict[str, Any]) -> dict[str, Any]:
        """`kw` with the shop's time and its admin where the caller did not say."""
        return {"now": self.now, "actor": self.admin} | kw

    def _for(self, customer: int, party: int, kw: dict[str, Any]) -> dict[str, Any]:
        return {"customer_id": self.customers[customer], "party_size": party} | self._by_admin(kw)

    def join_waitlist(self, slot: Slot, party: int = 1, customer: int = 0, **kw):  # type: ignore[no-untyped-def]
        """A waitlist entry of `customer` for `slot`, made by the admin at the shop's time unless told."""
        return self.system.join_waitlist(self.business_id, slot_id=slot.id, **self._for(customer, party, kw))

    def series(self, first: Slot, *, occurrences: int, mode: SeriesMode, party: int = 1, customer: int = 0, **kw):  # type: ignore[no-untyped-def]
        """A weekly series from `first`, booked by the admin at the shop's time unless told."""
        kw.setdefault("every_days", 7)
        return self.system.create_series(
            self.business_id,
            first_slot_id=first.id,
            occurrences=occurrences,
            mode=mode,
            **self._for(customer, party, kw),
        )

    def book_with_resources(self, slot: Slot, resources: dict[uuid.UUID, int], party: int = 1, customer: int = 0, **kw):  # type: ignore[no-untyped-def]
        """A booking of `slot` that also holds `resources`, made by the admin at the shop's time unless told."""
        return self.system.book_with_resources(
            self.business_id, slot_id=slot.id, resources=resources, **self._for(customer, party, kw)
        )

    def price_rule(self, name: str, price: object, *, currency: str | None = None, **kw):  # type: ignore[no-untyped-def]
        """A price rule for the shop's service, valid from the shop's time, added by the admin unless told."""
        kw.setdefault("valid_from", self.now)
        money = Money(price, currency or self.currency)  # type: ignore[arg-type]
        return self.system.add_price_rule(
            self.business_id, service_id=self.service_id, name=name, price=money, **self._by_admin(kw)
        )
