"""Ops' write freeze: while a business is frozen, no path writes its data; other businesses go on."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import timedelta

import psycopg
import pytest

from booking_core import BusinessFrozen, InvalidInput, Money, NotFound, NothingToChange
from booking_core.domain.values import Actor
from tests.conftest import MONDAY
from tests.factories import Shop

OPS = Actor.admin("ops:alice")


def _freeze(shop: Shop, reason: str = "seat drift on slot 42") -> None:
    shop.system.set_freeze(shop.business_id, actor=OPS, reason=reason, now=MONDAY)


def _footprint(raw, business_id, slot_id):  # type: ignore[no-untyped-def]
    """The business's bookings and audit rows, and the slot's booked seats: what a refused write must not move."""
    return raw.execute(
        "SELECT (SELECT count(*) FROM bookings WHERE business_id = %(b)s),"
        " (SELECT count(*) FROM booking_audit_log WHERE business_id = %(b)s),"
        " (SELECT booked_seats FROM time_slots WHERE id = %(s)s)",
        {"b": business_id, "s": slot_id},
    ).fetchone()


def test_a_frozen_business_refuses_every_library_write_and_the_database_is_unchanged(system, raw):
    shop = Shop.create(system, now=MONDAY)
    slot = shop.first_slot()
    booked = shop.book(slot)
    _freeze(shop)
    counts = _footprint(raw, shop.business_id, slot.id)
    attempts = {
        "book": lambda: shop.book(slot, customer=1),
        "cancel": lambda: system.cancel(shop.business_id, booked.id, actor=shop.admin, now=MONDAY),
        "party size": lambda: system.change_party_size(
            shop.business_id, booked.id, party_size=3, actor=shop.admin, now=MONDAY
        ),
        "customer": lambda: system.add_customer(shop.business_id, name="New", actor=shop.admin, now=MONDAY),
        "service": lambda: system.add_service(
            shop.business_id, name="Lunch", price=Money("10.00", "EUR"), actor=shop.admin, now=MONDAY
        ),
        "capacity": lambda: system.change_capacity(
            shop.business_id, slot.id, capacity=20, actor=shop.admin, now=MONDAY
        ),
    }
    for what, attempt in attempts.items():
        with pytest.raises(BusinessFrozen, match=r"is frozen for writes since .* \(seat drift on slot 42\)") as info:
            attempt()
        assert "booking unfreeze" in str(info.value), what
    assert _footprint(raw, shop.business_id, slot.id) == counts


def test_raw_sql_by_the_owner_is_refused_too_unless_it_declares_a_repair(system, raw):
    shop = Shop.create(system, now=MONDAY)
    slot = shop.first_slot()
    booked = shop.book(slot)
    _freeze(shop)
    for statement in (
        "UPDATE time_slots SET max_capacity = max_capacity + 1 WHERE business_id = %(b)s AND id = %(s)s",
        "UPDATE bookings SET status = 'cancelled' WHERE business_id = %(b)s AND id = %(bk)s",
        "INSERT INTO customers (business_id, name) VALUES (%(b)s, 'raw')",
    ):
        with pytest.raises(psycopg.Error) as info:
            raw.execute(statement, {"b": shop.business_id, "s": slot.id, "bk": booked.id})
        assert info.value.sqlstate == "BK019", statement
    with raw.transaction():
        raw.execute("SET LOCAL booking.freeze_repair = 'restore slot capacity after incident 7'")
        raw.execute(
            "UPDATE time_slots SET max_capacity = 11 WHERE business_id = %(b)s AND id = %(s)s",
            {"b": shop.business_id, "s": slot.id},
        )
    assert raw.execute("SELECT max_capacity FROM time_slots WHERE id = %s", (slot.id,)).fetchone() == (11,)


def test_other_businesses_keep_writing_and_unfreeze_resumes_writes(system):
    frozen, other = Shop.create(system, now=MONDAY), Shop.create(system, now=MONDAY)
    _freeze(frozen)
    assert other.book(other.first_slot()).id
    with pytest.raises(BusinessFrozen):
        frozen.book(frozen.first_slot())
    state = system.set_freeze(frozen.business_id, actor=OPS, reason="verified, resuming", frozen=False, now=MONDAY)
    assert not state.frozen and state.frozen_by is None
    assert frozen.book(frozen.first_slot()).id


def test_freeze_and_unfreeze_are_audited_with_who_and_why(system, raw):
    shop = Shop.create(system, now=MONDAY)
    _freeze(shop, reason="payment mismatch")
    system.set_freeze(shop.business_id, actor=OPS, reason="repaired", frozen=False, now=MONDAY)
    audited = {
        action: rest
        for action, *rest in raw.execute(
            "SELECT action, performed_by, performed_by_id, reason, new_values->>'frozen_by' FROM booking_audit_log"
            " WHERE business_id = %s AND entity_type = 'business' AND action LIKE 'business.%%frozen'",
            (shop.business_id,),
        )
    }
    assert audited == {
        "business.frozen": ["admin", "ops:alice", "payment mismatch", "ops:alice"],
        "business.unfrozen": ["admin", "ops:alice", "repaired", None],
    }


def test_freeze_refuses_a_missing_reason_a_repeat_and_an_unknown_business(system):
    shop = Shop.create(system, now=MONDAY)
    with pytest.raises(InvalidInput, match="needs a reason"):
        _freeze(shop, reason="  ")
    _freeze(shop)
    with pytest.raises(NothingToChange, match=r"already frozen since .* \(seat drift on slot 42\)"):
        _freeze(shop, reason="again")
    with pytest.raises(NotFound, match="does not exist"):
        system.set_freeze(uuid.UUID(int=1), actor=OPS, reason="x")
    system.set_freeze(shop.business_id, actor=OPS, reason="done", frozen=False)
    with pytest.raises(NothingToChange, match="already unfrozen"):
        system.set_freeze(shop.business_id, actor=OPS, reason="done", frozen=False)


def test_the_library_role_cannot_freeze_or_unfreeze(system, raw):
    shop = Shop.create(system, now=MONDAY)
    with raw.transaction(), pytest.raises(psycopg.errors.InsufficientPrivilege):
        raw.execute("SET LOCAL ROLE booking_app")
        raw.execute(
            "UPDATE businesses SET frozen_at = now(), frozen_by = 'x', frozen_reason = 'y' WHERE id = %s",
            (shop.business_id,),
        )


def _offer(shop: Shop):  # type: ignore[no-untyped-def]
    """A full slot (capacity 2), a customer on its waitlist, and a cancellation that offers them the seats."""
    slot = shop.first_slot()
    held = shop.book(slot, party=2)
    entry = shop.system.join_waitlist(
        shop.business_id, slot_id=slot.id, customer_id=shop.customers[1], party_size=2, actor=shop.admin, now=MONDAY
    )
    shop.system.cancel(shop.business_id, held.id, actor=shop.admin, now=MONDAY)
    offered = shop.system.waitlist_entry(shop.business_id, entry.id)
    assert offered.status == "offered"
    return offered


def test_the_waitlist_sweep_skips_frozen_businesses_and_expires_the_rest(system):
    """A sweep over every business must neither stop at a frozen one nor write into it."""
    frozen, other = Shop.create(system, now=MONDAY, capacity=2), Shop.create(system, now=MONDAY, capacity=2)
    frozen_offer, other_offer = _offer(frozen), _offer(other)
    _freeze(frozen)
    later = max(frozen_offer.offer_expires_at, other_offer.offer_expires_at) + timedelta(minutes=1)
    assert system.expire_waitlist_offers(now=later) >= 1
    assert system.waitlist_entry(other.business_id, other_offer.id).status == "expired"
    assert system.waitlist_entry(frozen.business_id, frozen_offer.id).status == "offered"


def _booking(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BOOKING_DATABASE_URL": url, "COLUMNS": "250"}  # a table row per business
    script = "from booking_core.cli import main; main()"
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, timeout=60)


def test_the_cli_freezes_by_name_lists_and_unfreezes_in_one_line_each(system, raw, database_url):
    shop = Shop.create(system, now=MONDAY)
    (target,) = raw.execute("SELECT name FROM businesses WHERE id = %s", (shop.business_id,)).fetchone()
    done = _booking("freeze", target, "--reason", "incident 12", url=database_url)
    assert done.returncode == 0, done.stderr
    assert "writes frozen since" in done.stdout
    listed = _booking("frozen", url=database_url)
    assert str(shop.business_id) in listed.stdout and "incident 12" in listed.stdout
    again = _booking("freeze", target, "--reason", "incident 12", url=database_url)
    assert again.returncode == 2 and again.stderr.startswith("error: ") and "already frozen" in again.stderr
    assert "Traceback" not in again.stderr
    missing = _booking("unfreeze", "no such business", "--reason", "x", url=database_url)
    assert missing.returncode == 2 and "no business named 'no such business'" in missing.stderr
    resumed = _booking("unfreeze", target, "--reason", "verified", url=database_url)
    assert resumed.returncode == 0 and "writes resumed" in resumed.stdout
