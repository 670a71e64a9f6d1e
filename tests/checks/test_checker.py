"""The continuous checker: one incremental pass finds a violation written with raw SQL as the table owner.

Each fault is written the way an owner would around the library: with the one trigger that would
refuse it disabled inside the transaction, so the audit triggers still fire. One incremental pass
(rules and chain) must then name the business and the ids; fixing the row clears it at the next.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import psycopg
import pytest
from checks.chain import chain_pass
from checks.checker import APPLICATION_NAME, CHAIN_LOCK, full_pass, incremental_pass
from checks.service import Checker

from tests.checks.conftest import World, superuser


def open_violations(world: World, check: str | None = None) -> set[tuple[str, uuid.UUID, str, str]]:
    with superuser(world.url) as conn:
        rows = conn.execute(
            "SELECT check_name, business_id, subject_kind, subject_id FROM integrity_violations"
            " WHERE business_id = ANY(%s) AND (%s::text IS NULL OR check_name = %s)",
            (world.businesses, check, check),
        ).fetchall()
    return {(r[0], r[1], r[2], r[3]) for r in rows}


def one_round(world: World) -> None:
    """What the checker does every few seconds: the incremental rule pass, then the chain pass."""
    incremental_pass(world.url)
    chain_pass(world.url)


def owner_writes(world: World, *statements: str, disable: tuple[str, str] | None = None, **params: Any) -> None:
    """Raw SQL as the owner in one transaction; `disable` = (table, trigger) switched off for it only."""
    with superuser(world.url) as conn, conn.transaction():
        conn.execute(
            "SELECT set_config('booking.actor_type', 'admin', true), set_config('booking.channel', 'sql', true)"
        )
        if disable:
            conn.execute(f"ALTER TABLE {disable[0]} DISABLE TRIGGER {disable[1]}")
        for statement in statements:
            conn.execute(statement, params)  # type: ignore[arg-type]
        if disable:
            conn.execute(f"ALTER TABLE {disable[0]} ENABLE TRIGGER {disable[1]}")


@pytest.fixture
def checked(world: World) -> World:
    """The clean world after a first full sweep and a first round: the watermark is at its end."""
    full_pass(world.url)
    chain_pass(world.url, full=True)
    one_round(world)
    return world


def test_a_clean_world_has_no_open_violation_after_a_sweep_and_a_round(checked: World) -> None:
    assert open_violations(checked) == set()
    one_round(checked)
    assert open_violations(checked) == set()


def test_an_overbooking_written_around_the_seat_trigger_is_found_then_cleared_when_fixed(checked: World) -> None:
    w, slot, booking = checked, checked.ids["full_slot"], checked.ids["full"]
    business = w.extra[0].business_id
    grow = "UPDATE bookings SET party_size = 2 WHERE id = %(b)s"
    owner_writes(w, grow, disable=("bookings", "bookings_30_seats"), b=booking)
    one_round(w)
    assert ("overbooked_slot", business, "slot", str(slot)) in open_violations(w, "overbooked_slot")
    assert ("seat_counter_drift", business, "slot", str(slot)) in open_violations(w, "seat_counter_drift")
    owner_writes(
        w, "UPDATE bookings SET party_size = 1 WHERE id = %(b)s", disable=("bookings", "bookings_30_seats"), b=booking
    )
    one_round(w)
    assert open_violations(w) == set()


def grown_party(world: World) -> set[tuple[str, uuid.UUID, str, str]]:
    """A party grown with the seat trigger off: the counter drifts, and the locked price no longer fits."""
    biz, ids = world.shop.business_id, world.ids
    return {
        ("seat_counter_drift", biz, "slot", str(ids["fri_slot"])),
        ("price_lock_broken", biz, "booking", str(ids["confirmed"])),
    }


def test_seat_drift_from_a_party_grown_behind_the_counter_is_found(checked: World) -> None:
    w = checked
    owner_writes(
        w,
        "UPDATE bookings SET party_size = 3 WHERE id = %(b)s",
        disable=("bookings", "bookings_30_seats"),
        b=w.ids["confirmed"],
    )
    one_round(w)
    assert open_violations(w) == grown_party(w)


def test_a_payment_written_behind_the_bookings_money_trigger_is_a_payment_mismatch(checked: World) -> None:
    w = checked
    owner_writes(
        w,
        "INSERT INTO payments (business_id, booking_id, amount, currency, status, created_at, updated_at)"
        " SELECT business_id, id, amount, currency, 'paid', now(), now() FROM bookings WHERE id = %(b)s",
        disable=("payments", "payments_10_booking_money"),
        b=w.ids["confirmed"],
    )
    one_round(w)
    assert ("payment_status_mismatch", w.shop.business_id, "booking", str(w.ids["confirmed"])) in open_violations(w)


def test_a_slot_moved_back_to_a_superseded_schedule_orphans_its_bookings(checked: World) -> None:
    w = checked
    owner_writes(
        w,
        "UPDATE time_slots SET schedule_version_id = (SELECT id FROM schedule_versions WHERE business_id = %(biz)s"
        " AND NOT is_active ORDER BY version_number LIMIT 1) WHERE id = %(s)s",
        biz=w.shop.business_id,
        s=w.ids["fri_slot"],
    )
    one_round(w)
    found = open_violations(w)
    assert ("orphaned_booking", w.shop.business_id, "booking", str(w.ids["confirmed"])) in found
    assert ("legacy_flag_mismatch", w.shop.business_id, "slot", str(w.ids["fri_slot"])) in found


def test_a_notification_left_undelivered_for_hours_is_found_by_a_round_though_the_outbox_is_not_audited(
    checked: World,
) -> None:
    w = checked
    with superuser(w.url) as conn:
        row = conn.execute(
            "INSERT INTO notification_outbox (business_id, event_type, booking_id, payload, created_at)"
            " VALUES (%s, 'booking.confirmed', %s, '{}'::jsonb, now() - interval '2 hours') RETURNING id",
            (w.shop.business_id, w.ids["confirmed"]),
        ).fetchone()
    assert row is not None
    one_round(w)
    assert open_violations(w) == {("notification_backlog_stale", w.shop.business_id, "notification", str(row[0]))}
    with superuser(w.url) as conn:
        conn.execute("UPDATE notification_outbox SET delivered_at = now() WHERE id = %s", (row[0],))
    one_round(w)
    assert open_violations(w) == set()


def _created_audit_id(world: World, booking: uuid.UUID) -> int:
    with superuser(world.url) as conn:
        row = conn.execute(
            "SELECT id FROM booking_audit_log WHERE booking_id = %s AND action = 'booking.created'", (booking,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def _edit_audit(world: World, audit_id: int, actor_id: str | None) -> None:
    with superuser(world.url) as conn:
        with conn.transaction():
            conn.execute("ALTER TABLE booking_audit_log DISABLE TRIGGER booking_audit_log_append_only")
            conn.execute("UPDATE booking_audit_log SET performed_by_id = %s WHERE id = %s", (actor_id, audit_id))
            conn.execute("ALTER TABLE booking_audit_log ENABLE TRIGGER booking_audit_log_append_only")
        # PostgreSQL sends its table statistics within a second or at exit; now, for the test.
        conn.execute("SELECT pg_stat_force_next_flush()")
    with superuser(world.url) as conn:
        conn.execute("SELECT 1")


def test_an_edited_sealed_audit_row_is_an_open_chain_violation_until_it_is_put_back(checked: World) -> None:
    w = checked
    audit_id = _created_audit_id(w, w.ids["confirmed"])
    with superuser(w.url) as conn:
        row = conn.execute("SELECT performed_by_id FROM booking_audit_log WHERE id = %s", (audit_id,)).fetchone()
    assert row is not None
    _edit_audit(w, audit_id, "edited by hand")
    one_round(w)
    assert open_violations(w) == {("audit_chain_broken", w.shop.business_id, "audit", str(audit_id))}
    _edit_audit(w, audit_id, row[0])
    one_round(w)
    assert open_violations(w) == set()


def test_a_forged_link_appended_to_the_chain_is_found(checked: World) -> None:
    w, shop = checked, checked.shop
    shop.book(shop.system.get_slot(shop.business_id, w.ids["sat_slot"]), party=1, customer=2)
    owner_writes(
        w,
        "INSERT INTO audit_chain (business_id, seq, audit_id, prev_hash, hash)"
        " SELECT %(biz)s, (SELECT max(seq) + 1 FROM audit_chain WHERE business_id = %(biz)s), max(id), '\\x00', '\\x00'"
        " FROM booking_audit_log WHERE business_id = %(biz)s",
        biz=shop.business_id,
    )
    one_round(w)
    (found,) = open_violations(w)
    assert found[:3] == ("audit_chain_broken", shop.business_id, "audit")


def _watermark(url: str) -> int:
    with superuser(url) as conn:
        row = conn.execute("SELECT audit_watermark FROM checker_state WHERE mode = 'incremental'").fetchone()
    assert row is not None
    return int(row[0])


def _grow_party_behind_the_seat_trigger(w: World, party: int = 3) -> None:
    """The owner sets the confirmed party (of 2) with the seat trigger off: audited, the seats not moved."""
    owner_writes(
        w,
        "UPDATE bookings SET party_size = %(party)s WHERE id = %(b)s",
        disable=("bookings", "bookings_30_seats"),
        b=w.ids["confirmed"],
        party=party,
    )


def test_a_restarted_checker_resumes_from_the_stored_watermark(checked: World) -> None:
    w = checked
    before = _watermark(w.url)
    _grow_party_behind_the_seat_trigger(w)
    restarted = Checker(w.url)  # a new process knows nothing but the database
    (rules, _chain) = restarted.tick(full=False)
    assert rules.audit_rows >= 1 and _watermark(w.url) > before
    assert open_violations(w) == grown_party(w)
    again = incremental_pass(w.url)
    assert again.audit_rows == 0


def test_an_outage_mid_pass_neither_loses_nor_duplicates(checked: World) -> None:
    w = checked
    before = _watermark(w.url)
    _grow_party_behind_the_seat_trigger(w)
    lines: list[str] = []
    checker = Checker(w.url, say=lines.append)
    with superuser(w.url) as blocker, superuser(w.url) as killer:
        # Hold the table the pass writes to, so it waits mid-pass; then its connection is killed.
        blocker.execute("BEGIN")
        blocker.execute("LOCK TABLE integrity_violations IN EXCLUSIVE MODE")
        passing = threading.Thread(target=checker.run_pass, args=("incremental", lambda: incremental_pass(w.url)))
        passing.start()
        killed = 0
        while not killed:
            row = killer.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = %s AND wait_event_type = 'Lock'",
                (APPLICATION_NAME,),
            ).fetchone()
            killed = int(row[0]) if row else 0
            time.sleep(0.05)
        passing.join()
        blocker.execute("ROLLBACK")
    assert len(lines) == 1 and "incremental pass failed" in lines[0]
    assert _watermark(w.url) == before and open_violations(w) == set()
    with superuser(w.url) as conn:
        row = conn.execute("SELECT errors FROM checker_state WHERE mode = 'incremental'").fetchone()
    assert row is not None and row[0] >= 1
    one_round(w)
    one_round(w)
    assert open_violations(w) == grown_party(w)
    assert _watermark(w.url) > before


def test_a_write_with_the_triggers_off_is_left_to_the_full_sweep(checked: World) -> None:
    w = checked
    with superuser(w.url) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE time_slots SET max_capacity = 1 WHERE id = %s", (w.ids["fri_slot"],))
    one_round(w)
    assert open_violations(w) == set()
    full_pass(w.url)
    assert open_violations(w) == {("overbooked_slot", w.shop.business_id, "slot", str(w.ids["fri_slot"]))}


def test_a_failing_pass_is_counted_and_said_and_the_next_one_runs(checked: World) -> None:
    lines: list[str] = []
    broken = Checker("postgresql://nobody@127.0.0.1:1/none", say=lines.append)
    assert broken.tick(full=False) == []
    assert broken.unrecorded_errors == {"incremental": 1, "chain": 1} and len(lines) == 2
    _ = psycopg


def test_an_audit_id_committed_after_a_later_one_is_read_when_it_commits(checked: World) -> None:
    w = checked
    with superuser(w.url) as slow:
        # A transaction takes its audit id, then a later id commits and a pass moves past both.
        slow.execute("BEGIN")
        slow.execute(
            "UPDATE time_slots SET schedule_version_id = (SELECT id FROM schedule_versions WHERE business_id = %s"
            " AND NOT is_active ORDER BY version_number LIMIT 1) WHERE id = %s",
            (w.shop.business_id, w.ids["fri_slot"]),
        )
        other = w.paid_shop
        other.book(other.first_slot(6), party=1)
        passed = incremental_pass(w.url)
        assert passed.audit_rows >= 1 and open_violations(w) == set()
        with superuser(w.url) as conn:
            row = conn.execute("SELECT count(*) FROM checker_audit_gaps").fetchone()
        assert row is not None and row[0] >= 1
        slow.execute("COMMIT")
    one_round(w)
    assert ("orphaned_booking", w.shop.business_id, "booking", str(w.ids["confirmed"])) in open_violations(w)


def test_a_sweep_does_not_bring_back_what_an_incremental_pass_cleared_after_its_snapshot(checked: World) -> None:
    w = checked
    _grow_party_behind_the_seat_trigger(w)
    one_round(w)
    assert open_violations(w, "seat_counter_drift")

    def fixed_and_passed() -> None:  # after the sweep found the drift, before it stores what it found
        _grow_party_behind_the_seat_trigger(w, party=2)  # back to its size: the counter agrees again
        assert incremental_pass(w.url).removed >= 1
        assert not open_violations(w, "seat_counter_drift")

    full_pass(w.url, before_apply=fixed_and_passed)
    assert not open_violations(w, "seat_counter_drift")


def test_a_sweep_does_not_clear_what_an_incremental_pass_found_after_its_snapshot(checked: World) -> None:
    w = checked

    def broken_and_passed() -> None:  # after the sweep found nothing, before it stores that
        _grow_party_behind_the_seat_trigger(w)
        assert incremental_pass(w.url).added >= 1

    full_pass(w.url, before_apply=broken_and_passed)
    assert open_violations(w) == grown_party(w)


def test_incremental_passes_go_on_while_a_full_round_runs(checked: World) -> None:
    w = checked
    lines: list[str] = []
    checker = Checker(w.url, every=0.2, full_every=3600, say=lines.append)

    def passes() -> int:
        with superuser(w.url) as conn:
            row = conn.execute("SELECT passes FROM checker_state WHERE mode = 'incremental'").fetchone()
        return int(row[0]) if row else 0

    with superuser(w.url) as walk_blocker:
        # The full walk waits for the chain lock the test holds: the full round stays open.
        walk_blocker.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (CHAIN_LOCK,))
        with superuser(w.url) as conn:
            conn.execute("DELETE FROM checker_state WHERE mode = 'full'")  # never swept: a full round at once
        running = threading.Thread(target=checker.run)
        running.start()
        try:
            deadline = time.monotonic() + 30
            while not _walk_waits(w) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _walk_waits(w), "the full walk never started"
            before = passes()
            _grow_party_behind_the_seat_trigger(w)
            while open_violations(w) != grown_party(w) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert open_violations(w) == grown_party(w)  # found while the full round is still open
            assert passes() >= before + 1 and _walk_waits(w)
        finally:
            walk_blocker.execute("SELECT pg_advisory_unlock_all()")
            checker.stop.set()
            running.join(timeout=60)
    assert not running.is_alive() and lines == [], lines


def _walk_waits(w: World) -> bool:
    with superuser(w.url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event = 'advisory'",
            (APPLICATION_NAME,),
        ).fetchone()
    return bool(row and row[0])
