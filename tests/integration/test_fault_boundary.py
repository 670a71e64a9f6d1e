"""A database fault reaches the caller as a typed booking_core error, never a driver's.

Real faults on the real server: backends killed with pg_terminate_backend under every kind of
path (the one-statement booking, a unit of work, a read), a port nobody listens on, a lock held
past the lock timeout, a statement past the statement timeout. Each time: the error's class,
`retryable`, the SQLSTATE kept as context, a message that says what happened; the dead pooled
connection is discarded so the very next call works; idempotent calls are retried by the library
(on by default) and a write without a key never is.
"""

from __future__ import annotations

import contextlib
import inspect
import re
import socket
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy.exc
from sqlalchemy.engine import make_url

import booking_core
from booking_core import Actor, BookingError, BookingSystem, Busy, DatabaseUnavailable, RetryPolicy, connect
from booking_core.adapters.db import Database
from booking_core.domain import errors as e
from tests.conftest import MONDAY
from tests.factories import Shop

FAST = RetryPolicy(attempts=4, timeout=10, wait_initial=0.01, wait_max=0.1, wait_jitter=0.01)


APP = "booking_core_faults"  # the pooled connections these tests kill (never the session's system's)


def kill_backends(raw: psycopg.Connection[tuple[object, ...]]) -> int:
    """Terminate every pooled connection of the systems under test in this database."""
    row = raw.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name = %s",
        (APP,),
    ).fetchone()
    assert row is not None
    return int(row[0])  # type: ignore[call-overload]


@pytest.fixture
def plain(database_url: str) -> Iterator[BookingSystem]:
    """A system with retries off, so each fault is seen as it arrives."""
    with BookingSystem(Database(database_url, application_name=APP), retries=False) as s:
        yield s


@pytest.fixture
def retrying(database_url: str) -> Iterator[BookingSystem]:
    with BookingSystem(Database(database_url, application_name=APP), retries=FAST) as s:
        yield s


def bookings_with_key(raw: psycopg.Connection[tuple[object, ...]], shop: Shop, key: str) -> int:
    row = raw.execute(
        "SELECT count(*) FROM bookings WHERE business_id = %s AND idempotency_key = %s", (shop.business_id, key)
    ).fetchone()
    assert row is not None
    return int(row[0])  # type: ignore[call-overload]


def test_the_exception_tree_is_drawn_whole_in_one_place():
    drawn = set(re.findall(r"([A-Z][A-Za-z]+)\s", e.__doc__ or ""))
    classes = {n for n, c in vars(e).items() if inspect.isclass(c) and issubclass(c, BookingError)}
    assert classes <= drawn, f"not drawn in booking_core.domain.errors: {sorted(classes - drawn)}"
    for name in classes:  # and each is public, with `retryable`
        assert getattr(booking_core, name) is getattr(e, name)
        assert isinstance(getattr(e, name).retryable, bool)


def test_a_killed_backend_under_a_booking_is_a_retryable_database_unavailable_and_the_next_call_works(plain, raw):
    shop = Shop.create(plain, now=MONDAY)
    slot = shop.first_slot()
    assert kill_backends(raw) >= 1
    with pytest.raises(DatabaseUnavailable) as info:
        shop.book(slot, party=1)
    err = info.value
    assert err.retryable and err.sqlstate == "57P01"
    assert "connection was lost" in str(err) and "BOOKING_DATABASE_URL" not in str(err)
    assert "\n" not in str(err)
    assert shop.book(slot, party=1).party_size == 1  # the dead connection was discarded


def test_a_killed_backend_under_a_unit_of_work_and_under_a_read_is_typed_too(plain, raw):
    shop = Shop.create(plain, now=MONDAY)
    booking = shop.book(shop.first_slot(), party=1)
    for call in (
        lambda: plain.cancel(shop.business_id, booking.id, actor=shop.admin, now=MONDAY),
        lambda: plain.get_booking(shop.business_id, booking.id),
        lambda: plain.verify_audit(shop.business_id),
        lambda: plain.open_slots(shop.business_id, start=MONDAY, end=MONDAY.replace(day=20)),
    ):
        plain.get_booking(shop.business_id, booking.id)  # a live connection in the pool, then kill it
        assert kill_backends(raw) >= 1
        with pytest.raises(DatabaseUnavailable) as info:
            call()
        assert info.value.retryable and "connection was lost" in str(info.value)
    assert plain.cancel(shop.business_id, booking.id, actor=shop.admin, now=MONDAY).status.value == "cancelled"


