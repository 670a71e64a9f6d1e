"""The personal-data lifecycle as an admin reads it: retention policies and runs, the erasure log, subject
access requests (docs/personal-data.md).

Run as booking_reader with the person set (the dashboard's reads): the tables' names are then the member
views of sql/access.sql, which give an admin every business's rows with the business's name, and join no
customer's name, e-mail address or phone number.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Connection, text

from booking_core.reports.common import frame

LIMIT = 200  # the newest rows of each log

_POLICIES = text(
    "SELECT business, erase_inactive_after_months, purge_payloads_after_days, drop_client_after_days, updated_at,"
    " updated_by FROM retention_policies ORDER BY business, business_id"
)
_RUNS = text(
    "SELECT business, started_at, dry_run, run_by, cleared FROM retention_runs"
    " ORDER BY started_at DESC, id LIMIT :limit"
)
_ERASURES = text(
    "SELECT business, customer_id::text AS customer_id, erased_at, erased_by, channel::text AS channel, cause,"
    " forced, cleared FROM customer_erasures ORDER BY erased_at DESC, id LIMIT :limit"
)
_REQUESTS = text(
    "SELECT business, customer_id::text AS customer_id, requested_at, answered_by, channel::text AS channel"
    " FROM subject_access_requests ORDER BY requested_at DESC, id LIMIT :limit"
)

KEPT = "kept"
# What an erasure or a run cleared, per table (customer_erase() and retention_apply() name them).
CLEARED = {
    "customers": "customers erased",
    "booking_audit_log": "audit rows",
    "booking_audit_log_client": "audit rows' ip addresses",
    "booking_state_transitions": "status changes",
    "payments": "payment failure reasons",
    "refunds": "refund reasons",
    "notification_outbox": "notifications",
    "notification_deliveries": "delivery errors",
}
NOTHING = "nothing"
CAUSES = {"request": "customer's request", "retention": "retention policy", "reapplied": "re-applied after a restore"}


def policies(conn: Connection) -> pd.DataFrame:
    return frame(conn, _POLICIES)


def runs(conn: Connection, limit: int = LIMIT) -> pd.DataFrame:
    return frame(conn, _RUNS, {"limit": limit})


def erasures(conn: Connection, limit: int = LIMIT) -> pd.DataFrame:
    return frame(conn, _ERASURES, {"limit": limit})


def requests(conn: Connection, limit: int = LIMIT) -> pd.DataFrame:
    return frame(conn, _REQUESTS, {"limit": limit})


def cleared_text(counts: dict[str, Any]) -> str:
    """Rows cleared per table, as a person reads them: 'customers erased: 1, audit rows: 3' (no zeros)."""
    known = [k for k in CLEARED if k in counts]
    keys = known + sorted(k for k in counts if k not in CLEARED)
    parts = [f"{CLEARED.get(k, k.replace('_', ' '))}: {int(counts[k])}" for k in keys if int(counts[k])]
    return ", ".join(parts) or NOTHING
