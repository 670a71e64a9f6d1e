"""The one engine every reader uses (dashboard, exporter, checks, metrics): role booking_readonly, read-only.

Each reader passes what differs (its name in pg_stat_activity, pool size, timeouts); what makes a
reader unable to change a booking is the same for all of them and lives here.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql
from sqlalchemy import Connection, Engine, create_engine, event, text

from booking_core.config import sqlalchemy_url

READONLY_ROLE = "booking_readonly"
#: A person's reader (docs/access.md): row security shows it only their businesses.
READER_ROLE = "booking_reader"
#: The exporter's role: every business's counts and ids, no personal data (docs/access.md).
MONITOR_ROLE = "booking_monitor"
#: A person's reader resolves `customers`, `booking_audit_log`, ... to the member views of that
#: schema (masked by the person's role), every other table to itself (migration 0013).
MEMBER_SEARCH_PATH = "SET search_path = booking_members, public"

# Reports are short aggregations: JIT compiling costs more than it saves, and sorts of a few
# hundred thousand rows should stay in memory.
_SESSION = (
    "SET default_transaction_read_only = on",
    "SET jit = off",
    "SET work_mem = '64MB'",
)
_MAY_ASSUME_ROLE = (
    "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %(role)s)"
    " THEN pg_has_role(current_user, %(role)s, 'MEMBER') ELSE false END"
)


def readonly_engine(
    url: str,
    *,
    application_name: str = "booking_dashboard",
    pool_size: int = 3,
    max_overflow: int = 2,
    connect_timeout: int = 5,
    statement_timeout_ms: int | None = None,
    role_required: bool = True,
    autocommit: bool = False,
    person: str | None = None,
    role: str = READONLY_ROLE,
) -> Engine:
    """An engine whose every connection is `SET ROLE booking_readonly` and read-only by default.

    `role_required=False` (the exporter): a login role outside booking_readonly keeps its own
    privileges instead of failing, so a scrape still answers; transactions stay read-only.
    With a `person` (an e-mail address), the role is booking_reader and the session's person is
    theirs: row security shows only the businesses they are a member of. `role`: another
    reading role than booking_readonly (the exporter's booking_monitor); booking_reader with no
    person (the dashboard, serving many people) reads nothing until a transaction sets its
    person with `as_person()`.
    """
    options = f"-c statement_timeout={int(statement_timeout_ms)}" if statement_timeout_ms else ""
    engine = create_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=10,
        pool_pre_ping=True,
        connect_args={"connect_timeout": connect_timeout, "application_name": application_name, "options": options},
    )

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_conn: Any, _record: Any) -> None:
        # Committed at once: SET inside the pool's first transaction would be undone by its rollback.
        with dbapi_conn.cursor() as cur:
            if person is not None or role == READER_ROLE:
                cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(READER_ROLE)))
                cur.execute(MEMBER_SEARCH_PATH)
                if person is not None:
                    cur.execute("SELECT set_config('booking.person', %s, false)", (person,))
            elif role_required or _may_assume_role(cur, role):
                cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
            for statement in _SESSION:
                cur.execute(statement)
        dbapi_conn.commit()

    return engine.execution_options(isolation_level="AUTOCOMMIT") if autocommit else engine


def _may_assume_role(cur: Any, role: str) -> bool:
    cur.execute(_MAY_ASSUME_ROLE, {"role": role})
    row = cur.fetchone()
    return bool(row and row[0])


def as_person(conn: Connection, person: str) -> None:
    """Make `person` the reader of this connection's transaction (booking_reader's row security).

    Transaction-local: the pooled connection forgets the person when the transaction ends, so
    the next checkout, someone else's, reads nothing until it says whose it is.
    """
    conn.execute(text("SELECT set_config('booking.person', :person, true)"), {"person": person})
