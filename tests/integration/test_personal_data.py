"""Personal data's lifecycle (issue 17, docs/personal-data.md): erasure, retention, subject access, restores.

Each test has a database of its own (the dispatcher's claim and the catalogue search read every
business). "Nothing of the person is left" is checked by searching every text, JSON and address
column of every table, read from the catalogue, so a table added later is searched too.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from checks.runner import run_all

from booking_core import BookingSystem, connect
from booking_core.adapters.db import Database
from booking_core.domain.errors import (
    DatabaseUnavailable,
    ErasureRefused,
    IntegrityRefused,
    InvalidInput,
    UnknownCustomer,
)
from booking_core.domain.lifecycle import PaymentMethod
from booking_core.domain.requests import SeriesMode
from booking_core.domain.values import Actor, ActorType, Channel, Money
from booking_core.notify.store import Attempt, claim, record_many
from booking_core.reports.common import Scope
from booking_core.reports.overview import overview_figures
from booking_core.services import personal
from booking_core.services.context import Context
from tests.conftest import create_database, drop_database, scratch_database
from tests.factories import Shop
from tests.integration.test_schedules import MONDAY
from tests.schema.dump import find_pg_dump, server_major
from tests.schema.release import restore

NAME, EMAIL, PHONE = "Zebulon Quintero", "zebulon.q@example.org", "+49 151 5550 1234"
IP, AGENT = "203.0.113.77", "ZebulonPhone/7.1"
TRACES = (NAME, "Zebulon", EMAIL, PHONE, IP, AGENT)


def plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def own(admin_url: str) -> Iterator[tuple[str, BookingSystem]]:
    with scratch_database(admin_url, prefix="booking_personal") as url, connect(url, migrate=False) as system:
        yield url, system


def traces(url: str, needles: tuple[str, ...] = TRACES) -> dict[str, int]:
    """Every (schema.table.column) of a text, JSON or address type holding any needle, with its row count."""
    found = {}
    with psycopg.connect(plain(url), autocommit=True) as conn:
        columns = conn.execute(
            "SELECT n.nspname, c.relname, a.attname FROM pg_attribute a"
            " JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p', 'm') AND a.attnum > 0 AND NOT a.attisdropped"
            "   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
            "   AND a.atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'json'::regtype,"
            "                      'jsonb'::regtype, 'inet'::regtype, 'text[]'::regtype, 'name'::regtype)"
        ).fetchall()
        assert len(columns) > 40  # the search reads the catalogue, not a list
        for schema, table, column in columns:
            q = psycopg.sql.SQL("SELECT count(*) FROM {}.{} WHERE {}::text ILIKE ANY (%s)").format(
                psycopg.sql.Identifier(schema), psycopg.sql.Identifier(table), psycopg.sql.Identifier(column)
            )
            (n,) = conn.execute(q, ([f"%{needle}%" for needle in needles],)).fetchone()
            if n:
                found[f"{schema}.{table}.{column}"] = n
    return found


@dataclass
class History:
    shop: Shop
    person: uuid.UUID
    others: list[uuid.UUID]
    paid_booking: Any


def customer_actor(customer: uuid.UUID) -> Actor:
    return Actor(ActorType.CUSTOMER, str(customer), Channel.API, IP, AGENT)


def deliver(system: BookingSystem, *, at: datetime, outcome: str, error: str | None = None) -> int:
    """Claim every due notification and log one attempt of each (as the dispatcher does); returns how many.

    A failed attempt's error quotes the recipient's address, as mail servers do.
    """
    retry = at + timedelta(minutes=5) if outcome == "retry" else None
    with system.db.engine.connect() as conn:
        rows = claim(conn, now=at + timedelta(days=3650), lease_until=at, limit=1000)
        done = []
        for row in rows:
            said = None if error is None else f"{error}: mailbox {row.payload['customer']['email']} unavailable"
            done.append((row, Attempt(at, 0.01, 550 if said else 200, said, outcome, retry)))
        record_many(conn, done, dispatcher="test")
        conn.commit()
    return len(rows)


def person_with_everything(system: BookingSystem) -> History:
    """A customer with bookings, payments (one failed), a refund, a reschedule, a cancellation, a waitlist
    offer, a series and notifications that failed once and were then delivered, each carrying their name somewhere."""
    shop = Shop.create(system, now=MONDAY, capacity=2, payment_method=PaymentMethod.PAY_ON_ARRIVAL)
    admin = Actor(ActorType.ADMIN, "front-desk-7", Channel.UI, "192.0.2.10", "FrontDesk/3")
    s = system
    b = shop.business_id
    person = s.add_customer(b, name=NAME, email=EMAIL, phone=PHONE, actor=admin, now=MONDAY)
    others = shop.customers
    slots = shop.slots(days=28)
    me = customer_actor(person)

    booked = s.book(b, slot_id=slots[0].id, customer_id=person, party_size=1, actor=me, now=MONDAY)
    failed = s.record_payment(b, booked.id, amount=Money("25.00", "EUR"), actor=me, now=MONDAY)
    s.fail_payment(b, failed.id, reason=f"card of {NAME} declined", actor=admin, now=MONDAY)
    paid = s.record_payment(b, booked.id, amount=Money("25.00", "EUR"), actor=me, now=MONDAY)
    s.confirm_payment(b, paid.id, actor=admin, now=MONDAY)
    s.refund(b, paid.id, amount=Money("5.00", "EUR"), reason=f"goodwill for {NAME} ({EMAIL})", actor=admin, now=MONDAY)
    s.reschedule(b, booked.id, new_slot_id=slots[1].id, reason=f"{NAME} asked to move", actor=admin, now=MONDAY)

    gone = s.book(b, slot_id=slots[2].id, customer_id=person, party_size=1, actor=me, now=MONDAY)
    s.cancel(b, gone.id, reason=f"{NAME} is ill, call {PHONE}", actor=admin, now=MONDAY)

    # A full slot, a place on its waitlist, an offer when a seat frees.
    full = slots[3]
    blocker = shop.book(full, party=2, customer=0)
    shop.join_waitlist(full, party=1, customer=0)  # another customer's entry, ahead of nobody
    mine = s.join_waitlist(b, slot_id=full.id, customer_id=person, party_size=1, actor=me, now=MONDAY)
    s.cancel(b, blocker.id, reason="plans changed", actor=admin, now=MONDAY)

    shop.series(slots[4], occurrences=2, mode=SeriesMode.ALL_OR_NOTHING, customer=len(others) - 1)
    s.create_series(
        b,
        first_slot_id=slots[5].id,
        occurrences=2,
        every_days=7,
        mode=SeriesMode.ALL_OR_NOTHING,
        customer_id=person,
        party_size=1,
        actor=me,
        now=MONDAY,
    )

    deliver(s, at=MONDAY, outcome="retry", error="550")
    deliver(s, at=MONDAY + timedelta(minutes=10), outcome="delivered", error=None)
    assert mine is not None
    return History(shop, person, others, booked)


def figures_of(system: BookingSystem, business: uuid.UUID, start: date, end: date) -> Any:
    """The overview's figures for the period, and the business's bookings' seats and money, as read now."""
    with system.db.connect() as conn:
        money = conn.exec_driver_sql(
            "SELECT count(*), sum(party_size), sum(paid_amount), sum(refunded_amount), sum(amount),"
            " string_agg(status::text, ',' ORDER BY id) FROM bookings WHERE business_id = %(b)s",
            {"b": business},
        ).one()
        return overview_figures(conn, Scope(business, start, end)), tuple(money)