def test_reads_and_keyed_writes_are_retried_by_default_and_a_write_without_a_key_never_is(retrying, raw):
    shop = Shop.create(retrying, now=MONDAY)
    slot = shop.first_slot()
    assert kill_backends(raw) >= 1
    assert retrying.get_slot(shop.business_id, slot.id).id == slot.id  # a read rides it out
    assert kill_backends(raw) >= 1
    key = f"k-{uuid.uuid4()}"
    booking = shop.book(slot, party=1, idempotency_key=key)  # a keyed write too
    assert bookings_with_key(raw, shop, key) == 1
    assert shop.book(slot, party=1, idempotency_key=key).id == booking.id
    assert kill_backends(raw) >= 1
    with pytest.raises(DatabaseUnavailable):  # no key: the reply may be what was lost
        shop.book(slot, party=1)
    retrying.get_slot(shop.business_id, slot.id)
    assert kill_backends(raw) >= 1
    with pytest.raises(DatabaseUnavailable):
        retrying.cancel(shop.business_id, booking.id, actor=shop.admin, now=MONDAY)


def test_a_port_nobody_listens_on_says_check_the_url_and_is_retryable(database_url):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # A TCP address whatever server the suite runs on (the embedded one listens on a socket).
    url = make_url(database_url).set(host="127.0.0.1", port=port, query={}).render_as_string(hide_password=False)
    with pytest.raises(DatabaseUnavailable) as info:
        connect(url, migrate=False)
    assert info.value.retryable and "check BOOKING_DATABASE_URL" in str(info.value)
    assert "\n" not in str(info.value)


def test_a_wrong_database_name_is_not_retryable(database_url):
    with pytest.raises(DatabaseUnavailable) as info:
        connect(make_url(database_url).set(database="no_such_database_13").render_as_string(hide_password=False),
                migrate=False)  # fmt: skip
    assert not info.value.retryable and "check BOOKING_DATABASE_URL" in str(info.value)


def test_the_one_statement_booking_waits_no_longer_than_the_lock_timeout(database_url, raw):
    db = Database(database_url, lock_timeout="150ms")
    with BookingSystem(db, retries=False) as system:
        shop = Shop.create(system, now=MONDAY)
        slot = shop.first_slot()
        with raw.transaction():
            raw.execute("SELECT 1 FROM time_slots WHERE id = %s FOR UPDATE", (slot.id,))
            with pytest.raises(Busy) as info:
                shop.book(slot, party=1)
        assert info.value.retryable and info.value.sqlstate == "55P03"
        assert shop.book(slot, party=1).party_size == 1


def test_every_connection_carries_the_configured_timeouts(database_url):
    db = Database(database_url, lock_timeout="1500ms", statement_timeout="7s")
    try:
        with db.connect() as conn:
            assert conn.exec_driver_sql("SHOW lock_timeout").scalar_one() == "1500ms"
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar_one() == "7s"
        with db.unit_of_work(Actor.system("t"), now=MONDAY) as uow:
            assert uow.execute("SHOW lock_timeout").scalar_one() == "1500ms"
    finally:
        db.dispose()


def test_a_statement_past_the_statement_timeout_is_busy_and_retryable(database_url):
    db = Database(database_url, statement_timeout="100ms")
    try:
        with pytest.raises(Busy) as info, db.unit_of_work(Actor.system("t"), now=MONDAY) as uow:
            uow.execute("SELECT pg_sleep(2)")
        assert info.value.sqlstate == "57014" and info.value.retryable
    finally:
        db.dispose()


def test_a_timeout_that_is_not_a_duration_is_refused_with_the_form_it_takes():
    with pytest.raises(booking_core.InvalidInput, match="like 500ms"):
        Database("postgresql://x@127.0.0.1/x", lock_timeout="5 s; DROP")


def test_sqlalchemy_errors_about_a_dead_connection_are_typed_too(database_url, raw):
    db = Database(database_url, application_name=APP)
    try:
        with pytest.raises(DatabaseUnavailable) as info, db.connect() as conn:
            conn.begin()
            conn.exec_driver_sql("SELECT 1")
            assert kill_backends(raw) == 1
            with contextlib.suppress(sqlalchemy.exc.OperationalError):
                conn.exec_driver_sql("SELECT 1")  # the driver's error: SQLAlchemy invalidates the connection
            conn.exec_driver_sql("SELECT 1")  # SQLAlchemy's own: the transaction must be rolled back first
        assert info.value.retryable
        assert type(info.value.__cause__).__name__ == "PendingRollbackError"
        with db.connect() as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1
    finally:
        db.dispose()
