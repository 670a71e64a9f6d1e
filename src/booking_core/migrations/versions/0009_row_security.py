"""Row-level security: a person reads only the businesses they are a member of.

Revision ID: 0009_row_security
Revises: 0008_memberships

The reader role (booking_reader: no BYPASSRLS, owns nothing) reads a business's rows only when
the transaction's person holds a membership of it; personal data and bearer secrets are left out
of its columns and read through the masking views of booking_core/sql/access.sql (docs/access.md).
"""

from booking_core.sql import sql_file_migration

revision = "0009_row_security"
down_revision = "0008_memberships"

upgrade, downgrade = sql_file_migration(__file__)
