"""Violations written with raw SQL as the table owner, one per kind, and the pipeline that must page them.

Shared by tests/metrics/test_detection_e2e.py (1s intervals) and bench/detection_latency.py (the
shipped 15s). A target is a small shop of its own (one business per injected violation, so each
alert is its own (check, business) series and Alertmanager group); every fault picks its rows
from that business and returns the check that must fire and the subject its `ids` must name.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from metrics.exporter import serve
from psycopg import sql

from booking_core import BookingSystem
from tests.factories import Shop
from tests.metrics import test_alerting_e2e as e2e
from tests.metrics.conftest import free_port, plain_url

BOOKING = str(Path(sys.executable).with_name("booking"))


@dataclass(frozen=True)
class Fault:
    """One violation written: what must fire, where, naming what, and when the write committed."""

    kind: str
    check: str
    business_id: uuid.UUID
    subject: str
    written_at: float


def prepare_target(system: BookingSystem) -> uuid.UUID:
    """A clean shop with a confirmed party of 2 in a future slot of 10 seats, its audit sealed."""
    now = datetime.now(UTC) - timedelta(hours=1)
    shop = Shop.create(system, now=now)
    shop.book(shop.slots(days=14, now=now)[0], party=2, now=now)
    system.seal_audit(shop.business_id)
    return shop.business_id


def _one(conn: psycopg.Connection[Any], query: str, **params: Any) -> Any:
    row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    assert row is not None, query
    return row[0] if len(row) == 1 else row


@contextmanager
def _owner(url: str, *disabled: tuple[str, str]) -> Iterator[psycopg.Connection[Any]]:
    """One transaction as the owner, with these (table, trigger) switched off inside it only."""
    with psycopg.connect(plain_url(url), autocommit=True) as conn:
        with conn.transaction():
            conn.execute(
                "SELECT set_config('booking.actor_type', 'admin', true), set_config('booking.channel', 'sql', true)"
            )
            for table, trigger in disabled:
                conn.execute(
                    sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(sql.Identifier(table), sql.Identifier(trigger))
                )
            yield conn
            for table, trigger in disabled:
                conn.execute(
                    sql.SQL("ALTER TABLE {} ENABLE TRIGGER {}").format(sql.Identifier(table), sql.Identifier(trigger))
                )
        # Edits of history are found through the table statistics, sent within a second or at exit.
        conn.execute("SELECT pg_stat_force_next_flush()")


_CONFIRMED = (
    "SELECT b.id, b.slot_id FROM bookings b JOIN time_slots ts ON ts.business_id = b.business_id AND ts.id = b.slot_id"
    " WHERE b.business_id = %(biz)s AND b.status = 'confirmed' AND NOT ts.is_legacy ORDER BY b.created_at LIMIT 1"
)


# A paid payment of booking %(b)s, and a notification about it two hours old, never delivered.
_PAID_PAYMENT = (
    "INSERT INTO payments (business_id, booking_id, amount, currency, status, created_at, updated_at)"
    " SELECT business_id, id, amount, currency, 'paid', now(), now() FROM bookings"
    " WHERE business_id = %(biz)s AND id = %(b)s RETURNING id"
)
_STALE_NOTIFICATION = (
    "INSERT INTO notification_outbox (business_id, event_type, booking_id, payload, created_at, available_at)"
    " VALUES (%(biz)s, 'booking.confirmed', %(b)s, '{}'::jsonb, now() - interval '2 hours',"
    " now() - interval '2 hours') RETURNING id"
)


def _about_a_confirmed_booking(conn: psycopg.Connection[Any], biz: uuid.UUID, statement: str) -> tuple[Any, Any]:
    """The business's first confirmed booking, and what `statement` (given %(biz)s and %(b)s) returns."""
    booking, _slot = _one(conn, _CONFIRMED, biz=biz)
    return booking, _one(conn, statement, biz=biz, b=booking)


