"""Prices per service and slot time, promo codes, and quotes; what a quote shows is what a booking locks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal

from sqlalchemy import text

from booking_core.adapters.db import Database
from booking_core.domain.errors import InvalidInput
from booking_core.domain.values import Actor, Money, new_id, require_aware


@dataclass(frozen=True, slots=True)
class Quote:
    unit_price: Money
    discount: Money
    total: Money
    price_rule_id: uuid.UUID | None


def add_price_rule(
    db: Database,
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
    now: datetime,
) -> uuid.UUID:
    """A price for the service's slots in a time window; a later rule of higher priority supersedes."""
    require_aware(valid_from, "valid_from")
    if valid_to is not None and require_aware(valid_to, "valid_to") <= valid_from:
        raise InvalidInput("a price rule must end after it starts")
    rule_id = new_id()
    with db.unit_of_work(actor, now=now, reason=f"price rule {name}") as uow:
        uow.execute(
            "INSERT INTO price_rules (business_id, id, service_id, name, amount, currency, valid_from, valid_to,"
            " iso_weekdays, local_start_from, local_start_to, priority, created_at) VALUES (:b, :id, :s, :n, :a,"
            " :c, :vf, :vt, CAST(:wd AS smallint[]), :lf, :lt, :p, :now)",
            b=business_id,
            id=rule_id,
            s=service_id,
            n=name,
            a=price.amount,
            c=price.currency,
            vf=valid_from,
            vt=valid_to,
            wd=list(iso_weekdays) if iso_weekdays else None,
            lf=local_start_from,
            lt=local_start_to,
            p=priority,
            now=now,
        )
        uow.commit()
    return rule_id


def add_promo_code(
    db: Database,
    business_id: uuid.UUID,
    *,
    code: str,
    valid_from: datetime,
    percent_off: Decimal | None = None,
    amount_off: Money | None = None,
    currency: str,
    valid_to: datetime | None = None,
    max_uses: int | None = None,
    actor: Actor,
    now: datetime,
) -> str:
    if (percent_off is None) == (amount_off is None):
        raise InvalidInput("a promo code takes either percent_off or amount_off")
    if amount_off is not None:
        Money(Decimal(0), currency).same_currency(amount_off)
    if percent_off is not None and not Decimal(0) < percent_off <= Decimal(100):
        raise InvalidInput(f"percent_off {percent_off} must be more than 0 and at most 100")
    with db.unit_of_work(actor, now=now, reason=f"promo code {code}") as uow:
        uow.execute(
            "INSERT INTO promo_codes (business_id, code, percent_off, amount_off, currency, valid_from, valid_to,"
            " max_uses, created_at) VALUES (:b, :code, :pct, :amt, :cur, :vf, :vt, :mx, :now)",
            b=business_id,
            code=code,
            pct=percent_off,
            amt=amount_off.amount if amount_off else None,
            cur=currency,
            vf=valid_from,
            vt=valid_to,
            mx=max_uses,
            now=now,
        )
        uow.commit()
    return code


def quote(
    db: Database,
    business_id: uuid.UUID,
    *,
    slot_id: uuid.UUID,
    party_size: int,
    now: datetime,
    promo_code: str | None = None,
) -> Quote:
    """The price `book()` would lock in now for this slot and party."""
    with db.connect() as conn:
        r = conn.execute(
            text("SELECT * FROM booking_quote(:b, :s, :p, :promo, :now)"),
            {"b": business_id, "s": slot_id, "p": party_size, "promo": promo_code, "now": require_aware(now)},
        ).one()
    return Quote(
        Money(r.unit_price, r.currency), Money(r.discount, r.currency), Money(r.amount, r.currency), r.price_rule_id
    )
