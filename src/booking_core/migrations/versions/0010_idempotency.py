"""Idempotency that survives anything: every keyed write looks its key up first, a fingerprint refuses reuse.

Revision ID: 0010_idempotency
Revises: 0009_lock_order
"""

from pathlib import Path

from alembic import op

revision = "0010_idempotency"
down_revision = "0009_lock_order"


def upgrade() -> None:
    op.execute((Path(__file__).with_suffix(".sql")).read_text())


def downgrade() -> None:
    raise NotImplementedError("booking data is never dropped: restore from a backup instead")
