"""A fresh database with one small, fully known business history for the dashboard tests."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg.sql import Composable
from streamlit.testing.v1 import AppTest

from booking_core import Actor, BookingSystem, Money, connect
from tests.conftest import MONDAY, create_database, drop_database, scratch_database
from tests.factories import Shop

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"

# The two weeks the tests look at (Thursday to Saturday slots at 14:00 Europe/Berlin).
FROM, TO = date(2030, 1, 7), date(2030, 1, 20)

# The people of the known history (docs/access.md): one of each role in its business (and the empty
# one); an admin across businesses; someone with no membership at all.
MANAGER, OPS, ANALYST = "manager@example.com", "ops@example.com", "analyst@example.com"
ADMIN, STRANGER = "admin@example.com", "stranger@example.com"


def grant(system: BookingSystem, person: str, role: str, business_id: uuid.UUID | None) -> None:
    system.set_membership(
        person=person, role=role, business_id=business_id, reason="test", actor=Actor.admin("root"), now=MONDAY
    )


def login(at: AppTest, person: str = MANAGER) -> AppTest:
    """The AppTest as `person` logged in (Streamlit's st.user, as st.login leaves it)."""
    at.user = {"is_logged_in": True, "email": person, "name": person.split("@")[0]}
    return at


@dataclass
class History:
    url: str
    shop: Shop
    bookings: dict[str, uuid.UUID] = field(default_factory=dict)
    empty_business: uuid.UUID | None = None

    @property
    def business(self) -> uuid.UUID:
        return self.shop.business_id

    def query_params(self) -> dict[str, str]:
        return {"business": str(self.business), "from": FROM.isoformat(), "to": TO.isoformat()}

    def sql(self, sql: str | Composable, **params: object) -> list[tuple[object, ...]]:
        """Independent SQL (as the superuser) for the figures a test expects to see."""
        with psycopg.connect(self.url) as conn:
            return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]

    def scalar(self, sql: str | Composable, **params: object) -> object:
        return self.sql(sql, **params)[0][0]


def _build(system: BookingSystem) -> History:
    shop = Shop.create(system, now=MONDAY, customers=6)
    h = History(url="", shop=shop)
    slots = {s.local_date: s for s in shop.slots(days=21)}
    thu, fri, sat = slots[date(2030, 1, 10)], slots[date(2030, 1, 11)], slots[date(2030, 1, 12)]
    thu2 = slots[date(2030, 1, 17)]
    admin, b = shop.admin, shop.business_id
    book = {
        "completed": shop.book(thu, party=2, customer=0),
        "no_show": shop.book(thu, party=3, customer=1),
        "cancel_sick": shop.book(thu, party=2, customer=2),
        "paid": shop.book(fri, party=4, customer=3),
        "cancel_admin": shop.book(fri, party=2, customer=4),
        "plain": shop.book(fri, party=1, customer=5),
        "full_a": shop.book(sat, party=5, customer=0),
        "full_b": shop.book(sat, party=5, customer=1),
        "cancel_quiet": shop.book(thu2, party=2, customer=3),
        "week2": shop.book(thu2, party=2, customer=2),
    }
    h.bookings = {k: v.id for k, v in book.items()}
    day = timedelta(days=1)
    cust = Actor.customer
    system.cancel(b, book["cancel_sick"].id, actor=cust(shop.customers[2]), reason="sick", now=MONDAY + day)
    system.cancel(b, book["cancel_admin"].id, actor=admin, reason="double booking", now=MONDAY + 3 * day)
    system.cancel(b, book["cancel_quiet"].id, actor=cust(shop.customers[3]), now=MONDAY + 9 * day)
    at_thu = thu.starts_at + timedelta(minutes=10)
    system.check_in(b, book["completed"].id, actor=admin, now=at_thu)
    system.complete(b, book["completed"].id, actor=admin, now=at_thu + timedelta(hours=2))
    system.mark_no_show(b, book["no_show"].id, actor=admin, now=at_thu + timedelta(hours=1))
    pay = system.record_payment(b, book["paid"].id, amount=Money("100.00", "EUR"), actor=admin, now=MONDAY)
    system.confirm_payment(b, pay.id, actor=admin, now=MONDAY)
    system.refund(b, pay.id, amount=Money("20.00", "EUR"), reason="voucher", actor=admin, now=MONDAY + day)
    # Over-committed: capacity cut below the 10 seats already booked.
    system.change_capacity(b, sat.id, capacity=6, actor=admin, reason="room repairs", now=MONDAY)
    # Legacy: Saturdays leave the schedule from the 20th, after a booking on the 26th.
    sat4 = slots[date(2030, 1, 26)] if date(2030, 1, 26) in slots else shop.slots(days=21)[-1]
    h.bookings["legacy"] = shop.book(sat4, party=2, customer=4).id
    shop.publish((4, 5), capacity=10, effective=date(2030, 1, 20), now=MONDAY + 2 * day)
    system.seal_audit(b)
    h.empty_business = system.create_business(
        name="Empty Cafe", timezone="America/New_York", currency="USD", actor=admin, now=MONDAY
    ).id
    for business in (b, h.empty_business):
        for person, role in ((MANAGER, "manager"), (OPS, "ops"), (ANALYST, "analyst")):
            grant(system, person, role, business)
    grant(system, ADMIN, "admin", None)
    return h


