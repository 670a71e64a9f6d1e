"""The full chain walk reads in a snapshot of its own and applies under the chain lock.

On millions of links a walk takes minutes; the chain pass every few seconds must go on meanwhile,
and what the walk found in its old snapshot must neither clear a break found since nor revive
one repaired since. Each test changes history between the walk's snapshot and its apply. The database is shared
with other tests' worlds: what is asserted is this world's businesses.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from checks.chain import chain_pass
from checks.service import Checker

from tests.checks.conftest import World, superuser
from tests.checks.test_checker import _created_audit_id, _edit_audit, checked, one_round, open_violations

__all__ = ["checked"]  # the fixture, imported for pytest


def _actor_id(w: World, audit_id: int) -> str | None:
    with superuser(w.url) as conn:
        row = conn.execute("SELECT performed_by_id FROM booking_audit_log WHERE id = %s", (audit_id,)).fetchone()
    assert row is not None
    return None if row[0] is None else str(row[0])


def _heads(w: World) -> dict[object, int]:
    with superuser(w.url) as conn:
        rows = conn.execute(
            "SELECT business_id, seq FROM audit_chain_verified WHERE business_id = ANY(%s)", (w.businesses,)
        )
        return {b: int(s) for b, s in rows}


def _link_seq(w: World, audit_id: int) -> int:
    with superuser(w.url) as conn:
        row = conn.execute("SELECT seq FROM audit_chain WHERE audit_id = %s", (audit_id,)).fetchone()
    assert row is not None
    return int(row[0])


def test_a_walk_does_not_clear_a_break_a_pass_found_after_its_snapshot(checked: World) -> None:
    w = checked
    audit_id = _created_audit_id(w, w.ids["confirmed"])
    broken = {("audit_chain_broken", w.shop.business_id, "audit", str(audit_id))}

    def edited_and_found() -> None:  # after the walk found the chain whole, before it stores that
        _edit_audit(w, audit_id, "edited by hand")
        assert chain_pass(w.url).added == 1

    walk = chain_pass(w.url, full=True, before_apply=edited_and_found)
    assert walk.audit_rows > 0 and walk.removed == 0  # judged again under the lock: still broken
    assert open_violations(w) == broken
    one_round(w)
    assert open_violations(w) == broken


def test_a_walk_does_not_revive_a_break_repaired_after_its_snapshot(checked: World) -> None:
    w = checked
    audit_id = _created_audit_id(w, w.ids["confirmed"])
    actor_id = _actor_id(w, audit_id)
    _edit_audit(w, audit_id, "edited by hand")
    one_round(w)
    assert open_violations(w) == {("audit_chain_broken", w.shop.business_id, "audit", str(audit_id))}
    heads = _heads(w)

    def repaired_and_cleared() -> None:  # after the walk found the break, before it stores that
        _edit_audit(w, audit_id, actor_id)
        assert chain_pass(w.url).removed == 1

    chain_pass(w.url, full=True, before_apply=repaired_and_cleared)
    assert open_violations(w) == set()
    assert _heads(w) == heads  # not set back to the link before a break that is gone


def test_a_walk_sets_the_head_back_to_a_break_still_there_and_a_pass_moves_it_on_once_repaired(
    checked: World,
) -> None:
    w = checked
    biz = w.shop.business_id
    audit_id = _created_audit_id(w, w.ids["confirmed"])
    actor_id, seq = _actor_id(w, audit_id), _link_seq(w, audit_id)
    end = _heads(w)[biz]
    assert end > seq
    _edit_audit(w, audit_id, "edited by hand")
    one_round(w)  # the tamper look finds it; the head stays at the end: what follows verified
    assert _heads(w)[biz] == end
    chain_pass(w.url, full=True)
    assert _heads(w)[biz] == seq - 1
    assert open_violations(w) == {("audit_chain_broken", biz, "audit", str(audit_id))}
    _edit_audit(w, audit_id, actor_id)
    one_round(w)
    assert open_violations(w) == set() and _heads(w)[biz] == end


def test_chain_passes_find_an_edit_while_a_walk_is_held_open(checked: World) -> None:
    w = checked
    audit_id = _created_audit_id(w, w.ids["confirmed"])
    walking, release = threading.Event(), threading.Event()
    lines: list[str] = []

    def held() -> None:
        walking.set()
        release.wait(60)

    # The first walk comes after full_every; the sweep loop runs as often, harmlessly.
    checker = Checker(w.url, every=0.2, full_every=0.5, say=lines.append, before_walk_applies=held)
    running = threading.Thread(target=checker.run)
    running.start()
    try:
        assert walking.wait(30), "the walk never started"
        _edit_audit(w, audit_id, "edited by hand")
        deadline = time.monotonic() + 30
        while not open_violations(w, "audit_chain_broken") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert open_violations(w) == {("audit_chain_broken", w.shop.business_id, "audit", str(audit_id))}
        assert not release.is_set()  # found by a chain pass while the walk is still open
    finally:
        release.set()
        checker.stop.set()
        running.join(timeout=60)
    assert not running.is_alive() and lines == [], lines
    assert open_violations(w) == {("audit_chain_broken", w.shop.business_id, "audit", str(audit_id))}


def _notes(w: World, audit_id: int) -> list[tuple[str, str]]:
    with superuser(w.url) as conn:
        rows = conn.execute("SELECT table_name, op FROM audit_tamper_log WHERE audit_id = %s", (audit_id,))
        return [(t, o) for t, o in rows]


def test_an_edit_with_the_refusal_off_is_noted_and_the_pass_judges_the_link_noted(checked: World) -> None:
    w = checked
    audit_id = _created_audit_id(w, w.ids["confirmed"])
    _edit_audit(w, audit_id, "edited by hand")
    assert _notes(w, audit_id) == [("booking_audit_log", "UPDATE")]
    one_round(w)
    assert open_violations(w) == {("audit_chain_broken", w.shop.business_id, "audit", str(audit_id))}


def test_a_link_deleted_with_the_refusal_off_breaks_the_link_after_it(checked: World) -> None:
    w = checked
    biz = w.shop.business_id
    audit_id = _created_audit_id(w, w.ids["confirmed"])
    seq = _link_seq(w, audit_id)
    with superuser(w.url) as conn:
        with conn.transaction():
            conn.execute("ALTER TABLE audit_chain DISABLE TRIGGER audit_chain_append_only")
            conn.execute("DELETE FROM audit_chain WHERE business_id = %s AND seq = %s", (biz, seq))
            conn.execute("ALTER TABLE audit_chain ENABLE TRIGGER audit_chain_append_only")
            row = conn.execute(
                "SELECT audit_id FROM audit_chain WHERE business_id = %s AND seq = %s", (biz, seq + 1)
            ).fetchone()
        conn.execute("SELECT pg_stat_force_next_flush()")
    assert row is not None and _notes(w, audit_id) == [("audit_chain", "DELETE")]
    one_round(w)
    assert open_violations(w) == {("audit_chain_broken", biz, "audit", str(row[0]))}


def test_an_edit_with_every_trigger_off_leaves_no_note_and_is_found_by_reading_the_tables(checked: World) -> None:
    w = checked
    audit_id = _created_audit_id(w, w.ids["confirmed"])
    with superuser(w.url) as conn:
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")  # no ordinary trigger fires
            conn.execute("UPDATE booking_audit_log SET performed_by_id = 'edited by hand' WHERE id = %s", (audit_id,))
        conn.execute("SELECT pg_stat_force_next_flush()")
    assert _notes(w, audit_id) == []
    one_round(w)
    assert open_violations(w) == {("audit_chain_broken", w.shop.business_id, "audit", str(audit_id))}


def test_the_tamper_notes_are_append_only(checked: World) -> None:
    w = checked
    audit_id = _created_audit_id(w, w.ids["confirmed"])
    _edit_audit(w, audit_id, "edited by hand")
    with superuser(w.url) as conn:
        for statement in ("UPDATE audit_tamper_log SET op = 'DELETE'", "DELETE FROM audit_tamper_log"):
            with pytest.raises(psycopg.Error, match="append-only"):
                conn.execute(statement)
            conn.rollback()
