"""Deliberate integrity violations for `booking demo --with-faults`, written with raw SQL around the core.

Each fault is a named function that takes a superuser psycopg connection, writes one
violation inside its own transaction with `session_replication_role = replica` (so the
triggers and foreign keys that would refuse it do not fire), and returns a one-line
description. The integrity checks' tests reuse them to prove each check catches its fault.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

Fault = Callable[[psycopg.Connection[Any]], str]

_BYPASS = "SET LOCAL session_replication_role = replica"
_CTX = "SELECT set_config('booking.actor_type', 'database', true), set_config('booking.channel', 'sql', true)"


class NoTarget(LookupError):
    """The database has nothing this fault can be written into (e.g. no bookings yet)."""


@contextmanager
def _bypassing(conn: psycopg.Connection[Any], *, as_database: bool = False) -> Iterator[None]:
    """One transaction with triggers and foreign keys off; `as_database`: audit rows name the database as actor."""
    with conn.transaction():
        conn.execute(_BYPASS)
        if as_database:
            conn.execute(_CTX)
        yield


def _one(conn: psycopg.Connection[Any], sql: str, what: str) -> tuple[Any, ...]:
    row = conn.execute(sql).fetchone()
    if row is None:
        raise NoTarget(f"no {what} to write this fault into: generate the demo data first")
    return tuple(row)


def overbooked_slot(conn: psycopg.Connection[Any]) -> str:
    """A slot holding more seats than its capacity, with no recorded capacity reduction."""
    with _bypassing(conn):
        biz, slot, seats = _one(
            conn,
            "SELECT business_id, id, booked_seats FROM time_slots"
            " WHERE booked_seats >= 2 AND NOT is_legacy ORDER BY starts_at DESC, id LIMIT 1",
            "slot with bookings",
        )
        conn.execute(
            "UPDATE time_slots SET max_capacity = %s WHERE business_id = %s AND id = %s",
            (seats - 1, biz, slot),
        )
    return f"slot {slot}: {seats} seats booked, capacity silently set to {seats - 1}"


def payment_mismatch(conn: psycopg.Connection[Any]) -> str:
    """A confirmed pay-now booking whose paid payment is lowered to a token 0.01 afterwards: the
    seat is held for a cent, and the booking's stored money no longer matches its payments."""
    with _bypassing(conn):
        biz, payment, booking = _one(
            conn,
            "SELECT p.business_id, p.id, p.booking_id FROM payments p"
            " JOIN bookings b ON b.business_id = p.business_id AND b.id = p.booking_id"
            " WHERE p.status = 'paid' AND b.status = 'confirmed' AND b.payment_method ="
            " 'pay_now' AND p.amount > 0.01 ORDER BY p.created_at DESC, p.id LIMIT 1",
            "confirmed pay-now booking",
        )
        conn.execute("UPDATE payments SET amount = 0.01 WHERE business_id = %s AND id = %s", (biz, payment))
    return f"booking {booking}: holds its seat, but its payment {payment} was lowered to 0.01"


def _insert_booking(
    conn: psycopg.Connection[Any], source: tuple[Any, ...], slot: Any, status: str, *, audit: bool
) -> Any:
    """Copy a booking's customer and price into a new raw row, with its transition (and audit row)."""
    biz, customer, party, method, amount, currency = source
    (booking,) = _one(conn, "SELECT gen_random_uuid()", "uuid")
    conn.execute(
        "INSERT INTO bookings (business_id, id, slot_id, customer_id, party_size, status, payment_method,"
        " amount, currency, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, now(), now())",
        (biz, booking, slot, customer, party, status, method, amount, currency),
    )
    conn.execute(
        "INSERT INTO booking_state_transitions (business_id, booking_id, from_status, to_status, reason,"
        " actor_type, actor_id, channel, occurred_at) VALUES (%s, %s, NULL, %s, 'fault injection',"
        " 'database', current_user, 'sql', now())",
        (biz, booking, status),
    )
    if audit:
        conn.execute(
            "INSERT INTO booking_audit_log (business_id, entity_type, entity_id, booking_id, action,"
            " new_values, reason, performed_by, performed_by_id, channel, occurred_at, reason_nonce, reason_digest)"
            " SELECT business_id, 'booking', id, id, 'booking.created', to_jsonb(b), 'fault injection',"
            " 'database', current_user, 'sql', now(), n, audit_digest(n, 'fault injection')"
            " FROM bookings b, audit_nonce() n WHERE business_id = %s AND id = %s",
            (biz, booking),
        )
    return booking