def figures(system: BookingSystem, shop: Shop) -> Any:
    return figures_of(system, shop.business_id, date(2030, 1, 1), date(2030, 3, 31))


def test_an_erasure_leaves_no_trace_of_the_person_and_every_figure_and_check_as_it_was(own) -> None:
    url, system = own
    h = person_with_everything(system)
    b = h.shop.business_id
    found = traces(url)
    # Before: the person is in the customer record, the audit trail, the reasons, the deliveries ...
    for where in (
        "public.customers.name",
        "public.customers.email",
        "public.customers.phone",
        "public.booking_audit_log.reason",
        "public.booking_audit_log.ip_address",
        "public.booking_audit_log.user_agent",
        "public.booking_state_transitions.reason",
        "public.refunds.reason",
        "public.payments.failure_reason",
        "public.notification_deliveries.error",
        "public.notification_outbox.last_error",
        "public.notification_outbox.payload",
    ):
        assert where in found, f"the history does not hold the person in {where}: {found}"
    # ... but never in a chained audit image, nor in an outbox payload's copy of their contact details.
    assert "public.booking_audit_log.new_values" not in found and "public.booking_audit_log.old_values" not in found
    with psycopg.connect(plain(url)) as conn:
        payloads = conn.execute(
            "SELECT payload FROM notification_outbox WHERE customer_id = %s", (h.person,)
        ).fetchall()
    assert payloads and all(set(p["customer"]) == {"id"} for (p,) in payloads)
    assert not any(EMAIL in json.dumps(p) for (p,) in payloads)
    before = figures(system, h.shop)
    system.seal_audit(b)

    erased = system.erase_customer(b, customer_id=h.person, force=True, actor=Actor.admin("dpo@shop"), now=MONDAY)

    assert traces(url) == {}
    assert erased.forced and erased.cleared["customers"] == 1
    assert erased.cleared["booking_audit_log"] > 0 and erased.cleared["notification_deliveries"] >= 2
    assert figures(system, h.shop) == before
    system.seal_audit(b)
    assert system.verify_audit(b).ok
    summary = run_all(url, business_ids=[b], triggered_by="test")
    assert summary.violations == [] and summary.errored == []
    # The erasure is audited, with no personal data (the search above read its audit row too).
    with psycopg.connect(plain(url)) as conn:
        (action, image) = conn.execute(
            "SELECT action, new_values FROM booking_audit_log WHERE business_id = %s AND entity_type = 'erasure'", (b,)
        ).fetchone()
    assert action == "customer.erased" and image["customer_id"] == str(h.person) and image["forced"] is True
    # Erasing again returns the same erasure; the erased customer cannot come back.
    again = system.erase_customer(b, email=None, customer_id=h.person, actor=Actor.admin("dpo@shop"), now=MONDAY)
    assert again.id == erased.id
    with psycopg.connect(plain(url), autocommit=True) as conn, pytest.raises(psycopg.Error, match="was erased"):
        conn.execute("UPDATE customers SET name = %s WHERE id = %s", (NAME, h.person))


