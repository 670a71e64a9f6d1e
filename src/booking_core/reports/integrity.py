"""The integrity rules, all of them in the order they run, and how one becomes a query (GE's or plain SQL).

The rules live by subject in rules_seats, rules_notifications, rules_money, rules_records and
rules_data; what a rule is and how its SQL is written, in reports.rule.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from psycopg import sql

from booking_core.reports import rules_data, rules_money, rules_notifications, rules_records, rules_seats
from booking_core.reports.rule import Check, Severity

SAMPLE_SIZE = 10

# Settings for a checking session (GE's and the plain reference's alike): the rules hash
# whole tables (a million bookings, millions of audit rows); 4MB would spill them to disk.
SESSION_OPTIONS = "-c work_mem=64MB"

CHECKS: list[Check] = [
    *rules_seats.CHECKS,
    *rules_notifications.CHECKS,
    *rules_money.CHECKS,
    *rules_records.CHECKS,
    *rules_data.CHECKS,
]

BY_NAME: dict[str, Check] = {c.name: c for c in CHECKS}
SUITES: list[str] = list(dict.fromkeys(c.suite for c in CHECKS))


def select_checks(only: list[str] | None) -> list[Check]:
    """The checks named (a check or a whole suite), in CHECKS order; all when `only` is empty.

    Raises KeyError naming the first unknown name.
    """
    if not only:
        return list(CHECKS)
    for name in only:
        if name not in BY_NAME and name not in SUITES:
            raise KeyError(name)
    wanted = set(only)
    return [c for c in CHECKS if c.name in wanted or c.suite in wanted]


def violations_query(check: Check, *, business_ids: Sequence[uuid.UUID] = (), limit: int = SAMPLE_SIZE) -> str:
    """One query for a rule: its violation count (on every row) and a sample of `limit` rows.

    `{batch}` is left in place for the caller. GE takes a query string, not parameters, so the
    business scope and the limit go in as literals quoted by psycopg (ids parsed as UUIDs first).
    """
    scope: sql.Composable = sql.SQL("")
    if business_ids:
        listed = sql.SQL(", ").join(sql.Literal(str(uuid.UUID(str(b)))) for b in business_ids)
        scope = sql.SQL("WHERE v.business_id IN ({listed})").format(listed=listed)
    # MATERIALIZED: the rule is planned to return all its rows (hash joins, seq scans), not
    # as if the LIMIT made a fast start worth it: the window count reads every row anyway.
    query = sql.SQL(
        "WITH v AS MATERIALIZED ({rule})\nSELECT count(*) OVER () AS violation_count, v.* FROM v {scope} LIMIT {limit}"
    ).format(rule=sql.SQL(check.sql), scope=scope, limit=sql.Literal(int(limit)))
    return query.as_string(None)


def plain_query(check: Check, *, business_ids: Sequence[uuid.UUID] = (), limit: int = SAMPLE_SIZE) -> str:
    """The rule as plain SQL on its table (the reference the benchmark compares GE against)."""
    on_table = sql.SQL(violations_query(check, business_ids=business_ids, limit=limit)).format(
        batch=sql.Identifier(check.table)
    )
    return on_table.as_string(None)


__all__ = [
    "BY_NAME",
    "CHECKS",
    "SAMPLE_SIZE",
    "SESSION_OPTIONS",
    "SUITES",
    "Check",
    "Severity",
    "plain_query",
    "select_checks",
    "violations_query",
]
