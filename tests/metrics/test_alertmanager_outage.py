"""End to end through a database outage: a real Prometheus on the shipped rules, a real Alertmanager.

An overbooking pages; then the database refuses every connection (ALLOW_CONNECTIONS false, its
backends terminated), so the exporter serves booking_database_up 0 and no business series. Only
BookingDatabaseDown may reach on-call: the overbooking alert must neither resolve nor fire again,
before, during or after the outage (Prometheus keeps the moment it became active).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg

from tests.metrics import test_alerting_e2e as e2e
from tests.metrics.conftest import plain_url

stack = e2e.stack  # the fixture: exporter, Prometheus and Alertmanager on the shipped configs


def active_since(prometheus: str, alertname: str) -> dict[str, float]:
    """business -> the Unix time Prometheus says the alert became active (ALERTS_FOR_STATE)."""
    query = urllib.parse.urlencode({"query": f'ALERTS_FOR_STATE{{alertname="{alertname}"}}'})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query?{query}", timeout=5) as response:
        result: list[dict[str, Any]] = json.loads(response.read())["data"]["result"]
    return {r["metric"].get("business", ""): float(r["value"][1]) for r in result}


@contextmanager
def database_down(admin_url: str, url: str) -> Iterator[None]:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(plain_url(admin_url), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def test_an_outage_pages_only_the_database_and_the_business_alert_holds_through_it(
    stack: e2e.Stack, admin_url: str
) -> None:
    shop = stack.shop
    now = datetime.now(UTC)
    slot = shop.slots(days=14, now=now)[0]
    shop.book(slot, party=4, now=now)
    e2e._set_capacity_behind_the_databases_back(stack.url, slot.id, 2)
    stack.webhook.wait_for("BookingOverbookingDetected", "firing", timeout=45)
    before = active_since(stack.prometheus, "BookingOverbookingDetected")
    assert list(before) == [stack.business]
    received_before = len(stack.webhook.seen)

    with database_down(admin_url, stack.url):
        down = stack.webhook.wait_for("BookingDatabaseDown", "firing", timeout=120)
        assert down["labels"]["instance"]
        assert active_since(stack.prometheus, "BookingOverbookingDetected") == before

    stack.webhook.wait_for("BookingDatabaseDown", "resolved", timeout=60)
    assert active_since(stack.prometheus, "BookingOverbookingDetected") == before
    # The test's Alertmanager repeats a firing group every minute, so reminders of the held
    # overbooking may come around the outage (inhibition itself: test_alertmanager.py); what
    # must never come is its resolution, or any other alert.
    during = {(a["labels"]["alertname"], a["status"]) for a in stack.webhook.seen[received_before:]}
    assert during - {("BookingOverbookingDetected", "firing")} == {
        ("BookingDatabaseDown", "firing"),
        ("BookingDatabaseDown", "resolved"),
    }, during
