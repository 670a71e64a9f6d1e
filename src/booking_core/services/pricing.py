"""Prices per service and slot time, promo codes, and quotes; what a quote shows is what a booking locks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import text

from booking_core.domain.errors import InvalidInput
from booking_core.domain.requests import PriceRuleRequest, PromoCodeRequest, QuoteRequest
from booking_core.domain.values import Money, require_aware
from booking_core.services.context import Context


@dataclass(frozen=True, slots=True)
class Quote:
    unit_price: Money
    discount: Money
    total: Money
    price_rule_id: uuid.UUID | None


_INSERT_PRICE_RULE = text(
    "INSERT INTO price_rules (business_id, id, service_id, name, amount, currency, valid_from, valid_to,"
    " iso_weekdays, local_start_from, local_start_to, priority, created_at) VALUES (:b, :id, :s, :n, :a,"
    " :c, :vf, :vt, CAST(:wd AS smallint[]), :lf, :lt, :p, :now)"
)


def add_price_rule(ctx: Context, request: PriceRuleRequest) -> uuid.UUID:
    """A price for the service's slots in a time window; a later rule of higher priority supersedes."""
    valid_from, valid_to = request.valid_from, request.valid_to
    require_aware(valid_from, "valid_from")
    if valid_to is not None and require_aware(valid_to, "valid_to") <= valid_from:
        raise InvalidInput("a price rule must end after it starts")
    with ctx.db.unit_of_work(request.actor, now=ctx.now, reason=f"price rule {request.name}") as uow:
        rule_id = uow.insert(
            _INSERT_PRICE_RULE,
            request.business_id,
            s=request.service_id,
            n=request.name,
            a=request.price.amount,
            c=request.price.currency,
            vf=valid_from,
            vt=valid_to,
            wd=list(request.iso_weekdays) if request.iso_weekdays else None,
            lf=request.local_start_from,
            lt=request.local_start_to,
            p=request.priority,
        )
        uow.commit()
    return rule_id


_INSERT_PROMO_CODE = text(
    "INSERT INTO promo_codes (business_id, code, percent_off, amount_off, currency, valid_from, valid_to,"
    " max_uses, created_at) VALUES (:b, :code, :pct, :amt, :cur, :vf, :vt, :mx, :now)"
)


def add_promo_code(ctx: Context, request: PromoCodeRequest) -> str:
    percent_off, amount_off = request.percent_off, request.amount_off
    if (percent_off is None) == (amount_off is None):
        raise InvalidInput("a promo code takes either percent_off or amount_off")
    if amount_off is not None:
        Money(Decimal(0), request.currency).same_currency(amount_off)
    if percent_off is not None and not Decimal(0) < percent_off <= Decimal(100):
        raise InvalidInput(f"percent_off {percent_off} must be more than 0 and at most 100")
    with ctx.db.unit_of_work(request.actor, now=ctx.now, reason=f"promo code {request.code}") as uow:
        uow.execute(
            _INSERT_PROMO_CODE,
            b=request.business_id,
            code=request.code,
            pct=percent_off,
            amt=amount_off.amount if amount_off else None,
            cur=request.currency,
            vf=request.valid_from,
            vt=request.valid_to,
            mx=request.max_uses,
            now=uow.now,
        )
        uow.commit()
    return request.code


_BOOKING_QUOTE = text(
    "SELECT unit_price, discount, amount, currency, price_rule_id"
    " FROM booking_quote(p_business => :p_business, p_slot => :p_slot, p_party => :p_party,"
    " p_promo => :p_promo, p_at => :p_at)"
)


def quote(ctx: Context, request: QuoteRequest) -> Quote:
    """The price `book()` would lock in now for this slot and party, as booking_quote() computes it.

    The database is the one source of a price (booking_price(), src/booking_core/sql/bookings.sql):
    booking_create() locks in what booking_quote() shows; Python only reads it.
    """
    args = {
        "p_business": request.business_id,
        "p_slot": request.slot_id,
        "p_party": request.party_size,
        "p_promo": request.promo_code,
        "p_at": require_aware(ctx.now),
    }
    with ctx.db.connect() as conn:
        r = conn.execute(_BOOKING_QUOTE, args).one()
    return Quote(
        Money(r.unit_price, r.currency), Money(r.discount, r.currency), Money(r.amount, r.currency), r.price_rule_id
    )
