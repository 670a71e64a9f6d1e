"""Triggers named so that they fire in their designed order (docs/invariants.md, "Trigger order").

Revision ID: 0002_trigger_order
Revises: 0001_baseline

PostgreSQL fires the triggers of one table, timing and event in name order. A database
built before the baseline carries the unnumbered names; they are dropped here and the
numbered ones come from the area files (booking_core.sql), applied after the migrations in
the same transaction. On a database built from the baseline there is nothing to drop.
"""

from pathlib import Path

from alembic import op

from booking_core.sql import run_script

revision = "0002_trigger_order"
down_revision = "0001_baseline"


def upgrade() -> None:
    run_script(op.get_bind(), Path(__file__).with_suffix(".sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    raise NotImplementedError("booking data is never dropped: restore from a backup instead")