def test_a_paid_booking_ahead_refuses_the_erasure_with_the_way_out_and_changes_nothing(own) -> None:
    url, system = own
    h = person_with_everything(system)
    b = h.shop.business_id
    before = traces(url)
    with pytest.raises(ErasureRefused) as refused:
        system.erase_customer(b, email=EMAIL.upper(), actor=Actor.admin("dpo@shop"), now=MONDAY)
    message = str(refused.value)
    assert "1 paid booking(s) ahead" in message and "booking cancel" in message and "--force" in message
    assert "\n" not in message
    assert traces(url) == before
    with psycopg.connect(plain(url)) as conn:
        assert conn.execute("SELECT count(*) FROM customer_erasures").fetchone() == (0,)
    # Refunded, the booking no longer holds their money ahead: the erasure goes through unforced.
    system.refund(
        b,
        _payment(url, h.paid_booking.id),
        amount=Money("20.00", "EUR"),
        reason="refund before erasure",
        actor=Actor.admin("dpo@shop"),
        now=MONDAY,
    )
    assert not system.erase_customer(b, email=EMAIL, actor=Actor.admin("dpo@shop"), now=MONDAY).forced
    assert traces(url) == {}


def _payment(url: str, booking_id: uuid.UUID) -> uuid.UUID:
    with psycopg.connect(plain(url)) as conn:
        (pid,) = conn.execute(
            "SELECT id FROM payments WHERE booking_id = %s AND status = 'partially_refunded'", (booking_id,)
        ).fetchone()
    return pid


