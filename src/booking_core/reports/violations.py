"""The checker's findings as their readers see them: open violations by check and business, pass state, chain heads.

`booking checker` (checks/) keeps integrity_violations, checker_state and audit_chain_verified;
the exporter's metrics and the dashboard's Integrity page read them here, as booking_readonly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, text

from booking_core.reports.common import frame

# How many offending ids an alert carries (the rest is counted).
IDS_SHOWN = 10

OPEN_BY_CHECK = text("""
SELECT v.check_name, v.suite, biz.name AS business, count(*)::bigint AS open,
       string_agg(v.subject_kind || ' ' || v.subject_id, ', ' ORDER BY v.n) FILTER (WHERE v.n <= :ids_shown)
         AS first_ids
  FROM (SELECT check_name, suite, business_id, subject_kind, subject_id,
               row_number() OVER (PARTITION BY check_name, business_id
                                  ORDER BY first_seen, subject_kind, subject_id) AS n
          FROM integrity_violations) v
  JOIN businesses biz ON biz.id = v.business_id
 GROUP BY v.check_name, v.suite, biz.name
 ORDER BY v.check_name, biz.name""")

PASSES = text("SELECT mode, last_pass_at, errors FROM checker_state ORDER BY mode")

UNVERIFIED = text("""
SELECT biz.name AS business, sum(v.unverified_rows)::bigint AS unverified_rows
  FROM audit_chain_verified v JOIN businesses biz ON biz.id = v.business_id
 GROUP BY biz.name ORDER BY biz.name""")

OPEN_VIOLATIONS = text("""
SELECT v.check_name AS check, v.suite, biz.name AS business, v.subject_kind AS kind, v.subject_id AS id,
       v.first_seen, v.last_seen, v.detail
  FROM integrity_violations v JOIN businesses biz ON biz.id = v.business_id
 WHERE (CAST(:check AS text) IS NULL OR v.check_name = :check)
   AND (CAST(:business AS uuid) IS NULL OR v.business_id = :business)
 ORDER BY v.check_name, biz.name, v.first_seen, v.subject_kind, v.subject_id
 LIMIT :limit""")


@dataclass(frozen=True, slots=True)
class OpenByCheck:
    """The violations open for one check in one business, and the first IDS_SHOWN subjects ("slot <id>")."""

    check_name: str
    suite: str
    business: str
    open: int
    first_ids: str

    @property
    def ids(self) -> str:
        more = self.open - IDS_SHOWN
        return self.first_ids + (f" (+{more} more)" if more > 0 else "")


@dataclass(frozen=True, slots=True)
class PassState:
    """When the checker last finished a pass of this kind, and how many of its passes failed."""

    mode: str
    last_pass_at: datetime | None
    errors: int


@dataclass(frozen=True, slots=True)
class Unverified:
    """Audit rows of a business after its last verified chain link."""

    business: str
    unverified_rows: int


def open_by_check(conn: Connection) -> list[OpenByCheck]:
    return [OpenByCheck(**r._mapping) for r in conn.execute(OPEN_BY_CHECK, {"ids_shown": IDS_SHOWN})]


def passes(conn: Connection) -> list[PassState]:
    return [PassState(**r._mapping) for r in conn.execute(PASSES)]


def unverified(conn: Connection) -> list[Unverified]:
    return [Unverified(**r._mapping) for r in conn.execute(UNVERIFIED)]


def open_violations(
    conn: Connection, check: str | None = None, business_id: uuid.UUID | None = None, *, limit: int = 500
) -> pd.DataFrame:
    """The open violations, oldest first, of one check and/or one business (all when None)."""
    return frame(conn, OPEN_VIOLATIONS, {"check": check, "business": business_id, "limit": limit})