def _grown_party(conn: psycopg.Connection[Any], biz: uuid.UUID, extra_seats: str) -> str:
    """A confirmed party grown by `extra_seats` (SQL over b and ts) with the seat trigger off; its slot."""
    booking, slot = _one(conn, _CONFIRMED, biz=biz)
    conn.execute(
        sql.SQL(
            "UPDATE bookings b SET party_size = b.party_size + {extra} FROM time_slots ts"
            " WHERE ts.business_id = b.business_id AND ts.id = b.slot_id AND b.business_id = %s AND b.id = %s"
        ).format(extra=sql.SQL(extra_seats)),
        (biz, booking),
    )
    return f"slot {slot}"


def overbooking(conn: psycopg.Connection[Any], biz: uuid.UUID) -> tuple[str, str]:
    """A party grown past the slot's free seats with the seat trigger off: more seats held than capacity."""
    return "overbooked_slot", _grown_party(conn, biz, "ts.max_capacity - ts.booked_seats + 1")


def seat_drift(conn: psycopg.Connection[Any], biz: uuid.UUID) -> tuple[str, str]:
    """A party grown by one within capacity with the seat trigger off: the slot's counter drifts."""
    return "seat_counter_drift", _grown_party(conn, biz, "1")


def payment_mismatch(conn: psycopg.Connection[Any], biz: uuid.UUID) -> tuple[str, str]:
    """A paid payment written behind the bookings' money trigger: the booking's payment status disagrees."""
    booking, _payment = _about_a_confirmed_booking(conn, biz, _PAID_PAYMENT)
    return "payment_status_mismatch", f"booking {booking}"


def orphan(conn: psycopg.Connection[Any], biz: uuid.UUID) -> tuple[str, str]:
    """A booked slot moved to a schedule version that is not the active one: its bookings are orphans."""
    booking, slot = _one(conn, _CONFIRMED, biz=biz)
    version = _one(
        conn,
        "INSERT INTO schedule_versions (business_id, version_number, effective_date, horizon_date, note,"
        " created_by, created_by_type, created_at, is_active)"
        " SELECT %(biz)s, max(version_number) + 1, current_date, current_date, 'by hand', 'owner', 'admin',"
        " now(), false"
        " FROM schedule_versions WHERE business_id = %(biz)s RETURNING id",
        biz=biz,
    )
    conn.execute(
        "UPDATE time_slots SET schedule_version_id = %s WHERE business_id = %s AND id = %s", (version, biz, slot)
    )
    return "orphaned_booking", f"booking {booking}"


def audit_edit(conn: psycopg.Connection[Any], biz: uuid.UUID) -> tuple[str, str]:
    """A sealed (and verified) audit row edited with the append-only trigger off."""
    audit_id = _one(conn, "SELECT max(audit_id) FROM audit_chain WHERE business_id = %(biz)s", biz=biz)
    conn.execute(
        "UPDATE booking_audit_log SET performed_by_id = performed_by_id || ' (edited)' WHERE id = %s", (audit_id,)
    )
    return "audit_chain_broken", f"audit {audit_id}"


def chain_break(conn: psycopg.Connection[Any], biz: uuid.UUID) -> tuple[str, str]:
    """The newest link's hash overwritten with the chain's append-only trigger off."""
    audit_id = _one(
        conn,
        "UPDATE audit_chain SET hash = '\\x00' WHERE business_id = %(biz)s"
        " AND seq = (SELECT max(seq) FROM audit_chain WHERE business_id = %(biz)s) RETURNING audit_id",
        biz=biz,
    )
    return "audit_chain_broken", f"audit {audit_id}"


def stuck_outbox(conn: psycopg.Connection[Any], biz: uuid.UUID) -> tuple[str, str]:
    """A notification enqueued two hours ago and never delivered (the outbox is not audited)."""
    _booking, notification = _about_a_confirmed_booking(conn, biz, _STALE_NOTIFICATION)
    return "notification_backlog_stale", f"notification {notification}"


Write = Callable[[psycopg.Connection[Any], uuid.UUID], tuple[str, str]]