_SOURCE = (
    "SELECT business_id, customer_id, party_size, payment_method, amount, currency FROM bookings"
    " WHERE payment_method = 'pay_now' ORDER BY created_at, id LIMIT 1"  # the oldest: never an injected one
)


def orphaned_booking(conn: psycopg.Connection[Any]) -> str:
    """A draft booking on a slot that does not exist (the foreign key bypassed)."""
    with _bypassing(conn, as_database=True):
        source = _one(conn, _SOURCE, "pay-now booking")
        (slot,) = _one(conn, "SELECT gen_random_uuid()", "uuid")
        booking = _insert_booking(conn, source, slot, "draft", audit=True)
    return f"booking {booking}: on slot {slot}, which does not exist"


def audit_gap(conn: psycopg.Connection[Any]) -> str:
    """A draft booking with its transition but without its booking.created audit row."""
    with _bypassing(conn, as_database=True):
        source = _one(conn, _SOURCE, "pay-now booking")
        (slot,) = _one(
            conn,
            "SELECT slot_id FROM bookings WHERE payment_method = 'pay_now' ORDER BY created_at, id LIMIT 1",
            "slot",
        )
        booking = _insert_booking(conn, source, slot, "draft", audit=False)
    return f"booking {booking}: no audit row records its creation"


def illegal_transition(conn: psycopg.Connection[Any]) -> str:
    """A completed booking moved back to confirmed, an edge the state machine does not have."""
    with _bypassing(conn, as_database=True):
        biz, booking = _one(
            conn,
            "SELECT business_id, id FROM bookings WHERE status = 'completed'"
            " ORDER BY payment_method = 'pay_on_arrival', created_at DESC, id LIMIT 1",
            "completed booking",
        )
        conn.execute(
            "UPDATE bookings SET status = 'confirmed', version = version + 1 WHERE business_id = %s AND id = %s",
            (biz, booking),
        )
        conn.execute(
            "INSERT INTO booking_state_transitions (business_id, booking_id, from_status, to_status, reason,"
            " actor_type, actor_id, channel, occurred_at) VALUES (%s, %s, 'completed', 'confirmed',"
            " 'fault injection', 'database', current_user, 'sql', now())",
            (biz, booking),
        )
        # Its audit row too, so the only thing wrong is the edge itself.
        conn.execute(
            "INSERT INTO booking_audit_log (business_id, entity_type, entity_id, booking_id, action, old_values,"
            " new_values, reason, performed_by, performed_by_id, channel, occurred_at, reason_nonce, reason_digest)"
            " SELECT %s, 'booking', %s, %s, 'booking.confirmed', jsonb_build_object('status', 'completed'),"
            " jsonb_build_object('status', 'confirmed'), 'fault injection', 'database', current_user, 'sql', now(),"
            " n, audit_digest(n, 'fault injection') FROM audit_nonce() n",
            (biz, booking, booking),
        )
    return f"booking {booking}: went from completed back to confirmed"


FAULTS: dict[str, Fault] = {
    "overbooked_slot": overbooked_slot,
    "payment_mismatch": payment_mismatch,
    "orphaned_booking": orphaned_booking,
    "audit_gap": audit_gap,
    "illegal_transition": illegal_transition,
}


def inject_all(database_url: str) -> list[str]:
    """Write every fault once; returns their descriptions. Needs a superuser connection."""
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        return [f"{name}: {fault(conn)}" for name, fault in FAULTS.items()]
