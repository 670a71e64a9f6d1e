"""Slot references point at slot_keys, so foreign-key checks never contend with the seat counter.

Revision ID: 0006_slot_keys
Revises: 0005_outbox
"""

from pathlib import Path

from alembic import op

revision = "0006_slot_keys"
down_revision = "0005_outbox"


def upgrade() -> None:
    op.execute((Path(__file__).with_suffix(".sql")).read_text())


def downgrade() -> None:
    raise NotImplementedError("booking data is never dropped: restore from a backup instead")
