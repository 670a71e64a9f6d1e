"""Tenants and what they offer: businesses, customers, services, resources."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from booking_core.adapters.db import Database
from booking_core.domain.errors import InvalidInput, NotFound
from booking_core.domain.lifecycle import PaymentMethod
from booking_core.domain.model import Business
from booking_core.domain.money import CancellationPolicy
from booking_core.domain.values import Actor, Money, new_id, zone


def create_business(db: Database, *, name: str, timezone: str, currency: str, actor: Actor, now: datetime) -> Business:
    zone(timezone)
    Money(Decimal(0), currency)
    if not name.strip():
        raise InvalidInput("a business needs a name")
    with db.unit_of_work(actor, now=now) as uow:
        row = uow.execute(
            "INSERT INTO businesses (id, name, timezone, currency, created_at)"
            " VALUES (:id, :name, :tz, :cur, :now) RETURNING id, name, timezone, currency",
            id=new_id(),
            name=name,
            tz=timezone,
            cur=currency,
            now=now,
        ).one()
        uow.commit()
    return Business.from_row(row)


def add_customer(
    db: Database,
    business_id: uuid.UUID,
    *,
    name: str,
    email: str | None = None,
    actor: Actor,
    now: datetime,
) -> uuid.UUID:
    customer_id = new_id()
    with db.unit_of_work(actor, now=now) as uow:
        uow.execute(
            "INSERT INTO customers (business_id, id, name, email, created_at) VALUES (:b, :id, :n, :e, :now)",
            b=business_id,
            id=customer_id,
            n=name,
            e=email,
            now=now,
        )
        uow.commit()
    return customer_id


def add_service(
    db: Database,
    business_id: uuid.UUID,
    *,
    name: str,
    price: Money,
    payment_method: PaymentMethod = PaymentMethod.PAY_ON_ARRIVAL,
    max_party_size: int = 1,
    kind: str = "appointment",
    actor: Actor,
    now: datetime,
) -> uuid.UUID:
    if not 1 <= max_party_size <= 100:
        raise InvalidInput(f"max party size {max_party_size} must be 1 to 100")
    service_id = new_id()
    with db.unit_of_work(actor, now=now) as uow:
        uow.execute(
            "INSERT INTO services (business_id, id, name, kind, max_party_size, price, currency,"
            " payment_method, created_at) VALUES (:b, :id, :n, :k, :m, :p, :c, :pm, :now)",
            b=business_id,
            id=service_id,
            n=name,
            k=kind,
            m=max_party_size,
            p=price.amount,
            c=price.currency,
            pm=str(payment_method),
            now=now,
        )
        uow.commit()
    return service_id


def add_resource(
    db: Database,
    business_id: uuid.UUID,
    *,
    name: str,
    kind: str = "room",
    actor: Actor,
    now: datetime,
) -> uuid.UUID:
    resource_id = new_id()
    with db.unit_of_work(actor, now=now) as uow:
        uow.execute(
            "INSERT INTO resources (business_id, id, name, kind, created_at) VALUES (:b, :id, :n, :k, :now)",
            b=business_id,
            id=resource_id,
            n=name,
            k=kind,
            now=now,
        )
        uow.commit()
    return resource_id


def set_cancellation_policy(
    db: Database, business_id: uuid.UUID, policy: CancellationPolicy, *, actor: Actor, now: datetime
) -> CancellationPolicy:
    """Change what later cancellations keep; a booking's fee is fixed when it is cancelled."""
    if not 0 <= policy.free_hours <= 8760:
        raise InvalidInput(f"free cancellation of {policy.free_hours} hours: pass 0 to 8760 hours")
    if not 0 <= policy.late_fee_percent <= 100:
        raise InvalidInput(f"a late fee of {policy.late_fee_percent}%: pass 0 to 100")
    with db.unit_of_work(actor, now=now, reason="cancellation policy changed") as uow:
        found = uow.execute(
            "UPDATE businesses SET free_cancellation_hours = :h, late_cancellation_fee_percent = :p"
            " WHERE id = :id RETURNING id",
            h=policy.free_hours,
            p=policy.late_fee_percent,
            id=business_id,
        ).one_or_none()
        if found is None:
            raise NotFound(f"business {business_id} does not exist: create it first")
        uow.commit()
    return policy


def get_business(db: Database, business_id: uuid.UUID) -> Business:
    with db.connect() as conn:
        from sqlalchemy import text

        row = conn.execute(
            text("SELECT id, name, timezone, currency FROM businesses WHERE id = :id"),
            {"id": business_id},
        ).one_or_none()
    if row is None:
        raise NotFound(f"business {business_id} does not exist: create it first")
    return Business.from_row(row)
