"""The collector's metrics of waitlists, multi-resource bookings, series, promo codes and seat
accounting on a real PostgreSQL: values equal what independent SQL counts."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from metrics.collector import BookingCollector, scrape_engine
from prometheus_client import CollectorRegistry, generate_latest

from booking_core import Booking, BookingSystem, SeriesMode, Slot
from tests.conftest import MONDAY
from tests.factories import Shop
from tests.integration.test_price_lock_multi_resource_waitlists_and_series import multi_shop
from tests.metrics.conftest import plain_url, require_binary
from tests.metrics.test_collector import _name, sql, value

NOW = MONDAY + timedelta(hours=1)


@dataclass
class Shops:
    waitlist: Shop
    broken: Shop
    multi: Shop
    names: dict[str, str]


def _fill(shop: Shop, slot_index: int, *, at: datetime) -> tuple[Slot, Booking]:
    """A full slot (capacity 2) and its holder."""
    slot = shop.slots(days=14)[slot_index]
    holder: Booking = shop.book(slot, party=2, customer=0, now=at)
    return slot, holder


def _join(shop: Shop, slot: Slot, customer: int, party: int, at: datetime) -> uuid.UUID:
    return shop.join_waitlist(slot, party=party, customer=customer, now=at).id  # type: ignore[no-any-return]


def _waitlist_life(system: BookingSystem) -> Shop:
    """One offer expired (swept), one accepted, one overdue (not swept), one open, one waiting."""
    shop = Shop.create(system, now=MONDAY, capacity=2, customers=5)
    s, admin, biz = system, shop.admin, shop.business_id
    slot_a, holder_a = _fill(shop, 0, at=MONDAY)
    first = _join(shop, slot_a, 1, 2, MONDAY)
    second = _join(shop, slot_a, 2, 2, MONDAY + timedelta(seconds=1))
    s.cancel(biz, holder_a.id, actor=admin, now=MONDAY)
    assert s.expire_waitlist_offers(now=MONDAY + timedelta(minutes=20)) >= 1
    assert s.waitlist_entry(biz, first).status == "expired"
    s.accept_waitlist_offer(biz, second, actor=admin, now=MONDAY + timedelta(minutes=25))
    slot_b, holder_b = _fill(shop, 1, at=MONDAY)
    _join(shop, slot_b, 3, 2, MONDAY + timedelta(minutes=40))
    s.cancel(biz, holder_b.id, actor=admin, now=MONDAY + timedelta(minutes=40))
    slot_c, holder_c = _fill(shop, 2, at=MONDAY)
    _join(shop, slot_c, 4, 1, NOW - timedelta(minutes=5))
    s.change_party_size(biz, holder_c.id, party_size=1, actor=admin, now=NOW - timedelta(minutes=5))
    _, _ = _fill(shop, 3, at=MONDAY)
    _join(shop, shop.slots(days=14)[3], 1, 1, MONDAY)
    return shop


def _break(system: BookingSystem, database_url: str) -> Shop:
    """A waiting entry that fits free seats, and a slot whose booked seats nobody holds: what
    a stalled promotion and a bypassed seat trigger leave behind."""
    shop = Shop.create(system, now=MONDAY, capacity=2, customers=2)
    roomy, drifted = shop.slots(days=14)[:2]
    with psycopg.connect(plain_url(database_url), autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "INSERT INTO waitlist_entries (business_id, slot_id, customer_id, party_size, joined_at)"
            " VALUES (%s, %s, %s, 1, %s)",
            (shop.business_id, roomy.id, shop.customers[0], MONDAY),
        )
        conn.execute(
            "UPDATE time_slots SET booked_seats = booked_seats + 1 WHERE business_id = %s AND id = %s",
            (shop.business_id, drifted.id),
        )
    return shop


def _resources_series_promo(system: BookingSystem) -> Shop:
    shop: Shop
    shop, main, extra = multi_shop(system)  # type: ignore[no-untyped-call]
    biz, admin = shop.business_id, shop.admin
    shop.book_with_resources(main, {extra["Anna"]: 1, extra["Hot stones"]: 2})
    mains = [x for x in shop.slots(days=7) if x.resource_id == shop.resource_id]
    shop.series(mains[1], occurrences=2, mode=SeriesMode.ALL_OR_NOTHING, customer=1)
    system.add_promo_code(
        biz, code="SPRING10", percent_off=Decimal(10), currency="EUR", valid_from=MONDAY, actor=admin, now=MONDAY
    )
    shop.book(mains[2], party=1, customer=2, promo_code="SPRING10")
    return shop


@pytest.fixture(scope="module")
def shops(system: BookingSystem, database_url: str) -> Shops:
    shops = {
        "waitlist": _waitlist_life(system),
        "broken": _break(system, database_url),
        "multi": _resources_series_promo(system),
    }
    names = {k: _name(system, v.business_id) for k, v in shops.items()}
    return Shops(shops["waitlist"], shops["broken"], shops["multi"], names)


@pytest.fixture
def registry(database_url: str, shops: Shops) -> Iterator[CollectorRegistry]:
    engine = scrape_engine(database_url)
    reg = CollectorRegistry()
    reg.register(BookingCollector(engine, clock=lambda: NOW))
    yield reg
    engine.dispose()


def test_waitlist_entries_by_status_and_final_offers_equal_what_sql_counts(
    registry: CollectorRegistry, shops: Shops, database_url: str
) -> None:
    name = shops.names["waitlist"]
    counted = sql(
        database_url,
        "SELECT status, count(*) FROM waitlist_entries WHERE business_id = %s GROUP BY 1",
        shops.waitlist.business_id,
    )
    rows = {str(status): n for status, n in counted}
    assert rows == {"expired": 1, "accepted": 1, "offered": 2, "waiting": 1}
    for status, n in rows.items():
        assert value(registry, "booking_waitlist_entries", business=name, status=status) == n
    assert value(registry, "booking_waitlist_offers_expired_total", business=name) == 1
    assert value(registry, "booking_waitlist_offers_accepted_total", business=name) == 1
    assert value(registry, "booking_waitlist_offers_expired_total", business=shops.names["broken"]) == 0


def test_open_offers_and_their_seats_equal_what_sql_counts(
    registry: CollectorRegistry, shops: Shops, database_url: str
) -> None:
    ((offers, seats),) = sql(
        database_url,
        "SELECT count(*), sum(party_size) FROM waitlist_entries WHERE business_id = %s AND status = 'offered'",
        shops.waitlist.business_id,
    )
    assert (offers, seats) == (2, 3)
    name = shops.names["waitlist"]
    assert value(registry, "booking_waitlist_offers_open", business=name) == offers
    assert value(registry, "booking_waitlist_offer_held_seats", business=name) == seats


def test_offers_past_their_expiry_are_counted_with_the_age_of_the_oldest(
    registry: CollectorRegistry, shops: Shops, database_url: str
) -> None:
    ((overdue, oldest),) = sql(
        database_url,
        "SELECT count(*), min(offer_expires_at) FROM waitlist_entries"
        " WHERE business_id = %s AND status = 'offered' AND offer_expires_at <= %s",
        shops.waitlist.business_id,
        NOW,
    )
    assert overdue == 1 and oldest == MONDAY + timedelta(minutes=55)
    name = shops.names["waitlist"]
    assert value(registry, "booking_waitlist_offers_overdue", business=name) == 1
    assert value(registry, "booking_waitlist_oldest_overdue_offer_seconds", business=name) == pytest.approx(300)
    # A business whose live entries are all waiting has nothing overdue.
    assert value(registry, "booking_waitlist_oldest_overdue_offer_seconds", business=shops.names["broken"]) == 0


def _sql_and_exporter_agree(
    registry: CollectorRegistry,
    shops: Shops,
    database_url: str,
    key: str,
    expected: int,
    metric: str,
    query: str,
    *after: object,
) -> None:
    """`query` (the business id, then `after`) counts `expected` for shop `key`, and so does `metric`."""
    shop: Shop = getattr(shops, key)
    assert sql(database_url, query, shop.business_id, *after) == [(expected,)]
    assert value(registry, metric, business=shops.names[key]) == expected


FITS = (
    "SELECT count(*) FROM waitlist_entries w JOIN time_slots s ON s.business_id = w.business_id"
    " AND s.id = w.slot_id WHERE w.business_id = %s AND w.status = 'waiting' AND NOT s.is_legacy"
    " AND s.starts_at > %s AND w.party_size <= s.max_capacity - s.booked_seats"
)
DRIFT = (
    "SELECT count(*) FROM time_slots ts LEFT JOIN slot_seat_holds h ON h.business_id = ts.business_id"
    " AND h.slot_id = ts.id WHERE ts.business_id = %s AND ts.starts_at >= %s AND ts.starts_at < %s"
    " AND ts.booked_seats <> coalesce(h.seats, 0)"
)


@pytest.mark.parametrize(("key", "expected"), [("waitlist", 0), ("broken", 1)])
def test_waiting_entries_that_fit_free_seats_show_a_stalled_promotion_only_where_it_stalled(
    registry: CollectorRegistry, shops: Shops, database_url: str, key: str, expected: int
) -> None:
    _sql_and_exporter_agree(
        registry, shops, database_url, key, expected, "booking_waitlist_promotable_entries", FITS, NOW
    )


@pytest.mark.parametrize(("key", "expected"), [("waitlist", 0), ("multi", 0), ("broken", 1)])
def test_seat_accounting_drift_counts_slots_whose_seats_nobody_holds(
    registry: CollectorRegistry, shops: Shops, database_url: str, key: str, expected: int
) -> None:
    window = (NOW, NOW + timedelta(days=30))
    _sql_and_exporter_agree(
        registry, shops, database_url, key, expected, "booking_seat_accounting_drift_slots", DRIFT, *window
    )


def test_multi_resource_bookings_series_and_promo_code_bookings_equal_what_sql_counts(
    registry: CollectorRegistry, shops: Shops, database_url: str
) -> None:
    biz, name = shops.multi.business_id, shops.names["multi"]
    ((multi, series, promo),) = sql(
        database_url,
        "SELECT (SELECT count(DISTINCT booking_id) FROM booking_resources WHERE business_id = %s),"
        " (SELECT count(*) FROM booking_series WHERE business_id = %s),"
        " (SELECT count(*) FROM bookings WHERE business_id = %s AND promo_code IS NOT NULL)",
        biz,
        biz,
        biz,
    )
    assert (multi, series, promo) == (1, 1, 1)
    assert value(registry, "booking_multi_resource_bookings_total", business=name) == multi
    assert value(registry, "booking_series_created_total", business=name) == series
    assert value(registry, "booking_promo_code_bookings_total", business=name) == promo
    assert value(registry, "booking_promo_code_bookings_total", business=shops.names["waitlist"]) == 0


def test_the_live_waitlist_is_served_by_a_scrape_that_leaves_history_to_the_background(
    database_url: str, shops: Shops
) -> None:
    engine = scrape_engine(database_url)
    collector = BookingCollector(engine, clock=lambda: NOW, history_every=3600)
    reg = CollectorRegistry()
    reg.register(collector)
    try:
        name = shops.names["waitlist"]
        assert value(reg, "booking_waitlist_offers_overdue", business=name) == 1
        assert value(reg, "booking_scrape_errors") == 0
    finally:
        collector.close()
        engine.dispose()


def test_promtool_accepts_a_scrape_with_the_waitlist_and_seat_metrics(registry: CollectorRegistry) -> None:
    promtool = require_binary("promtool")
    body = generate_latest(registry)
    assert b"booking_waitlist_promotable_entries{" in body
    assert b"booking_seat_accounting_drift_slots{" in body
    done = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert (done.returncode, done.stdout + done.stderr) == (0, b"")


def test_the_outbox_backlog_and_dead_letters_are_scraped(system, raw, database_url):
    """Every booking writes a notification; a scrape reports what is pending and what died."""
    from metrics.collector import BookingCollector, scrape_engine
    from prometheus_client import CollectorRegistry

    from tests.factories import Shop
    from tests.integration.test_schedules import MONDAY

    shop = Shop.create(system, now=MONDAY)
    booking = shop.book(shop.first_slot())
    with raw.transaction():
        raw.execute("SET LOCAL session_replication_role = replica")
        raw.execute("UPDATE notification_outbox SET dead_at = now() WHERE booking_id = %s", (booking.id,))
    pending, dead = raw.execute(
        "SELECT count(*) FILTER (WHERE delivered_at IS NULL AND dead_at IS NULL),"
        " count(*) FILTER (WHERE dead_at IS NOT NULL) FROM notification_outbox"
    ).fetchone()
    engine = scrape_engine(database_url)
    try:
        registry = CollectorRegistry()
        registry.register(BookingCollector(engine))
        assert registry.get_sample_value("booking_notifications_pending") == pending
        assert registry.get_sample_value("booking_notifications_dead_total") == dead >= 1
        assert {m.name: m.type for m in registry.collect()}["booking_notifications_dead"] == "counter"
    finally:
        engine.dispose()
