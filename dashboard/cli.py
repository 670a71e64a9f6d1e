"""Commands this part adds to `booking`: `booking export` (streamed booking history) and `booking dashboard`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from booking_core.cli import friendly, parsed
from booking_core.config import ENV_URL
from booking_core.domain.errors import InvalidInput

APP = Path(__file__).resolve().parent / "app.py"


def _date(value: str | None, flag: str) -> date | None:
    return parsed(value, flag, date.fromisoformat, "is not a date: use YYYY-MM-DD")


def _database_url() -> tuple[str, object]:
    """BOOKING_DATABASE_URL, or the embedded server's URL (and the handle that keeps it running)."""
    if os.environ.get(ENV_URL):
        return os.environ[ENV_URL], None
    from booking_core.adapters.db import Database

    db = Database.from_settings()
    db.require_migrated()
    return db.url, db


def export_command(
    out: Annotated[Path, typer.Option("--out", help="The file to write (replaced only once complete).")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv, parquet or xlsx (default: from the --out extension).")
    ] = None,
    business: Annotated[str | None, typer.Option("--business", help="Only this business (its exact name).")] = None,
    start: Annotated[str | None, typer.Option("--from", help="First slot date, YYYY-MM-DD (business local).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last slot date, YYYY-MM-DD (business local).")] = None,
    chunk_rows: Annotated[int, typer.Option("--chunk-rows", min=1_000, help="Rows per fetched chunk.")] = 50_000,
    person: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="Export as this person (their e-mail address): only their businesses, customers masked by"
            " their role; recorded in the access log.",
        ),
    ] = None,
) -> None:
    """Export booking history (cancelled and legacy bookings included), streamed in bounded memory."""
    from booking_core import export
    from booking_core.adapters.db import Database
    from booking_core.adapters.errors import database_errors
    from booking_core.reports import history
    from booking_core.reports.engine import readonly_engine
    from booking_core.services.access import person_of, record_access

    first, last = _date(start, "--from"), _date(end, "--to")
    if first and last and last < first:
        raise InvalidInput("--to is before --from: swap them")
    fmt = export.target_format(out, fmt)
    export.check_writable(out)
    member = None if person is None else person_of(person)
    url, _keep = _database_url()
    engine = readonly_engine(url, pool_size=1, person=member)
    with database_errors(), engine.connect() as conn:
        if member is not None:
            _require_membership(conn, member)
        business_id = history.business_by_name(conn, business) if business else None
        where = history.ExportFilter(business_id=business_id, start=first, end=last)
        total = history.export_count(conn, where)
        kind = export.check_format(fmt, total)
        with Progress(
            TextColumn("exporting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=not sys.stderr.isatty(),
        ) as bar:
            task = bar.add_task("rows", total=total)
            chunks = history.export_rows(conn, where, chunk_rows=chunk_rows)
            n = export.write_file(chunks, kind, out, on_rows=lambda k: bar.advance(task, k))
    engine.dispose()
    if member is not None:
        recorded = {"business": business, "from": start, "to": end, "format": kind, "file": out.name}
        record_access(Database(url, pool_size=1), member, "export", recorded, n)
    typer.echo(f"wrote {n:,} bookings to {out}")


def _require_membership(conn: Any, person: str) -> None:
    """Refuse an export as a person who is a member of no business (row security would give nothing)."""
    from sqlalchemy import text

    if not conn.execute(text("SELECT count(*) FROM memberships")).scalar_one():
        raise InvalidInput(f"{person} is a member of no business: grant a membership first (booking users grant)")


def dashboard_command(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="The port to serve on.")] = 8501,
    address: Annotated[str, typer.Option("--address", help="The address to listen on.")] = "127.0.0.1",
    secrets: Annotated[
        Path | None,
        typer.Option(
            "--secrets",
            help="The login settings ([auth] for your OpenID Connect provider) instead of .streamlit/secrets.toml.",
        ),
    ] = None,
) -> None:
    """Serve the Streamlit dashboard (headless, behind its login) until interrupted."""
    from booking_core.ports import require_free

    # Before the database: a taken port is said at once, naming its holder. The probe binds
    # with SO_REUSEADDR like Streamlit's server, so a restart is not refused during TIME_WAIT.
    require_free(address, port)
    url, _keep = _database_url()
    env = os.environ | {ENV_URL: url}
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.headless=true",
        f"--server.port={port}",
        f"--server.address={address}",
        "--browser.gatherUsageStats=false",
    ]
    if secrets is not None:
        if not secrets.is_file():
            raise InvalidInput(f"--secrets {secrets}: no such file (write the [auth] settings there, docs/access.md)")
        cmd.append(f"--secrets.files={secrets.resolve()}")
    typer.echo(f"dashboard on http://{address}:{port}", err=True)
    # The project's top folder holds .streamlit/config.toml, which Streamlit reads from the working directory.
    child = subprocess.Popen(cmd, env=env, cwd=APP.parent.parent)
    raise typer.Exit(_wait_forwarding_signals(child))


def _wait_forwarding_signals(child: subprocess.Popen[bytes], grace_seconds: float = 10) -> int:
    """Wait for Streamlit; a SIGTERM or SIGINT to us stops it too (it must not outlive this command)."""
    kill_at: list[float] = []

    def forward(signum: int, _frame: object) -> None:
        # Only signal here: the main loop below reaps the child (Popen.wait is not reentrant).
        child.send_signal(signum)
        kill_at.append(time.monotonic() + grace_seconds)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    try:
        while True:
            try:
                return child.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                if kill_at and time.monotonic() > kill_at[0]:
                    child.kill()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def register(app: typer.Typer) -> None:
    app.command("export")(friendly(export_command))
    app.command("dashboard")(friendly(dashboard_command))
