"""Commands this part adds to `booking`: `demo` (the whole system on believable data) and `seed` (data at scale)."""

from __future__ import annotations

from datetime import UTC, datetime, time

import typer

from booking_core.cli import friendly
from booking_core.domain.errors import InvalidInput


def _anchor(value: str | None) -> datetime:
    from booking_demo.generator import default_anchor

    if value is None:
        return default_anchor()
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise InvalidInput(f"--anchor {value!r} is not a date: use YYYY-MM-DD") from None
    return datetime.combine(day, time(0), tzinfo=UTC)


def demo(
    seed: int = typer.Option(7, "--seed", help="The seed: the same seed generates the same data."),
    with_faults: bool = typer.Option(
        False, "--with-faults", help="Also write a few integrity violations with raw SQL."
    ),
    port_dashboard: int = typer.Option(8501, "--port-dashboard", min=1, max=65535, help="The dashboard's port."),
    port_metrics: int = typer.Option(9108, "--port-metrics", min=1, max=65535, help="The exporter's port."),
    port_login: int = typer.Option(
        9400, "--port-login", min=1, max=65535, help="The port of the demo's OpenID Connect provider (the login)."
    ),
    anchor: str | None = typer.Option(None, "--anchor", help="The demo's today, YYYY-MM-DD (default: today, UTC)."),
    history_days: int = typer.Option(365, "--history-days", min=1, max=3650, hidden=True),
    ahead_days: int = typer.Option(91, "--ahead-days", min=1, max=730, hidden=True),
    scale: float = typer.Option(1.0, "--scale", min=0.01, max=20.0, hidden=True),
) -> None:
    """Start the database, fill it with a year of demo bookings (first run only), run checks, exporter, dashboard."""
    from booking_demo.generator import DemoConfig
    from booking_demo.run import DemoOptions, run_demo
    from booking_demo.services import Ports

    config = DemoConfig(
        seed=seed, anchor=_anchor(anchor), history_days=history_days, ahead_days=ahead_days, scale=scale
    )
    options = DemoOptions(config, with_faults, Ports(port_dashboard, port_metrics, port_login))
    run_demo(options, lambda line: typer.echo(line))


def seed(
    bookings: int = typer.Option(..., "--bookings", min=1, max=50_000_000, help="How many bookings to generate."),
    seed: int = typer.Option(7, "--seed", help="The seed: the same seed generates the same data."),
    anchor: str | None = typer.Option(None, "--anchor", help="The data's today, YYYY-MM-DD (default: today, UTC)."),
) -> None:
    """Generate N bookings (same distributions as the demo) in bulk, with every invariant of the core kept."""
    from booking_core.bootstrap import connect
    from booking_demo.seed import bulk_seed

    with connect() as system:
        report = bulk_seed(system, bookings=bookings, seed=seed, anchor=_anchor(anchor), progress=True)
    typer.echo(report.summary())


def register(app: typer.Typer) -> None:
    """Add `booking demo` and `booking seed`."""
    app.command("demo")(friendly(demo))
    app.command("seed")(friendly(seed))
