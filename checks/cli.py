"""`booking check`: run the integrity suites, print a summary, exit 1 on violations.

Exit codes: 0 all passed, 1 a violation was found, 2 an unknown check name (or bad option),
3 the database is unreachable or not migrated, 4 a check errored (and none found a violation).
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
    table = Table("suite", "check", "status", "violations", "offending rows (first)",
                  title=f"integrity run {summary.run_id}")  # fmt: skip
    style = {"passed": "green", "failed": "bold red", "errored": "yellow"}
    for r in summary.results:
        first = r.error or ", ".join(
            f"{k}={v}" for k, v in (r.sample[0] if r.sample else {}).items() if k.endswith("id")
        )
        status = "info" if r.severity == "info" and r.violation_count else r.status
        table.add_row(r.suite, r.name, f"[{style.get(r.status, '')}]{status}[/]",
                      str(r.violation_count), first)  # fmt: skip
    console = Console(width=200)
    console.print(table)
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
    ) -> None:
        """Run the integrity checks (all, or --only NAME) and store the run; exit 1 on violations."""
        from booking_core.cli import EXIT_DATABASE, EXIT_USER_ERROR, fail, open_database
        from booking_core.domain.errors import BookingError, DatabaseUnavailable
        from booking_core.reports.integrity import select_checks

        if list_checks:
            for c in select_checks(None):
                typer.echo(f"{c.suite:20} {c.name:32} {c.description}")
            raise typer.Exit(0)
        try:
            select_checks(only)
            interval = parse_interval(every) if every else None
            business_ids = [uuid.UUID(b) for b in business or []]
        except KeyError as exc:
            fail(f"unknown check or suite {exc.args[0]!r}: `booking check --list` shows them", EXIT_USER_ERROR)
        except ValueError:
            fail("--every takes a duration such as 30s, 5m or 1h; --business a business id", EXIT_USER_ERROR)
        try:
            url = open_database().url
            code = _loop(url, only, business_ids, docs, as_json, interval)
        except DatabaseUnavailable as exc:
            fail(str(exc), EXIT_DATABASE)
        except BookingError as exc:
            fail(str(exc), EXIT_USER_ERROR)
        raise typer.Exit(code)


def _loop(
    url: str, only: list[str] | None, business_ids: list[uuid.UUID], docs: Path | None,
    as_json: bool, interval: float | None,
) -> int:  # fmt: skip
    """Run once, or every `interval` seconds until interrupted; the last run's exit code."""
    from checks.runner import run_all

    while True:
        summary = run_all(url, only, business_ids=business_ids, docs_dir=docs,
                          triggered_by="cli --every" if interval else "cli")  # fmt: skip
        print_summary(summary, as_json=as_json)
        if interval is None:
            return exit_code(summary)
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            return exit_code(summary)
