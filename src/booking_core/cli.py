"""The `booking` command: database, audit, and (as later parts arrive) demo, checks, exporter, dashboard.

A BookingError prints its one line to stderr and exits 2 (3 when the database is unreachable);
never a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from booking_core.domain.errors import BookingError, DatabaseUnavailable

EXIT_USER_ERROR = 2
EXIT_DATABASE = 3
EXIT_BUG = 70  # EX_SOFTWARE: not the user's mistake

app = typer.Typer(
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, help="Booking integrity on PostgreSQL."
)
db_app = typer.Typer(no_args_is_help=True, help="Schema migrations and connection status.")
audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit trail.")
app.add_typer(db_app, name="db")
waitlist_app = typer.Typer(no_args_is_help=True, help="Waitlists: offers that hold seats and expire.")
app.add_typer(audit_app, name="audit")
app.add_typer(waitlist_app, name="waitlist")

out = Console()
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def fail(message: str, code: int) -> None:
    """Print one line on stderr (never wrapped) and exit with `code`."""
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(code)


def friendly(fn: F) -> F:
    """Turn typed errors into one line on stderr and a non-zero exit."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DatabaseUnavailable as exc:
            fail(str(exc), EXIT_DATABASE)
        except BookingError as exc:
            fail(str(exc), EXIT_USER_ERROR)

    return wrapper  # type: ignore[return-value]


def open_database() -> Any:
    from booking_core.adapters.db import Database

    return Database.from_settings()


def migrated_database() -> Any:
    """The database, refused (`booking db upgrade` first) unless its schema is the newest."""
    db = open_database()
    db.require_migrated()
    return db


@db_app.command("upgrade")
@friendly
def db_upgrade() -> None:
    """Migrate the database to the newest schema (safe to repeat)."""
    db = open_database()
    before = db.current_revision()
    db.upgrade()
    after = db.current_revision()
    out.print(f"database at {after}" + (" (already current)" if before == after else f" (was {before or 'empty'})"))


@db_app.command("status")
@friendly
def db_status() -> None:
    """Show which database is used and whether it is migrated."""
    db = open_database()
    current, head = db.current_revision(), db.head_revision()
    where = "embedded server" if db.server is not None else "BOOKING_DATABASE_URL"
    out.print(
        f"{where}: schema {current or 'empty'}, newest {head}"
        + ("" if current == head else " - run `booking db upgrade`")
    )
    if current != head:
        raise typer.Exit(1)


@audit_app.command("seal")
@friendly
def audit_seal() -> None:
    """Seal every unsealed audit row into its business's hash chain."""
    from booking_core.services import audit

    out.print(f"sealed {audit.seal_all(migrated_database())} audit rows")


@audit_app.command("verify")
@friendly
def audit_verify() -> None:
    """Verify every business's audit hash chain; exits 1 if any is broken."""
    from sqlalchemy import text

    from booking_core.domain.requests import BusinessQuery
    from booking_core.services import audit
    from booking_core.services.context import Context

    db = migrated_database()
    with db.connect() as conn:
        businesses = conn.execute(text("SELECT id, name FROM businesses ORDER BY name")).all()
    table = Table("business", "links", "unsealed", "head hash (anchor it elsewhere)", "status")
    broken = 0
    for b in businesses:
        r = audit.verify(Context(db), BusinessQuery(b.id))
        broken += not r.ok
        table.add_row(
            b.name,
            str(r.links),
            str(r.unsealed),
            (r.head_hash or "")[:16],
            "ok" if r.ok else f"BROKEN at {r.first_bad_seq}: {r.problem}",
        )
    out.print(table)
    if broken:
        raise typer.Exit(1)


@waitlist_app.command("expire")
@friendly
def waitlist_expire() -> None:
    """Expire waitlist offers past their time; their seats go to the next in line."""
    from booking_core.bootstrap import BookingSystem

    out.print(f"expired {BookingSystem(migrated_database()).expire_waitlist_offers()} offers")


idempotency_app = typer.Typer(no_args_is_help=True, help="Idempotency keys: how long a retry replays.")
app.add_typer(idempotency_app, name="idempotency")


@idempotency_app.command("purge")
@friendly
def idempotency_purge(
    keep_days: int = typer.Option(30, "--keep-days", min=1, help="Keep keys recorded in the last N days."),
) -> None:
    """Forget idempotency keys older than --keep-days (booking and payment keys still replay from their rows)."""
    from datetime import timedelta

    from booking_core.domain.requests import KeyPurgeRequest
    from booking_core.services import idempotency
    from booking_core.services.context import Context

    db = migrated_database()
    n = idempotency.purge(Context(db), KeyPurgeRequest(keep=timedelta(days=keep_days)))
    out.print(f"purged {n} idempotency keys older than {keep_days} days")


