"""The booking schema: types, tables, constraints, indexes, seed rows of the edge tables, roles, grants.

Revision ID: 0001_baseline
Revises:

Migrations change the schema (DDL, data); the current definition of every function, trigger
and view is in booking_core/sql/<area>.sql (see booking_core.sql), applied after the
migrations. This baseline applies one area itself: the change context, before the tables
(a column default calls outbox_uuid7()).

It replaced the revisions 0001_core .. 0010_idempotency: a database at 0010_idempotency is
stamped with this revision by Database.upgrade() and continues from here.
"""

from pathlib import Path

from alembic import op

from booking_core.sql import apply_definitions, run_script

revision = "0001_baseline"
down_revision = None


def _run(part: str) -> None:
    run_script(op.get_bind(), Path(__file__).with_name(f"{revision}_{part}.sql").read_text(encoding="utf-8"))


def upgrade() -> None:
    _run("types")
    apply_definitions(op.get_bind(), ["context"])
    _run("tables")
    _run("grants")


def downgrade() -> None:
    raise NotImplementedError("booking data is never dropped: restore from a backup instead")
