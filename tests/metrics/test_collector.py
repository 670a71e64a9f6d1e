"""The booking collector on a real PostgreSQL: values equal what SQL says, outages never raise."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
import pytest
from metrics.collector import BookingCollector, scrape_engine
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from booking_core import Actor, BookingSystem, CapacityExceeded, Money, PaymentMethod, connect
from tests.conftest import MONDAY, scratch_database
from tests.factories import Shop
from tests.metrics.conftest import free_port, plain_url, record_run, require_binary


@dataclass
class Scenario:
    shop: Shop
    paying: Shop
    name: str
    paying_name: str
    now: datetime


def _name(system: BookingSystem, business_id: uuid.UUID) -> str:
    with system.db.connect() as conn:
        return str(conn.execute(text("SELECT name FROM businesses WHERE id = :b"), {"b": business_id}).scalar_one())


def _overbook_with_raw_sql(database_url: str, business_id: uuid.UUID, slot_id: uuid.UUID, capacity: int) -> None:
    # What a bypass looks like: triggers off, capacity cut with no capacity-change record.
    with psycopg.connect(plain_url(database_url), autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "UPDATE time_slots SET max_capacity = %s WHERE business_id = %s AND id = %s",
            (capacity, business_id, slot_id),
        )


def _bookings(shop: Shop, database_url: str) -> datetime:
    """A week of life in one business; returns the scrape time."""
    s, admin = shop.system, shop.admin
    thu1, fri1, sat1 = (shop.first_slot(d) for d in (4, 5, 6))
    later = {x.local_date.isoweekday(): x for x in shop.slots(days=14)[3:]}
    thu2, fri2 = later[4], later[5]
    b1, b2, b3 = (shop.book(thu1, party=p, customer=c) for p, c in ((3, 0), (2, 1), (1, 2)))
    b4 = shop.book(fri1, party=2)
    shop.book(fri2, party=4, customer=1)
    shop.book(thu2, party=5, customer=2)
    shop.book(sat1, party=2)
    with pytest.raises(CapacityExceeded):
        shop.book(thu1, party=8)
    s.cancel(shop.business_id, b2.id, actor=admin, now=MONDAY + timedelta(hours=1))
    shop.publish((4, 5), capacity=10, effective=MONDAY.date(), now=MONDAY + timedelta(hours=2))
    s.change_capacity(shop.business_id, thu2.id, capacity=3, actor=admin, now=MONDAY + timedelta(hours=3))
    _overbook_with_raw_sql(database_url, shop.business_id, fri2.id, capacity=2)
    start = thu1.starts_at
    s.check_in(shop.business_id, b1.id, actor=admin, now=start)
    s.complete(shop.business_id, b1.id, actor=admin, now=start + timedelta(hours=1))
    s.mark_no_show(shop.business_id, b3.id, actor=admin, now=start + timedelta(hours=1))
    now = start + timedelta(hours=3)
    s.cancel(shop.business_id, b4.id, actor=admin, now=now - timedelta(hours=1))
    return now


def _payments(paying: Shop, now: datetime) -> None:
    s, admin, eur = paying.system, paying.admin, lambda v: Money(v, "EUR")
    slot = paying.first_slot()
    paid = paying.book(slot, party=1)
    p1 = s.record_payment(
        paying.business_id,
        paid.id,
        amount=eur("20.00"),
        actor=admin,
        now=MONDAY + timedelta(minutes=10),
    )
    s.confirm_payment(paying.business_id, p1.id, actor=admin, now=MONDAY + timedelta(minutes=15))
    unpaid = paying.book(slot, party=1, customer=1)
    p2 = s.record_payment(
        paying.business_id,
        unpaid.id,
        amount=eur("20.00"),
        actor=admin,
        now=now - timedelta(minutes=40),
    )
    s.fail_payment(
        paying.business_id,
        p2.id,
        reason="card declined",
        actor=admin,
        now=now - timedelta(minutes=30),
    )
    s.refund(
        paying.business_id,
        p1.id,
        amount=eur("5.00"),
        reason="goodwill",
        actor=admin,
        now=now - timedelta(minutes=10),
    )


@pytest.fixture(scope="module")
def database_url(admin_url: str) -> Iterator[str]:
    """This module's own database: the check runs it stores are dated in 2030, and in the shared
    session database they would be every later test's "latest run"."""
    with scratch_database(admin_url, "collector_test") as url:
        yield url


@pytest.fixture(scope="module")
def system(database_url: str) -> Iterator[BookingSystem]:
    with connect(database_url, migrate=False) as s:
        yield s


@pytest.fixture(scope="module")
def scenario(system: BookingSystem, database_url: str) -> Scenario:
    shop = Shop.create(system, now=MONDAY)
    now = _bookings(shop, database_url)
    paying = Shop.create(system, now=MONDAY, payment_method=PaymentMethod.PAY_NOW, price="20.00")
    _payments(paying, now)
    record_run(
        database_url,
        at=now - timedelta(minutes=5),
        results={"overbooked_slot": 1, "audit_chain_intact": 0, "payments_match": "timeout"},
    )
    return Scenario(shop, paying, _name(system, shop.business_id), _name(system, paying.business_id), now)