def test_a_customer_is_named_by_exactly_one_of_id_address_and_token(own) -> None:
    _url, system = own
    shop = Shop.create(system, now=MONDAY)
    b, admin = shop.business_id, Actor.admin("dpo@shop")
    booked = shop.book(shop.first_slot(), customer=1)
    with pytest.raises(InvalidInput, match="exactly one"):
        system.erase_customer(b, actor=admin, now=MONDAY)
    with pytest.raises(InvalidInput, match="exactly one"):
        system.erase_customer(b, customer_id=shop.customers[0], email="x@y.z", actor=admin, now=MONDAY)
    with pytest.raises(UnknownCustomer, match="no customer"):
        system.erase_customer(b, email="nobody@example.org", actor=admin, now=MONDAY)
    with pytest.raises(InvalidInput, match="not a cancellation token"):
        system.erase_customer(b, token="not-a-token", actor=admin, now=MONDAY)
    with pytest.raises(UnknownCustomer):  # a customer of another business is not found in this one
        other = Shop.create(system, now=MONDAY)
        system.erase_customer(other.business_id, customer_id=shop.customers[0], actor=admin, now=MONDAY)
    e = system.erase_customer(b, token=booked.cancellation_token, actor=admin, now=MONDAY)
    assert e.customer_id == shop.customers[1]


def test_subject_access_on_a_busy_slot_holds_the_person_and_nobody_else(own) -> None:
    url, system = own
    h = person_with_everything(system)
    b = h.shop.business_id
    busy = h.shop.slots(days=28)[6]
    others = [
        system.add_customer(
            b,
            name=f"Neighbour {i} Xanthippe",
            email=f"neighbour{i}@example.net",
            phone=f"+1 555 0100 {i:03d}",
            actor=h.shop.admin,
            now=MONDAY,
        )
        for i in range(3)
    ]
    theirs = [
        system.book(b, slot_id=busy.id, customer_id=c, party_size=1, actor=customer_actor(c), now=MONDAY).id
        for c in others[:1]
    ]
    mine = system.book(
        b, slot_id=busy.id, customer_id=h.person, party_size=1, actor=customer_actor(h.person), now=MONDAY
    )

    doc = system.customer_data(b, email=EMAIL, actor=Actor.admin("dpo@shop"), now=MONDAY)
    text = json.dumps(doc)
    assert doc["profile"] == doc["profile"] | {"id": str(h.person), "name": NAME, "email": EMAIL, "phone": PHONE}
    with psycopg.connect(plain(url)) as conn:
        booking_ids = {str(i) for (i,) in conn.execute("SELECT id FROM bookings WHERE customer_id = %s", (h.person,))}
        other_ids = {
            str(i)
            for (i,) in conn.execute(
                "SELECT id FROM customers WHERE business_id = %s AND id <> %s UNION ALL"
                " SELECT id FROM bookings WHERE business_id = %s AND customer_id <> %s",
                (b, h.person, b, h.person),
            )
        }
        requests = conn.execute("SELECT customer_id, answered_by FROM subject_access_requests").fetchall()
    assert {x["id"] for x in doc["bookings"]} == booking_ids and str(mine.id) in booking_ids
    assert {x["booking_id"] for x in doc["history"] if x["booking_id"]} <= booking_ids
    assert len(doc["history"]) > 10 and any(x["reason"] == f"{NAME} asked to move" for x in doc["history"])
    assert any(x["ip_address"] == IP for x in doc["history"]) and doc["refunds"] and doc["payments"]
    assert doc["waitlist"] and doc["notifications"]
    assert all(n["content"]["customer"]["email"] == EMAIL for n in doc["notifications"])
    for stranger in ("Xanthippe", "neighbour", "Customer 0", "front-desk-7", *other_ids, *map(str, theirs)):
        assert stranger not in text, f"the document holds {stranger}, which is not the person's"
    assert all(x["by"] in ("you", "admin", "system", "database") for x in doc["history"])
    assert requests == [(h.person, "dpo@shop")]