def _store_check_runs(url: str, h: History) -> None:
    """Two stored integrity runs (as the checks part writes them): one passed, then one failed."""
    sample = [{"business_id": str(h.business), "booking_id": str(h.bookings["plain"])}]
    with psycopg.connect(url, autocommit=True) as conn:
        for i, (status, count) in enumerate((("passed", 0), ("failed", 1))):
            run = conn.execute(
                "INSERT INTO integrity_check_runs (started_at, finished_at, duration_seconds, status)"
                " VALUES (%s, %s, 1.5, %s) RETURNING id",
                (MONDAY + timedelta(hours=i), MONDAY + timedelta(hours=i, seconds=2), status),
            ).fetchone()
            assert run is not None
            for name, st, n in (("no_overbooking", "passed", 0), ("payment_matches", status, count)):
                conn.execute(
                    "INSERT INTO integrity_check_results (run_id, check_name, suite, description, status,"
                    " violation_count, sample) VALUES (%s, %s, 'bookings', %s, %s, %s, %s)",
                    (run[0], name, f"{name} holds", st, n, json.dumps(sample if n else [])),
                )


@contextmanager
def known_history(admin_url: str, prefix: str) -> Iterator[History]:
    """The known history with its stored check runs, in a fresh database dropped afterwards."""
    url = create_database(admin_url, prefix=prefix)
    try:
        with connect(url) as system:
            h = _build(system)
        h.url = url
        _store_check_runs(url, h)
        yield h
    finally:
        drop_database(admin_url, url)


@pytest.fixture(scope="session")
def history(admin_url: str) -> Iterator[History]:
    with known_history(admin_url, "booking_dash") as h:
        yield h


@pytest.fixture(scope="session")
def empty_database(admin_url: str) -> Iterator[str]:
    """A migrated database with no business at all."""
    with scratch_database(admin_url, "booking_dash_empty") as url:
        yield url


__all__ = ["ADMIN", "ANALYST", "FROM", "MANAGER", "OPS", "STRANGER", "TO", "UTC", "History", "grant", "login"]


def open_integrity(url: str, params: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The Integrity page as a link with these query parameters opens it (an alert's link, a shared URL)."""
    monkeypatch.setenv("BOOKING_DATABASE_URL", url)
    at = login(AppTest.from_file(str(APP), default_timeout=60))
    at.query_params.update(params)
    at.run()
    at.switch_page("screens/integrity.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at
