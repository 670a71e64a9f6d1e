"""Rules 5-7: a complete append-only audit trail; correct time; safe identifiers; typed errors that change nothing."""

from __future__ import annotations

import uuid
from datetime import datetime

import psycopg
import pytest
from psycopg import sql

from booking_core import (
    Actor,
    Channel,
    IdempotencyConflict,
    NaiveDatetime,
    NotOwner,
    StaleVersion,
    UnknownBooking,
    UnknownSlot,
    UnknownTimezone,
    WrongToken,
)
from booking_core.domain.values import ActorType
from tests.factories import Shop
from tests.integration.test_schedules import MONDAY

HISTORY = ("bookings", "booking_state_transitions", "booking_audit_log", "payments", "time_slots")


def snapshot(raw, business_id, tables=HISTORY):
    """Per table, the business's row count and a checksum of its rows."""
    return {
        t: raw.execute(
            sql.SQL("SELECT count(*), coalesce(sum(hashtext(x::text)), 0) FROM {} x WHERE business_id = %s").format(
                sql.Identifier(t)
            ),
            (business_id,),
        ).fetchone()
        for t in tables
    }


def test_every_change_writes_who_when_what_why_and_how(system):
    shop = Shop.create(system, now=MONDAY)
    slot = shop.first_slot()
    web = Actor(
        ActorType.CUSTOMER,
        str(shop.customers[0]),
        Channel.UI,
        ip_address="203.0.113.7",
        user_agent="Firefox",
    )
    b = shop.book(slot, party=2, actor=web, reason="birthday")
    system.change_party_size(
        shop.business_id, b.id, party_size=3, actor=Actor.admin("bob", channel=Channel.CLI), now=MONDAY
    )
    system.cancel(shop.business_id, b.id, actor=Actor.admin("bob"), now=MONDAY, reason="double booking")
    rows = system.booking_history(shop.business_id, b.id)
    assert [r["action"] for r in rows] == [
        "booking.created",
        "booking.party_size_changed",
        "booking.cancelled",
    ]
    created, grown, cancelled = rows
    assert (created["performed_by"], created["channel"], created["reason"]) == (
        "customer",
        "ui",
        "birthday",
    )
    assert created["old_values"] is None and created["new_values"]["party_size"] == 2
    assert (grown["old_values"]["party_size"], grown["new_values"]["party_size"]) == (2, 3)
    assert (grown["performed_by_id"], grown["channel"]) == ("bob", "cli")
    assert (cancelled["reason"], cancelled["new_values"]["status"]) == (
        "double booking",
        "cancelled",
    )
    assert all(r["occurred_at"] == MONDAY for r in rows)


def test_slot_and_schedule_changes_are_audited_too(system, raw):
    shop = Shop.create(system, now=MONDAY)
    slot = shop.first_slot()
    system.change_capacity(shop.business_id, slot.id, capacity=3, actor=shop.admin, now=MONDAY, reason="fewer staff")
    actions = [
        r[0]
        for r in raw.execute(
            "SELECT action FROM booking_audit_log WHERE business_id = %s AND entity_id = %s ORDER BY id",
            (shop.business_id, slot.id),
        )
    ]
    assert actions == ["slot.created", "slot.capacity_changed"]
    kinds = {
        r[0]
        for r in raw.execute(
            "SELECT DISTINCT action FROM booking_audit_log WHERE business_id = %s", (shop.business_id,)
        )
    }
    assert {
        "business.created",
        "service.created",
        "schedule.created",
        "schedule.published",
    } <= kinds


@pytest.mark.parametrize("table", ["booking_audit_log", "booking_state_transitions", "audit_chain", "slot_keys"])
def test_history_tables_refuse_update_delete_and_truncate_even_for_a_superuser(system, raw, table):
    shop = Shop.create(system, now=MONDAY)
    shop.book(shop.first_slot())
    system.seal_audit(shop.business_id)
    for statement in (
        sql.SQL("UPDATE {} SET business_id = business_id WHERE business_id = %s"),
        sql.SQL("DELETE FROM {} WHERE business_id = %s"),
    ):
        with pytest.raises(psycopg.Error, match="append-only"):
            raw.execute(statement.format(sql.Identifier(table)), (shop.business_id,))
    with pytest.raises(psycopg.Error, match="append-only"):
        raw.execute(sql.SQL("TRUNCATE {} CASCADE").format(sql.Identifier(table)))