# kind -> (the write, the triggers it switches off)
KINDS: dict[str, tuple[Write, tuple[tuple[str, str], ...]]] = {
    "overbooking": (overbooking, (("bookings", "bookings_30_seats"),)),
    "seat drift": (seat_drift, (("bookings", "bookings_30_seats"),)),
    "payment mismatch": (payment_mismatch, (("payments", "payments_10_booking_money"),)),
    "orphan": (orphan, ()),
    "audit edit": (audit_edit, (("booking_audit_log", "booking_audit_log_append_only"),)),
    "chain break": (chain_break, (("audit_chain", "audit_chain_append_only"),)),
    "stuck outbox": (stuck_outbox, ()),
}


def inject(url: str, kind: str, business_id: uuid.UUID) -> Fault:
    """Write one violation of `kind` in the business; the time is taken once it committed."""
    write, disabled = KINDS[kind]
    with _owner(url, *disabled) as conn:
        check, subject = write(conn, business_id)
    return Fault(kind, check, business_id, subject, time.time())


def business_names(url: str) -> dict[uuid.UUID, str]:
    with psycopg.connect(plain_url(url)) as conn:
        return {r[0]: str(r[1]) for r in conn.execute("SELECT id, name FROM businesses")}


@dataclass
class Pipeline:
    """Exporter, checker, Prometheus and Alertmanager on one database, paging `webhook`."""

    url: str
    webhook: e2e.Webhook
    prometheus: str
    exporter: str
    checker: subprocess.Popen[bytes]


@contextmanager
def pipeline(
    url: str, tmp: Path, *, every: str, interval: str | None, impatient: bool, history_every: float = 60.0
) -> Iterator[Pipeline]:
    """Start the checker (`booking checker --every`), the exporter, Alertmanager and Prometheus; stop them after.

    `interval` None keeps the shipped scrape and evaluation intervals; `impatient` False the
    shipped Alertmanager timings.
    """
    procs: list[subprocess.Popen[bytes]] = []
    webhook = e2e.Webhook()
    stop: Callable[[], None] | None = None
    try:
        env = {**os.environ, "BOOKING_DATABASE_URL": url}
        with (tmp / "checker.log").open("wb") as log:
            procs.append(subprocess.Popen([BOOKING, "checker", "--every", every], env=env, stdout=log, stderr=log))
        checker = procs[-1]
        port = free_port()
        stop = serve(url, port, history_every=history_every)
        alertmanager = e2e._alertmanager(tmp, webhook, procs, impatient=impatient)
        prometheus = e2e._prometheus(tmp, f"127.0.0.1:{port}", alertmanager, procs, interval=interval)
        yield Pipeline(url, webhook, prometheus, f"http://127.0.0.1:{port}/metrics", checker)
    finally:
        e2e._stop_all(procs)
        if stop is not None:
            stop()
        webhook.close()


def received(
    webhook: e2e.Webhook, faults: list[Fault], names: dict[uuid.UUID, str], timeout: float
) -> dict[Fault, dict[str, Any]]:
    """For each fault, the first firing alert naming its check and its business (by name), as it reached the webhook.

    Returns what came within `timeout`; a fault missing from the result never paged.
    """
    want = {(f.check, names[f.business_id]): f for f in faults}
    got: dict[Fault, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    seen = 0
    while len(got) < len(faults) and time.monotonic() < deadline:
        with suppress(queue.Empty):
            webhook.seen.append(webhook.alerts.get(timeout=1))
        for alert in webhook.seen[seen:]:
            labels = alert["labels"]
            fault = want.get((labels.get("check", ""), labels.get("business", "")))
            if alert["status"] == "firing" and fault is not None and fault not in got:
                got[fault] = alert
        seen = len(webhook.seen)
    return got


def businesses_paged(webhook: e2e.Webhook, alertname: str, timeout: float) -> set[str]:
    """The businesses a firing `alertname` named at the webhook, waiting up to `timeout` s for the first."""

    def named() -> set[str]:
        return {
            a["labels"].get("business", "")
            for a in webhook.seen
            if a["status"] == "firing" and a["labels"]["alertname"] == alertname
        }

    deadline = time.monotonic() + timeout
    while not named() and time.monotonic() < deadline:
        with suppress(queue.Empty):
            webhook.seen.append(webhook.alerts.get(timeout=1))
    return named()