def row_digests(url: str, business: uuid.UUID) -> dict[str, str]:
    """A digest of every row of the business's bookings, payments (but their personal column), slots, chain, and
    its audit rows' chained columns."""
    queries = {
        "bookings": "SELECT b FROM bookings b WHERE business_id = %s ORDER BY id",
        # A failed payment's reason is personal (erased to '[erased]'); the rest of the row is money.
        "payments": "SELECT to_jsonb(p) - 'failure_reason' FROM payments p WHERE business_id = %s ORDER BY id",
        "time_slots": "SELECT t FROM time_slots t WHERE business_id = %s ORDER BY id",
        "audit_chain": "SELECT c FROM audit_chain c WHERE business_id = %s ORDER BY seq",
        "audit": "SELECT a.id, a.action, a.old_values, a.new_values, a.reason_digest, a.client_digest"
        " FROM booking_audit_log a WHERE business_id = %s ORDER BY id",
    }
    with psycopg.connect(plain(url)) as conn:
        return {
            name: hashlib.sha256(repr(conn.execute(q, (business,)).fetchall()).encode()).hexdigest()
            for name, q in queries.items()
        }


def test_retention_with_short_windows_clears_the_right_rows_and_nothing_else(own) -> None:
    url, system = own
    long_ago = MONDAY - timedelta(days=365)
    shop = Shop.create(system, now=long_ago, customers=0)
    b = shop.business_id
    old_admin = Actor(ActorType.ADMIN, "front-desk-1", Channel.UI, "198.51.100.1", "OldDesk/1")
    gone = system.add_customer(b, name="Old Ophelia", email="ophelia@example.org", actor=old_admin, now=long_ago)
    idle = system.add_customer(b, name="Idle Isidore", email="isidore@example.org", actor=old_admin, now=long_ago)
    shop.admin = old_admin  # a schedule change from the old desk: client context on rows of no customer
    shop.publish((4, 5, 6), capacity=12, effective=long_ago.date(), horizon_days=28)
    system.book(b, slot_id=shop.first_slot().id, customer_id=gone, party_size=1, actor=old_admin, now=long_ago)
    deliver(system, at=long_ago + timedelta(hours=1), outcome="delivered", error=None)
    # Recent: a new schedule, a recent customer and booking, by an admin with another address.
    shop.now, shop.admin = MONDAY, Actor(ActorType.ADMIN, "front-desk-2", Channel.UI, "198.51.100.2", "NewDesk/2")
    shop.publish((4, 5, 6), capacity=10, effective=MONDAY.date(), horizon_days=28)
    recent = system.add_customer(b, name="Recent Rosalind", email="rosalind@example.org", actor=shop.admin, now=MONDAY)
    system.book(b, slot_id=shop.first_slot().id, customer_id=recent, party_size=1, actor=shop.admin, now=MONDAY)
    deliver(system, at=MONDAY, outcome="delivered", error=None)
    other = Shop.create(system, now=long_ago)  # another business, no policy: untouched
    other_before = row_digests(url, other.business_id)
    with psycopg.connect(plain(url)) as conn:
        (old_clients,) = conn.execute(
            "SELECT count(*) FROM booking_audit_log WHERE business_id = %s AND ip_address = '198.51.100.1'", (b,)
        ).fetchone()
        (old_payloads,) = conn.execute(
            "SELECT count(*) FROM notification_outbox WHERE business_id = %s AND delivered_at < %s"
            " AND payload #> '{booking,cancellation_token}' IS NOT NULL",
            (b, MONDAY - timedelta(days=30)),
        ).fetchone()
    assert old_clients > 0 and old_payloads > 0

    system.set_retention_policy(
        b,
        erase_inactive_after_months=6,
        purge_payloads_after_days=30,
        drop_client_after_days=30,
        actor=shop.admin,
        now=MONDAY,
    )
    kept = row_digests(url, b)
    dry = system.run_retention(b, dry_run=True, actor=Actor.system("retention"), now=MONDAY)
    assert row_digests(url, b) == kept and traces(url, ("Ophelia", "Isidore")) != {}
    run = system.run_retention(b, actor=Actor.system("retention"), now=MONDAY)

    assert dry.dry_run and not run.dry_run and dry.cleared == run.cleared
    assert run.cleared["customers"] == 2  # Ophelia (last active a year ago) and Isidore (never active)
    assert run.cleared["booking_audit_log_client"] > 0 and run.cleared["notification_outbox"] >= old_payloads
    assert traces(url, ("Ophelia", "ophelia@", "Isidore", "isidore@", "198.51.100.1", "OldDesk")) == {}
    assert set(traces(url, ("Rosalind", "198.51.100.2", "NewDesk"))) >= {
        "public.customers.name",
        "public.booking_audit_log.ip_address",
        "public.booking_audit_log.user_agent",
    }
    with psycopg.connect(plain(url)) as conn:
        tokens = conn.execute(
            "SELECT delivered_at < %s, payload #> '{booking,cancellation_token}' IS NOT NULL"
            " FROM notification_outbox WHERE business_id = %s AND delivered_at IS NOT NULL",
            (MONDAY - timedelta(days=30), b),
        ).fetchall()
        erased = {r for (r,) in conn.execute("SELECT customer_id FROM customer_erasures WHERE cause = 'retention'")}
    assert {old for old, held in tokens if held} == {False}  # only the recent delivery still holds its token
    assert erased == {gone, idle}
    after = row_digests(url, b)
    assert {k: after[k] for k in ("bookings", "payments", "time_slots", "audit_chain")} == {
        k: kept[k] for k in ("bookings", "payments", "time_slots", "audit_chain")
    }
    assert row_digests(url, other.business_id) == other_before
    system.seal_audit(b)
    assert system.verify_audit(b).ok
    # A second run finds nothing left to clear.
    assert set(system.run_retention(b, actor=Actor.system("retention"), now=MONDAY).cleared.values()) == {0}


