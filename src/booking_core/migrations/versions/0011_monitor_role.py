"""The monitoring role: every business's counts and ids, no personal data.

Revision ID: 0011_monitor_role
Revises: 0010_access_log

The exporter reads as booking_monitor (metrics/collector.py): what booking_readonly reads, less the
personal columns and bearer secrets (docs/access.md).
"""

from booking_core.sql import sql_file_migration

revision = "0011_monitor_role"
down_revision = "0010_access_log"

upgrade, downgrade = sql_file_migration(__file__)
