"""Cancellation tokens stored as hashes: bookings.cancellation_token_hash replaces the token.

Revision ID: 0012_token_hashes
Revises: 0011_monitor_role

Existing tokens are hashed in place; booking_insert(), booking_create() and
booking_create_multi() return the token a new booking is given beside its row (a changed
result: they are dropped here, booking_core/sql/bookings.sql creates them after the
migrations). The column default calls booking_token_hash(), so the change context area
(booking_core/sql/context.sql), which defines it, is applied first.
"""

from pathlib import Path

from alembic import op

from booking_core.sql import apply_definitions, run_script

revision = "0012_token_hashes"
down_revision = "0011_monitor_role"


def upgrade() -> None:
    apply_definitions(op.get_bind(), ["context"])
    run_script(op.get_bind(), Path(__file__).with_suffix(".sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    raise NotImplementedError("booking data is never dropped: restore from a backup instead")