def _binaries(url: str) -> Path:
    """The directory of pg_dump and pg_restore of the server's own major version."""
    return find_pg_dump(server_major(url)).parent


def test_a_restore_from_before_an_erasure_is_erased_again_from_the_erasure_log(own, admin_url, tmp_path) -> None:
    url, system = own
    h = person_with_everything(system)
    b = h.shop.business_id
    bindir = _binaries(url)
    dump = tmp_path / "before.dump"
    subprocess.run([bindir / "pg_dump", "-Fc", "-f", dump, plain(url)], check=True, capture_output=True)
    system.erase_customer(b, customer_id=h.person, force=True, actor=Actor.admin("dpo@shop"), now=MONDAY)
    log = list(personal.erasure_log_lines(personal.erasures(system.db)))
    assert len(log) == 1 and all(t not in log[0] for t in TRACES)

    restored = create_database(admin_url, prefix="booking_restored")
    try:
        subprocess.run([bindir / "pg_restore", "-d", plain(restored), dump], check=True, capture_output=True)
        assert set(traces(restored)) >= {"public.customers.name", "public.booking_audit_log.reason"}
        with connect(restored, migrate=False) as again:
            ctx = Context(again.db, now=MONDAY + timedelta(days=1))
            assert personal.reapply(ctx, log, actor=Actor.admin("dpo@shop")) == (1, 0)
            assert traces(restored) == {}
            assert personal.reapply(ctx, log, actor=Actor.admin("dpo@shop")) == (0, 1)
            again.seal_audit(b)
            assert again.verify_audit(b).ok
            (cause,) = [e.cause for e in personal.erasures(again.db)]
            assert cause == "reapplied" and personal.erasures(again.db)[0].id == personal.erasures(system.db)[0].id
        with pytest.raises(InvalidInput, match="line 1 of the erasure log"):
            personal.reapply(Context(system.db), ["{not json"], actor=Actor.admin("dpo@shop"))
    finally:
        drop_database(admin_url, restored)


