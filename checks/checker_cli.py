"""`booking checker`: run the continuous checker (checks/service.py), or one pass of it.

Exit codes: 0 stopped (Ctrl-C, SIGTERM) or a pass found nothing open, 1 `--once`/`--full` left
violations open, 2 a bad option, 3 the database is unreachable or not migrated at start.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add `booking checker`."""

    @app.command("checker")
    def checker(
        every: Annotated[str, typer.Option("--every", help="Seconds between incremental passes, e.g. 5s.")] = "5s",
        full_every: Annotated[str, typer.Option("--full-every", help="Time between full sweeps, e.g. 10m.")] = "10m",
        full: Annotated[bool, typer.Option("--full", help="Run one full sweep and chain walk, then exit.")] = False,
        once: Annotated[
            bool, typer.Option("--once", help="Run one incremental pass (rules and chain), then exit.")
        ] = False,
    ) -> None:
        """Find integrity violations continuously from the rows that changed; keep them in integrity_violations."""
        from booking_core.cli import EXIT_DATABASE, EXIT_USER_ERROR, fail, friendly, open_database, out
        from checks.checker import open_count
        from checks.cli import parse_interval
        from checks.service import Checker

        try:
            interval = parse_interval(every)
        except ValueError:
            fail(f"--every {every!r} is not a duration: use e.g. 5s, 30s or 1m", EXIT_USER_ERROR)
        try:
            full_interval = parse_interval(full_every)
        except ValueError:
            fail(f"--full-every {full_every!r} is not a duration: use e.g. 10m or 1h", EXIT_USER_ERROR)
        if full and once:
            fail("--full and --once are two different single passes: give one", EXIT_USER_ERROR)

        @friendly
        def open_migrated() -> str:
            db = open_database()
            db.require_migrated()
            return str(db.url)

        url = open_migrated()
        service = Checker(url, every=interval, full_every=full_interval)
        if full or once:
            reports = service.tick(full=full)
            for r in reports:
                out.print(
                    f"{r.mode}: found {r.found} ({r.added} new, {r.removed} cleared) in {r.seconds:.2f}s"
                    + (f", {r.audit_rows} audit rows read" if r.mode == "incremental" else "")
                )
            if len(reports) < len(("rules", "chain")):
                raise typer.Exit(EXIT_DATABASE)
            still_open = open_count(url)
            out.print(f"{still_open} violations open")
            raise typer.Exit(1 if still_open else 0)

        def on_signal(_signum: int, _frame: FrameType | None) -> None:
            service.stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        out.print(f"checker: incremental every {interval:g}s, full sweep every {full_interval:g}s (Ctrl-C stops)")
        service.run()
