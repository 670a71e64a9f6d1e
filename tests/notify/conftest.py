"""A real local HTTP receiver that can fail, time out and recover; a fresh database per test; a clock."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest

from booking_core import BookingSystem, connect
from booking_core.notify import Dispatcher, DispatchSettings, parse_webhook
from tests.conftest import create_database, drop_database

CLIENT_TIMEOUT = 1.0  # seconds; the receiver's "slow" mode sleeps past it (generous: the machine is shared)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out closed its socket before the slow handler answered: expected here.
        pass


class Receiver:
    """Counts every raw POST and keeps each Idempotency-Key once, as a receiver that honours it would.

    mode: "ok" answers 200; "fail" answers 500 without processing; "slow" processes the message,
    then sleeps past the client's timeout before answering (so the sender retries something the
    receiver already has).
    """

    def __init__(self) -> None:
        self.mode = "ok"
        self.slow_seconds = CLIENT_TIMEOUT * 3
        self.lock = threading.Lock()
        self.raw: list[str] = []  # Idempotency-Key of every request that reached us
        self.processed: dict[str, dict[str, Any]] = {}  # first body per key
        self.answered_ok: list[str] = []  # keys the sender got a 200 for
        self.mismatched: list[str] = []  # header and body disagree (must stay empty)
        self.server = _QuietServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, name="receiver", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks/secret-scenario-token"

    def duplicates(self) -> int:
        """Requests that repeated a key already seen (retries after a failure or a timeout)."""
        return len(self.raw) - len(set(self.raw))

    def resent_after_success(self) -> int:
        """Keys the sender sent again after it had received a 200 for them (must be 0)."""
        return len(self.answered_ok) - len(set(self.answered_ok))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers["Idempotency-Key"]
                mode = receiver.mode
                with receiver.lock:
                    receiver.raw.append(key)
                    if body.get("delivery_id") != key:
                        receiver.mismatched.append(key)
                    if mode != "fail":
                        receiver.processed.setdefault(key, body)
                if mode == "slow":
                    time.sleep(receiver.slow_seconds)
                status = 500 if mode == "fail" else 200
                if mode == "ok":
                    with receiver.lock:
                        receiver.answered_ok.append(key)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Clock:
    """The dispatcher's injected clock: starts ahead of the real now, moves only when told.

    Ahead by ten minutes so that rows the test writes after creating it (available_at = the
    database's now()) are already due on the first pass, however slow the machine is.
    """

    now: datetime = field(default_factory=lambda: datetime.now(UTC) + timedelta(minutes=10))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class NotifyDb:
    url: str
    system: BookingSystem

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


@pytest.fixture
def notify_db(admin_url: str) -> Iterator[NotifyDb]:
    """A database of its own: the dispatcher delivers every business's outbox, so tests must not share one."""
    url = create_database(admin_url, prefix="booking_notify")
    system = connect(url)
    try:
        yield NotifyDb(url, system)
    finally:
        system.close()
        drop_database(admin_url, url)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def clock() -> Clock:
    return Clock()


MakeDispatcher = Callable[..., Dispatcher]


@pytest.fixture
def make_dispatcher(notify_db: NotifyDb, receiver: Receiver, clock: Clock) -> Iterator[MakeDispatcher]:
    """Build dispatchers to the receiver with small timeouts and a seeded RNG; closed after the test."""
    made: list[Dispatcher] = []

    def make(**overrides: Any) -> Dispatcher:
        made.append(build_dispatcher(notify_db, receiver, clock, **overrides))
        return made[-1]

    yield make
    for d in made:
        d.close()


def build_dispatcher(db: NotifyDb, receiver: Receiver, clock: Clock, seed: int = 7, **overrides: Any) -> Dispatcher:
    import random

    settings: dict[str, Any] = {
        "timeout_seconds": CLIENT_TIMEOUT,
        "batch_size": 4,
        "max_attempts": 25,
        "max_age": timedelta(hours=72),
        "backoff_base_seconds": 1.0,
        "backoff_cap_seconds": 300.0,
        "failure_threshold": 3,
        "cool_down": timedelta(seconds=30),
        "max_cool_down": timedelta(minutes=15),
    }
    settings.update(overrides)
    return Dispatcher(
        db.system.db, DispatchSettings(parse_webhook(receiver.url), **settings), clock=clock,
        rng=random.Random(seed), name="test-dispatcher",
    )  # fmt: skip
