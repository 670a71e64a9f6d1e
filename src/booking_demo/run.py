"""`booking demo`: from nothing to the running system on believable data, until Ctrl-C.

Order matters for "nothing half-written": the single-instance lock and the ports are
checked before the database is touched; the data is generated only into a database
with no businesses; the services stop in reverse order of starting.
"""

from __future__ import annotations

import fcntl
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

import psycopg
from sqlalchemy import text

from booking_core.bootstrap import BookingSystem, connect
from booking_core.config import Settings
from booking_core.domain.errors import Conflict, InvalidInput, NotAllowed
from booking_demo.faults import NoTarget, inject_all
from booking_demo.generator import DemoConfig, generate_demo
from booking_demo.services import STARTERS, Ports, Started, require_free

Say = Callable[[str], None]


class DemoAlreadyRunning(Conflict):
    """Another `booking demo` holds the data directory."""


class DemoDataIncomplete(Conflict):
    """A previous generation was interrupted: the database holds part of the demo data."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    config: DemoConfig = field(default_factory=DemoConfig)
    with_faults: bool = False
    ports: Ports = field(default_factory=lambda: Ports(dashboard=8501, metrics=9108))
    progress: bool = True


@contextmanager
def single_instance(data_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the data directory for the life of the demo."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "demo.lock"
    handle: IO[str] = path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip() or "another process"
            raise DemoAlreadyRunning(
                f"booking demo is already running (pid {pid}, lock {path}): stop it first (Ctrl-C in its terminal)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock


def run_demo(options: DemoOptions, say: Say) -> None:
    settings = Settings.from_env()
    with single_instance(settings.data_dir):
        require_free(options.ports)
        say("starting the database" + (" (BOOKING_DATABASE_URL)" if settings.database_url else " (embedded)"))
        system = connect()
        try:
            _ensure_data(system, options, say)
            url = system.db.url
            if options.with_faults:
                for line in _inject_faults(url):
                    say(f"fault written: {line}")
            _serve(url, options.ports, say)
        finally:
            system.close()
    say("stopped")


def _inject_faults(url: str) -> list[str]:
    try:
        return inject_all(url)
    except NoTarget as exc:
        raise InvalidInput(str(exc)) from None
    except psycopg.errors.InsufficientPrivilege:
        raise NotAllowed(
            "--with-faults writes around the triggers with raw SQL and needs a superuser connection:"
            " use the embedded server or a superuser BOOKING_DATABASE_URL"
        ) from None


def _ensure_data(system: BookingSystem, options: DemoOptions, say: Say) -> None:
    with system.db.connect() as conn:
        businesses = conn.execute(text("SELECT count(*) FROM businesses")).scalar_one()
        sealed = conn.execute(text("SELECT count(DISTINCT business_id) FROM audit_chain")).scalar_one()
    if businesses and not sealed:
        raise DemoDataIncomplete(
            "the database holds demo data whose generation was interrupted: remove the data directory"
            " (or point BOOKING_DATABASE_URL at an empty database) and run booking demo again"
        )
    if businesses:
        say(f"reusing the data already in the database ({businesses} businesses)")
        return
    c = options.config
    say(
        f"generating the demo data: seed {c.seed}, {c.history_days} days of history and {c.ahead_days} ahead"
        f" of {c.anchor:%Y-%m-%d}"
    )
    stats = generate_demo(system, c, progress=options.progress)
    cancelled = stats["cancelled_by_customer"] + stats["cancelled_by_admin"]
    say(
        f"generated {stats['bookings']} bookings ({stats['refused']} requests refused, {cancelled} cancelled,"
        f" {stats['no_show']} no-shows, {stats['payments']} payments, {stats['audit_rows_sealed']} audit rows sealed)"
    )


def _serve(url: str, ports: Ports, say: Say) -> None:
    started: list[Started] = []
    done = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        done.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for starter in STARTERS:
            if done.is_set():
                break
            s = starter(url, ports)
            started.append(s)
            say(s.message)
        where = "  ".join(f"{s.name}: {s.url}" for s in started if s.url) or "nothing to look at yet"
        say(f"ready: {where}  (Ctrl-C to stop)")
        done.wait()
        say("stopping")
    finally:
        for s in reversed(started):
            if s.stop is not None:
                s.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