def test_history_refuses_every_change_but_an_erasure_even_in_raw_sql(own) -> None:
    url, system = own
    h = person_with_everything(system)
    system.erase_customer(h.shop.business_id, customer_id=h.others[0], actor=Actor.admin("dpo@shop"), now=MONDAY)
    with psycopg.connect(plain(url), autocommit=True) as conn:
        for statement in (
            "UPDATE booking_audit_log SET reason = 'rewritten', reason_nonce = NULL WHERE reason IS NOT NULL",
            "UPDATE booking_audit_log SET ip_address = '10.0.0.1' WHERE ip_address IS NOT NULL",
            "UPDATE booking_state_transitions SET reason = 'rewritten' WHERE reason IS NOT NULL",
            "UPDATE refunds SET reason = 'rewritten'",
            "UPDATE notification_deliveries SET error = 'rewritten' WHERE error IS NOT NULL",
            "UPDATE notification_outbox SET payload = payload || '{\"x\": 1}'",
            "UPDATE booking_audit_log SET reason = NULL, reason_nonce = NULL, action = 'x' WHERE reason IS NOT NULL",
            "DELETE FROM customer_erasures",
            "UPDATE customers SET erased_at = now()",
        ):
            with pytest.raises(psycopg.Error, match=r"refused|was erased|violates|never change"):
                conn.execute(statement)
        # The erasure of the personal columns is the one change allowed (and the chain stays whole).
        conn.execute("UPDATE refunds SET reason = '[erased]'")
        conn.execute("UPDATE booking_state_transitions SET reason = NULL WHERE reason IS NOT NULL")
    system.seal_audit(h.shop.business_id)
    assert system.verify_audit(h.shop.business_id).ok


BEFORE_PERSONAL = "0013_member_reads"


@contextmanager
def _at_0013(admin_url: str) -> Iterator[tuple[str, Database, Any]]:
    """A release database (tests/schema/release.py) migrated to 0013, with a reason, an address and an
    agent on an audited change made then, and its chain sealed."""
    with scratch_database(admin_url, prefix="before_personal", migrated=False) as url:
        rows = restore(url)
        db = Database(url)
        try:
            db.upgrade(BEFORE_PERSONAL)
            with psycopg.connect(plain(url)) as conn:
                conn.execute(
                    "SELECT set_config('booking.reason', 'moved for Olga Petrova', true),"
                    " set_config('booking.ip_address', '192.0.2.99', true),"
                    " set_config('booking.user_agent', 'Olga/1', true)"
                )
                conn.execute(
                    "UPDATE time_slots SET max_capacity = max_capacity + 1 WHERE id = (SELECT slot_id FROM bookings"
                    " WHERE id = %s)",
                    (rows.held_id,),
                )
                conn.execute("SELECT audit_seal(%s)", (rows.business_id,))
            yield url, db, rows
        finally:
            db.dispose()