def _business_id(db: Any, business: str) -> Any:
    """A business by its id or its exact name."""
    import uuid

    from sqlalchemy import text

    from booking_core.domain.errors import NotFound

    try:
        return uuid.UUID(business)
    except ValueError:
        pass
    with db.connect() as conn:
        ids = conn.execute(text("SELECT id FROM businesses WHERE name = :n"), {"n": business}).scalars().all()
    if len(ids) != 1:
        found = "no business" if not ids else f"{len(ids)} businesses"
        raise NotFound(f"{found} named {business!r}: pass its id or exact name (`booking frozen --all` lists them)")
    return ids[0]


def _set_freeze(business: str, reason: str, *, frozen: bool) -> None:
    import getpass

    from booking_core.bootstrap import BookingSystem
    from booking_core.domain.values import Actor, Channel

    db = open_database()
    db.require_migrated()
    actor = Actor.admin(f"ops:{getpass.getuser()}", channel=Channel.CLI)
    state = BookingSystem(db).set_freeze(_business_id(db, business), actor=actor, reason=reason, frozen=frozen)
    if state.frozen:
        out.print(f"{state.business}: writes frozen since {state.frozen_at:%Y-%m-%d %H:%M:%S %Z} by {state.frozen_by}")
    else:
        out.print(f"{state.business}: writes resumed")


_REASON = typer.Option(..., "--reason", help="The incident this is for; recorded in the audit trail.")


@app.command("freeze")
@friendly
def freeze(business: str = typer.Argument(..., help="The business's id or exact name."), reason: str = _REASON) -> None:
    """Stop every write to a business (bookings, payments, slots, schedules) during an incident."""
    _set_freeze(business, reason, frozen=True)


@app.command("unfreeze")
@friendly
def unfreeze(
    business: str = typer.Argument(..., help="The business's id or exact name."), reason: str = _REASON
) -> None:
    """Resume writes to a frozen business once the repair is verified."""
    _set_freeze(business, reason, frozen=False)


@app.command("frozen")
@friendly
def frozen(show_all: bool = typer.Option(False, "--all", help="List every business, frozen or not.")) -> None:
    """List the businesses whose writes are frozen: since when, by whom, why."""
    from booking_core.services.freeze import businesses

    table = Table("business", "id", "frozen since", "by", "reason")
    for state in businesses(open_database(), frozen_only=not show_all):
        since = f"{state.frozen_at:%Y-%m-%d %H:%M:%S %Z}" if state.frozen_at else "-"
        table.add_row(state.business, str(state.business_id), since, state.frozen_by or "", state.reason or "")
    out.print(table)


users_app = typer.Typer(no_args_is_help=True, help="Memberships: who may see which business, in which role.")
app.add_typer(users_app, name="users")

_PERSON = typer.Argument(..., help="The person's e-mail address, as they log in with it.")
_ROLE = typer.Argument(..., help="manager, ops or analyst (per business), or admin (across businesses).")
_MEMBER_OF = typer.Option(None, "--business", help="The business's id or exact name (not for admin).")
_WHY = typer.Option(..., "--reason", help="Why; recorded with the change.")


def _set_membership(person: str, role: str, business: str | None, reason: str, *, granted: bool) -> None:
    import getpass

    from booking_core.bootstrap import BookingSystem
    from booking_core.domain.values import Actor, Channel

    db = migrated_database()
    actor = Actor.admin(f"admin:{getpass.getuser()}", channel=Channel.CLI)
    business_id = None if business is None else _business_id(db, business)
    m = BookingSystem(db).set_membership(
        person=person, role=role, business_id=business_id, reason=reason, granted=granted, actor=actor
    )
    where = "all businesses" if m.business is None else m.business
    out.print(f"{m.person}: {'granted' if granted else 'revoked'} {m.role} of {where}")


def _membership_command(*, granted: bool) -> Callable[..., None]:
    def command(
        person: str = _PERSON, role: str = _ROLE, business: str | None = _MEMBER_OF, reason: str = _WHY
    ) -> None:
        _set_membership(person, role, business, reason, granted=granted)

    return friendly(command)


users_app.command("grant", help="Let a person see a business in a role (admin: manage memberships across businesses).")(
    _membership_command(granted=True)
)
users_app.command("revoke", help="Take a role in a business (or admin) away from a person.")(
    _membership_command(granted=False)
)


@users_app.command("list")
@friendly
def users_list(
    business: str | None = typer.Option(None, "--business", help="Only this business's members (and the admins)."),
    person: str | None = typer.Option(None, "--person", help="Only this person's memberships."),
) -> None:
    """List the memberships: person, role, business, granted by whom and when."""
    from booking_core.services.access import memberships

    db = migrated_database()
    business_id = None if business is None else _business_id(db, business)
    table = Table("person", "role", "business", "granted by", "granted at")
    for m in memberships(db, business_id=business_id, person=person):
        table.add_row(m.person, m.role, m.business or "(all)", m.granted_by, f"{m.granted_at:%Y-%m-%d %H:%M %Z}")
    out.print(table)


incident_app = typer.Typer(no_args_is_help=True, help="Incidents: who is affected and how to reach them.")
app.add_typer(incident_app, name="incident")


