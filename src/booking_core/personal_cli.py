"""`booking customers` and `booking retention`: personal data's lifecycle (docs/personal-data.md)."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from booking_core.cli import EXIT_USER_ERROR, _business_id, _uuid, fail, friendly, migrated_database, out
from booking_core.domain.errors import BookingError

customers_app = typer.Typer(no_args_is_help=True, help="Customers' personal data: erase it, hand it over.")
retention_app = typer.Typer(no_args_is_help=True, help="Retention: how long personal data is kept, per business.")

_BUSINESS = Annotated[str, typer.Option("--business", help="The business's id or exact name.")]
_ID = Annotated[str | None, typer.Option("--id", help="The customer's id.")]
_EMAIL = Annotated[str | None, typer.Option("--email", help="The customer's e-mail address.")]
_TOKEN = Annotated[str | None, typer.Option("--token", help="A cancellation token the customer was sent.")]


def _write(text: str, out_file: str | None, done: str) -> None:
    """`text` to stdout, or to `out_file` and then `done` said."""
    if out_file is None:
        sys.stdout.write(text)
        return
    Path(out_file).write_text(text, encoding="utf-8")
    out.print(done)


def _staff() -> Any:
    from booking_core.domain.values import Actor, Channel

    return Actor.admin(f"admin:{getpass.getuser()}", channel=Channel.CLI)


def _who(db: Any, business: str, customer: str | None, email: str | None, token: str | None) -> dict[str, Any]:
    return {
        "business_id": _business_id(db, business),
        "customer_id": None if customer is None else _uuid(customer, "--id"),
        "email": email,
        "token": token,
    }


@friendly
def erase(
    business: _BUSINESS,
    customer: _ID = None,
    email: _EMAIL = None,
    token: _TOKEN = None,
    force: Annotated[
        bool, typer.Option("--force", help="Erase even with paid bookings ahead (they stay, pseudonymous).")
    ] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why; recorded with the erasure.")] = (
        "erasure requested by the customer"
    ),
) -> None:
    """Erase a customer's personal data everywhere, in one transaction; bookings and payments stay."""
    from booking_core.bootstrap import BookingSystem

    db = migrated_database()
    e = BookingSystem(db).erase_customer(**_who(db, business, customer, email, token), force=force, reason=reason,
                                         actor=_staff())  # fmt: skip
    cleared = ", ".join(f"{table} {n}" for table, n in sorted(e.cleared.items()) if n)
    out.print(
        f"customer {e.customer_id} erased at {e.erased_at:%Y-%m-%d %H:%M %Z} (erasure {e.id}); cleared: {cleared}"
    )


@friendly
def export_data(
    business: _BUSINESS,
    customer: _ID = None,
    email: _EMAIL = None,
    token: _TOKEN = None,
    out_file: Annotated[str | None, typer.Option("--out", help="Write the JSON here (default: stdout).")] = None,
) -> None:
    """Everything held about a customer, as JSON they can read (subject access); the request is logged."""
    from booking_core.bootstrap import BookingSystem

    db = migrated_database()
    document = BookingSystem(db).customer_data(**_who(db, business, customer, email, token), actor=_staff())
    said = f"wrote {len(document['bookings'])} bookings and {len(document['history'])} changes to {out_file}"
    _write(json.dumps(document, indent=2, ensure_ascii=False) + "\n", out_file, said)


@friendly
def erasures(
    business: Annotated[str | None, typer.Option("--business", help="Only this business's erasures.")] = None,
    out_file: Annotated[str | None, typer.Option("--out", help="Write the log here (default: stdout).")] = None,
) -> None:
    """The erasure log as JSON lines (ids and times only): keep it beside the backups, `reapply` reads it."""
    from booking_core.services import personal

    db = migrated_database()
    lines = personal.erasure_log_lines(personal.erasures(db, None if business is None else _business_id(db, business)))
    text = "".join(line + "\n" for line in lines)
    _write(text, out_file, f"wrote {text.count(chr(10))} erasures to {out_file}")


@friendly
def reapply(
    log_file: Annotated[Path, typer.Argument(help="An erasure log written by `booking customers erasures`.")],
) -> None:
    """After restoring a backup: erase again everyone the log says was erased (one transaction)."""
    from booking_core.domain.errors import InvalidInput
    from booking_core.services import personal
    from booking_core.services.context import Context

    try:
        lines = log_file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInput(
            f"cannot read {log_file}: {exc.strerror}; pass the file `booking customers erasures` wrote"
        ) from None
    done, again = personal.reapply(Context(migrated_database()), lines, actor=_staff())
    out.print(f"re-applied {done} erasures; {again} were already in place")


