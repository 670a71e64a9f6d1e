"""Cancellation tokens at rest: the database keeps each token's SHA-256, the customer gets the token once.

Whoever reads the bookings table (a backup, a reader role, a leaked dump) must not be able to
cancel a booking with what they read. The token is drawn by booking_insert(), its hash stored,
and the token itself reaches exactly two places: the caller that made the booking (once, never
on a replay) and that booking's notification (through a transaction-local setting, never
another booking's). Existing tokens are hashed in place by migration 0012, and still cancel.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from booking_core import Actor, BookingSystem, NotOwner, SeriesMode, WrongToken
from booking_core.adapters.db import Database
from booking_core.domain.ownership import token_hash
from tests.conftest import MONDAY, scratch_database
from tests.factories import Shop
from tests.integration.test_ownership import business_rows
from tests.schema.release import restore

BEFORE_HASHES = "0011_monitor_role"


def plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def stored_hash(raw: Any, booking_id: uuid.UUID) -> bytes:
    return bytes(raw.execute("SELECT cancellation_token_hash FROM bookings WHERE id = %s", (booking_id,)).fetchone()[0])


def notified_tokens(raw: Any, booking_id: uuid.UUID) -> list[str | None]:
    """The token of each of the booking's notifications, oldest first (None: the payload has none)."""
    rows = raw.execute(
        "SELECT payload #>> '{booking,cancellation_token}' FROM notification_outbox WHERE booking_id = %s ORDER BY id",
        (booking_id,),
    ).fetchall()
    return [r[0] for r in rows]


def test_no_column_holds_a_token_only_the_bookings_hash_of_one(raw: Any) -> None:
    columns = raw.execute(
        "SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull"
        "  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attname LIKE '%%token%%'"
        "   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND c.relkind IN ('r', 'v', 'm', 'p')"
    ).fetchall()
    assert columns == [("public", "bookings", "cancellation_token_hash", "bytea", True)]
    check = raw.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'bookings_token_hash_is_sha256'"
    ).fetchone()
    assert check == ("CHECK ((octet_length(cancellation_token_hash) = 32))",)


def test_python_and_the_database_hash_a_token_alike(raw: Any) -> None:
    tokens = [uuid.uuid4() for _ in range(5)] + [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)]
    for token in tokens:
        row = raw.execute("SELECT booking_token_hash(%s)", (token,)).fetchone()
        assert bytes(row[0]) == token_hash(token)


def test_a_hash_of_another_length_is_refused(system: BookingSystem, raw: Any) -> None:
    shop = Shop.create(system, now=MONDAY)
    b = shop.book(shop.first_slot())
    with pytest.raises(psycopg.errors.CheckViolation, match="bookings_token_hash_is_sha256"):
        raw.execute(
            "INSERT INTO bookings (business_id, slot_id, customer_id, party_size, status, payment_method, amount,"
            " currency, cancellation_token_hash, created_at, updated_at)"
            " VALUES (%s, %s, %s, 1, 'confirmed', 'pay_on_arrival', 0, 'EUR', %s, now(), now())",
            (shop.business_id, b.slot_id, b.customer_id, uuid.uuid4().bytes),
        )


def test_a_new_booking_shows_its_token_once_and_the_database_keeps_only_its_hash(
    system: BookingSystem, raw: Any
) -> None:
    shop = Shop.create(system, now=MONDAY)
    booked = shop.book(shop.first_slot())
    token = booked.cancellation_token
    assert isinstance(token, uuid.UUID) and token.version == 4
    assert stored_hash(raw, booked.id) == token_hash(token) == booked.cancellation_token_hash
    read_back = system.get_booking(shop.business_id, booked.id)
    assert read_back.cancellation_token is None and read_back == booked  # the token is no part of the booking
    assert str(token) not in repr(booked)
    # The audit image holds the hash; no audit row holds the token.
    image = raw.execute(
        "SELECT new_values FROM booking_audit_log WHERE booking_id = %s AND action = 'booking.created'", (booked.id,)
    ).fetchone()[0]
    assert "cancellation_token" not in image and image["cancellation_token_hash"] == "\\x" + token_hash(token).hex()
    leaks = raw.execute(
        "SELECT count(*) FROM booking_audit_log WHERE business_id = %s AND (new_values::text || old_values::text)"
        " LIKE '%%' || %s || '%%'",
        (shop.business_id, str(token)),
    ).fetchone()
    assert leaks == (0,)


def test_the_token_cancels_and_a_wrong_one_is_refused_writing_nothing(system: BookingSystem, raw: Any) -> None:
    shop = Shop.create(system, now=MONDAY)
    booked = shop.book(shop.first_slot(), customer=0)
    token = booked.cancellation_token
    assert token is not None
    stranger = Actor.customer(shop.customers[1])
    before = business_rows(raw, shop.business_id)
    # A guess, text that is no token, and what a reader of the table sees: none is the token.
    for wrong in (uuid.uuid4(), "not a token", token_hash(token).hex(), "\\x" + token_hash(token).hex()):
        with pytest.raises(WrongToken, match="use the link from your confirmation") as refused:
            system.cancel(shop.business_id, booked.id, actor=stranger, token=wrong, now=MONDAY)
        assert isinstance(refused.value, NotOwner) and "\n" not in str(refused.value)
    assert business_rows(raw, shop.business_id) == before
    # The token, as the link gives it (text, any case), cancels whoever the customer says they are.
    done = system.cancel(shop.business_id, booked.id, actor=stranger, token=str(token).upper(), now=MONDAY)
    assert done.status == "cancelled" and done.cancellation_token is None


