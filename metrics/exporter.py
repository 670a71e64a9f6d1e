"""The exporter's HTTP server: /metrics (the booking collector) and /health (database, checks age).

`serve()` starts it on a daemon thread and returns a function that stops it, so `booking demo`
and the tests can run it beside other work; `booking exporter` blocks on it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from booking_core.domain.errors import InvalidInput
from booking_core.ports import PortInUse, busy
from booking_core.reports import check_runs, notifications
from metrics.collector import BookingCollector, Clock, scrape_engine, utc_now

# Checks are meant to run at least hourly; two missed runs make the service unhealthy.
DEFAULT_MAX_CHECK_AGE_SECONDS = 2 * 3600.0
# Bookings, payments and refusals are one pass over million-row tables: refresh them in the
# background twice a minute rather than in every scrape.
DEFAULT_HISTORY_EVERY_SECONDS = 30.0
# The classic text format: what generate_latest writes for our (plain ASCII) names, and what
# every Prometheus 2.x understands; newer clients would announce version=1.0.0.
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


def health(engine: Engine, *, now: datetime, max_check_age: float) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 200 when the database answers and the last check run is recent."""
    try:
        with engine.connect() as conn:
            run = check_runs.latest_run(conn)
            backlog = notifications.outbox_backlog(conn, now=now)
            circuits = notifications.circuits(conn)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        return 503, {"status": "unhealthy", "database": "down", "reason": f"database: {reason}"}
    body: dict[str, Any] = {
        "database": "up",
        # The dispatcher's backlog and circuits are reported, and page through their alerts;
        # they do not make the exporter unhealthy (a webhook outage is not a database outage).
        "notifications": backlog.to_dict(),
        "circuits": [c.to_dict() for c in circuits],
    }
    if run is None:
        return 503, {
            **body,
            "status": "unhealthy",
            "reason": "integrity checks have never run: run `booking check`",
        }
    at = run.finished_at or run.started_at
    body.update(last_check_run=at.isoformat(), last_check_status=run.status)
    # Freshness counts only runs whose every check ran: an errored run (database lost mid-run,
    # data docs unwritable) verified nothing, so it must not keep /health green.
    good = run.last_good_finished_at or run.last_good_started_at
    if good is None:
        return 503, {
            **body,
            "status": "unhealthy",
            "reason": "no integrity check run has completed without errors: see `booking check`",
        }
    age = (now - good).total_seconds()
    body.update(last_good_check_run=good.isoformat(), last_check_age_seconds=round(age, 1))
    if age > max_check_age:
        latest = " (the latest run errored)" if run.status == "errored" else ""
        return 503, {
            **body,
            "status": "unhealthy",
            "reason": f"last good integrity check run is {age:.0f}s old (limit {max_check_age:.0f}s){latest}",
        }
    return 200, {**body, "status": "ok"}


def _handler(
    registry: CollectorRegistry, engine: Engine, clock: Clock, max_check_age: float
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, TEXT_FORMAT, generate_latest(registry))
            elif path == "/health":
                code, body = health(engine, now=clock(), max_check_age=max_check_age)
                self._send(code, "application/json", json.dumps(body).encode())
            else:
                self._send(404, "text/plain; charset=utf-8", b"try /metrics or /health\n")

        def _send(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # a scrape every few seconds would drown the terminal

    return Handler


def serve(
    database_url: str,
    port: int,
    host: str = "127.0.0.1",
    *,
    clock: Clock = utc_now,
    max_check_age: float = DEFAULT_MAX_CHECK_AGE_SECONDS,
    history_every: float = DEFAULT_HISTORY_EVERY_SECONDS,
) -> Callable[[], None]:
    """Serve /metrics and /health on host:port in a daemon thread; returns the stop function.

    `history_every`: seconds between background refreshes of the full-table aggregates
    (0 reads them in every scrape; see BookingCollector).
    """
    engine = scrape_engine(database_url)
    registry = CollectorRegistry()
    collector = BookingCollector(engine, clock=clock, history_every=history_every)
    registry.register(collector)
    try:
        server = ThreadingHTTPServer((host, port), _handler(registry, engine, clock, max_check_age))
    except (OSError, OverflowError) as exc:  # OverflowError: a port past 65535
        collector.close()
        engine.dispose()
        if isinstance(exc, OverflowError):
            raise InvalidInput(f"--port {port} is not a port: use 1 to 65535") from None
        raise busy(host, port, exc) from None
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="booking-exporter", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        collector.close()
        engine.dispose()

    return stop


__all__ = ["DEFAULT_HISTORY_EVERY_SECONDS", "DEFAULT_MAX_CHECK_AGE_SECONDS", "PortInUse", "health", "serve"]