def test_the_hash_chain_verifies_and_detects_a_row_altered_behind_the_triggers_back(system, raw):
    shop = Shop.create(system, now=MONDAY)
    b = shop.book(shop.first_slot())
    sealed = system.seal_audit(shop.business_id)
    assert sealed > 0 and system.seal_audit(shop.business_id) == 0
    report = system.verify_audit(shop.business_id)
    assert report.ok and report.links == sealed and report.unsealed == 0
    # The reason is held beside its commitment: with the triggers off, a reason changed alone is refused ...
    with raw.transaction(), pytest.raises(psycopg.errors.CheckViolation, match="reason_committed"):
        raw.execute("SET LOCAL session_replication_role = replica")  # what an attacker with superuser would do
        raw.execute("UPDATE booking_audit_log SET reason = 'nothing to see', reason_nonce = NULL WHERE booking_id = %s",
                    (b.id,))  # fmt: skip
    # ... and one changed with a fresh commitment changes what the chain covers.
    with raw.transaction():
        raw.execute("SET LOCAL session_replication_role = replica")
        raw.execute(
            "UPDATE booking_audit_log SET reason = 'nothing to see', reason_nonce = n,"
            " reason_digest = audit_digest(n, 'nothing to see') FROM audit_nonce() n WHERE booking_id = %s",
            (b.id,),
        )
    broken = system.verify_audit(shop.business_id)
    assert not broken.ok and broken.problem == "audit row altered after sealing"


def test_a_reason_altered_under_its_old_commitment_breaks_the_chain_and_an_erased_one_does_not(system, raw):
    shop = Shop.create(system, now=MONDAY)
    b = shop.book(shop.first_slot())
    system.seal_audit(shop.business_id)

    class Undo(Exception):
        pass

    # An attacker who drops the constraint and keeps the old commitment: the chain sees it (then undone).
    with pytest.raises(Undo), raw.transaction():
        raw.execute("SET LOCAL session_replication_role = replica")
        raw.execute("ALTER TABLE booking_audit_log DROP CONSTRAINT booking_audit_log_reason_committed")
        raw.execute("UPDATE booking_audit_log SET reason = 'nothing to see' WHERE booking_id = %s", (b.id,))
        problem = raw.execute("SELECT problem FROM audit_verify(%s)", (shop.business_id,)).fetchone()
        assert problem == ("audit row altered after sealing",)
        raise Undo
    # Erasing the reason (data and nonce), as an erasure does, leaves the commitment and the chain whole.
    with raw.transaction():
        erased = raw.execute(
            "UPDATE booking_audit_log SET reason = NULL, reason_nonce = NULL"
            " WHERE business_id = %s AND reason IS NOT NULL",
            (shop.business_id,),
        ).rowcount
    assert erased > 0
    assert system.verify_audit(shop.business_id).ok


def test_an_audit_row_deleted_from_the_middle_of_the_chain_breaks_it(system, raw):
    # (Cutting the chain's tail is only detectable against an anchor kept elsewhere: docs/audit.md.)
    shop = Shop.create(system, now=MONDAY)
    b = shop.book(shop.first_slot())
    shop.book(shop.first_slot(), customer=1)
    system.seal_audit(shop.business_id)
    with raw.transaction():
        raw.execute("SET LOCAL session_replication_role = replica")
        raw.execute(
            "DELETE FROM audit_chain WHERE audit_id IN (SELECT id FROM booking_audit_log WHERE booking_id = %s)",
            (b.id,),
        )
        raw.execute("DELETE FROM booking_audit_log WHERE booking_id = %s", (b.id,))
    broken = system.verify_audit(shop.business_id)
    assert not broken.ok and broken.problem in (
        "link missing before this sequence number",
        "previous-hash does not match the link before",
    )


