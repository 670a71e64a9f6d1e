"""A changed party's price has two copies: Python's party_amount (domain/money.py) writes it, the
price-lock trigger (sql/bookings.sql) refuses any other amount. These tests show the two agree
over generated prices, discounts and party sizes, and that the trigger would catch a copy that drifted.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from booking_core import BookingSystem, Money
from booking_core.domain.money import party_amount
from tests.conftest import MONDAY
from tests.factories import Shop

CENTS = st.integers(min_value=1, max_value=50_000).map(lambda c: Decimal(c) / 100)
DISCOUNT = st.one_of(
    st.none(),
    st.integers(min_value=1, max_value=100).map(lambda p: ("percent", Decimal(p))),
    CENTS.map(lambda a: ("amount", a)),
)
_codes = itertools.count()


@pytest.fixture(scope="module")
def shop(system: BookingSystem) -> Shop:
    return Shop.create(system, now=MONDAY, capacity=10_000, max_party_size=8)


def _promo(system: BookingSystem, shop: Shop, discount: tuple[str, Decimal] | None) -> str | None:
    if discount is None:
        return None
    code = f"PARTY-{next(_codes)}"
    kind, value = discount
    off = {"percent_off": value} if kind == "percent" else {"amount_off": Money(value, "EUR")}
    system.add_promo_code(
        shop.business_id, code=code, currency="EUR", valid_from=MONDAY, actor=shop.admin, now=MONDAY, **off
    )
    return code


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(price=CENTS, discount=DISCOUNT, first=st.integers(1, 8), parties=st.lists(st.integers(1, 8), max_size=4))
def test_every_party_change_python_prices_is_the_amount_the_trigger_accepts(
    system: BookingSystem,
    shop: Shop,
    price: Decimal,
    discount: tuple[str, Decimal] | None,
    first: int,
    parties: list[int],
) -> None:
    priority = next(_codes)  # each example's rule outranks the earlier ones
    shop.price_rule(f"rule {priority}", price, priority=priority)
    promo = _promo(system, shop, discount)
    booking = shop.book(shop.first_slot(), party=first, promo_code=promo, now=MONDAY)
    assert booking.unit_price == price
    for party in parties:
        if party == booking.party_size:
            continue  # the same party is NothingToChange, not a price
        booking = system.change_party_size(shop.business_id, booking.id, party_size=party, actor=shop.admin, now=MONDAY)
        assert booking.amount == party_amount(price, booking.discount, party)
    system.cancel(shop.business_id, booking.id, actor=shop.admin, now=MONDAY)


def test_the_trigger_refuses_an_amount_other_than_python_s(
    system: BookingSystem, shop: Shop, raw: psycopg.Connection[tuple[object, ...]]
) -> None:
    booking = shop.book(shop.first_slot(), party=2, now=MONDAY)
    assert booking.unit_price is not None
    right = party_amount(booking.unit_price, booking.discount, 3)
    with pytest.raises(psycopg.Error, match="price is locked"):
        raw.execute(
            "UPDATE bookings SET party_size = 3, amount = %s WHERE id = %s", (right + Decimal("0.01"), booking.id)
        )
    raw.execute("UPDATE bookings SET party_size = 3, amount = %s WHERE id = %s", (right, booking.id))
