"""`booking export --as EMAIL`: the export a person may take, read through row security and recorded.

A second shop shares the database with the known history. An analyst of the history's business
exports: only that business's bookings, customers as pseudonyms, no e-mail addresses; a manager
sees names; a person with no membership is refused; every export as a person is in access_log.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from booking_core import Actor
from booking_core.bootstrap import connect
from tests.dashboard.conftest import History, known_history
from tests.dashboard.test_export import booking
from tests.factories import Shop
from tests.integration.test_schedules import MONDAY


@pytest.fixture(scope="module")
def shared(admin_url: str) -> Iterator[tuple[History, dict[str, str]]]:
    with known_history(admin_url, "booking_export_as") as h:
        tag = uuid.uuid4().hex[:6]
        people = {role: f"{role}-{tag}@example.com" for role in ("manager", "analyst", "ops")}
        with connect(h.url) as system:
            other = Shop.create(system, now=MONDAY, customers=2)
            other.book(other.first_slot(), party=1, customer=0)
            for role, person in people.items():
                system.set_membership(
                    person=person, role=role, business_id=h.business, reason="t", actor=Actor.admin("t"), now=MONDAY
                )
        # Every customer with an address, so a masked e-mail column is an observation, not a default.
        h.sql("UPDATE customers SET email = lower(replace(name, ' ', '.')) || '@example.com' RETURNING id")
        yield h, people


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_an_analysts_export_holds_only_their_business_with_pseudonymized_customers(
    shared: tuple[History, dict[str, str]], tmp_path: Path
) -> None:
    h, people = shared
    out = tmp_path / "analyst.csv"
    done = booking(h.url, "export", "--out", str(out), "--as", people["analyst"].upper())
    assert done.returncode == 0, done.stderr
    rows = rows_of(out)
    expected = {str(r[0]) for r in h.sql("SELECT id FROM bookings WHERE business_id = %(b)s", b=h.business)}
    assert {r["booking_id"] for r in rows} == expected
    assert h.scalar("SELECT count(*) FROM bookings WHERE business_id <> %(b)s", b=h.business) > 0  # not exported
    names = {str(r[0]) for r in h.sql("SELECT name FROM customers")}
    assert all(r["customer"].startswith("customer-") and r["customer"] not in names for r in rows)
    assert all(r["customer_email"] == "" for r in rows)


def test_a_managers_export_names_the_customers(shared: tuple[History, dict[str, str]], tmp_path: Path) -> None:
    h, people = shared
    out = tmp_path / "manager.csv"
    done = booking(h.url, "export", "--out", str(out), "--as", people["manager"])
    assert done.returncode == 0, done.stderr
    held = {
        str(r[0]): r[1] or ""
        for r in h.sql("SELECT name, email FROM customers WHERE business_id = %(b)s", b=h.business)
    }
    exported = {r["customer"]: r["customer_email"] for r in rows_of(out)}
    assert exported and exported.items() <= held.items()  # names and e-mail addresses as held


def test_every_export_as_a_person_is_recorded_and_a_stranger_is_refused(
    shared: tuple[History, dict[str, str]], tmp_path: Path
) -> None:
    h, people = shared
    out = tmp_path / "ops.csv"
    done = booking(h.url, "export", "--out", str(out), "--as", people["ops"], "--from", "2030-01-10")
    assert done.returncode == 0, done.stderr
    logged = h.sql(
        "SELECT what, filter ->> 'from', filter ->> 'format', row_count FROM access_log WHERE person = %(p)s",
        p=people["ops"],
    )
    assert logged == [("export", "2030-01-10", "csv", len(rows_of(out)))]
    stranger = booking(h.url, "export", "--out", str(tmp_path / "x.csv"), "--as", "nobody@example.com")
    assert stranger.returncode == 2 and "is a member of no business" in stranger.stderr
    assert not (tmp_path / "x.csv").exists()
    assert h.scalar("SELECT count(*) FROM access_log WHERE person = 'nobody@example.com'") == 0