def test_naive_datetimes_unknown_timezones_and_unknown_ids_are_typed_errors(system, raw):
    with pytest.raises(NaiveDatetime):
        Shop.create(system, now=datetime(2030, 1, 7, 9))
    with pytest.raises(UnknownTimezone, match="IANA"):
        system.create_business(name="X", timezone="Europe/Atlantis", currency="EUR", actor=Actor.admin("a"), now=MONDAY)
    with pytest.raises(psycopg.Error) as info:
        raw.execute("INSERT INTO businesses (name, timezone, currency) VALUES ('X', 'CEST+2', 'EUR')")
    assert info.value.sqlstate == "BK011"
    shop = Shop.create(system, now=MONDAY)
    with pytest.raises(UnknownSlot):
        system.book(
            shop.business_id,
            slot_id=uuid.uuid4(),
            customer_id=shop.customers[0],
            party_size=1,
            actor=shop.admin,
            now=MONDAY,
        )
    with pytest.raises(UnknownBooking):
        system.cancel(shop.business_id, uuid.uuid4(), actor=shop.admin, now=MONDAY)


def test_customers_need_the_token_or_their_identity_and_stale_versions_are_refused(system):
    shop = Shop.create(system, now=MONDAY)
    b = shop.book(shop.first_slot())
    stranger = Actor.customer(shop.customers[1])
    with pytest.raises(NotOwner, match="belongs to another customer"):
        system.cancel(shop.business_id, b.id, actor=stranger, now=MONDAY)
    with pytest.raises(WrongToken):
        system.cancel(shop.business_id, b.id, actor=stranger, token=uuid.uuid4(), now=MONDAY)
    moved = system.change_party_size(
        shop.business_id, b.id, party_size=3, actor=shop.admin, now=MONDAY, expected_version=1
    )
    with pytest.raises(StaleVersion, match="reload it and retry"):
        system.cancel(shop.business_id, b.id, actor=shop.admin, now=MONDAY, expected_version=1)
    done = system.cancel(
        shop.business_id, b.id, actor=stranger, token=b.cancellation_token, now=MONDAY, expected_version=moved.version
    )
    assert done.version == moved.version + 1


def test_a_retried_idempotency_key_returns_the_first_booking_and_a_reused_one_is_refused(system, raw):
    shop = Shop.create(system, now=MONDAY)
    slot = shop.first_slot()
    first = shop.book(slot, party=2, idempotency_key="req-1")
    again = shop.book(slot, party=2, idempotency_key="req-1")
    assert again.id == first.id and system.get_slot(shop.business_id, slot.id).booked_seats == 2
    with pytest.raises(IdempotencyConflict, match="use a new key"):
        shop.book(slot, party=3, idempotency_key="req-1")
    assert raw.execute("SELECT count(*) FROM bookings WHERE business_id = %s", (shop.business_id,)).fetchone()[0] == 1


def test_ids_are_uuids_and_tokens_unguessable(system):
    shop = Shop.create(system, now=MONDAY)
    a, b = shop.book(shop.first_slot()), shop.book(shop.first_slot(), customer=1)
    assert a.id.version == 7 and a.cancellation_token.version == 4 and a.cancellation_token != b.cancellation_token


def test_a_refused_operation_leaves_the_database_exactly_as_it_was(system, raw):
    shop = Shop.create(system, now=MONDAY, capacity=2)
    slot = shop.first_slot()
    b = shop.book(slot, party=2)
    before = snapshot(raw, shop.business_id)
    attempts = [
        lambda: shop.book(slot, party=1, customer=1),
        lambda: system.change_party_size(shop.business_id, b.id, party_size=3, actor=shop.admin, now=MONDAY),
        lambda: system.cancel(shop.business_id, b.id, actor=Actor.system("cron"), now=MONDAY),
        lambda: system.cancel(shop.business_id, b.id, actor=shop.admin, now=MONDAY, expected_version=7),
        lambda: system.check_in(shop.business_id, b.id, actor=shop.admin, now=MONDAY),
    ]
    for attempt in attempts:
        with pytest.raises(Exception) as info:
            attempt()
        assert "\n" not in str(info.value)
    assert snapshot(raw, shop.business_id) == before
