"""The bulk seed: exactly N bookings, and every invariant the trigger path keeps holds on a sample run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from booking_core import connect
from booking_demo.seed import SeedReport, bulk_seed
from booking_demo.seed_rows import quotas
from tests.conftest import create_database, drop_database
from tests.demo.invariants import violations

N = 20_000
ANCHOR = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def seeded(admin_url: str) -> Iterator[tuple[str, SeedReport]]:
    url = create_database(admin_url, prefix="seed_test")
    try:
        with connect(url) as system:
            report = bulk_seed(system, bookings=N, seed=3, anchor=ANCHOR)
        yield url, report
    finally:
        drop_database(admin_url, url)


def _one(url: str, sql: str) -> object:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return row[0]


def test_the_seed_writes_exactly_the_bookings_asked_for(seeded):
    url, report = seeded
    assert report.bookings == N
    assert _one(url, "SELECT count(*) FROM bookings") == N


def test_a_bulk_seed_keeps_every_invariant_of_the_core(seeded):
    url, _report = seeded
    assert violations(url) == dict.fromkeys(violations(url), 0)


def test_every_seeded_booking_has_a_created_audit_row_and_a_first_transition(seeded):
    url, _report = seeded
    assert _one(url, "SELECT count(*) FROM booking_audit_log WHERE action = 'booking.created'") == N
    assert _one(url, "SELECT count(*) FROM booking_state_transitions WHERE from_status IS NULL") == N


def test_the_seed_has_the_demo_shapes_of_data(seeded):
    url, _report = seeded
    statuses = _one(url, "SELECT array_agg(DISTINCT status::text) FROM bookings")
    assert {"completed", "cancelled", "refunded", "no_show", "confirmed", "draft"} <= set(statuses)  # type: ignore[arg-type]
    kinds = _one(url, "SELECT array_agg(DISTINCT status::text) FROM payments")
    assert {"paid", "failed", "refunded", "partially_refunded", "pending"} <= set(kinds)  # type: ignore[arg-type]


def test_the_seed_takes_no_seat_beyond_capacity(seeded):
    url, _report = seeded
    assert _one(url, "SELECT count(*) FROM time_slots WHERE booked_seats > max_capacity") == 0


def test_quotas_add_up_to_the_total_in_proportion():
    q = list(quotas([1.0, 2.0, 1.0], 10))
    assert sum(q) == 10
    assert q[1] == 5


def test_booking_seed_on_the_command_line_reports_what_it_wrote(admin_url):
    import os
    import subprocess
    import sys
    from pathlib import Path

    url = create_database(admin_url, prefix="seed_cli")
    try:
        booking = str(Path(sys.executable).parent / "booking")
        env = os.environ | {"BOOKING_DATABASE_URL": url}
        done = subprocess.run([booking, "seed", "--bookings", "1500", "--seed", "5", "--anchor", "2026-03-02"],
                              capture_output=True, text=True, env=env, timeout=300, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "seeded 1,500 bookings" in done.stdout
        assert _one(url, "SELECT count(*) FROM bookings") == 1500
    finally:
        drop_database(admin_url, url)
