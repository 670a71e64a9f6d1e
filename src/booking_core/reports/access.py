"""What a person reading the dashboard may see of access itself: their roles; for an admin, every
membership, every change to one, and who looked at what (docs/access.md).

Run as booking_reader with the person set (the dashboard's reads): `memberships`,
`membership_changes` and `access_log` are then the member views of migration 0013, which give an
admin everything and anyone else their own memberships and changes only.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, text

from booking_core.reports.common import frame

_MY_ROLES = text("SELECT DISTINCT role::text FROM memberships WHERE person = booking_person() ORDER BY 1")
_MEMBERSHIPS = text(
    "SELECT person, role::text AS role, coalesce(business, 'every business') AS business, granted_by, granted_at"
    " FROM memberships ORDER BY person, role, business"
)
_CHANGES = text(
    "SELECT changed_at AS at, change, person, role::text AS role, coalesce(business, 'every business') AS business,"
    " changed_by, channel::text AS channel, reason"
    " FROM membership_changes ORDER BY changed_at DESC, id DESC LIMIT :limit"
)
_LOOKS = text(
    "SELECT at, person, what, filter::text AS filter, row_count AS rows FROM access_log"
    " ORDER BY at DESC, id DESC LIMIT :limit"
)


def my_roles(conn: Connection) -> list[str]:
    """Every role the transaction's person holds, in any business."""
    return [str(r[0]) for r in conn.execute(_MY_ROLES)]


def memberships(conn: Connection) -> pd.DataFrame:
    return frame(conn, _MEMBERSHIPS)


def membership_changes(conn: Connection, limit: int = 200) -> pd.DataFrame:
    return frame(conn, _CHANGES, {"limit": limit})


def looks(conn: Connection, limit: int = 200) -> pd.DataFrame:
    """Who looked at what: exports and views of personal data, newest first."""
    return frame(conn, _LOOKS, {"limit": limit})
