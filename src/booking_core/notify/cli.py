"""`booking notify` (the outbox dispatcher) and `booking health` (database, backlog, circuit).

Exit codes, as in the rest of the CLI: 0 ok; 1 `health` found a problem, or `notify --once`
left messages to retry or dead; 2 bad input (e.g. a webhook URL that is not http(s));
3 the database is unreachable or not migrated. Errors are one line on stderr.
"""

from __future__ import annotations

import json
import re
import signal
import threading
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from booking_core.cli import friendly, open_database
from booking_core.domain.errors import InvalidInput

EXIT_PROBLEM = 1
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str, *, name: str, allow_zero: bool = False) -> timedelta:
    """'500ms', '30s', '5m', '72h', '2d' or plain seconds; InvalidInput otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*", value)
    seconds = float(match[1]) * _UNITS[match[2] or "s"] if match else -1.0
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise InvalidInput(f"{name} {value!r} is not a duration: use e.g. 500ms, 30s, 5m, 72h")
    return timedelta(seconds=seconds)


def _fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    return f"{seconds / 60:.0f}m" if seconds < 7200 else f"{seconds / 3600:.1f}h"


@friendly
def notify(
    webhook: Annotated[
        str | None,
        typer.Option(
            "--webhook",
            envvar="BOOKING_WEBHOOK_URL",
            show_default=False,
            help="Receiver URL (http or https), e.g. a Make.com scenario webhook; or BOOKING_WEBHOOK_URL.",
        ),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Deliver what is due now, then exit.")] = False,
    interval: Annotated[str, typer.Option(help="Pause between passes.")] = "1s",
    timeout: Annotated[str, typer.Option(help="Per-request timeout (connect and each read).")] = "5s",
    batch: Annotated[int, typer.Option(help="Rows claimed per batch.")] = 25,
    max_attempts: Annotated[int, typer.Option(help="Attempts before a message is dead.")] = 25,
    max_age: Annotated[str, typer.Option(help="Age after which a failing message is dead.")] = "72h",
    reminders: Annotated[str, typer.Option(help="Queue reminders this long before a slot (0 = off).")] = "24h",
    workers: Annotated[int, typer.Option(help="Concurrent senders in this process (one shared circuit).")] = 1,
) -> None:
    """Deliver the notification outbox to a webhook: backoff with jitter, circuit breaker, delivery log."""
    from booking_core.notify.dispatcher import Dispatcher, DispatchSettings
    from booking_core.notify.webhook import parse_webhook

    if not webhook:
        raise InvalidInput("no webhook: pass --webhook URL or set BOOKING_WEBHOOK_URL")
    if not 1 <= workers <= 64:
        raise InvalidInput(f"--workers {workers} is out of range: use 1 to 64")
    settings = DispatchSettings(
        parse_webhook(webhook),
        timeout_seconds=parse_duration(timeout, name="--timeout").total_seconds(),
        batch_size=batch,
        max_attempts=max_attempts,
        max_age=parse_duration(max_age, name="--max-age"),
    )
    pause = parse_duration(interval, name="--interval").total_seconds()
    lead = parse_duration(reminders, name="--reminders", allow_zero=True) or None
    db = open_database()
    db.require_migrated()
    dispatchers = Dispatcher(db, settings).workers(workers)
    try:
        if once:
            _run_once(dispatchers, lead)
        else:
            _run_forever(dispatchers, pause, lead)
    finally:
        for d in dispatchers:
            d.close()
        db.dispose()


def _run_once(dispatchers: list[Any], lead: timedelta | None) -> None:
    from booking_core.notify.dispatcher import run_once_together

    if lead:
        dispatchers[0].enqueue_reminders(lead)
    report = run_once_together(dispatchers) if len(dispatchers) > 1 else dispatchers[0].run_once()
    typer.echo(f"{dispatchers[0].settings.webhook.endpoint}: {report.summary()}")
    if report.retried or report.dead or report.circuit != "closed":
        raise typer.Exit(EXIT_PROBLEM)


def _print_report(report: Any) -> None:
    typer.echo(report.summary() + (f" (database: {report.errors[-1]})" if not report.attempts else ""))


def _run_forever(dispatchers: list[Any], pause: float, lead: timedelta | None) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    first = dispatchers[0]
    typer.echo(
        f"delivering to {first.settings.webhook.endpoint} as {first.name}"
        f" with {len(dispatchers)} worker(s) (Ctrl-C to stop)"
    )
    threads = [
        threading.Thread(
            target=d.run_forever,
            name=d.name,
            daemon=True,
            kwargs={
                "interval_seconds": pause,
                "stop": stop,
                "on_report": _print_report,
                "reminder_lead": lead if d is first else None,  # one worker queues the reminders
            },
        )
        for d in dispatchers
    ]
    for t in threads:
        t.start()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        stop.set()
    for t in threads:
        t.join(timeout=30)


@friendly
def health(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object instead of text.")] = False,
    max_due_age: Annotated[str, typer.Option(help="Unhealthy when a due message waited longer.")] = "15m",
    dead_window: Annotated[str, typer.Option(help="Unhealthy when a message died within this window.")] = "24h",
) -> None:
    """Database, notification backlog (due, oldest, dead) and circuit state; exits 1 on a problem."""
    from sqlalchemy import text

    from booking_core.reports.notifications import circuits, outbox_backlog

    limit = parse_duration(max_due_age, name="--max-due-age")
    window = parse_duration(dead_window, name="--dead-window")
    db = open_database()
    db.require_migrated()
    now = datetime.now(UTC)
    with db.connect() as conn:
        schema = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        backlog = outbox_backlog(conn, now=now, dead_window=window)
        states = circuits(conn)
    db.dispose()
    problems = _problems(backlog, states, limit, window)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "status": "unhealthy" if problems else "healthy",
                    "problems": problems,
                    "database": {"ok": True, "schema": schema},
                    "outbox": backlog.to_dict(),
                    "circuits": [c.to_dict() for c in states],
                    "circuit_source": "notification_circuit (saved by dispatchers)",
                }
            )
        )
    else:
        _print_health(schema, backlog, states, problems, window, now)
    if problems:
        raise typer.Exit(EXIT_PROBLEM)


def _problems(backlog: Any, states: list[Any], limit: timedelta, window: timedelta) -> list[str]:
    problems = []
    if backlog.oldest_due_seconds is not None and backlog.oldest_due_seconds > limit.total_seconds():
        waited = _fmt_age(backlog.oldest_due_seconds)
        problems.append(f"a due notification has waited {waited}: is `booking notify` running?")
    if backlog.dead_recent:
        within = _fmt_age(window.total_seconds())
        problems.append(f"{backlog.dead_recent} notifications failed for good in the last {within}")
    problems += [f"circuit to {c.endpoint} is {c.state}" for c in states if c.state != "closed"]
    return problems


def _print_health(
    schema: str, backlog: Any, states: list[Any], problems: list[str], window: timedelta, now: datetime
) -> None:
    typer.echo(f"database: ok (schema {schema})")
    typer.echo(
        f"outbox: {backlog.pending} pending, {backlog.due} due, oldest due {_fmt_age(backlog.oldest_due_seconds)},"
        f" {backlog.dead} dead ({backlog.dead_recent} in the last {_fmt_age(window.total_seconds())})"
    )
    if not states:
        typer.echo("circuit: none saved yet (no dispatcher has run)")
    for c in states:
        age = _fmt_age((now - c.updated_at).total_seconds())
        typer.echo(
            f"circuit {c.endpoint}: {c.state}, {c.consecutive_failures} consecutive failures"
            f" (saved by dispatcher {c.dispatcher} {age} ago)"
        )
    typer.echo("unhealthy: " + "; ".join(problems) if problems else "healthy")


def register(app: typer.Typer) -> None:
    """Add `booking notify` and `booking health` (entry point group booking_core.commands)."""
    app.command("notify")(notify)
    app.command("health")(health)