def test_the_migration_commits_to_the_personal_context_and_rehashes_every_chain(admin_url: str) -> None:
    with _at_0013(admin_url) as (url, db, rows):
        with psycopg.connect(plain(url)) as conn:
            (old_head,) = conn.execute(
                "SELECT hash FROM audit_chain WHERE business_id = %s ORDER BY seq DESC LIMIT 1", (rows.business_id,)
            ).fetchone()
            named = conn.execute(
                "SELECT count(*) FROM notification_outbox WHERE payload #> '{customer,name}' IS NOT NULL"
            ).fetchone()
        assert named[0] > 0  # the release copied names into notifications

        db.upgrade()

        system = BookingSystem(db)
        assert system.verify_audit(rows.business_id).ok
        with psycopg.connect(plain(url)) as conn:
            rehash = conn.execute(
                "SELECT old_head_hash, links FROM audit_chain_rehash WHERE business_id = %s", (rows.business_id,)
            ).fetchone()
            assert bytes(rehash[0]) == bytes(old_head) and rehash[1] > 0
            committed = conn.execute(
                "SELECT reason_digest = audit_digest(reason_nonce, reason),"
                " client_digest = audit_digest(client_nonce, audit_client_text(ip_address, user_agent))"
                " FROM booking_audit_log WHERE reason = 'moved for Olga Petrova'"
            ).fetchall()
            assert committed == [(True, True)]
            assert conn.execute(
                "SELECT count(*) FROM notification_outbox WHERE payload #> '{customer,name}' IS NOT NULL"
                " OR customer_id IS NULL AND payload ? 'customer'"
            ).fetchone() == (0,)
        assert traces(url, ("Olga", "192.0.2.99")) != {}
        with psycopg.connect(plain(url), autocommit=True) as conn:
            conn.execute(
                "UPDATE booking_audit_log SET reason = NULL, reason_nonce = NULL, ip_address = NULL,"
                " user_agent = NULL, client_nonce = NULL WHERE reason = 'moved for Olga Petrova'"
            )
        # What is left is the staff's note on the slot's capacity change: about a slot, no customer's data.
        assert traces(url, ("Olga", "192.0.2.99")) == {"public.slot_capacity_changes.reason": 1}
        assert system.verify_audit(rows.business_id).ok


def test_the_migration_refuses_a_broken_chain_and_changes_nothing(admin_url: str) -> None:
    with _at_0013(admin_url) as (url, db, _rows):
        with psycopg.connect(plain(url)) as conn:
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute(
                "UPDATE booking_audit_log SET performed_by_id = 'someone else'"
                " WHERE id = (SELECT min(id) FROM booking_audit_log)"
            )
        with pytest.raises(IntegrityRefused, match="broken at link 1") as refused:
            db.upgrade()
        assert "nothing was changed" in str(refused.value)
        assert db.current_revision() == BEFORE_PERSONAL


def test_an_erasure_cut_off_by_a_lost_connection_leaves_nothing_half_erased_and_a_retry_erases(own) -> None:
    url, system = own
    h = person_with_everything(system)
    b = h.shop.business_id
    before = traces(url)
    outcome: list[BaseException] = []

    def erase() -> None:
        try:
            system.erase_customer(b, customer_id=h.person, force=True, actor=Actor.admin("dpo@shop"), now=MONDAY)
        except BaseException as exc:  # the thread's outcome, read below
            outcome.append(exc)

    with psycopg.connect(plain(url)) as holder:
        # A payment of the person locked elsewhere: the erasure waits on it, mid-transaction.
        holder.execute("SELECT 1 FROM payments WHERE booking_id = %s FOR UPDATE", (h.paid_booking.id,))
        worker = threading.Thread(target=erase)
        worker.start()
        with psycopg.connect(plain(url), autocommit=True) as killer:
            for _ in range(200):
                (n,) = killer.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                ).fetchone()
                if n:
                    break
                time.sleep(0.02)
        worker.join(timeout=30)
        holder.rollback()
    assert len(outcome) == 1 and isinstance(outcome[0], DatabaseUnavailable) and outcome[0].retryable
    assert traces(url) == before  # the customer record was already cleared in it: rolled back with the rest
    with psycopg.connect(plain(url)) as conn:
        assert conn.execute("SELECT count(*) FROM customer_erasures").fetchone() == (0,)
    system.erase_customer(b, customer_id=h.person, force=True, actor=Actor.admin("dpo@shop"), now=MONDAY)
    assert traces(url) == {}
