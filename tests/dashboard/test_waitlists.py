"""The waitlists & notifications page on a history built through the public API: figures equal independent SQL."""

from __future__ import annotations

import json
import random
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from booking_core import Actor, connect
from booking_core.notify import Dispatcher, DispatchSettings, parse_webhook
from booking_core.reports.common import booking_ref
from tests.conftest import MONDAY
from tests.dashboard.conftest import FROM, MANAGER, TO, History, grant, login
from tests.dashboard.test_pages import APP, assert_tables_carry_names, metrics, open_page, pct
from tests.factories import Shop

HOUR = timedelta(hours=1)


class _Receiver(ThreadingHTTPServer):
    """A real local webhook that refuses waitlist offers (500) and accepts every other event."""

    daemon_threads = True

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(500 if body["event"] == "waitlist.offer" else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/hooks/token"


@dataclass
class Waitlisted:
    business: uuid.UUID
    timezone: str


def _queue_and_offers(shop: Shop) -> None:
    """Two full slots with queues; a cancellation offers seats: one offer accepted, one expired, one open."""
    b, s = shop.business_id, shop.system
    thu, fri = (x for x in shop.slots(days=7) if x.local_date in (date(2030, 1, 10), date(2030, 1, 11)))
    seated = shop.book(thu, party=4, customer=0)
    shop.book(fri, party=4, customer=1)

    def join(slot_id: uuid.UUID, customer: int, party: int, minutes: int) -> uuid.UUID:
        c = shop.customers[customer]
        at = MONDAY + timedelta(minutes=minutes)
        return s.join_waitlist(b, slot_id=slot_id, customer_id=c, party_size=party, actor=Actor.customer(c), now=at).id

    first = join(thu.id, 2, 2, 1)
    join(thu.id, 3, 2, 2)
    join(thu.id, 4, 1, 3)
    join(thu.id, 5, 3, 4)
    join(fri.id, 2, 1, 5)
    join(fri.id, 3, 2, 6)
    # Four seats free: the first two entries get offers (the third and fourth wait).
    s.cancel(b, seated.id, actor=Actor.customer(shop.customers[0]), reason="ill", now=MONDAY + HOUR)
    s.accept_waitlist_offer(b, first, actor=Actor.customer(shop.customers[2]), now=MONDAY + HOUR)
    # The second offer lapses; its two seats go to the party of one (the party of three does not fit).
    s.expire_waitlist_offers(now=MONDAY + 2 * HOUR)


def _dispatch(shop: Shop) -> None:
    """Deliver the outbox once (clock in the range): offers fail for good, the rest arrive."""
    receiver = _Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    settings = DispatchSettings(parse_webhook(receiver.url), timeout_seconds=5, max_attempts=1)
    dispatcher = Dispatcher(
        shop.system.db, settings, clock=lambda: MONDAY + 3 * HOUR, rng=random.Random(7), name="dash-test"
    )
    try:
        dispatcher.run_once()
    finally:
        dispatcher.close()
        receiver.shutdown()
        receiver.server_close()


@pytest.fixture(scope="module")
def waitlisted(history: History) -> Iterator[Waitlisted]:
    """A third business in the dashboard history, with queues, offers and a delivered (partly dead) outbox."""
    with connect(history.url) as system:
        shop = Shop.create(system, now=MONDAY, timezone="America/New_York", capacity=4, customers=6)
        _queue_and_offers(shop)
        grant(system, MANAGER, "manager", shop.business_id)
        _dispatch(shop)
        # Queued after the dispatcher ran: pending and due.
        shop.book(shop.slots(days=14)[-1], party=1, customer=4)
    # Pages run earlier in this process cached the list of businesses (for TTL_SECONDS) without this one.
    st.cache_data.clear()
    yield Waitlisted(shop.business_id, "America/New_York")


@pytest.fixture
def page(history: History, waitlisted: Waitlisted, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("BOOKING_DATABASE_URL", history.url)
    at = login(AppTest.from_file(str(APP), default_timeout=60))
    at.query_params.update({"business": str(waitlisted.business), "from": FROM.isoformat(), "to": TO.isoformat()})
    return at


def test_waitlist_figures_equal_sql(page: AppTest, history: History, waitlisted: Waitlisted) -> None:
    shown = metrics(open_page(page, "waitlists"))
    p = {"b": waitlisted.business}
    count = "SELECT count(*), coalesce(sum(party_size), 0) FROM waitlist_entries WHERE business_id = %(b)s"
    waiting = history.sql(f"{count} AND status = 'waiting'", **p)[0]
    offered = history.sql(f"{count} AND status = 'offered'", **p)[0]
    by_status = "SELECT status, count(*) FROM waitlist_entries WHERE business_id = %(b)s GROUP BY 1"
    decided = {str(status): int(str(n)) for status, n in history.sql(by_status, **p)}
    assert (waiting, offered) == ((3, 6), (1, 1))  # the history is what the test meant to build
    assert shown["Waiting entries"] == str(waiting[0])
    assert shown["Open offers"] == str(offered[0])
    assert shown["Seats held by offers"] == str(offered[1])
    assert shown["Offers accepted / expired"] == f"{decided['accepted']} / {decided['expired']}"
    assert shown["Offer acceptance"] == pct(decided["accepted"], decided["accepted"] + decided["expired"])


def test_longest_queues_are_listed_in_local_time(page: AppTest, history: History, waitlisted: Waitlisted) -> None:
    at = open_page(page, "waitlists")
    queues = at.dataframe[0].value
    expected = history.sql(
        "SELECT s.local_date, s.local_start, count(*) FROM waitlist_entries w JOIN time_slots s ON s.id = w.slot_id"
        " WHERE w.business_id = %(b)s AND w.status = 'waiting'"
        " GROUP BY s.business_id, s.id ORDER BY 3 DESC, s.starts_at",
        b=waitlisted.business,
    )
    assert list(zip(queues["slot_date"], queues["slot_time"], queues["waiting"], strict=True)) == expected
    assert "Longest queues (America/New_York)" in [h.value for h in at.subheader]


def test_delivery_figures_equal_sql(page: AppTest, history: History, waitlisted: Waitlisted) -> None:
    at = open_page(page, "waitlists")
    shown = metrics(at)
    p = {"b": waitlisted.business}
    outbox = "SELECT count(*) FROM notification_outbox WHERE business_id = %(b)s"
    pending = history.scalar(f"{outbox} AND delivered_at IS NULL AND dead_at IS NULL", **p)
    due = history.scalar(f"{outbox} AND delivered_at IS NULL AND dead_at IS NULL AND available_at <= now()", **p)
    delivered = history.scalar(f"{outbox} AND delivered_at IS NOT NULL", **p)
    dead = history.scalar(f"{outbox} AND dead_at IS NOT NULL", **p)
    attempts = history.sql(
        "SELECT count(*) FILTER (WHERE outcome = 'delivered'), count(*) FROM notification_deliveries"
        " WHERE business_id = %(b)s",
        **p,
    )[0]
    assert dead == 3 and delivered != 0 and due != 0  # offers failed for good, the rest arrived, one came later
    assert shown["Pending"] == str(pending)
    assert shown["Due now"] == str(due)
    assert re.fullmatch(r"\d+(\.\d)? (s|min|h|d)", shown["Oldest due"])
    assert shown["Delivered"] == str(delivered)
    assert shown["Dead"] == str(dead)
    assert shown["Delivery success"] == pct(*attempts)
    failed = at.dataframe[1].value
    assert len(failed) == dead and set(failed["event_type"]) == {"waitlist.offer"}
    assert set(failed["http_status"]) == {500}
    assert_tables_carry_names(at)  # a message and its booking by reference, never by id
    messages = history.sql(
        "SELECT o.id FROM notification_outbox o WHERE o.business_id = %(b)s AND o.dead_at IS NOT NULL", **p
    )
    assert set(failed["message"]) == {booking_ref(m) for (m,) in messages}  # type: ignore[arg-type]
    circuits = at.dataframe[2].value
    states = {e: state for e, state in history.sql("SELECT endpoint, state FROM notification_circuit")}
    assert dict(zip(circuits["endpoint"], circuits["state"], strict=True)) == states


def test_a_business_without_waitlists_or_notifications_gets_messages(page: AppTest, history: History) -> None:
    page.query_params["business"] = str(history.empty_business)
    at = open_page(page, "waitlists")
    infos = " ".join(i.value for i in at.info)
    assert "No waitlist activity" in infos
    assert "No notification is pending" in infos
    assert not at.metric
