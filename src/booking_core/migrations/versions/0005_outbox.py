"""The notification outbox (written by triggers in the booking's transaction), its delivery log, circuit state.

Revision ID: 0005_outbox
Revises: 0004_beyond_single
"""

from pathlib import Path

from alembic import op

revision = "0005_outbox"
# Follows the issue-7 core: the waitlist offer event needs waitlist_entries.
down_revision = "0004_beyond_single"


def upgrade() -> None:
    op.execute((Path(__file__).with_suffix(".sql")).read_text())


def downgrade() -> None:
    raise NotImplementedError("booking data is never dropped: restore from a backup instead")
