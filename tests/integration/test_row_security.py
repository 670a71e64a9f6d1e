"""Row-level security: as a member of business A, nothing of business B, whatever the query.

The reader role (booking_reader) is what the dashboard, the exports and every person-facing
reader connect as; the person is the transaction's `booking.person`. Two shops share the
database (with bookings, a waitlist, a series, payments, refunds, audit rows, notifications);
each table and view is read as a member of A, as a person with no membership, and with no
person at all. The database must answer: A's rows only, none, none.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import sql

from booking_core import Actor, Money, SeriesMode
from tests.factories import Shop
from tests.integration.test_schedules import MONDAY

# Read per person, not per business: a member reads their own memberships and their changes.
PERSON_SCOPED = {"memberships", "membership_changes"}
VIEWS = ("customers_for_members", "booking_audit_for_members")
PERSONAL = {
    "customers": ("name", "email", "phone"),
    "bookings": ("cancellation_token_hash",),
    # The nonces of the personal context's commitments: with one, a commitment can be tried against guesses.
    "booking_audit_log": ("old_values", "new_values", "ip_address", "user_agent", "reason_nonce", "client_nonce"),
    "notification_outbox": ("payload",),
}
# And free text, which may quote a person (migration 0014): the reader reads it through the member
# views, the monitor not at all.
FREE_TEXT = {
    "booking_audit_log": ("reason",),
    "booking_state_transitions": ("reason",),
    "refunds": ("reason",),
    "payments": ("failure_reason",),
    "notification_deliveries": ("error",),
    "notification_outbox": ("last_error",),
}


def plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextmanager
def reader(url: str, person: str | None) -> Iterator[psycopg.Connection[Any]]:
    """A connection as booking_reader, its person set (or not)."""
    with psycopg.connect(plain(url), autocommit=True) as conn:
        conn.execute("SET ROLE booking_reader")
        if person is not None:
            conn.execute("SELECT set_config('booking.person', %s, false)", (person,))
        yield conn


def shop_with_everything(system: Any) -> Shop:
    shop = Shop.create(system, now=MONDAY, capacity=2, customers=3)
    slots = shop.slots(days=14)
    full = shop.book(slots[0], party=2, customer=1)
    shop.join_waitlist(slots[0], customer=0)
    booking = shop.book(slots[1], party=1, customer=0, actor=shop.admin)
    shop.series(slots[2], occurrences=2, mode=SeriesMode.BEST_EFFORT, customer=2)
    payment = system.record_payment(
        shop.business_id, booking_id=booking.id, amount=Money("10.00", "EUR"), actor=shop.admin, now=MONDAY
    )
    system.confirm_payment(shop.business_id, payment_id=payment.id, actor=shop.admin, now=MONDAY)
    system.cancel(shop.business_id, full.id, actor=shop.admin, now=MONDAY, reason="moved")
    system.seal_audit(shop.business_id)
    return shop


@pytest.fixture(scope="module")
def two_shops(system: Any) -> tuple[Shop, Shop, dict[str, str]]:
    a, b = shop_with_everything(system), shop_with_everything(system)
    tag = uuid.uuid4().hex[:6]
    people = {role: f"{role}-{tag}@example.com" for role in ("manager", "ops", "analyst")}
    for role, person in people.items():
        system.set_membership(
            person=person, role=role, business_id=a.business_id, reason="test", actor=Actor.admin("t"), now=MONDAY
        )
    return a, b, people


def business_tables(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """(table, its business column) for every table of public holding a business's rows."""
    rows = conn.execute(
        "SELECT c.relname, CASE WHEN c.relname = 'businesses' THEN 'id' ELSE 'business_id' END"
        "  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind = 'r' AND (c.relname = 'businesses' OR EXISTS ("
        "   SELECT 1 FROM pg_attribute a"
        "    WHERE a.attrelid = c.oid AND a.attname = 'business_id' AND NOT a.attisdropped))"
        " ORDER BY 1"
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def readable(conn: psycopg.Connection[Any], table: str, column: str) -> bool:
    row = conn.execute("SELECT has_column_privilege('booking_reader', %s, %s, 'SELECT')", (table, column)).fetchone()
    return bool(row and row[0])


def count(conn: psycopg.Connection[Any], table: str, column: str, business: uuid.UUID) -> int:
    row = conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE {} = %s").format(sql.Identifier(table), sql.Identifier(column)),
        (business,),
    ).fetchone()
    return int(row[0]) if row else -1


def test_every_business_table_has_row_security_and_a_members_policy(raw: Any) -> None:
    for table, _column in [*business_tables(raw), ("memberships", "business_id")]:
        row = raw.execute(
            "SELECT c.relrowsecurity, EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid"
            "   AND 'booking_reader'::regrole = ANY (p.polroles))"
            " FROM pg_class c WHERE c.oid = %s::regclass",
            (table,),
        ).fetchone()
        assert row == (True, True), f"{table}: row security {row}"
    role = raw.execute("SELECT rolbypassrls, rolsuper FROM pg_roles WHERE rolname = 'booking_reader'").fetchone()
    assert role == (False, False)


