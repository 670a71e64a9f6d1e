"""The continuous checker's tables: open violations, pass state and watermarks, the verified chain head.

Revision ID: 0006_checker
Revises: 0005_refund_obligations

`booking checker` (checks/checker.py, docs/checker.md) keeps what it found in the database, so
a restart resumes where it stopped and the exporter and the dashboard read it. The functions it
calls are in booking_core/sql/checker.sql. An index on booking_audit_log (id) lets a pass read
the audit rows written since its watermark without scanning the table.
"""

from booking_core.sql import sql_file_migration

revision = "0006_checker"
down_revision = "0005_refund_obligations"

upgrade, downgrade = sql_file_migration(__file__)
