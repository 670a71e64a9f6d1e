"""Who to contact about an incident: the affected bookings of the named slots, bookings or hours, as CSV."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import create_engine

from booking_core import InvalidInput, NaiveDatetime
from booking_core.reports.common import booking_ref
from booking_core.reports.incident import IncidentScope, contacts, write_csv
from tests.conftest import MONDAY
from tests.factories import Shop


@pytest.fixture
def incident(system):  # type: ignore[no-untyped-def]
    """Two slots of one shop: two live bookings and a cancelled one on the first, one on the second."""
    shop = Shop.create(system, now=MONDAY)
    first, second = shop.slots()[:2]
    kept = [shop.book(first, party=2, customer=0), shop.book(first, party=1, customer=1)]
    gone = shop.book(first, party=1, customer=2)
    system.cancel(shop.business_id, gone.id, actor=shop.admin, now=MONDAY)
    other = shop.book(second, party=3, customer=2)
    return shop, first, second, kept, gone, other


def _found(database_url: str, scope: IncidentScope) -> list:  # type: ignore[type-arg]
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return contacts(conn, scope)
    finally:
        engine.dispose()


def test_a_slot_lists_its_live_bookings_with_name_email_and_reference(database_url, incident):
    shop, first, _, kept, gone, _ = incident
    found = _found(database_url, IncidentScope(shop.business_id, slot_ids=[first.id]))
    assert sorted(c.booking_id for c in found) == sorted(b.id for b in kept)
    by_id = {c.booking_id: c for c in found}
    assert by_id[kept[0].id].customer == "Customer 0" and by_id[kept[0].id].party_size == 2
    assert by_id[kept[0].id].booking == booking_ref(kept[0].id)
    assert all(c.status == "confirmed" and c.slot_id == first.id for c in found)
    with_closed = _found(database_url, IncidentScope(shop.business_id, slot_ids=[first.id], closed_too=True))
    assert gone.id in {c.booking_id for c in with_closed} and len(with_closed) == 3


def test_bookings_and_a_time_window_select_too_and_other_businesses_never_appear(system, database_url, incident):
    shop, first, second, kept, _, other = incident
    stranger = Shop.create(system, now=MONDAY)
    stranger.book(stranger.first_slot())
    by_booking = _found(database_url, IncidentScope(shop.business_id, booking_ids=[other.id]))
    assert [c.booking_id for c in by_booking] == [other.id]
    window = IncidentScope(shop.business_id, start=first.starts_at, end=second.starts_at + timedelta(minutes=1))
    assert {c.booking_id for c in _found(database_url, window)} == {kept[0].id, kept[1].id, other.id}
    assert _found(database_url, IncidentScope(stranger.business_id, slot_ids=[first.id])) == []


def test_an_incident_must_name_what_it_touched_with_times_that_have_zones():
    b = uuid.uuid4()
    with pytest.raises(InvalidInput, match="name what the incident touched"):
        IncidentScope(b)
    with pytest.raises(InvalidInput, match="needs both ends"):
        IncidentScope(b, start=MONDAY)
    with pytest.raises(NaiveDatetime):
        IncidentScope(b, start=datetime(2030, 1, 1), end=datetime(2030, 1, 2))
    with pytest.raises(InvalidInput, match="ends before it starts"):
        IncidentScope(b, start=MONDAY, end=MONDAY)


def test_the_csv_has_a_header_and_one_row_per_booking(database_url, incident):
    shop, first, *_ = incident
    buffer = io.StringIO()
    n = write_csv(_found(database_url, IncidentScope(shop.business_id, slot_ids=[first.id])), buffer)
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert n == len(rows) == 2
    assert {r["customer"] for r in rows} == {"Customer 0", "Customer 1"}
    assert set(rows[0]) >= {"booking", "customer", "email", "slot", "starts_at", "party_size", "booking_id"}


def _booking(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BOOKING_DATABASE_URL": url}
    script = "from booking_core.cli import main; main()"
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, timeout=60)


def test_the_cli_writes_the_csv_and_says_what_to_fix_in_one_line(database_url, incident, tmp_path):
    shop, first, *_ = incident
    done = _booking("incident", "contacts", str(shop.business_id), "--slot", str(first.id), url=database_url)
    assert done.returncode == 0, done.stderr
    assert len(list(csv.DictReader(io.StringIO(done.stdout)))) == 2
    target = tmp_path / "contacts.csv"
    written = _booking(
        "incident", "contacts", str(shop.business_id), "--slot", str(first.id), "--out", str(target), url=database_url
    )
    assert written.returncode == 0 and "wrote 2 bookings" in written.stdout
    assert target.read_text(encoding="utf-8").count("\n") == 3
    for args, message in (
        ((), "name what the incident touched"),
        (("--slot", "42"), "--slot '42' is not an id"),
        (("--from", "tomorrow", "--to", "x"), "--from 'tomorrow' is not a time"),
    ):
        bad = _booking("incident", "contacts", str(shop.business_id), *args, url=database_url)
        assert bad.returncode == 2 and bad.stderr.startswith("error: ") and message in bad.stderr, bad.stderr
        assert "Traceback" not in bad.stderr
