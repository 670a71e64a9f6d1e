"""A multi-resource booking in one statement: booking_create_multi().

Revision ID: 0007_booking_create_multi
Revises: 0006_slot_keys
"""

from pathlib import Path

from alembic import op

revision = "0007_booking_create_multi"
down_revision = "0006_slot_keys"


def upgrade() -> None:
    op.execute((Path(__file__).with_suffix(".sql")).read_text())


def downgrade() -> None:
    raise NotImplementedError("booking data is never dropped: restore from a backup instead")
