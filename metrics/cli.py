"""The `booking exporter` command (registered through the booking_core.commands entry point)."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import typer


def register(app: typer.Typer) -> None:
    """Add `booking exporter`."""
    app.command("exporter")(exporter)


def exporter(
    port: int = typer.Option(9108, min=1, max=65535, help="Port to serve /metrics and /health on."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (loopback by default)."),
    max_check_age: float = typer.Option(
        7200.0, min=1, help="Seconds after which a missing integrity check run makes /health 503."
    ),
    history_every: float = typer.Option(
        30.0, min=0, help="Seconds between background refreshes of the full-table aggregates (0: every scrape)."
    ),
) -> None:
    """Serve Prometheus metrics read from the booking database (Ctrl-C to stop)."""
    from booking_core.cli import friendly, open_database, out

    @friendly
    def run() -> None:
        from booking_core.ports import require_free
        from metrics.exporter import serve

        require_free(host, port)  # before the database: a taken port is said at once, naming its holder
        db = open_database()
        db.require_migrated()
        stop = serve(db.url, port, host, max_check_age=max_check_age, history_every=history_every)
        out.print(f"exporter on http://{host}:{port}/metrics (health: /health)")
        _wait_for_signal()
        stop()
        db.dispose()

    run()


def _wait_for_signal() -> None:
    done = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    done.wait()
