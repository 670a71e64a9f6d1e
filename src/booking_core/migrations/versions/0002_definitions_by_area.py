"""Function, trigger and view definitions by area: their ledger, and triggers named by firing order.

Revision ID: 0002_definitions_by_area
Revises: 0001_baseline

For a database built before the baseline. Its functions and views are the area files' (same
text); two things differ. schema_definitions, the record of which area text was applied,
does not exist yet: created here, so that the area files apply after the migrations (all
of them, the first time). Its triggers carry the names they had before they were numbered
by firing order (docs/invariants.md, "Trigger order"): dropped here, the numbered ones come
from the area files. On a database built from the baseline there is nothing to do.
"""

from pathlib import Path

from alembic import op

from booking_core.sql import ensure_ledger, run_script

revision = "0002_definitions_by_area"
down_revision = "0001_baseline"


def upgrade() -> None:
    ensure_ledger(op.get_bind())
    run_script(op.get_bind(), Path(__file__).with_suffix(".sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    raise NotImplementedError("booking data is never dropped: restore from a backup instead")
