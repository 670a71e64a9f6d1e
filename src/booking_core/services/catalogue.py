"""Tenants and what they offer: businesses, customers, services, resources."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import TextClause, text

from booking_core.adapters.db import Database
from booking_core.domain.errors import InvalidInput, NotFound
from booking_core.domain.model import Business
from booking_core.domain.money import CancellationPolicy
from booking_core.domain.requests import (
    BusinessRequest,
    CancellationPolicyRequest,
    CustomerRequest,
    InBusiness,
    ResourceRequest,
    ServiceRequest,
)
from booking_core.domain.values import Money, new_id, zone
from booking_core.services.context import Context

_INSERT_BUSINESS = text(
    "INSERT INTO businesses (id, name, timezone, currency, created_at)"
    " VALUES (:id, :name, :tz, :cur, :now) RETURNING id, name, timezone, currency"
)
_INSERT_CUSTOMER = text(
    "INSERT INTO customers (business_id, id, name, email, phone, created_at) VALUES (:b, :id, :n, :e, :p, :now)"
)
_INSERT_SERVICE = text(
    "INSERT INTO services (business_id, id, name, kind, max_party_size, price, currency,"
    " payment_method, created_at) VALUES (:b, :id, :n, :k, :m, :p, :c, :pm, :now)"
)
_INSERT_RESOURCE = text(
    "INSERT INTO resources (business_id, id, name, kind, created_at) VALUES (:b, :id, :n, :k, :now)"
)


def create_business(ctx: Context, request: BusinessRequest) -> Business:
    zone(request.timezone)
    Money(Decimal(0), request.currency)
    if not request.name.strip():
        raise InvalidInput("a business needs a name")
    with ctx.db.unit_of_work(request.actor, now=ctx.now) as uow:
        values = {"id": new_id(), "name": request.name, "tz": request.timezone, "cur": request.currency}
        row = uow.execute(_INSERT_BUSINESS, **values, now=uow.now).one()
        uow.commit()
    return Business.from_row(row)


def _add(ctx: Context, request: InBusiness, statement: TextClause, **values: object) -> uuid.UUID:
    """Insert one new thing of the business (`values` besides its id, business and instant); returns its id."""
    new = new_id()
    with ctx.db.unit_of_work(request.actor, now=ctx.now) as uow:
        uow.execute(statement, b=request.business_id, id=new, now=uow.now, **values)
        uow.commit()
    return new


def add_customer(ctx: Context, request: CustomerRequest) -> uuid.UUID:
    return _add(ctx, request, _INSERT_CUSTOMER, n=request.name, e=request.email, p=request.phone)


def add_service(ctx: Context, request: ServiceRequest) -> uuid.UUID:
    if not 1 <= request.max_party_size <= 100:
        raise InvalidInput(f"max party size {request.max_party_size} must be 1 to 100")
    price, method = request.price, str(request.payment_method)
    values = {"n": request.name, "k": request.kind, "m": request.max_party_size, "pm": method}
    return _add(ctx, request, _INSERT_SERVICE, p=price.amount, c=price.currency, **values)


def add_resource(ctx: Context, request: ResourceRequest) -> uuid.UUID:
    return _add(ctx, request, _INSERT_RESOURCE, n=request.name, k=request.kind)


def set_cancellation_policy(ctx: Context, request: CancellationPolicyRequest) -> CancellationPolicy:
    """Change what later cancellations keep; a booking's fee is fixed when it is cancelled."""
    policy, business_id = request.policy, request.business_id
    if not 0 <= policy.free_hours <= 8760:
        raise InvalidInput(f"free cancellation of {policy.free_hours} hours: pass 0 to 8760 hours")
    if not 0 <= policy.late_fee_percent <= 100:
        raise InvalidInput(f"a late fee of {policy.late_fee_percent}%: pass 0 to 100")
    with ctx.db.unit_of_work(request.actor, now=ctx.now, reason="cancellation policy changed") as uow:
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
        row = conn.execute(
            text("SELECT id, name, timezone, currency FROM businesses WHERE id = :id"),
            {"id": business_id},
        ).one_or_none()
    if row is None:
        raise NotFound(f"business {business_id} does not exist: create it first")
    return Business.from_row(row)
