"""A note of every edit or deletion of the audit trail, so the chain pass need not read it whole.

Revision ID: 0007_tamper_log
Revises: 0006_checker

The chain pass (checks/chain.py) used to find an edited or deleted audit row or link by reading
both audit tables whole whenever PostgreSQL's update and delete counts moved: 11.5 s at
1,000,000 bookings, about two minutes at 10,000,000. A trigger of its own now notes each such
change (audit_tamper_log); when the counts moved by no more than the notes added, the pass
judges the links noted. The note-taking trigger is in booking_core/sql/checker.sql.
"""

from booking_core.sql import sql_file_migration

revision = "0007_tamper_log"
down_revision = "0006_checker"

upgrade, downgrade = sql_file_migration(__file__)