@incident_app.command("contacts")
@friendly
def incident_contacts(
    business: Annotated[str, typer.Argument(help="The business's id or exact name.")],
    slot: Annotated[list[str] | None, typer.Option("--slot", help="A slot id it touched (repeatable).")] = None,
    booking: Annotated[
        list[str] | None, typer.Option("--booking", help="A booking id the incident touched (repeatable).")
    ] = None,
    start: Annotated[str | None, typer.Option("--from", help="Slots starting at or after (ISO, with offset).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="... and before (ISO, with offset).")] = None,
    closed_too: Annotated[bool, typer.Option("--closed-too", help="Also cancelled and other closed bookings.")] = False,
    out_file: Annotated[str | None, typer.Option("--out", help="Write the CSV here (default: stdout).")] = None,
) -> None:
    """The customers to contact about an incident, as CSV: one row per affected booking."""
    from booking_core.reports import incident

    db = open_database()
    db.require_migrated()
    scope = incident.IncidentScope(
        _business_id(db, business),
        slot_ids=[_uuid(s, "--slot") for s in slot or ()],
        booking_ids=[_uuid(b, "--booking") for b in booking or ()],
        start=_instant(start, "--from"),
        end=_instant(end, "--to"),
        closed_too=closed_too,
    )
    with db.connect() as conn:
        found = incident.contacts(conn, scope)
    if out_file is None:
        incident.write_csv(found, sys.stdout)
        return
    with open(out_file, "w", newline="", encoding="utf-8") as f:
        n = incident.write_csv(found, f)
    out.print(f"wrote {n} bookings to contact to {out_file}")


def parsed(value: str | None, option: str, parse: Callable[[str], T], hint: str) -> T | None:
    """An option's value parsed (None when absent); a value that does not parse is one line saying what to pass."""
    from booking_core.domain.errors import InvalidInput

    if value is None:
        return None
    try:
        return parse(value)
    except ValueError:
        raise InvalidInput(f"{option} {value!r} {hint}") from None


def _uuid(value: str, option: str) -> Any:
    import uuid

    return parsed(value, option, uuid.UUID, "is not an id: pass the full id the alert or check shows")


def _instant(value: str | None, option: str) -> Any:
    from datetime import datetime

    return parsed(value, option, datetime.fromisoformat, "is not a time: pass ISO 8601 like 2030-01-10T14:00+01:00")


def load_plugins() -> None:
    """Let the outer parts (demo, checks, metrics, dashboard) add their commands."""
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group="booking_core.commands"), key=lambda e: e.name):
        ep.load()(app)


def main() -> None:
    """Run `booking`: every mistake is one line on stderr and a documented exit code, never a traceback.

    Usage mistakes (unknown option, bad value, missing command) exit 2; typed errors exit 2, or 3
    when the database is unreachable; a file the system refuses exits 2; anything unforeseen is a
    bug, one line and exit 70 (BOOKING_DEBUG=1 shows its traceback).
    """
    try:  # Typer >= 0.20 ships its own copy of Click
        import typer._click.exceptions as click
    except ImportError:  # pragma: no cover - older Typer
        import click.exceptions as click  # type: ignore[no-redef]

    try:
        load_plugins()
        code = app(standalone_mode=False)
    except click.UsageError as exc:
        sys.stderr.write(f"error: {_usage_line(exc, missing_command=isinstance(exc, click.NoArgsIsHelpError))}\n")
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:  # pragma: no cover - interactive
        sys.exit(130)
    except Exception as exc:
        message, code = _last_resort(exc)
        if os.environ.get("BOOKING_DEBUG"):
            raise
        sys.stderr.write(f"error: {message}\n")
        sys.exit(code)
    sys.exit(code if isinstance(code, int) else 0)


def _usage_line(exc: Any, *, missing_command: bool) -> str:
    """One line for a Click usage error; a group run without its command names the commands."""
    ctx = exc.ctx
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    commands = getattr(ctx.command, "commands", None) if ctx is not None else None
    if missing_command and commands:
        names = ", ".join(sorted(n for n, c in commands.items() if not c.hidden))
        return f"`{ctx.command_path}` needs a command: one of {names}{hint}"
    lines = [line for line in exc.format_message().splitlines() if line.strip()]
    return (lines[0] if lines else "this command line is not valid") + hint


def _last_resort(exc: Exception) -> tuple[str, int]:
    """(one line, exit code) for an exception no command turned into a typed error."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError | _psycopg_error()):
        from booking_core.adapters.errors import translate

        exc = translate(exc)
    if isinstance(exc, DatabaseUnavailable):
        return str(exc), EXIT_DATABASE
    if isinstance(exc, BookingError):
        return str(exc), EXIT_USER_ERROR
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}: check the path and its permissions", EXIT_USER_ERROR
    first = (str(exc).strip().splitlines() or [""])[0]
    return (
        f"unexpected {type(exc).__name__}{': ' + first if first else ''}"
        " (a bug: please report it; BOOKING_DEBUG=1 shows the traceback)",
        EXIT_BUG,
    )


def _psycopg_error() -> type[Exception]:
    import psycopg

    return psycopg.Error
