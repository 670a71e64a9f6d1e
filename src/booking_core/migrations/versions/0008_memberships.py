"""Memberships: a person, a role, a business; every grant and revoke recorded.

Revision ID: 0008_memberships
Revises: 0007_tamper_log

The map from a logged-in person to the businesses they may see and in which role (manager,
ops, analyst; admin across businesses), managed with `booking users grant|revoke|list`
(booking_core/services/access.py, docs/access.md). Its trigger is in booking_core/sql/access.sql.
"""

from booking_core.sql import sql_file_migration

revision = "0008_memberships"
down_revision = "0007_tamper_log"

upgrade, downgrade = sql_file_migration(__file__)
