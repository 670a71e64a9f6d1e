"""The retention metrics on a real PostgreSQL (issue 17): policies, the newest run, what runs cleared
and the customers erased, built through the library and equal to what SQL says. Dry runs count
nothing; a business without a policy has no series."""

from __future__ import annotations

import dataclasses
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import pytest
from metrics.collector import BookingCollector, scrape_engine
from prometheus_client import CollectorRegistry, generate_latest

from booking_core import Actor, BookingSystem, connect
from tests.conftest import MONDAY, scratch_database
from tests.factories import Shop
from tests.metrics.conftest import require_binary
from tests.metrics.test_collector import _name, sql, value

RUN_AT = MONDAY + timedelta(days=45)  # the retention runs' `now`: customer 0 has been inactive a month
RETENTION = ("booking_retention_", "booking_customers_erased")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Shops:
    policy: Shop  # a policy with every window, run (and dry-run) at RUN_AT
    idle: Shop  # a policy that never ran
    none: Shop  # no policy, one customer erased on request
    names: dict[str, str]
    before: Samples  # the policy shop's retention series before any run
    after_dry: Samples  # ... after a dry run
    after_run: Samples  # ... after a run
    after_second_dry: Samples  # ... after another dry run


@pytest.fixture(scope="module")
def database_url(admin_url: str) -> Iterator[str]:
    """This module's own database: its policies, runs and erasures are the only ones."""
    with scratch_database(admin_url, "retention_metrics_test") as url:
        yield url


@pytest.fixture(scope="module")
def system(database_url: str) -> Iterator[BookingSystem]:
    with connect(database_url, migrate=False) as s:
        yield s


@contextmanager
def scraped(database_url: str) -> Iterator[CollectorRegistry]:
    """A registry whose every read is a fresh scrape (as booking_monitor, history read inline)."""
    engine = scrape_engine(database_url)
    reg = CollectorRegistry()
    reg.register(BookingCollector(engine, clock=lambda: RUN_AT))
    try:
        yield reg
    finally:
        engine.dispose()


