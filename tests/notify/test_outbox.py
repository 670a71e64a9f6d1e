"""The outbox is written by the database in the change's own transaction, rendered in the business's zone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import psycopg
import pytest

from booking_core import BookingSystem, CapacityExceeded
from booking_core.notify import InvalidWebhookUrl, parse_webhook
from tests.conftest import MONDAY
from tests.factories import Shop
from tests.notify.conftest import NotifyDb


@pytest.fixture
def notify_db(database_url: str, system: BookingSystem) -> NotifyDb:
    """The shared session database: every query here is filtered by this test's own business."""
    return NotifyDb(database_url.replace("postgresql+psycopg://", "postgresql://"), system)


def events(db: NotifyDb, business_id: uuid.UUID) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    sql = "SELECT event_type, payload FROM notification_outbox WHERE business_id = %s ORDER BY id"
    return [(r[0], r[1]) for r in db.rows(sql, business_id)]


def test_a_booking_and_its_notification_commit_or_roll_back_together(notify_db: NotifyDb) -> None:
    shop = Shop.create(notify_db.system, now=MONDAY, capacity=2)
    slot = shop.first_slot()
    with psycopg.connect(notify_db.url) as conn:  # one transaction, rolled back at the end
        conn.execute(
            "SELECT booking_create(%s, gen_random_uuid(), %s, %s, 1, NULL, 'customer', 'c', 'api', NULL, %s)",
            (shop.business_id, slot.id, shop.customers[0], MONDAY),
        )
        inside = conn.execute("SELECT count(*) FROM notification_outbox WHERE business_id = %s", (shop.business_id,))
        assert inside.fetchone() == (1,)
        conn.rollback()
    assert events(notify_db, shop.business_id) == []

    shop.book(slot, party=2)
    with pytest.raises(CapacityExceeded):
        shop.book(slot, party=1, customer=1)
    assert [e for e, _ in events(notify_db, shop.business_id)] == ["booking.confirmed"]


def test_cancel_reschedule_and_a_schedule_change_each_write_their_event(notify_db: NotifyDb) -> None:
    system = notify_db.system
    shop = Shop.create(system, now=MONDAY)
    thu, fri, sat = shop.slots(days=7)[:3]
    moved = shop.book(thu)
    on_friday = shop.book(fri, customer=1)
    system.reschedule(shop.business_id, moved.id, new_slot_id=sat.id, actor=shop.admin, now=MONDAY)
    system.cancel(shop.business_id, moved.id, actor=shop.admin, reason="guest called", now=MONDAY)
    shop.publish((4, 6), capacity=10, effective=MONDAY.date())  # Fridays leave the schedule

    got = events(notify_db, shop.business_id)
    assert [e for e, _ in got] == ["booking.confirmed", "booking.confirmed", "booking.rescheduled",
                                   "booking.cancelled", "schedule.booking_affected"]  # fmt: skip
    rescheduled, cancelled, affected = got[2][1], got[3][1], got[4][1]
    assert (rescheduled["previous_slot"]["id"], rescheduled["slot"]["id"]) == (str(thu.id), str(sat.id))
    assert cancelled["reason"] == "guest called" and cancelled["booking"]["status"] == "cancelled"
    assert affected["booking"]["id"] == str(on_friday.id) and affected["slot"]["is_legacy"] is True
    assert affected["change"] == "slot_removed_from_schedule"
    assert {p["customer"]["id"] for _, p in got} == {str(c) for c in shop.customers[:2]}


@pytest.mark.parametrize("now", [MONDAY, datetime(2030, 7, 1, 9, 0, tzinfo=UTC)], ids=["winter", "summer"])
def test_times_in_notifications_are_in_the_business_timezone(notify_db: NotifyDb, now: datetime) -> None:
    shop = Shop.create(notify_db.system, now=now, timezone="Europe/Berlin")
    slot = shop.first_slot()
    shop.book(slot)
    [(_, payload)] = events(notify_db, shop.business_id)
    local = slot.starts_at.astimezone(ZoneInfo("Europe/Berlin"))
    offset = "+01:00" if now.month == 1 else "+02:00"
    assert local.isoformat() == payload["slot"]["starts_at"]
    assert payload["slot"]["starts_at"].endswith("T14:00:00" + offset)
    assert payload["slot"]["timezone"] == payload["business"]["timezone"] == "Europe/Berlin"
    assert payload["occurred_at"] == now.astimezone(ZoneInfo("Europe/Berlin")).isoformat()
    assert payload["party_size"] == 2 and payload["customer"]["id"] == str(shop.customers[0])


def test_a_reminder_is_queued_once_per_booking_however_often_reminders_run(notify_db: NotifyDb) -> None:
    shop = Shop.create(notify_db.system, now=MONDAY)
    soon, later = shop.slots(days=14)[0], shop.slots(days=14)[-1]
    shop.book(soon)
    shop.book(later, customer=1)
    with psycopg.connect(notify_db.url, autocommit=True) as conn:
        runs = [conn.execute("SELECT enqueue_reminders(%s, interval '4 days')", (MONDAY,)).fetchone() for _ in range(3)]
    assert runs[0][0] >= 1 and runs[1:] == [(0,), (0,)]  # the count is over every business in the database
    reminders = [p for e, p in events(notify_db, shop.business_id) if e == "booking.reminder_due"]
    assert [p["slot"]["id"] for p in reminders] == [str(soon.id)]


def test_the_outbox_keeps_its_rows_and_their_events_unchanged(notify_db: NotifyDb) -> None:
    shop = Shop.create(notify_db.system, now=MONDAY)
    shop.book(shop.first_slot())
    attempts = [
        "DELETE FROM notification_outbox WHERE business_id = %s",
        "UPDATE notification_outbox SET payload = '{}' WHERE business_id = %s",
        "UPDATE notification_outbox SET attempts = attempts + 1 WHERE business_id = %s",  # no logged delivery
        "UPDATE notification_outbox SET delivered_at = now() WHERE business_id = %s",  # fine once ...
    ]
    with psycopg.connect(notify_db.url, autocommit=True) as conn:
        for sql in attempts[:3]:
            with pytest.raises(psycopg.Error) as refused:
                conn.execute(sql, (shop.business_id,))
            assert refused.value.sqlstate in ("BK006", "BK007")
        conn.execute(attempts[3], (shop.business_id,))
        with pytest.raises(psycopg.Error, match="final"):  # ... never again
            conn.execute("UPDATE notification_outbox SET delivered_at = now() + interval '1 day'"
                         " WHERE business_id = %s", (shop.business_id,))  # fmt: skip


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "file:///etc/passwd", "example.com/hook", "http://"])
def test_a_webhook_url_that_is_not_http_is_refused_in_one_line(url: str) -> None:
    with pytest.raises(InvalidWebhookUrl) as refused:
        parse_webhook(url)
    assert "\n" not in str(refused.value) and "http" in str(refused.value)
    assert "etc/passwd" not in str(refused.value)  # the URL's path may be a secret: never echoed


def test_a_webhook_endpoint_never_shows_the_secret_path() -> None:
    hook = parse_webhook("https://hook.eu1.make.com/abc123secret?x=1")
    assert (hook.endpoint, hook.target) == ("https://hook.eu1.make.com:443", "/abc123secret?x=1")