@pytest.fixture
def registry(database_url: str, scenario: Scenario) -> Iterator[CollectorRegistry]:
    engine = scrape_engine(database_url)
    reg = CollectorRegistry()
    reg.register(BookingCollector(engine, clock=lambda: scenario.now))
    yield reg
    engine.dispose()


def sql(database_url: str, query: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(plain_url(database_url)) as conn:
        return conn.execute(query, params).fetchall()


def value(reg: CollectorRegistry, name: str, **labels: str) -> float | None:
    return reg.get_sample_value(name, labels)


def test_bookings_by_status_equal_what_sql_counts(
    registry: CollectorRegistry, scenario: Scenario, database_url: str
) -> None:
    rows = sql(
        database_url,
        "SELECT status::text, count(*) FROM bookings WHERE business_id = %s GROUP BY 1",
        scenario.shop.business_id,
    )
    assert dict(rows) == {"confirmed": 3, "completed": 1, "no_show": 1, "cancelled": 2}
    for status, n in rows:
        assert value(registry, "booking_bookings", business=scenario.name, status=str(status)) == n
    assert value(registry, "booking_attempts_succeeded_total", business=scenario.name) == 7


def test_refused_attempts_are_counted_by_reason(registry: CollectorRegistry, scenario: Scenario) -> None:
    assert value(registry, "booking_attempts_refused_total", business=scenario.name, reason="full") == 1
    assert value(registry, "booking_attempts_refused_total", business=scenario.name, reason="legacy") is None


def test_cancellation_and_no_show_rates_and_the_spike_against_the_baseline(
    registry: CollectorRegistry, scenario: Scenario
) -> None:
    name = scenario.name
    assert value(registry, "booking_cancellation_ratio", business=name) == pytest.approx(2 / 7)
    assert value(registry, "booking_no_show_ratio", business=name) == pytest.approx(1 / 2)
    # One cancellation an hour ago; one three days ago is the 28-day baseline.
    assert value(registry, "booking_cancellations_last_24h", business=name) == 1
    assert value(registry, "booking_cancellations_baseline_daily", business=name) == pytest.approx(1 / 28)
    # 1 against 1/28 a day would read as a 28x spike; the baseline counts as at least one a day.
    assert value(registry, "booking_cancellation_spike_ratio", business=name) == pytest.approx(1)


def test_utilization_equals_booked_over_capacity_of_bookable_slots(
    registry: CollectorRegistry, scenario: Scenario, database_url: str
) -> None:
    for window, days in (("7d", 7), ("30d", 30)):
        ((booked, cap),) = sql(
            database_url,
            "SELECT sum(booked_seats), sum(max_capacity) FROM time_slots WHERE business_id = %s"
            " AND NOT is_legacy AND starts_at >= %s AND starts_at < %s",
            scenario.shop.business_id,
            scenario.now,
            scenario.now + timedelta(days=days),
        )
        got = value(registry, "booking_capacity_utilization_ratio", business=scenario.name, window=window)
        assert got == pytest.approx(float(booked) / float(cap))  # type: ignore[arg-type]
        assert got is not None and got > 0


def test_overbooked_overcommitted_and_legacy_slots_are_told_apart(
    registry: CollectorRegistry, scenario: Scenario
) -> None:
    # The raw-SQL cut is overbooked; the recorded capacity cut is only over-committed.
    assert value(registry, "booking_overbooked_slots", business=scenario.name) == 1
    assert value(registry, "booking_overcommitted_slots", business=scenario.name) == 2
    assert value(registry, "booking_legacy_slots_with_bookings", business=scenario.name) == 1
    assert value(registry, "booking_overbooked_slots", business=scenario.paying_name) == 0


def test_payments_failures_refunds_and_completion_time(
    registry: CollectorRegistry, scenario: Scenario, database_url: str
) -> None:
    name = scenario.paying_name
    assert value(registry, "booking_payments", business=name, status="failed") == 1
    assert value(registry, "booking_payments", business=name, status="partially_refunded") == 1
    assert value(registry, "booking_payment_failures_total", business=name) == 1
    assert value(registry, "booking_payment_failure_ratio", business=name) == 1.0
    assert value(registry, "booking_refunds_total", business=name) == 1
    ((count, seconds),) = sql(
        database_url,
        "SELECT count(*),"
        " coalesce(sum(extract(epoch FROM t.occurred_at - c.occurred_at)), 0)::float8"
        " FROM booking_state_transitions t JOIN booking_state_transitions c"
        " ON c.business_id = t.business_id AND c.booking_id = t.booking_id"
        " AND c.from_status IS NULL"
        " WHERE t.from_status = 'draft' AND t.to_status = 'confirmed'",
    )
    assert count >= 1
    assert value(registry, "booking_completion_seconds_count") == count
    assert value(registry, "booking_completion_seconds_sum") == pytest.approx(seconds)


def test_integrity_results_of_the_last_run_per_check(registry: CollectorRegistry, scenario: Scenario) -> None:
    ran_at = (scenario.now - timedelta(minutes=5)).timestamp()
    check = {"suite": "overbooking"}
    assert value(registry, "booking_integrity_check_violations", check="overbooked_slot", **check) == 1
    assert value(registry, "booking_integrity_check_violations", check="audit_chain_intact", **check) == 0
    assert value(registry, "booking_integrity_check_failed", check="overbooked_slot", **check) == 1
    assert value(registry, "booking_integrity_check_failed", check="audit_chain_intact", **check) == 0
    assert value(registry, "booking_integrity_check_errored", check="payments_match", **check) == 1
    assert value(registry, "booking_integrity_check_errored", check="overbooked_slot", **check) == 0
    assert value(
        registry,
        "booking_integrity_check_last_run_timestamp_seconds",
        check="audit_chain_intact",
        **check,
    ) == pytest.approx(ran_at)
    assert value(registry, "booking_integrity_last_run_timestamp_seconds") == pytest.approx(ran_at)
    assert value(registry, "booking_integrity_last_run_duration_seconds") == pytest.approx(1.5)
    assert value(registry, "booking_integrity_last_run_errored") == 1


def test_a_healthy_scrape_reports_the_database_up_and_no_errors(
    registry: CollectorRegistry,
) -> None:
    assert value(registry, "booking_database_up") == 1
    assert value(registry, "booking_scrape_errors") == 0
    duration = value(registry, "booking_scrape_duration_seconds")
    assert duration is not None and duration > 0


def test_promtool_finds_nothing_to_complain_about_in_a_real_scrape(
    registry: CollectorRegistry,
) -> None:
    promtool = require_binary("promtool")
    body = generate_latest(registry)
    assert b"booking_bookings{" in body
    done = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert (done.returncode, done.stdout + done.stderr) == (0, b"")


def test_a_scrape_while_the_database_is_down_says_so_and_does_not_raise() -> None:
    engine = scrape_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere", connect_timeout=1)
    reg = CollectorRegistry()
    reg.register(BookingCollector(engine))
    body = generate_latest(reg).decode()
    assert "booking_database_up 0.0" in body
    assert value(reg, "booking_scrape_errors") == 1
    assert "booking_bookings{" not in body
    engine.dispose()


def test_scrapes_run_as_the_monitoring_role_and_cannot_write_nor_read_personal_data(database_url: str) -> None:
    engine = scrape_engine(database_url)
    insert = text(
        "INSERT INTO booking_refusals (business_id, reason, occurred_at) VALUES (gen_random_uuid(), 'full', now())"
    )
    with engine.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar_one() == "booking_monitor"
        for personal in ("SELECT email FROM customers", "SELECT cancellation_token_hash FROM bookings"):
            with pytest.raises(DBAPIError, match="permission denied"):
                conn.execute(text(personal))
        with pytest.raises(DBAPIError, match="read-only transaction"):
            conn.execute(insert)
        # Even with read-only switched off, the role has no right to write.
        conn.execute(text("SET default_transaction_read_only = off"))
        with pytest.raises(DBAPIError, match="permission denied"):
            conn.execute(insert)
    engine.dispose()


def test_history_refreshed_in_the_background_serves_the_same_values_with_its_age(
    database_url: str, scenario: Scenario
) -> None:
    engine = scrape_engine(database_url)
    collector = BookingCollector(engine, clock=lambda: scenario.now, history_every=0.2)
    reg = CollectorRegistry()
    reg.register(collector)
    try:
        deadline = time.monotonic() + 20
        while value(reg, "booking_history_age_seconds") is None:
            assert time.monotonic() < deadline, "no background refresh within 20s"
            time.sleep(0.1)
        assert value(reg, "booking_bookings", business=scenario.name, status="cancelled") == 2
        assert value(reg, "booking_attempts_refused_total", business=scenario.name, reason="full") == 1
        assert value(reg, "booking_overbooked_slots", business=scenario.name) == 1
        refresh = value(reg, "booking_history_refresh_duration_seconds")
        assert refresh is not None and refresh > 0
    finally:
        collector.close()
        engine.dispose()
    assert collector._thread is not None and not collector._thread.is_alive()


def test_a_write_freeze_is_1_for_its_business_only_and_0_after_the_unfreeze(
    registry: CollectorRegistry, scenario: Scenario, system: BookingSystem
) -> None:
    ops = Actor.admin("ops:carol")
    system.set_freeze(scenario.shop.business_id, actor=ops, reason="audit gap")
    try:
        assert value(registry, "booking_business_frozen", business=scenario.name) == 1
        assert value(registry, "booking_business_frozen", business=scenario.paying_name) == 0
    finally:
        system.set_freeze(scenario.shop.business_id, actor=ops, reason="verified", frozen=False)
    assert value(registry, "booking_business_frozen", business=scenario.name) == 0
