"""The optional parts `booking demo` brings up beside the data: integrity checks, exporter, dashboard.

Each starter looks for its part by module name and says "not there yet" when the part
is missing, so the demo works at every stage of the project. booking_core never imports
these parts at module level: dependencies point from them to the core, not back.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from booking_core.config import ENV_URL
from booking_core.domain.errors import InvalidInput

HOST = "127.0.0.1"
CHECK_EVERY = 900  # seconds between integrity check runs while the demo is up


class PortTaken(InvalidInput):
    """A port the demo needs is already in use."""


@dataclass(frozen=True, slots=True)
class Ports:
    dashboard: int
    metrics: int
    login: int = 9400  # the demo's OpenID Connect provider (booking_demo/login.py)


@dataclass
class Started:
    """What one starter did: a line for the user, where to look, how to stop it."""

    name: str
    message: str
    url: str | None = None
    stop: Callable[[], None] | None = None


def require_free(ports: Ports) -> None:
    """Refuse before anything is written when a port is taken (one line naming its holder, what to do).

    The probe binds with SO_REUSEADDR, as the servers do: a restart right after the previous
    demo is not refused for the minute its closed connections spend in TIME_WAIT.
    """
    from booking_core.ports import PortInUse
    from booking_core.ports import require_free as probe

    wanted = (("--port-dashboard", ports.dashboard), ("--port-metrics", ports.metrics), ("--port-login", ports.login))
    for flag, port in wanted:
        try:
            probe(HOST, port, flag=flag)
        except PortInUse as exc:
            raise PortTaken(str(exc), **exc.context) from None


def _missing(module: str) -> str | None:
    """None when `module` imports; else why not (it is not there yet, or fails to import)."""
    try:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed"
        importlib.import_module(module)
    except ImportError as exc:
        return f"{module} does not import ({exc})"
    return None


def _every(seconds: float, action: Callable[[], object], what: str) -> Callable[[], None]:
    """Run `action` every `seconds` in a daemon thread until the returned function is called.

    A failed round is one line on stderr and the demo stays up: the next round may succeed.
    A round in progress when the demo stops is abandoned with the process (daemon thread).
    """
    stop = threading.Event()

    def repeat() -> None:
        while not stop.wait(seconds):
            try:
                action()
            except Exception as exc:  # keep the demo up; the next round may succeed
                sys.stderr.write(f"{what} did not run: {str(exc).splitlines()[0] if str(exc) else exc!r}\n")

    thread = threading.Thread(target=repeat, name=f"demo-{what.replace(' ', '-')}", daemon=True)
    thread.start()

    def halt() -> None:
        stop.set()
        thread.join(timeout=5)

    return halt


def start_checks(database_url: str, ports: Ports) -> Started:
    """Run the integrity checks now, then every CHECK_EVERY seconds while the demo runs.

    The repeats keep the stored runs fresh, so the exporter's /health and the dashboard
    see a recent run however long the demo stays up.
    """
    if why := _missing("checks.runner"):
        return Started("checks", f"not there yet: integrity checks ({why})")
    runner: Any = importlib.import_module("checks.runner")
    summary = runner.run_all(database_url, triggered_by="demo")
    halt = _every(CHECK_EVERY, lambda: runner.run_all(database_url, triggered_by="demo"), "integrity checks")
    return Started(
        "checks", f"integrity checks: {_verdict(summary)}, again every {CHECK_EVERY // 60} minutes", stop=halt
    )


def _verdict(summary: Any) -> str:
    parts = []
    for label, results in (("failed", summary.violations), ("errored", getattr(summary, "errored", []))):
        if results:
            parts.append(f"{len(results)} {label}: {', '.join(str(getattr(r, 'name', r)) for r in results)}")
    return f"{summary.status} ({'; '.join(parts) or 'all passed'})"


def start_checker(database_url: str, ports: Ports) -> Started:
    """The continuous checker (docs/checker.md) in a thread: what the demo writes is judged within seconds."""
    if why := _missing("checks.service"):
        return Started("checker", f"not there yet: continuous checker ({why})")
    service: Any = importlib.import_module("checks.service")
    checker = service.Checker(database_url)
    thread = threading.Thread(target=checker.run, name="demo-checker", daemon=True)
    thread.start()

    def halt() -> None:
        checker.stop.set()
        thread.join(timeout=10)

    return Started(
        "checker",
        f"continuous checker: a pass every {checker.every:g} s, a full sweep every {checker.full_every / 60:g} minutes",
        stop=halt,
    )


def start_exporter(database_url: str, ports: Ports) -> Started:
    if why := _missing("metrics.exporter"):
        return Started("metrics", f"not there yet: Prometheus exporter ({why})")
    exporter: Any = importlib.import_module("metrics.exporter")
    stop = exporter.serve(database_url, ports.metrics, HOST)
    url = f"http://{HOST}:{ports.metrics}/metrics"
    return Started("metrics", f"Prometheus exporter on {url}", url, stop)


def streamlit_command(app: Path, ports: Ports, secrets: Path | None = None) -> tuple[list[str], Path]:
    """The command that serves the dashboard, and where to run it: the project's top folder, whose
    .streamlit/config.toml Streamlit reads from the working directory. `secrets`: the login settings
    to use instead of .streamlit/secrets.toml (the demo's own provider)."""
    flags = [f"--server.port={ports.dashboard}", f"--server.address={HOST}"]
    flags += ["--server.headless=true", "--browser.gatherUsageStats=false"]
    flags += [f"--secrets.files={secrets}"] if secrets else []
    return [sys.executable, "-m", "streamlit", "run", str(app), *flags], app.parent.parent


def start_dashboard(database_url: str, ports: Ports) -> Started:
    """The dashboard, behind the demo's login: a local OpenID Connect provider with a person of each role."""
    from booking_core.config import Settings
    from booking_demo import login

    spec = importlib.util.find_spec("dashboard")
    app = Path(spec.origin).parent / "app.py" if spec and spec.origin else None
    if app is None or not app.exists():
        return Started("dashboard", "not there yet: dashboard (dashboard/app.py)")
    url = f"http://{HOST}:{ports.dashboard}"
    people = login.grant_demo_memberships(database_url)
    provider, stop_provider = login.start_provider(HOST, ports.login, people)
    secrets = login.write_secrets(Settings.from_env().data_dir / "demo-login" / "secrets.toml", url, provider)
    cmd, cwd = streamlit_command(app, ports, secrets)
    # Its own process group, so Ctrl-C in the terminal reaches the demo only and the
    # demo stops Streamlit itself, in order.
    proc = subprocess.Popen(
        cmd,
        env=os.environ | {ENV_URL: database_url},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stop_provider()

    logins = "\n".join(f"    {p.describe()}" for p in people)
    message = (
        f"dashboard on {url}: log in with the demo's OpenID Connect provider ({provider}, no password),"
        f" as one of:\n{logins}"
    )
    return Started("dashboard", message, url, stop)


WAITLIST_EVERY = 60  # seconds between waitlist expiry sweeps


def start_notifications(database_url: str, ports: Ports) -> Started:
    """The notification dispatcher (to BOOKING_WEBHOOK_URL, or a local receiver) and the waitlist sweep."""
    from datetime import timedelta

    from booking_core.adapters.db import Database
    from booking_core.bootstrap import BookingSystem
    from booking_core.notify.dispatcher import Dispatcher, DispatchSettings
    from booking_core.notify.webhook import parse_webhook
    from booking_demo.receiver import DemoReceiver

    db = Database(database_url, pool_size=2)
    system = BookingSystem(db)
    target = os.environ.get("BOOKING_WEBHOOK_URL")
    receiver = None if target else DemoReceiver(HOST)
    url = target or receiver.url  # type: ignore[union-attr]
    dispatcher = Dispatcher(db, DispatchSettings(parse_webhook(url)))
    thread, stop_dispatch = dispatcher.start_in_thread(interval_seconds=1, reminder_lead=timedelta(hours=24))
    halt_sweep = _every(WAITLIST_EVERY, system.expire_waitlist_offers, "waitlist sweep")

    def halt() -> None:
        stop_dispatch.set()
        halt_sweep()
        thread.join(timeout=10)
        if receiver is not None:
            receiver.stop()
        db.dispose()

    where = "BOOKING_WEBHOOK_URL" if target else f"a local receiver at {url} (set BOOKING_WEBHOOK_URL for a real one)"
    return Started(
        "notifications", f"notifications: delivered to {where}; waitlist offers expire every minute", stop=halt
    )


RETENTION_EVERY = 3600  # seconds between retention runs (daily in production: docs/personal-data.md)
# The policy the demo gives a business that has none: customers inactive two years erased, delivered
# notifications' personal parts purged after 30 days, ip addresses and user agents dropped after 90.
DEMO_RETENTION = {"erase_inactive_after_months": 24, "purge_payloads_after_days": 30, "drop_client_after_days": 90}


def start_retention(database_url: str, ports: Ports) -> Started:
    """A retention policy for every business without one, run now and then every RETENTION_EVERY seconds."""
    from sqlalchemy import text

    from booking_core.adapters.db import Database
    from booking_core.bootstrap import BookingSystem
    from booking_core.domain.values import Actor
    from booking_core.services import personal

    db = Database(database_url, pool_size=1)
    system = BookingSystem(db)
    with db.connect() as conn:
        businesses = [r[0] for r in conn.execute(text("SELECT id FROM businesses ORDER BY name"))]
    have = {p.business_id for p in personal.policies(db)}
    for business in businesses:
        if business not in have:
            system.set_retention_policy(
                business,
                actor=Actor.admin("demo"),
                erase_inactive_after_months=DEMO_RETENTION["erase_inactive_after_months"],
                purge_payloads_after_days=DEMO_RETENTION["purge_payloads_after_days"],
                drop_client_after_days=DEMO_RETENTION["drop_client_after_days"],
            )

    def run_all() -> int:
        return sum(sum(system.run_retention(b, actor=Actor.system("retention")).cleared.values()) for b in businesses)

    cleared = run_all()
    halt_runs = _every(RETENTION_EVERY, run_all, "retention")

    def halt() -> None:
        halt_runs()
        db.dispose()

    return Started(
        "retention",
        f"retention: a policy for each of {len(businesses)} businesses, {cleared} rows cleared now,"
        f" again every {RETENTION_EVERY // 60} minutes",
        stop=halt,
    )


Starter = Callable[[str, Ports], Started]
STARTERS: tuple[Starter, ...] = (
    start_checks,
    start_checker,
    start_exporter,
    start_dashboard,
    start_notifications,
    start_retention,
)
