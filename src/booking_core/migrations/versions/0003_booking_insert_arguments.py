"""booking_insert() without the change context: booking_create() and booking_create_multi() set it.

Revision ID: 0003_booking_insert_arguments
Revises: 0002_definitions_by_area

CREATE OR REPLACE cannot change a function's arguments, so the old booking_insert() is
dropped here; the area file (booking_core/sql/bookings.sql) creates the new one after the
migrations. Nothing outside bookings.sql calls it.
"""

from alembic import op

revision = "0003_booking_insert_arguments"
down_revision = "0002_definitions_by_area"

_OLD = (
    "booking_insert(uuid, uuid, uuid, uuid, integer, text, actor_type, text, change_channel, text, timestamptz,"
    " text, uuid, integer, booking_status)"
)


def upgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_OLD}")


def downgrade() -> None:
    raise NotImplementedError("booking data is never dropped: restore from a backup instead")