def test_every_way_of_making_a_booking_returns_its_own_token(system: BookingSystem, raw: Any) -> None:
    shop = Shop.create(system, now=MONDAY, capacity=2)
    anna = shop.publish_with_resources([("Anna", "staff", 2)], weekdays=(4, 5, 6), capacity=2)["Anna"]
    rooms = [s for s in shop.slots(days=14) if s.resource_id == shop.resource_id]
    full, series_first, with_anna = rooms[0], rooms[1], rooms[2]

    multi = shop.book_with_resources(with_anna, {anna: 1})
    series = shop.series(series_first, occurrences=2, mode=SeriesMode.BEST_EFFORT)
    blocker = shop.book(full, party=2, customer=2)
    entry = shop.join_waitlist(full, party=1, customer=0)
    system.cancel(shop.business_id, blocker.id, actor=shop.admin, now=MONDAY)
    accepted = system.accept_waitlist_offer(shop.business_id, entry_id=entry.id, actor=shop.admin, now=MONDAY)

    made = [multi, *series.booked, accepted]
    assert len(made) == 4
    for b in made:
        assert b.cancellation_token is not None
        assert stored_hash(raw, b.id) == token_hash(b.cancellation_token)
        assert notified_tokens(raw, b.id)[:1] == [str(b.cancellation_token)]
    assert len({b.cancellation_token for b in made}) == 4
    # Accepting again returns the booking as read back: no token.
    again = system.accept_waitlist_offer(shop.business_id, entry_id=entry.id, actor=shop.admin, now=MONDAY)
    assert again.id == accepted.id and again.cancellation_token is None


def _create(conn: psycopg.Connection[Any], shop: Shop, slot_id: uuid.UUID, customer: int) -> tuple[uuid.UUID, str]:
    row = conn.execute(
        "SELECT (f.booking).id, f.issued_token FROM booking_create(%s, gen_random_uuid(), %s, %s, 1, NULL,"
        " 'customer', %s, 'api', NULL, %s) f",
        (shop.business_id, slot_id, shop.customers[customer], str(shop.customers[customer]), MONDAY),
    ).fetchone()
    assert row is not None and row[1] is not None
    return row[0], str(row[1])


