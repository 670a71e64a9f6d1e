"""Retention on the demo's data with short windows (issue 17): the right rows go, nothing else changes.

The demo's six weeks (tests/demo/test_generator.py's period), its notifications delivered ten days
before the anchor, then every business's policy run at the anchor: customers inactive for a month
erased, payloads delivered over a week ago purged, ip addresses and user agents over a week old
dropped. What should go is computed here independently, in SQL, from the data before the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from checks.runner import run_all

from booking_core import Actor, BookingSystem, connect
from booking_demo.generator import generate_demo
from tests.conftest import create_database, drop_database
from tests.demo.test_generator import CONFIG
from tests.integration.test_personal_data import deliver, figures_of, plain, row_digests

ANCHOR = CONFIG.anchor
WEEK = timedelta(days=7)
MONTH_AGO = ANCHOR.replace(month=ANCHOR.month - 1)  # what make_interval(months => 1) gives


@pytest.fixture(scope="module")
def demo(admin_url: str) -> Iterator[tuple[str, BookingSystem]]:
    url = create_database(admin_url, prefix="demo_retention")
    try:
        with connect(url) as system:
            generate_demo(system, CONFIG, progress=False)
            deliver(system, at=ANCHOR - 10 * timedelta(days=1), outcome="delivered")
            yield url, system
    finally:
        drop_database(admin_url, url)


def due(conn: psycopg.Connection[Any], business: Any) -> dict[str, set[Any]]:
    """What the policy should clear, found from the rows themselves (not by the functions under test)."""
    inactive = {
        r[0]
        for r in conn.execute(
            "SELECT c.id FROM customers c WHERE c.business_id = %(b)s AND c.created_at < %(cut)s"
            " AND NOT EXISTS (SELECT 1 FROM bookings x JOIN time_slots s ON s.business_id = x.business_id"
            "                  AND s.id = x.slot_id WHERE x.business_id = c.business_id AND x.customer_id = c.id"
            "                  AND (x.updated_at >= %(cut)s OR s.starts_at >= %(cut)s))"
            " AND NOT EXISTS (SELECT 1 FROM waitlist_entries w WHERE w.business_id = c.business_id"
            "                  AND w.customer_id = c.id AND w.joined_at >= %(cut)s)",
            {"b": business, "cut": MONTH_AGO},
        )
    }
    clients = {
        r[0]
        for r in conn.execute(
            "SELECT id FROM booking_audit_log WHERE business_id = %s AND ip_address IS NOT NULL AND occurred_at < %s",
            (business, ANCHOR - WEEK),
        )
    }
    payloads = {
        r[0]
        for r in conn.execute(
            "SELECT id FROM notification_outbox WHERE business_id = %s AND delivered_at < %s"
            " AND (payload ? 'reason' OR payload #> '{booking,cancellation_token}' IS NOT NULL)",
            (business, ANCHOR - WEEK),
        )
    }
    # The rows of those customers: their erasure clears them, however recent.
    theirs = {
        "clients": {
            r[0]
            for r in conn.execute(
                "SELECT a.id FROM booking_audit_log a"
                " JOIN bookings x ON x.business_id = a.business_id AND x.id = a.booking_id"
                " WHERE a.business_id = %s AND a.ip_address IS NOT NULL AND x.customer_id = ANY (%s)",
                (business, list(inactive)),
            )
        },
        "payloads": {
            r[0]
            for r in conn.execute(
                "SELECT id FROM notification_outbox WHERE business_id = %s AND customer_id = ANY (%s)"
                " AND (payload ? 'reason' OR payload #> '{booking,cancellation_token}' IS NOT NULL)",
                (business, list(inactive)),
            )
        },
        "customers": set(),
    }
    return {"customers": inactive, "clients": clients, "payloads": payloads} | {
        f"{kind} of the inactive": rows for kind, rows in theirs.items()
    }


def held(conn: psycopg.Connection[Any], business: Any) -> dict[str, set[Any]]:
    """What is still held of each kind, however old."""
    return {
        "customers": {
            r[0]
            for r in conn.execute("SELECT id FROM customers WHERE business_id = %s AND erased_at IS NULL", (business,))
        },
        "clients": {
            r[0]
            for r in conn.execute(
                "SELECT id FROM booking_audit_log WHERE business_id = %s AND ip_address IS NOT NULL", (business,)
            )
        },
        "payloads": {
            r[0]
            for r in conn.execute(
                "SELECT id FROM notification_outbox WHERE business_id = %s"
                " AND (payload ? 'reason' OR payload #> '{booking,cancellation_token}' IS NOT NULL)",
                (business,),
            )
        },
    }


def test_retention_on_the_demo_clears_exactly_what_is_due_and_nothing_else(demo) -> None:
    url, system = demo
    with psycopg.connect(plain(url)) as conn:
        businesses = [r[0] for r in conn.execute("SELECT id FROM businesses ORDER BY name")]
        expected = {b: due(conn, b) for b in businesses}
        before = {b: held(conn, b) for b in businesses}
    assert all(expected[b]["clients"] for b in businesses), "the demo's customers book from the web"
    assert any(expected[b]["customers"] for b in businesses) and any(expected[b]["payloads"] for b in businesses)
    kept = {b: row_digests(url, b) for b in businesses}
    sums = {b: figures_of(system, b, CONFIG.start.date(), CONFIG.horizon) for b in businesses}
    staff = Actor.admin("dpo@demo.test")
    for b in businesses:
        system.set_retention_policy(
            b,
            erase_inactive_after_months=1,
            purge_payloads_after_days=7,
            drop_client_after_days=7,
            actor=staff,
            now=ANCHOR,
        )

    for b in businesses:
        dry = system.run_retention(b, dry_run=True, actor=Actor.system("retention"), now=ANCHOR)
        assert row_digests(url, b) == kept[b]
        run = system.run_retention(b, actor=Actor.system("retention"), now=ANCHOR)
        assert dry.cleared == run.cleared
        assert run.cleared["customers"] == len(expected[b]["customers"])

    with psycopg.connect(plain(url)) as conn:
        for b in businesses:
            after = held(conn, b)
            for kind in ("customers", "clients", "payloads"):
                # What the window makes due, and an erased customer's own rows, whatever their age.
                due_now = expected[b][kind] | (expected[b][f"{kind} of the inactive"] & before[b][kind])
                assert before[b][kind] - after[kind] == due_now, kind
            erased = {
                r[0]
                for r in conn.execute(
                    "SELECT customer_id FROM customer_erasures WHERE business_id = %s AND cause = 'retention'", (b,)
                )
            }
            assert erased == expected[b]["customers"]
    for b in businesses:
        after = row_digests(url, b)
        assert {k: after[k] for k in ("bookings", "payments", "time_slots", "audit_chain")} == {
            k: kept[b][k] for k in ("bookings", "payments", "time_slots", "audit_chain")
        }
        assert figures_of(system, b, CONFIG.start.date(), CONFIG.horizon) == sums[b]
        system.seal_audit(b)
        assert system.verify_audit(b).ok
    summary = run_all(url, triggered_by="test")
    assert summary.violations == [] and summary.errored == []
