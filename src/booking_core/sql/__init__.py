"""The current definition of every database function, trigger and view: one file per area.

Migrations change the schema (DDL, data); the current definition of every function, trigger
and view is in ``booking_core/sql/<area>.sql``, written replaceably (``CREATE OR REPLACE``).
``Database.upgrade()`` runs the migrations, then ``apply_definitions()`` in the same
transaction: every area whose text changed since it was last applied runs again, in
``AREAS`` order (``schema_definitions`` keeps each area's SHA-256). After the migrations, so
an area may use any table or column they build. A migration that needs a definition
mid-way (a data change that calls it) applies that area itself first:
``apply_definitions(op.get_bind(), ["<area>"])``; the baseline does so for ``context``,
which column defaults call and which therefore reads no table. Every other area declares its
triggers with ``context``'s ``define_trigger()``, so such a migration lists ``context`` first.

What ``CREATE OR REPLACE`` cannot do, a migration does first: drop a function whose
arguments or result change, a view that loses columns, a trigger that is renamed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import Connection, text

# Dependency order: what a SQL-language function or a view reads must come before it.
AREAS = (
    "context",
    "append_only",
    "audit",
    "freeze",
    "schedules",
    "capacity",
    "pricing",
    "bookings",
    "payments",
    "waitlist",
    "outbox",
    "idempotency",
    "personal",
    "checker",
    "access",
)
SQL_DIR = Path(__file__).resolve().parent

_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_definitions (
  area       text PRIMARY KEY,
  sha256     text NOT NULL,
  applied_at timestamptz NOT NULL
)"""
_RECORD = """
INSERT INTO schema_definitions (area, sha256, applied_at) VALUES (:area, :sha256, clock_timestamp())
ON CONFLICT (area) DO UPDATE SET sha256 = EXCLUDED.sha256, applied_at = EXCLUDED.applied_at"""


def area_sql(area: str) -> str:
    """The text of one area file."""
    return (SQL_DIR / f"{area}.sql").read_text(encoding="utf-8")


def run_script(conn: Connection, sql: str) -> None:
    """Run a file of SQL statements on this connection, in its transaction, as written."""
    # psycopg's own execute with no parameters: ':' and '%' stay literal (SQLAlchemy would bind them).
    conn.connection.driver_connection.execute(sql)  # type: ignore[union-attr]


def sql_file_migration(module_file: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """A migration that runs the .sql file beside its module: (upgrade, downgrade) for Alembic.

    `upgrade, downgrade = sql_file_migration(__file__)` in versions/NNNN_name.py runs
    versions/NNNN_name.sql on the migration's connection; there is no way down.
    """

    def upgrade() -> None:
        from alembic import op

        run_script(op.get_bind(), Path(module_file).with_suffix(".sql").read_text(encoding="utf-8"))

    def downgrade() -> None:
        raise NotImplementedError("booking data is never dropped: restore from a backup instead")

    return upgrade, downgrade


def ensure_ledger(conn: Connection) -> None:
    """Create schema_definitions, the record of what each area's text was when last applied."""
    conn.execute(text(_LEDGER))


def stale_areas(conn: Connection) -> list[str]:
    """The areas whose text differs from what was last applied to this database."""
    if conn.execute(text("SELECT to_regclass('schema_definitions')")).scalar() is None:
        return list(AREAS)
    applied = {area: digest for area, digest in conn.execute(text("SELECT area, sha256 FROM schema_definitions"))}
    return [area for area in AREAS if applied.get(area) != _digest(area_sql(area))]


def apply_definitions(conn: Connection, areas: Sequence[str] = AREAS) -> list[str]:
    """Apply the areas whose text changed since they were last applied; return their names."""
    ensure_ledger(conn)
    stale = set(stale_areas(conn))
    changed = [area for area in areas if area in stale]
    for area in changed:
        sql = area_sql(area)
        run_script(conn, sql)
        conn.execute(text(_RECORD), {"area": area, "sha256": _digest(sql)})
    return changed


def _digest(sql: str) -> str:
    return hashlib.sha256(sql.encode()).hexdigest()
