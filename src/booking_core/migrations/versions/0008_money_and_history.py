"""Money that adds up (paid, refunded, cancellation fee, refund due), history with no gaps, derived slot state held.

Revision ID: 0008_money_and_history
Revises: 0007_booking_create_multi
"""

from pathlib import Path

from alembic import op

revision = "0008_money_and_history"
down_revision = "0007_booking_create_multi"


def upgrade() -> None:
    op.execute((Path(__file__).with_suffix(".sql")).read_text())


def downgrade() -> None:
    raise NotImplementedError("booking data is never dropped: restore from a backup instead")
