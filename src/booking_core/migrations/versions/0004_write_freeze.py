"""A write freeze per business: when, by whom and why ops stopped its writes (sql/freeze.sql enforces it).

Revision ID: 0004_write_freeze
Revises: 0003_booking_insert_arguments

The library's role may read the columns, not write them: freezing is an ops action
(`booking freeze`), run with the owner's connection.
"""

from alembic import op

revision = "0004_write_freeze"
down_revision = "0003_booking_insert_arguments"


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE businesses
          ADD COLUMN frozen_at timestamptz,
          ADD COLUMN frozen_by text,
          ADD COLUMN frozen_reason text,
          ADD CONSTRAINT businesses_freeze_complete CHECK (
            (frozen_at IS NULL AND frozen_by IS NULL AND frozen_reason IS NULL)
            OR (frozen_at IS NOT NULL AND frozen_by IS NOT NULL AND length(btrim(frozen_reason)) > 0))
        """
    )


def downgrade() -> None:
    raise NotImplementedError("booking data is never dropped: restore from a backup instead")