def _raw_booking(conn: psycopg.Connection[Any], shop: Shop, slot_id: uuid.UUID, customer: int) -> uuid.UUID:
    """A booking inserted by raw SQL: its hash is the column default's, of a token nobody holds."""
    row = conn.execute(
        "INSERT INTO bookings (business_id, slot_id, customer_id, party_size, status, payment_method, amount,"
        " currency, created_at, updated_at) VALUES (%s, %s, %s, 1, 'confirmed', 'pay_on_arrival', 25, 'EUR',"
        " %s, %s) RETURNING id",
        (shop.business_id, slot_id, shop.customers[customer], MONDAY, MONDAY),
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def test_the_notification_carries_its_bookings_token_and_no_other_notification_does(
    system: BookingSystem, database_url: str, raw: Any
) -> None:
    shop = Shop.create(system, now=MONDAY)
    thu, fri, sat = shop.slots(days=7)[:3]
    earlier = shop.book(sat, party=1, customer=2)
    with psycopg.connect(plain(database_url)) as conn:  # one transaction
        first, first_token = _create(conn, shop, thu.id, 0)
        second, second_token = _create(conn, shop, fri.id, 1)
        # In the same transaction: a booking cancelled, a booking written by raw SQL, the first one moved.
        conn.execute("UPDATE bookings SET status = 'cancelled' WHERE id = %s", (earlier.id,))
        raw_insert = _raw_booking(conn, shop, thu.id, 2)
        conn.execute("UPDATE bookings SET slot_id = %s WHERE id = %s", (sat.id, first))
        assert conn.execute("SELECT current_setting('booking.issued_token', true)").fetchone() == ("",)
        conn.commit()
    assert first_token != second_token
    assert notified_tokens(raw, first) == [first_token, None]  # confirmed (with it), rescheduled (without)
    assert notified_tokens(raw, second) == [second_token]
    assert notified_tokens(raw, earlier.id) == [str(earlier.cancellation_token), None]  # its own, then cancelled
    assert notified_tokens(raw, raw_insert) == [None]  # a raw insert's token was drawn and forgotten
    assert stored_hash(raw, first) == token_hash(uuid.UUID(first_token))


def test_a_token_no_notification_took_reaches_no_later_one(system: BookingSystem, database_url: str, raw: Any) -> None:
    shop = Shop.create(system, now=MONDAY)
    thu, fri, sat = shop.slots(days=7)[:3]
    with psycopg.connect(plain(database_url)) as conn:
        # A booking rolled back to a savepoint takes its token's setting with it.
        conn.execute("SAVEPOINT s")
        _create(conn, shop, thu.id, 0)
        conn.execute("ROLLBACK TO SAVEPOINT s")
        assert conn.execute("SELECT current_setting('booking.issued_token', true)").fetchone()[0] in (None, "")
        after_rollback = _raw_booking(conn, shop, fri.id, 1)
        # A draft has no notification when made: its token stays set, for no other booking's.
        draft = conn.execute(
            "SELECT (f.booking).id, f.issued_token FROM booking_create(p_business => %s, p_id => gen_random_uuid(),"
            " p_slot => %s, p_customer => %s, p_party => 1, p_idempotency_key => NULL, p_actor_type => 'customer',"
            " p_actor_id => 'c', p_channel => 'api', p_reason => NULL, p_occurred_at => %s, p_status => 'draft') f",
            (shop.business_id, sat.id, shop.customers[0], MONDAY),
        ).fetchone()
        assert draft is not None and draft[1] is not None
        after_draft = _raw_booking(conn, shop, sat.id, 2)
        conn.commit()
    assert notified_tokens(raw, after_rollback) == [None]
    assert notified_tokens(raw, draft[0]) == []
    assert notified_tokens(raw, after_draft) == [None]


def test_a_replay_returns_the_booking_without_its_token(system: BookingSystem, raw: Any) -> None:
    shop = Shop.create(system, now=MONDAY, capacity=2)
    anna = shop.publish_with_resources([("Anna", "staff", 2)], weekdays=(4, 5, 6), capacity=2)["Anna"]
    rooms = [s for s in shop.slots(days=14) if s.resource_id == shop.resource_id]

    first = shop.book(rooms[0], party=1, idempotency_key="checkout-1")
    again = shop.book(rooms[0], party=1, idempotency_key="checkout-1")
    multi = shop.book_with_resources(rooms[1], {anna: 1}, idempotency_key="checkout-2")
    multi_again = shop.book_with_resources(rooms[1], {anna: 1}, idempotency_key="checkout-2")
    for made, replayed in ((first, again), (multi, multi_again)):
        assert made.cancellation_token is not None
        assert replayed.id == made.id and replayed.cancellation_token is None
        # The customer has it from the one notification, which the replay did not repeat.
        assert notified_tokens(raw, made.id) == [str(made.cancellation_token)]


def test_the_migration_hashes_the_tokens_in_place_and_they_still_cancel(admin_url: str) -> None:
    with scratch_database(admin_url, prefix="token_hashes", migrated=False) as url:
        rows = restore(url)  # a database the baseline's release built and used
        db = Database(url)
        try:
            db.upgrade(BEFORE_HASHES)
            with psycopg.connect(plain(url), autocommit=True) as conn:
                # One more booking written at 0011, as raw SQL did then: a token of the column's default.
                made = conn.execute(
                    "INSERT INTO bookings (business_id, slot_id, customer_id, party_size, status, payment_method,"
                    " amount, currency, created_at, updated_at)"
                    " SELECT b.business_id, s.id, b.customer_id, 1, 'draft', 'pay_now', 10, 'EUR', now(), now()"
                    "   FROM bookings b JOIN time_slots s ON s.business_id = b.business_id AND s.booked_seats = 0"
                    "  WHERE b.id = %s ORDER BY s.starts_at LIMIT 1 RETURNING id",
                    (rows.held_id,),
                ).fetchone()[0]
                old = dict(conn.execute("SELECT id, cancellation_token FROM bookings").fetchall())
                versions = conn.execute("SELECT id, version FROM bookings ORDER BY id").fetchall()
                audit_rows = conn.execute("SELECT count(*) FROM booking_audit_log").fetchone()
            assert rows.held_id in old and made in old

            db.upgrade()

            with psycopg.connect(plain(url), autocommit=True) as conn:
                hashed = {r[0]: bytes(r[1]) for r in conn.execute("SELECT id, cancellation_token_hash FROM bookings")}
                assert hashed == {b: token_hash(t) for b, t in old.items()}
                # In place: no trigger ran, no version moved, no audit row was written.
                assert conn.execute("SELECT id, version FROM bookings ORDER BY id").fetchall() == versions
                assert conn.execute("SELECT count(*) FROM booking_audit_log").fetchone() == audit_rows
            system = BookingSystem(db)
            for booking_id in (rows.held_id, made):
                owner = system.get_booking(rows.business_id, booking_id).customer_id
                stranger = Actor.customer(uuid.uuid4())
                with pytest.raises(WrongToken):
                    system.cancel(rows.business_id, booking_id, actor=stranger, token=uuid.uuid4(), now=MONDAY)
                done = system.cancel(rows.business_id, booking_id, actor=stranger, token=old[booking_id], now=MONDAY)
                assert done.status == "cancelled" and done.customer_id == owner
        finally:
            db.dispose()
