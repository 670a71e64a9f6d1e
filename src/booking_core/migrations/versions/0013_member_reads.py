"""What a logged-in person reads: the schema of member views that shadow the personal tables.

Revision ID: 0013_member_reads
Revises: 0012_token_hashes

The dashboard reads as booking_reader with `search_path = booking_members, public`: its queries
name `customers` and `booking_audit_log` as the library's do, and get the views of
booking_core/sql/access.sql, masked by the person's role in each business (docs/access.md).
"""

from booking_core.sql import sql_file_migration

revision = "0013_member_reads"
down_revision = "0012_token_hashes"

upgrade, downgrade = sql_file_migration(__file__)
