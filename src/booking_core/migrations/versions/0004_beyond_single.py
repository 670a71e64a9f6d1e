"""Beyond single bookings: price lock, multi-resource bookings, waitlists, recurring series.

Revision ID: 0004_beyond_single
Revises: 0003_check_indexes
"""

from pathlib import Path

from alembic import op

revision = "0004_beyond_single"
down_revision = "0003_check_indexes"


def upgrade() -> None:
    op.execute((Path(__file__).with_suffix(".sql")).read_text())


def downgrade() -> None:
    raise NotImplementedError("booking data is never dropped: restore from a backup instead")
