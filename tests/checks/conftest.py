"""A clean world built through the public API (every check passes on it), and ways to break it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from booking_core import BookingSystem, Money, PaymentMethod, connect
from tests.conftest import MONDAY, create_database, drop_database
from tests.factories import Shop


@dataclass
class World:
    """Two tenants with bookings in every state; ids the fault tests break."""

    url: str
    shop: Shop
    paid_shop: Shop
    ids: dict[str, uuid.UUID] = field(default_factory=dict)
    extra: list[Shop] = field(default_factory=list)

    @property
    def businesses(self) -> list[uuid.UUID]:
        return [self.shop.business_id, self.paid_shop.business_id, *(x.business_id for x in self.extra)]


def build_world(system: BookingSystem, url: str) -> World:
    """Bookings, a cancellation, check-in/complete, a no-show, payments, refunds, a schedule change
    and a capacity reduction (above the booked seats), then the audit sealed."""
    shop = Shop.create(system, now=MONDAY)
    world = World(url, shop, Shop.create(system, now=MONDAY, payment_method=PaymentMethod.PAY_NOW))
    _pay_on_arrival(world)
    _pay_now(world)
    _multi_resource_and_waitlist(world, system)
    for b in world.businesses:
        system.seal_audit(b)
    return world


def _pay_on_arrival(world: World) -> None:
    shop, s, ids = world.shop, world.shop.system, world.ids
    thu, fri, sat = shop.first_slot(4), shop.first_slot(5), shop.first_slot(6)
    ids["thu_slot"], ids["fri_slot"], ids["sat_slot"] = thu.id, fri.id, sat.id
    ids["confirmed"] = shop.book(fri, party=2).id
    ids["alone"] = shop.book(sat, party=3, customer=1).id
    ids["cancelled"] = shop.book(fri, party=1, customer=1).id
    s.cancel(shop.business_id, ids["cancelled"], actor=shop.admin, reason="plans changed", now=shop.now)
    ids["on_thursday"] = shop.book(thu, party=2, customer=2, idempotency_key="req-1").id
    # A schedule change: Thursday leaves the schedule, its booked slot becomes legacy.
    shop.publish((5, 6), capacity=10, effective=shop.now.date(), now=shop.now + timedelta(hours=1))
    s.change_capacity(
        shop.business_id, fri.id, capacity=6, actor=shop.admin, reason="smaller room", now=shop.now + timedelta(hours=2)
    )
    ids["completed"] = _visit(world, sat.starts_at)


def _visit(world: World, starts: Any) -> uuid.UUID:
    """A booking checked in 10 minutes early, paid at the desk, completed; another a no-show."""
    shop, s, ids = world.shop, world.shop.system, world.ids
    sat = s.get_slot(shop.business_id, ids["sat_slot"])
    visit = shop.book(sat, party=2, customer=2).id
    s.check_in(shop.business_id, visit, actor=shop.admin, now=starts - timedelta(minutes=10))
    pay = s.record_payment(
        shop.business_id, visit, amount=Money("50.00", "EUR"), actor=shop.admin, now=starts - timedelta(minutes=5)
    )
    s.confirm_payment(shop.business_id, pay.id, actor=shop.admin, now=starts - timedelta(minutes=5))
    s.complete(shop.business_id, visit, actor=shop.admin, now=starts + timedelta(hours=2))
    s.mark_no_show(shop.business_id, ids["alone"], actor=shop.admin, now=starts + timedelta(hours=1))
    return visit


def _pay_now(world: World) -> None:
    shop, s, ids, admin = world.paid_shop, world.paid_shop.system, world.ids, world.paid_shop.admin
    fri, sat = shop.first_slot(5), shop.first_slot(6)
    for key, slot, customer in (("paid", fri, 0), ("paid_cancelled", fri, 1), ("partly", sat, 2)):
        draft = shop.book(slot, party=2, customer=customer)
        pay = s.record_payment(shop.business_id, draft.id, amount=Money("50.00", "EUR"), actor=admin, now=shop.now)
        s.confirm_payment(shop.business_id, pay.id, actor=admin, now=shop.now)
        ids[key], ids[f"{key}_payment"] = draft.id, pay.id
    s.cancel(shop.business_id, ids["paid_cancelled"], actor=admin, reason="ill", now=shop.now)
    for payment, amount, reason in (
        ("paid_cancelled_payment", "50.00", "cancelled"),
        ("partly_payment", "10.00", "goodwill"),
    ):
        s.refund(shop.business_id, ids[payment], amount=Money(amount, "EUR"), reason=reason, actor=admin, now=shop.now)
    ids["draft"] = shop.book(sat, party=1, customer=0).id


def _multi_resource_and_waitlist(world: World, system: BookingSystem) -> None:
    """A price rule, a multi-resource booking, and a full slot with someone waiting."""
    shop = Shop.create(system, now=MONDAY, capacity=2, max_party_size=2, customers=4)
    world.extra.append(shop)
    slot = shop.first_slot(4)
    staff = shop.publish_with_resources([("Anna", "staff", 1)], weekdays=(4, 5, 6), capacity=2)["Anna"]
    shop.price_rule("winter", "30")
    multi = shop.book_with_resources(slot, {staff: 1})
    full = shop.book(slot, party=1, customer=1)
    entry = shop.join_waitlist(slot, customer=2)
    world.ids.update(full_slot=slot.id, staff=staff, multi=multi.id, full=full.id, waiting=entry.id)


def superuser(url: str) -> psycopg.Connection[Any]:
    """A raw autocommit connection as the superuser, for faults the library would never make."""
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def inject(url: str, *statements: str, bypass_triggers: bool = True, **params: Any) -> None:
    """Run raw SQL as the superuser; with bypass_triggers the guards (and FKs) are off."""
    with superuser(url) as conn:
        if bypass_triggers:
            conn.execute("SET session_replication_role = replica")
        for sql in statements:
            conn.execute(sql, params)  # type: ignore[arg-type]


@pytest.fixture
def world(system: BookingSystem, database_url: str) -> World:
    """A fresh clean world in the shared session database (run checks scoped to its businesses)."""
    return build_world(system, database_url)


@pytest.fixture
def own_world(admin_url: str) -> Iterator[World]:
    """A clean world in a database of its own, for faults that change the schema itself."""
    url = create_database(admin_url, prefix="booking_checks")
    try:
        with connect(url) as system:
            yield build_world(system, url)
    finally:
        drop_database(admin_url, url)
