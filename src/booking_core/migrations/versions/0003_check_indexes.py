"""Covering indexes for the integrity checks (audit entries by booking and action; last transition).

Revision ID: 0003_check_indexes
Revises: 0002_integrity_and_refusals
"""

from pathlib import Path

from alembic import op

revision = "0003_check_indexes"
down_revision = "0002_integrity_and_refusals"


def upgrade() -> None:
    op.execute((Path(__file__).with_suffix(".sql")).read_text())


def downgrade() -> None:
    raise NotImplementedError("booking data is never dropped: restore from a backup instead")