def retention_samples(reg: CollectorRegistry, business: str) -> Samples:
    """The business's samples of the retention families."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for m in reg.collect()
        for s in m.samples
        if s.name.startswith(RETENTION) and s.labels.get("business") == business
    }


def _with_client(actor: Actor) -> Actor:
    """The actor as seen through the web: the audit row keeps its ip address and user agent."""
    return dataclasses.replace(actor, ip_address="203.0.113.7", user_agent="pytest-browser/1.0")


def _life(shop: Shop) -> None:
    """Customer 0 books a slot of the first week (inactive by RUN_AT); customer 1 one of the
    eighth week (active); both from a browser. Customer 2 asks to be erased."""
    s, biz = shop.system, shop.business_id
    slots = shop.slots(days=56)
    for customer, slot in ((0, slots[0]), (1, slots[-1])):
        shop.book(slot, party=1, customer=customer, actor=_with_client(Actor.customer(shop.customers[customer])))
    s.erase_customer(biz, customer_id=shop.customers[2], actor=shop.admin, now=MONDAY + timedelta(hours=1))


@pytest.fixture(scope="module")
def shops(system: BookingSystem, database_url: str) -> Shops:
    policy, idle, none = (Shop.create(system, now=MONDAY) for _ in range(3))
    names = {k: _name(system, v.business_id) for k, v in (("policy", policy), ("idle", idle), ("none", none))}
    for shop in (policy, none):
        _life(shop)
    system.set_retention_policy(
        policy.business_id,
        erase_inactive_after_months=1,
        purge_payloads_after_days=30,
        drop_client_after_days=7,
        actor=policy.admin,
        now=MONDAY,
    )
    system.set_retention_policy(idle.business_id, drop_client_after_days=30, actor=idle.admin, now=MONDAY)
    retention = Actor.system("retention")

    def snapshot() -> Samples:
        with scraped(database_url) as reg:
            return retention_samples(reg, names["policy"])

    def run(dry_run: bool) -> Samples:
        system.run_retention(policy.business_id, dry_run=dry_run, actor=retention, now=RUN_AT)
        return snapshot()

    before = snapshot()
    after_dry = run(dry_run=True)
    after_run = run(dry_run=False)
    after_second_dry = run(dry_run=True)
    return Shops(policy, idle, none, names, before, after_dry, after_run, after_second_dry)


@pytest.fixture
def registry(database_url: str, shops: Shops) -> Iterator[CollectorRegistry]:
    with scraped(database_url) as reg:
        yield reg


def _sql_one(database_url: str, query: str, business_id: uuid.UUID) -> tuple[object, ...]:
    (row,) = sql(database_url, query, business_id)
    return row


def test_the_policy_windows_and_when_it_was_set_equal_the_policy_row(
    registry: CollectorRegistry, shops: Shops, database_url: str
) -> None:
    for shop, name in ((shops.policy, shops.names["policy"]), (shops.idle, shops.names["idle"])):
        updated, months, payload_days, client_days = _sql_one(
            database_url,
            "SELECT extract(epoch FROM updated_at)::float8, erase_inactive_after_months, purge_payloads_after_days,"
            " drop_client_after_days FROM retention_policies WHERE business_id = %s",
            shop.business_id,
        )
        assert value(registry, "booking_retention_policy_updated_timestamp_seconds", business=name) == pytest.approx(
            updated
        )
        # A window the policy does not set keeps that data: 0.
        assert value(registry, "booking_retention_erase_inactive_after_months", business=name) == (months or 0)
        assert value(registry, "booking_retention_purge_payloads_after_seconds", business=name) == (
            (payload_days or 0) * 86400  # type: ignore[operator]
        )
        assert value(registry, "booking_retention_drop_client_after_seconds", business=name) == (
            (client_days or 0) * 86400  # type: ignore[operator]
        )
    assert value(registry, "booking_retention_erase_inactive_after_months", business=shops.names["policy"]) == 1
    assert value(registry, "booking_retention_drop_client_after_seconds", business=shops.names["idle"]) == 30 * 86400


def test_the_last_run_is_the_newest_non_dry_run_and_absent_until_one_ran(
    registry: CollectorRegistry, shops: Shops, database_url: str
) -> None:
    (finished,) = _sql_one(
        database_url,
        "SELECT extract(epoch FROM max(finished_at))::float8 FROM retention_runs WHERE business_id = %s"
        " AND NOT dry_run",
        shops.policy.business_id,
    )
    assert finished is not None
    name = shops.names["policy"]
    assert value(registry, "booking_retention_last_run_timestamp_seconds", business=name) == pytest.approx(finished)
    # The dry run after it is newer, and not the last run.
    (dry,) = _sql_one(
        database_url,
        "SELECT extract(epoch FROM max(finished_at))::float8 FROM retention_runs WHERE business_id = %s AND dry_run",
        shops.policy.business_id,
    )
    assert dry > finished  # type: ignore[operator]
    assert value(registry, "booking_retention_last_run_timestamp_seconds", business=shops.names["idle"]) is None


def test_rows_cleared_per_table_equal_the_sums_of_the_non_dry_runs(
    registry: CollectorRegistry, shops: Shops, database_url: str
) -> None:
    rows = sql(
        database_url,
        "SELECT c.key, sum(c.value::bigint)::bigint FROM retention_runs r, jsonb_each_text(r.cleared) c"
        " WHERE r.business_id = %s AND NOT r.dry_run GROUP BY c.key",
        shops.policy.business_id,
    )
    expected = {str(k): float(n) for k, n in rows}  # type: ignore[arg-type]
    name = shops.names["policy"]
    served = {
        labels["table"]: v
        for (metric, key), v in retention_samples(registry, name).items()
        if metric == "booking_retention_cleared_rows_total"
        for labels in [dict(key)]
    }
    assert served == expected
    # Customer 0 was erased; customer 1's booking kept its row but lost its ip address.
    assert served["customers"] == 1
    assert served["booking_audit_log_client"] >= 1
    assert served["booking_audit_log"] >= 1
    assert {"notification_outbox", "refunds", "payments"} <= served.keys()


def test_customers_erased_by_cause_equal_the_erasure_log(
    registry: CollectorRegistry, shops: Shops, database_url: str
) -> None:
    counts = dict(
        sql(
            database_url,
            "SELECT cause, count(*) FROM customer_erasures WHERE business_id = %s GROUP BY cause",
            shops.policy.business_id,
        )
    )
    assert counts == {"request": 1, "retention": 1}
    for shop, name in ((shops.policy, shops.names["policy"]), (shops.idle, shops.names["idle"])):
        for cause in ("request", "retention", "reapplied"):
            expected = counts.get(cause, 0) if shop is shops.policy else 0
            assert value(registry, "booking_customers_erased_total", business=name, cause=cause) == expected


def test_a_dry_run_changes_no_counter_and_no_last_run(shops: Shops) -> None:
    assert shops.after_dry == shops.before
    assert shops.after_second_dry == shops.after_run
    # The run itself did move them: the snapshots see a real change when there is one.
    assert shops.after_run != shops.after_dry
    assert not any(metric == "booking_retention_last_run_timestamp_seconds" for metric, _ in shops.before)
    assert not any(metric == "booking_retention_cleared_rows_total" for metric, _ in shops.before)


def test_a_business_without_a_policy_has_no_series(registry: CollectorRegistry, shops: Shops) -> None:
    # It erased a customer on request, and still: retention series are per business with a policy.
    assert retention_samples(registry, shops.names["none"]) == {}
    assert retention_samples(registry, shops.names["idle"])  # the policy that never ran has its series


def test_the_scrape_reads_retention_as_the_monitor_without_errors_and_promtool_accepts_it(
    registry: CollectorRegistry, shops: Shops
) -> None:
    body = generate_latest(registry)
    assert value(registry, "booking_scrape_errors") == 0
    assert b"booking_retention_cleared_rows_total{" in body
    done = subprocess.run([require_binary("promtool"), "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert (done.returncode, done.stdout + done.stderr) == (0, b"")
