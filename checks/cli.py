"""`booking check`: run the integrity suites, print a summary, exit 1 on violations.

Exit codes: 0 all passed, 1 a violation was found, 2 an unknown check name, a bad option or a
--docs folder that cannot be written, 3 the database is unreachable or not migrated, 4 a check
errored (and none found a violation). With --every the command keeps running through database
outages (checks/every.py: backoff, one line per failure, --metrics-port) until interrupted,
then exits with its last round's code.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from checks.runner import RunSummary

EXIT_VIOLATIONS = 1
EXIT_ERRORED = 4
_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_interval(value: str) -> float:
    """'30s', '5m', '1h' or plain seconds -> seconds; ValueError when it is none of those."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", value)
    if not match or float(match[1]) <= 0:
        raise ValueError(value)
    return float(match[1]) * _UNITS[match[2] or "s"]


def exit_code(summary: RunSummary) -> int:
    if summary.violations:
        return EXIT_VIOLATIONS
    return EXIT_ERRORED if summary.errored else 0


def print_summary(summary: RunSummary, *, as_json: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    if as_json:
        typer.echo(json.dumps(summary.to_dict(), default=str))
        return
    table = Table(
        "suite", "check", "status", "violations", "offending rows (first)", title=f"integrity run {summary.run_id}"
    )
    style = {"passed": "green", "failed": "bold red", "errored": "yellow"}
    for r in summary.results:
        first = r.error or ", ".join(
            f"{k}={v}" for k, v in (r.sample[0] if r.sample else {}).items() if k.endswith("id")
        )
        status = "info" if r.severity == "info" and r.violation_count else r.status
        table.add_row(r.suite, r.name, f"[{style.get(r.status, '')}]{status}[/]", str(r.violation_count), first)
    console = Console(width=200)
    console.print(table)
    if summary.docs_error:
        console.print(f"[yellow]{summary.docs_error}[/]")
    console.print(
        f"{len(summary.violations)} failed, {len(summary.errored)} errored, "
        f"{len(summary.results)} checks in {summary.duration_seconds:.1f}s"
        + (f"; data docs at {summary.docs_index}" if summary.docs_index else "")
    )


def register(app: typer.Typer) -> None:
    """Add `booking check`."""

    @app.command("check")
    def check(
        only: Annotated[list[str] | None, typer.Option("--only", help="A check or suite name (repeatable).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the run as JSON.")] = False,
        docs: Annotated[Path | None, typer.Option("--docs", help="Build GE Data Docs into DIR.")] = None,
        every: Annotated[str | None, typer.Option("--every", help="Keep running, e.g. 5m.")] = None,
        list_checks: Annotated[bool, typer.Option("--list", help="List the checks and exit.")] = False,
        business: Annotated[list[str] | None, typer.Option("--business", help="One business id.")] = None,
        metrics_port: Annotated[
            int | None,
            typer.Option("--metrics-port", min=1, max=65535, help="With --every: serve the checker's /metrics here."),
        ] = None,
    ) -> None:
        """Run the integrity checks (all, or --only NAME) and store the run; exit 1 on violations."""
        from booking_core.cli import EXIT_DATABASE, EXIT_USER_ERROR, fail, open_database
        from booking_core.domain.errors import BookingError, DatabaseUnavailable
        from booking_core.reports.integrity import select_checks

        if list_checks:
            for c in select_checks(None):
                typer.echo(f"{c.suite:20} {c.name:32} {c.description}")
            raise typer.Exit(0)
        interval, business_ids = _options(only, every, business, metrics_port)
        try:
            if docs is not None:
                from checks.runner import prepare_docs_dir

                prepare_docs_dir(docs)
            if interval is None:
                code = _once(open_database().url, only, business_ids, docs, as_json)
            else:
                code = _every(only, business_ids, docs, as_json, interval, metrics_port)
        except DatabaseUnavailable as exc:
            fail(str(exc), EXIT_DATABASE)
        except BookingError as exc:
            fail(str(exc), EXIT_USER_ERROR)
        raise typer.Exit(code)


def _options(
    only: list[str] | None, every: str | None, business: list[str] | None, metrics_port: int | None
) -> tuple[float | None, list[uuid.UUID]]:
    """(the --every interval, the --business ids), or exit with a user error naming the bad option."""
    from booking_core.cli import EXIT_USER_ERROR, fail
    from booking_core.reports.integrity import select_checks

    try:
        select_checks(only)
    except KeyError as exc:
        fail(f"unknown check or suite {exc.args[0]!r}: `booking check --list` shows them", EXIT_USER_ERROR)
    try:
        interval = parse_interval(every) if every else None
    except ValueError:
        fail(f"--every {every!r} is not a duration: use e.g. 30s, 5m or 1h", EXIT_USER_ERROR)
    try:
        business_ids = [uuid.UUID(b) for b in business or []]
    except ValueError:
        fail("--business takes a business id, a UUID such as 0b6f1c2e-…: check the value", EXIT_USER_ERROR)
    if metrics_port is not None and interval is None:
        fail("--metrics-port serves the checker's metrics while it keeps running: add --every", EXIT_USER_ERROR)
    return interval, business_ids


def _once(url: str, only: list[str] | None, business_ids: list[uuid.UUID], docs: Path | None, as_json: bool) -> int:
    from checks.runner import run_all

    summary = run_all(url, only, business_ids=business_ids, docs_dir=docs, triggered_by="cli")
    print_summary(summary, as_json=as_json)
    return exit_code(summary)


def _every(
    only: list[str] | None,
    business_ids: list[uuid.UUID],
    docs: Path | None,
    as_json: bool,
    interval: float,
    metrics_port: int | None,
) -> int:
    """Run every `interval` seconds until interrupted, through outages; the last round's exit code."""
    from booking_core.cli import open_database
    from checks.every import CheckerState, run_round, serve_metrics, stderr_line
    from checks.runner import run_all

    state = CheckerState(interval)
    stop_metrics = serve_metrics(state, metrics_port) if metrics_port is not None else None
    url: list[str] = []

    def run() -> RunSummary:
        if not url:  # the embedded server or the URL is opened once it answers
            url.append(open_database().url)
        return run_all(url[0], only, business_ids=business_ids, docs_dir=docs, triggered_by="cli --every")

    code = 0
    try:
        while True:
            summary = run_round(run, state, say=stderr_line)
            print_summary(summary, as_json=as_json)
            code = exit_code(summary)
            time.sleep(interval)
    except KeyboardInterrupt:
        return code
    finally:
        if stop_metrics is not None:
            stop_metrics()
