"""One lock order for every path that touches bookings, slots and waitlist entries.

Revision ID: 0009_lock_order
Revises: 0008_money_and_history
"""

from pathlib import Path

from alembic import op

revision = "0009_lock_order"
down_revision = "0008_money_and_history"


def upgrade() -> None:
    op.execute((Path(__file__).with_suffix(".sql")).read_text())


def downgrade() -> None:
    raise NotImplementedError("booking data is never dropped: restore from a backup instead")
