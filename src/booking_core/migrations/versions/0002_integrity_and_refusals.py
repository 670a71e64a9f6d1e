"""Stored integrity check runs and results; refused booking attempts.

Revision ID: 0002_integrity_and_refusals
Revises: 0001_core
"""

from pathlib import Path

from alembic import op

revision = "0002_integrity_and_refusals"
down_revision = "0001_core"


def upgrade() -> None:
    op.execute((Path(__file__).with_suffix(".sql")).read_text())


def downgrade() -> None:
    raise NotImplementedError("booking data is never dropped: restore from a backup instead")
