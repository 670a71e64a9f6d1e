"""Refund obligations: a cancelled booking that is owed money back records by when it must be refunded.

Revision ID: 0005_refund_obligations
Revises: 0004_write_freeze

A cancellation that leaves money owed (payments less refunds less the fee the policy keeps)
writes one row, in the cancellation's own statement (payments.sql, `bookings_40_refund_due`):
the amount owed then and the time it is due, the cancellation plus the business's
`refund_within_hours` (default 7 days). The integrity check then counts a refund as unmet only
once it is overdue, not while it is simply not yet due. Cancelled bookings owed money before
this revision get their row here, due from their last change.
"""

from alembic import op

revision = "0005_refund_obligations"
down_revision = "0004_write_freeze"


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE businesses ADD COLUMN refund_within_hours integer NOT NULL DEFAULT 168
          CHECK (refund_within_hours BETWEEN 1 AND 8760);
        COMMENT ON COLUMN businesses.refund_within_hours IS
          'How long after a cancellation the money owed back must be refunded before it counts as overdue';

        CREATE TABLE refund_obligations (
          business_id uuid NOT NULL,
          booking_id  uuid NOT NULL,
          amount      numeric(12, 2) NOT NULL CHECK (amount > 0),
          currency    char(3) NOT NULL,
          recorded_at timestamptz NOT NULL,
          due_by      timestamptz NOT NULL,
          PRIMARY KEY (business_id, booking_id),
          FOREIGN KEY (business_id, booking_id) REFERENCES bookings (business_id, id),
          CONSTRAINT refund_obligations_due_after_recorded CHECK (due_by > recorded_at)
        );
        COMMENT ON TABLE refund_obligations IS
          'Append-only: what a cancellation left owed back, and by when (the integrity check reads due_by)';

        INSERT INTO refund_obligations (business_id, booking_id, amount, currency, recorded_at, due_by)
        SELECT b.business_id, b.id, b.refund_due, b.currency, b.updated_at,
               b.updated_at + make_interval(hours => z.refund_within_hours)
          FROM bookings b JOIN businesses z ON z.id = b.business_id
         WHERE b.status IN ('cancelled', 'refunded') AND b.refund_due > 0;

        GRANT SELECT ON refund_obligations TO booking_app, booking_readonly;
        GRANT INSERT ON refund_obligations TO booking_app;
        """
    )


def downgrade() -> None:
    raise NotImplementedError("booking data is never dropped: restore from a backup instead")
