"""Who looked: exports made as a person and views of personal data, recorded.

Revision ID: 0010_access_log
Revises: 0009_row_security

`booking export --as EMAIL` reads as that person (booking_reader, row security) and records the
export here: who, what, the filter, how many rows, when (booking_core/services/access.py).
"""

from booking_core.sql import sql_file_migration

revision = "0010_access_log"
down_revision = "0009_row_security"

upgrade, downgrade = sql_file_migration(__file__)