def test_a_member_of_a_reads_all_of_a_and_nothing_of_b_in_every_table(database_url: str, raw: Any, two_shops) -> None:
    a, b, people = two_shops
    checked = 0
    with reader(database_url, people["manager"]) as conn:
        for table, column in business_tables(raw):
            if not readable(raw, table, column):
                continue
            assert count(conn, table, column, b.business_id) == 0, table
            if table not in PERSON_SCOPED:
                assert count(conn, table, column, a.business_id) == count(raw, table, column, a.business_id), table
            checked += 1
        for view in VIEWS:
            assert count(conn, view, "business_id", b.business_id) == 0, view
            assert count(conn, view, "business_id", a.business_id) > 0, view
    assert checked >= 25
    assert count(raw, "bookings", "business_id", b.business_id) > 0  # B has rows the reader did not see


def test_joins_and_the_audit_trail_show_nothing_of_b(database_url: str, two_shops) -> None:
    a, b, people = two_shops
    with reader(database_url, people["ops"]) as conn:
        row = conn.execute(
            "SELECT count(*) FROM bookings bk JOIN time_slots s ON s.business_id = bk.business_id AND s.id = bk.slot_id"
            " JOIN payments p ON p.business_id = bk.business_id AND p.booking_id = bk.id"
            " JOIN booking_audit_for_members au ON au.booking_id = bk.id"
            " WHERE bk.business_id <> %s",
            (a.business_id,),
        ).fetchone()
        assert row == (0,)
        ids = {r[0] for r in conn.execute("SELECT DISTINCT business_id FROM booking_audit_log")}
        assert ids == {a.business_id}
        assert b.business_id not in {r[0] for r in conn.execute("SELECT id FROM businesses")}


@pytest.mark.parametrize("person", [None, "nobody@example.com"])
def test_without_a_membership_the_reader_reads_nothing_at_all(database_url: str, raw: Any, two_shops, person) -> None:
    with reader(database_url, person) as conn:
        for table, column in business_tables(raw):
            if readable(raw, table, column):
                row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
                assert row == (0,), table
        for view in (*VIEWS, "memberships"):
            assert conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(view))).fetchone() == (0,)


def test_personal_data_and_tokens_are_not_the_readers_columns(database_url: str, two_shops) -> None:
    _a, _b, people = two_shops
    for table, columns in PERSONAL.items():
        for column in columns:
            with reader(database_url, people["manager"]) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql.SQL("SELECT {} FROM {}").format(sql.Identifier(column), sql.Identifier(table)))
    with reader(database_url, people["manager"]) as conn:
        images = [
            r[0] for r in conn.execute("SELECT new_values FROM booking_audit_for_members WHERE new_values ? 'status'")
        ]
        assert images and all("cancellation_token" not in i and "cancellation_token_hash" not in i for i in images)


def test_customers_are_masked_by_the_members_role(database_url: str, raw: Any, two_shops) -> None:
    a, _b, people = two_shops
    names = {
        r[0]: (r[1], r[2])
        for r in raw.execute("SELECT id, name, email FROM customers WHERE business_id = %s", (a.business_id,))
    }
    seen: dict[str, dict[Any, tuple[Any, Any]]] = {}
    for role, person in people.items():
        with reader(database_url, person) as conn:
            seen[role] = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, name, email FROM customers_for_members")}
    assert seen["manager"] == names
    assert set(seen["ops"]) == set(names) and all(v == (None, None) for v in seen["ops"].values())
    assert set(seen["analyst"]) == set(names)
    assert all(n.startswith("customer-") and e is None for n, e in seen["analyst"].values())
    assert len({n for n, _e in seen["analyst"].values()}) == len(names)  # one pseudonym per customer


def test_the_reader_cannot_write_and_the_library_roles_still_read_every_business(
    database_url: str, raw: Any, two_shops
) -> None:
    a, b, people = two_shops
    with reader(database_url, people["manager"]) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE bookings SET party_size = party_size WHERE business_id = %s", (a.business_id,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO memberships (person, role, business_id, granted_by, granted_at)"
                " VALUES (%s, 'manager', %s, 'me', now())",
                (people["manager"], b.business_id),
            )
    with psycopg.connect(plain(database_url), autocommit=True) as conn:
        conn.execute("SET ROLE booking_readonly")
        for business in (a.business_id, b.business_id):
            assert count(conn, "bookings", "business_id", business) == count(raw, "bookings", "business_id", business)


def test_the_monitor_reads_every_business_and_every_column_but_the_personal_ones(
    database_url: str, raw: Any, two_shops
) -> None:
    a, b, _people = two_shops
    columns = raw.execute(
        "SELECT c.relname, a.attname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v')"
        "   AND has_column_privilege('booking_readonly', c.oid, a.attnum, 'SELECT')"
    ).fetchall()
    denied = {
        (t, col)
        for t, col in columns
        if not raw.execute("SELECT has_column_privilege('booking_monitor', %s, %s, 'SELECT')", (t, col)).fetchone()[0]
    }
    assert denied == {(t, col) for kind in (PERSONAL, FREE_TEXT) for t, cols in kind.items() for col in cols}
    with psycopg.connect(plain(database_url), autocommit=True) as conn:
        conn.execute("SET ROLE booking_monitor")
        for business in (a.business_id, b.business_id):
            for table in ("bookings", "booking_audit_log", "customers", "notification_outbox"):
                assert count(conn, table, "business_id", business) == count(raw, table, "business_id", business)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT email FROM customers")
