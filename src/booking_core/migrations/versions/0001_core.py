"""The booking core: tenants, versioned schedules, slots, bookings, payments, audit.

Revision ID: 0001_core
Revises:
"""

from pathlib import Path

from alembic import op

revision = "0001_core"
down_revision = None


def upgrade() -> None:
    op.execute((Path(__file__).with_suffix(".sql")).read_text())


def downgrade() -> None:
    raise NotImplementedError("booking data is never dropped: restore from a backup instead")
