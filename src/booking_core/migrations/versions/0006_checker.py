"""The continuous checker's tables: open violations, pass state and watermarks, the verified chain head.

Revision ID: 0006_checker
Revises: 0005_refund_obligations

`booking checker` (checks/checker.py, docs/checker.md) keeps what it found in the database, so
a restart resumes where it stopped and the exporter and the dashboard read it. The functions it
calls are in booking_core/sql/checker.sql. An index on booking_audit_log (id) lets a pass read
the audit rows written since its watermark without scanning the table.
"""

from pathlib import Path

from alembic import op

from booking_core.sql import run_script

revision = "0006_checker"
down_revision = "0005_refund_obligations"


def upgrade() -> None:
    run_script(op.get_bind(), Path(__file__).with_suffix(".sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    raise NotImplementedError("booking data is never dropped: restore from a backup instead")
