"""Memberships: a person, a role, a business; granted and revoked by admins, every change recorded by the database."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from booking_core import Actor, InvalidInput, NotFound, NothingToChange
from booking_core.services.access import memberships
from tests.factories import Shop
from tests.integration.test_schedules import MONDAY

ADMIN = Actor.admin("admin:root")


def changes(raw, person: str) -> list[tuple[str, str, uuid.UUID | None, str, str | None]]:
    rows = raw.execute(
        "SELECT change, role::text, business_id, changed_by, reason FROM membership_changes"
        " WHERE person = %s ORDER BY id",
        (person,),
    ).fetchall()
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def person() -> str:
    return f"p{uuid.uuid4().hex[:8]}@example.com"


def test_a_grant_and_a_revoke_are_recorded_with_who_and_why(system, raw):
    shop, who = Shop.create(system, now=MONDAY), person()
    granted = system.set_membership(
        person=who.upper(), role="Manager", business_id=shop.business_id, reason="new manager", actor=ADMIN, now=MONDAY
    )
    assert (granted.person, granted.role, granted.business_id) == (who, "manager", shop.business_id)
    assert [m.role for m in memberships(system.db, person=who)] == ["manager"]
    system.set_membership(
        person=who, role="manager", business_id=shop.business_id, reason="left", granted=False, actor=ADMIN, now=MONDAY
    )
    assert memberships(system.db, person=who) == []
    assert changes(raw, who) == [
        ("grant", "manager", shop.business_id, "admin:admin:root", "new manager"),
        ("revoke", "manager", shop.business_id, "admin:admin:root", "left"),
    ]


def test_a_business_lists_its_members_and_the_admins_only(system):
    a, b = Shop.create(system, now=MONDAY), Shop.create(system, now=MONDAY)
    of_a, of_b, admin = person(), person(), person()
    for who, role, biz in ((of_a, "ops", a.business_id), (of_b, "analyst", b.business_id), (admin, "admin", None)):
        system.set_membership(person=who, role=role, business_id=biz, reason="setup", actor=ADMIN, now=MONDAY)
    listed = {(m.person, m.role) for m in memberships(system.db, business_id=a.business_id)}
    assert (of_a, "ops") in listed and (admin, "admin") in listed and all(p != of_b for p, _ in listed)


@pytest.mark.parametrize(
    ("who", "role", "per_business", "error", "says"),
    [
        ("not an address", "manager", True, InvalidInput, "is not an e-mail address"),
        (None, "owner", True, InvalidInput, "is not a role: pass one of manager, ops, analyst, admin"),
        (None, "admin", True, InvalidInput, "admin is held across businesses"),
        (None, "ops", False, InvalidInput, "ops is held per business"),
        (None, "manager", True, InvalidInput, "needs a reason"),
    ],
)
def test_bad_grants_are_refused_with_what_to_do_and_write_nothing(system, raw, who, role, per_business, error, says):
    shop = Shop.create(system, now=MONDAY)
    who = who or person()
    reason = " " if says == "needs a reason" else "because"
    before = raw.execute("SELECT count(*) FROM membership_changes").fetchone()
    with pytest.raises(error, match=says):
        system.set_membership(
            person=who,
            role=role,
            business_id=shop.business_id if per_business else None,
            reason=reason,
            actor=ADMIN,
            now=MONDAY,
        )
    assert raw.execute("SELECT count(*) FROM membership_changes").fetchone() == before


def test_granting_twice_or_revoking_what_is_not_granted_changes_nothing(system, raw):
    shop, who = Shop.create(system, now=MONDAY), person()
    grant = {"person": who, "role": "analyst", "business_id": shop.business_id, "reason": "x", "actor": ADMIN}
    system.set_membership(**grant, now=MONDAY)
    with pytest.raises(NothingToChange, match="already granted"):
        system.set_membership(**grant, now=MONDAY)
    with pytest.raises(NothingToChange, match="not granted"):
        system.set_membership(**(grant | {"role": "manager"}), granted=False, now=MONDAY)
    with pytest.raises(NotFound, match="does not exist"):
        system.set_membership(**(grant | {"business_id": uuid.uuid4()}), now=MONDAY)
    assert len(changes(raw, who)) == 1


def test_raw_sql_grants_are_recorded_too_and_the_record_and_memberships_cannot_be_rewritten(system, raw, database_url):
    shop, who = Shop.create(system, now=MONDAY), person()
    with psycopg.connect(database_url, autocommit=True) as owner:
        owner.execute(
            "INSERT INTO memberships (person, role, business_id, granted_by, granted_at)"
            " VALUES (%s, 'manager', %s, 'by hand', now())",
            (who, shop.business_id),
        )
        assert changes(raw, who)[0][:2] == ("grant", "manager")
        assert changes(raw, who)[0][3].startswith("database:")  # no context: the database user
        for statement, says in (
            ("UPDATE memberships SET role = 'admin', business_id = NULL WHERE person = %s", "revoke the membership"),
            ("UPDATE membership_changes SET reason = 'x' WHERE person = %s", "append-only"),
            ("DELETE FROM membership_changes WHERE person = %s", "append-only"),
        ):
            with pytest.raises(psycopg.Error, match=says):
                owner.execute(statement, (who,))
        with pytest.raises(psycopg.Error, match="TRUNCATE"):
            owner.execute("TRUNCATE memberships")
