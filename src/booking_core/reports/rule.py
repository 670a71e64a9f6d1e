"""One integrity rule (Check) and how its SQL is written: every rules_* module builds its checks with these.

Each rule is a SELECT of the rows that break it, with `business_id` first and the ids an
operator needs to find the row (booking_id, slot_id, payment_id, ...). Its primary table is
written `{batch}`: Great Expectations substitutes the batch it validates there (checks/), the
plain-SQL reference substitutes the table name (bench/). Every rule joins another table,
because GE renders `{batch}` as a bare parenthesised subquery only for queries with a JOIN,
so `{batch} alias` is valid SQL in both worlds. No rule may contain other braces.

GE takes a query string, not parameters: a constant a rule needs goes in as a literal quoted
by psycopg (`sql.Literal`), a shared piece as a `psycopg.sql` fragment, never by formatting text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from psycopg import sql

Severity = Literal["error", "info"]

# Where GE puts its batch and the plain reference its table (a fragment keeps it for the rule).
BATCH = sql.SQL("{batch}")


@dataclass(frozen=True, slots=True)
class Check:
    """One integrity rule: its name, suite, what it means for ops, and the SQL of its violations."""

    name: str
    suite: str
    table: str
    description: str
    sql: str
    severity: Severity = "error"


def rule(template: str, **parts: sql.Composable) -> str:
    """A rule's SQL from its text and named fragments; `{batch}` stays for GE or the plain reference."""
    return sql.SQL(template).format(batch=BATCH, **parts).as_string(None)
