"""`booking notify` and `booking health`: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.notify.conftest import Clock, MakeDispatcher, NotifyDb, Receiver
from tests.notify.test_dispatcher import book_some

# The commands as `booking` has them once the entry point is installed (registered directly here,
# so the test does not depend on which tree's metadata the environment installed).
_SCRIPT = "from booking_core.cli import app; from booking_core.notify.cli import register; register(app); app()"


def booking(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BOOKING_DATABASE_URL": url}
    env.pop("BOOKING_WEBHOOK_URL", None)
    return subprocess.run([sys.executable, "-c", _SCRIPT, *args], env=env, capture_output=True, text=True, timeout=60)


def test_health_is_healthy_on_an_empty_outbox(notify_db: NotifyDb) -> None:
    done = booking(notify_db.url, "health")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("database: ok (schema ")
    assert "outbox: 0 pending, 0 due" in done.stdout and done.stdout.rstrip().endswith("healthy")


def test_health_reports_a_waiting_backlog_and_an_open_circuit_and_exits_1(
    notify_db: NotifyDb, receiver: Receiver, clock: Clock, make_dispatcher: MakeDispatcher
) -> None:
    book_some(notify_db, 4)
    waiting = booking(notify_db.url, "health", "--max-due-age", "1ms")
    assert waiting.returncode == 1
    assert "outbox: 4 pending, 4 due" in waiting.stdout and "is `booking notify` running?" in waiting.stdout

    receiver.mode = "fail"
    make_dispatcher(failure_threshold=2).run_once()
    done = booking(notify_db.url, "health", "--json")
    report = json.loads(done.stdout)
    assert done.returncode == 1 and report["status"] == "unhealthy"
    endpoint = report["circuits"][0]["endpoint"]
    assert report["circuits"][0]["state"] == "open" and f"circuit to {endpoint} is open" in report["problems"]
    assert "secret-scenario-token" not in done.stdout  # the webhook path is a credential
    assert report["outbox"]["pending"] == 4 and report["outbox"]["dead"] == 0


def test_health_counts_dead_letters_as_a_problem(
    notify_db: NotifyDb, receiver: Receiver, make_dispatcher: MakeDispatcher
) -> None:
    book_some(notify_db, 1)
    receiver.mode = "fail"
    make_dispatcher(max_attempts=1, failure_threshold=100).run_once()
    done = booking(notify_db.url, "health")
    assert done.returncode == 1 and "1 notifications failed for good in the last 24.0h" in done.stdout


def test_notify_once_delivers_the_backlog_and_exits_0(notify_db: NotifyDb, receiver: Receiver) -> None:
    ids = book_some(notify_db, 3)
    done = booking(notify_db.url, "notify", "--webhook", receiver.url, "--once")
    assert done.returncode == 0, done.stderr
    assert "delivered 3, will retry 0, dead 0, circuit closed" in done.stdout
    assert set(receiver.processed) == ids


def test_notify_once_with_several_workers_delivers_each_message_once(notify_db: NotifyDb, receiver: Receiver) -> None:
    ids = book_some(notify_db, 9)
    done = booking(notify_db.url, "notify", "--webhook", receiver.url, "--once", "--workers", "3", "--batch", "2")
    assert done.returncode == 0, done.stderr
    assert set(receiver.processed) == ids and len(receiver.raw) == 9


def test_notify_once_exits_1_when_messages_are_left_to_retry(notify_db: NotifyDb, receiver: Receiver) -> None:
    book_some(notify_db, 1)
    receiver.mode = "fail"
    done = booking(notify_db.url, "notify", "--webhook", receiver.url, "--once")
    assert done.returncode == 1 and "will retry 1" in done.stdout


def test_notify_refuses_a_webhook_that_is_not_http_in_one_line(notify_db: NotifyDb) -> None:
    for args in (["--webhook", "ftp://files.example.com/drop"], [], ["--webhook", "http://x", "--timeout", "soon"]):
        done = booking(notify_db.url, "notify", "--once", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ") and "Traceback" not in done.stderr


def test_an_unreachable_database_exits_3_in_one_line() -> None:
    for command in (["health"], ["notify", "--once", "--webhook", "http://127.0.0.1:9/"]):
        done = booking("postgresql://postgres@127.0.0.1:1/nowhere", *command)
        assert done.returncode == 3, done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_the_commands_are_registered_through_the_entry_point_group() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    commands = pyproject["project"]["entry-points"]["booking_core.commands"]
    assert commands["notify"] == "booking_core.notify.cli:register"
    assert "booking_core.notify" in pyproject["tool"]["setuptools"]["packages"]
