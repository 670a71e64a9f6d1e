"""The exporter serves the checker's findings as booking_readonly: open violations with their ids, passes, chain."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from checks.chain import chain_pass
from checks.checker import full_pass, incremental_pass
from checks.service import Checker
from metrics.collector import BookingCollector, scrape_engine
from prometheus_client import CollectorRegistry

from booking_core import BookingSystem
from booking_core.reports.violations import IDS_SHOWN, OpenByCheck
from tests.checks.conftest import World, build_world, superuser


@pytest.fixture
def checked(system: BookingSystem, database_url: str) -> World:
    world = build_world(system, database_url)
    full_pass(database_url)
    chain_pass(database_url, full=True)
    return world


@pytest.fixture
def registry(database_url: str) -> Iterator[CollectorRegistry]:
    engine = scrape_engine(database_url)
    reg = CollectorRegistry()
    reg.register(BookingCollector(engine))
    yield reg
    engine.dispose()


def _name(world: World) -> str:
    with superuser(world.url) as conn:
        row = conn.execute("SELECT name FROM businesses WHERE id = %s", (world.shop.business_id,)).fetchone()
    assert row is not None
    return str(row[0])


def test_an_open_violation_is_served_with_its_business_and_ids(checked: World, registry: CollectorRegistry) -> None:
    w, name = checked, _name(checked)
    with superuser(w.url) as conn, conn.transaction():
        conn.execute("ALTER TABLE bookings DISABLE TRIGGER bookings_30_seats")
        conn.execute("UPDATE bookings SET party_size = 3 WHERE id = %s", (w.ids["confirmed"],))
        conn.execute("ALTER TABLE bookings ENABLE TRIGGER bookings_30_seats")
    incremental_pass(w.url)
    chain_pass(w.url)
    labels = {"check": "seat_counter_drift", "suite": "overbooking", "business": name}
    assert registry.get_sample_value("booking_integrity_violations", labels) == 1
    ids = {"check": "seat_counter_drift", "business": name, "ids": f"slot {w.ids['fri_slot']}"}
    assert registry.get_sample_value("booking_integrity_violation_ids_info", ids) == 1
    for mode in ("incremental", "full", "chain"):
        assert (registry.get_sample_value("booking_checker_last_pass_timestamp_seconds", {"mode": mode}) or 0) > 0
    # The party change wrote one audit row, not sealed yet: the chain cannot vouch for it.
    assert registry.get_sample_value("booking_audit_chain_unverified_rows", {"business": name}) == 1


def test_failed_passes_are_counted_once_the_database_answers(checked: World, registry: CollectorRegistry) -> None:
    before = registry.get_sample_value("booking_checker_pass_errors_total", {"mode": "incremental"}) or 0
    checker = Checker(checked.url, say=lambda _line: None)
    checker.run_pass("incremental", lambda: (_ for _ in ()).throw(OSError("connection refused")))
    assert registry.get_sample_value("booking_checker_pass_errors_total", {"mode": "incremental"}) == before + 1


def test_unsealed_audit_rows_are_unverified_until_sealed_and_walked(
    checked: World, registry: CollectorRegistry
) -> None:
    w, name = checked, _name(checked)
    shop = w.shop
    shop.book(shop.system.get_slot(shop.business_id, w.ids["sat_slot"]), party=1, customer=2)
    chain_pass(w.url)
    assert (registry.get_sample_value("booking_audit_chain_unverified_rows", {"business": name}) or 0) >= 1
    shop.system.seal_audit(shop.business_id)
    chain_pass(w.url)
    assert registry.get_sample_value("booking_audit_chain_unverified_rows", {"business": name}) == 0


def test_the_ids_label_carries_the_first_ten_and_counts_the_rest() -> None:
    first = ", ".join(f"slot {i}" for i in range(IDS_SHOWN))
    assert OpenByCheck("c", "s", "b", IDS_SHOWN, first).ids == first
    assert OpenByCheck("c", "s", "b", IDS_SHOWN + 3, first).ids == first + " (+3 more)"