def _names(db: Any) -> dict[Any, str]:
    """Every business's name, by id: the tables below name businesses as people do."""
    from sqlalchemy import text

    with db.connect() as conn:
        return {r.id: r.name for r in conn.execute(text("SELECT id, name FROM businesses"))}


def _window(value: int | None) -> str:
    return "kept" if value is None else str(value)


@friendly
def retention_set(
    business: _BUSINESS,
    inactive_months: Annotated[
        int | None, typer.Option("--erase-inactive-months", min=1, help="Erase customers inactive this many months.")
    ] = None,
    payload_days: Annotated[
        int | None, typer.Option("--purge-payloads-days", min=1, help="Purge delivered notifications' personal parts.")
    ] = None,
    client_days: Annotated[
        int | None, typer.Option("--drop-client-days", min=1, help="Drop audit rows' ip addresses and user agents.")
    ] = None,
) -> None:
    """Set a business's retention windows (an omitted window keeps that data)."""
    from booking_core.bootstrap import BookingSystem

    db = migrated_database()
    p = BookingSystem(db).set_retention_policy(
        _business_id(db, business), actor=_staff(), erase_inactive_after_months=inactive_months,
        purge_payloads_after_days=payload_days, drop_client_after_days=client_days,
    )  # fmt: skip

    def after(value: int | None, what: str, unit: str) -> str:
        return "kept" if value is None else f"{what} after {value} {unit}"

    out.print(
        f"retention of {_names(db).get(p.business_id, p.business_id)}:"
        f" inactive customers {after(p.erase_inactive_after_months, 'erased', 'months')},"
        f" delivered payloads {after(p.purge_payloads_after_days, 'purged', 'days')},"
        f" ip addresses and user agents {after(p.drop_client_after_days, 'dropped', 'days')}"
    )


@friendly
def retention_run(
    business: Annotated[str | None, typer.Option("--business", help="Only this business (default: all).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be cleared; clear nothing.")] = False,
) -> None:
    """Apply every business's retention policy now (schedule it daily); prints what was cleared per table."""
    from booking_core.bootstrap import BookingSystem
    from booking_core.services import personal

    db = migrated_database()
    system = BookingSystem(db)
    wanted = [p.business_id for p in personal.policies(db)]
    if business is not None:
        wanted = [_business_id(db, business)]
    table = Table("business", "run", "table", "rows" if not dry_run else "rows it would clear")
    failed, names = [], _names(db)
    for business_id in wanted:
        # One business's failure is reported and the others still run; the exit code says so.
        try:
            run = system.run_retention(business_id, dry_run=dry_run, actor=_system_actor())
        except BookingError as exc:
            failed.append(f"{names.get(business_id, business_id)}: {exc}")
            continue
        for name, n in sorted(run.cleared.items()) or [("(nothing)", 0)]:
            table.add_row(names.get(business_id, str(business_id)), str(run.id), name, str(n))
    out.print(table if wanted else "no business has a retention policy: set one with `booking retention set`")
    if failed:
        if len(wanted) == 1:
            raise BookingError(failed[0].split(": ", 1)[1])
        fail(f"retention failed for {len(failed)} of {len(wanted)} businesses: " + "; ".join(failed), EXIT_USER_ERROR)


def _system_actor() -> Any:
    from booking_core.domain.values import Actor

    return Actor.system("retention")


@friendly
def retention_show() -> None:
    """Each business's retention windows and its last run."""
    from booking_core.services import personal

    db = migrated_database()
    last = {}
    for r in reversed(personal.runs(db, limit=1000)):
        last[r.business_id] = r
    table = Table("business", "inactive customers (months)", "payloads (days)", "ip/user agent (days)", "last run")
    names = _names(db)
    for p in personal.policies(db):
        latest = last.get(p.business_id)
        ran = (
            "never" if latest is None else f"{latest.started_at:%Y-%m-%d %H:%M %Z}{' (dry)' if latest.dry_run else ''}"
        )
        table.add_row(
            names.get(p.business_id, str(p.business_id)), _window(p.erase_inactive_after_months),
            _window(p.purge_payloads_after_days),
            _window(p.drop_client_after_days), ran,
        )  # fmt: skip
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add `booking customers` and `booking retention`."""
    customers_app.command("erase")(erase)
    customers_app.command("export-data")(export_data)
    customers_app.command("erasures")(erasures)
    customers_app.command("reapply")(reapply)
    retention_app.command("set")(retention_set)
    retention_app.command("run")(retention_run)
    retention_app.command("show")(retention_show)
    app.add_typer(customers_app, name="customers")
    app.add_typer(retention_app, name="retention")
