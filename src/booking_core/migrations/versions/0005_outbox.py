"""The notification outbox (written by triggers in the booking's transaction), its delivery log, circuit state.

Revision ID: 0005_outbox
Revises: 0002_integrity_and_refusals
"""

from pathlib import Path

from alembic import op

revision = "0005_outbox"
# Re-chained onto the newest core revision at merge; nothing here depends on 0003/0004.
down_revision = "0002_integrity_and_refusals"


def upgrade() -> None:
    op.execute((Path(__file__).with_suffix(".sql")).read_text())


def downgrade() -> None:
    raise NotImplementedError("booking data is never dropped: restore from a backup instead")
