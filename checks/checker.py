"""The checker's rule passes: the incremental pass over what changed since the audit watermark, and the full sweep.

Both run the rules of booking_core.reports.integrity (their own SQL, not a second copy) and keep
the open violations in integrity_violations: one row per (check, business, subject). A pass runs
in one REPEATABLE READ transaction: what it read, the violations it adds and removes and the
watermark it moves commit together or not at all, so an outage mid-pass loses and duplicates
nothing (the next pass starts from the same watermark).

The incremental pass reads the audit rows written since the watermark (the audit trail is
written by triggers on every business table, so a raw-SQL write by the table owner is there too)
and turns them into touched slots, bookings and waitlist entries. Each rule then runs with its
`{batch}` replaced by its table restricted to the touched subjects, and the few tables the rules
aggregate by the same subject (payments, refunds, the audit log, transitions, slot_seat_holds)
are shadowed by temporary views restricted alike, so a rule reads the touched rows, not the
tables. Only the touched subjects' violations are replaced. The notification outbox is not
audited and goes stale by time alone: its rules run on the whole table in every incremental
pass (pending and dead rows only, through partial indexes). The full sweep runs every rule on
whole tables and replaces each check's set wholesale; it also finds what was written with the
triggers off (no audit row) and what time alone breaks (an overdue refund).

Audit ids are allocated before their transaction commits, so a pass may see id 12 while 11 is
still being written: ids below the new watermark that were not visible are kept as gaps
(checker_audit_gaps) and read again by the next passes until they appear or are older than
GAP_TTL (rolled back).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg import sql

from booking_core.reports.integrity import CHECKS, SESSION_OPTIONS
from booking_core.reports.rule import Check

Clock = Callable[[], datetime]
Scope = Literal["touched", "untouched", "all"]

APPLICATION_NAME = "booking_checker"

# The chain check's violations are kept by checks/chain.py (hash walks, not a rule query).
CHAIN_CHECK = "audit_chain_broken"
# Passes that write the same rows take the same lock: the rule passes one, the chain passes another.
RULES_LOCK = "booking_checker"
CHAIN_LOCK = "booking_checker_chain"
# How long an audit id missing below the watermark is waited for before it counts as rolled back.
GAP_TTL = timedelta(minutes=10)

# A rule's subject: the kind and the output column naming it, by the rule's table.
SUBJECTS: dict[str, tuple[str, str]] = {
    "time_slots": ("slot", "slot_id"),
    "bookings": ("booking", "booking_id"),
    "booking_state_transitions": ("booking", "booking_id"),
    "booking_resources": ("booking", "booking_id"),
    "waitlist_entries": ("waitlist_entry", "waitlist_entry_id"),
    "notification_outbox": ("notification", "notification_id"),
}

# Tables the audit trail does not cover, whose rules time alone can break (a notification
# waiting an hour): every incremental pass runs these rules on the whole table, as the sweep
# does. Cheap: they read only pending or dead rows, through the outbox's partial indexes.
_WHOLE_EVERY_PASS = ("notification_outbox",)

# The rule's table restricted to the touched subjects, and the column its subject is in.
_TOUCHED_BATCH: dict[str, tuple[str, str]] = {
    "time_slots": (
        "SELECT t.* FROM public.time_slots t WHERE (t.business_id, t.id) IN (SELECT * FROM chk_slots)",
        "id",
    ),
    "bookings": ("SELECT t.* FROM public.bookings t WHERE (t.business_id, t.id) IN (SELECT * FROM chk_bookings)", "id"),
    "booking_state_transitions": (
        "SELECT t.* FROM public.booking_state_transitions t"
        " WHERE (t.business_id, t.booking_id) IN (SELECT * FROM chk_bookings)",
        "booking_id",
    ),
    "booking_resources": (
        "SELECT t.* FROM public.booking_resources t"
        " WHERE (t.business_id, t.booking_id) IN (SELECT * FROM chk_bookings)",
        "booking_id",
    ),
    "waitlist_entries": (
        "SELECT t.* FROM public.waitlist_entries t WHERE (t.business_id, t.id) IN (SELECT * FROM chk_waitlist)"
        " OR (t.business_id, t.slot_id) IN (SELECT * FROM chk_slots)",
        "id",
    ),
}

# What the rules aggregate by the subject they judge, restricted to the touched subjects. A rule
# joins these only by that subject (booking, or slot for slot_seat_holds), so the restriction
# changes no touched subject's result; `= ANY (ARRAY(SELECT ...))` is a restriction the
# planner pushes into the view's GROUP BY and uses as an index condition (business first, as
# every index of these tables begins with it).
_SHADOWS = (
    "CREATE TEMP VIEW payments AS SELECT * FROM public.payments"
    " WHERE business_id = ANY (ARRAY(SELECT business_id FROM chk_bookings))"
    " AND booking_id = ANY (ARRAY(SELECT id FROM chk_bookings))",
    "CREATE TEMP VIEW refunds AS SELECT * FROM public.refunds"
    " WHERE business_id = ANY (ARRAY(SELECT business_id FROM chk_bookings))"
    " AND payment_id = ANY (ARRAY(SELECT id FROM payments))",
    "CREATE TEMP VIEW booking_audit_log AS SELECT * FROM public.booking_audit_log"
    " WHERE business_id = ANY (ARRAY(SELECT business_id FROM chk_bookings))"
    " AND booking_id = ANY (ARRAY(SELECT id FROM chk_bookings))",
    "CREATE TEMP VIEW booking_state_transitions AS SELECT * FROM public.booking_state_transitions"
    " WHERE business_id = ANY (ARRAY(SELECT business_id FROM chk_bookings))"
    " AND booking_id = ANY (ARRAY(SELECT id FROM chk_bookings))",
    "CREATE TEMP VIEW slot_seat_holds AS SELECT * FROM public.slot_seat_holds"
    " WHERE business_id = ANY (ARRAY(SELECT business_id FROM chk_slots))"
    " AND slot_id = ANY (ARRAY(SELECT id FROM chk_slots))",
)
_SHADOWED = ("slot_seat_holds", "booking_state_transitions", "booking_audit_log", "refunds", "payments")

# The subjects the audit rows since the watermark touched. A booking's audit row (and its
# payments' and refunds') names the booking; a booking or waitlist row names its slot before and
# after; a slot's own row names it; a slot touched brings its bookings (orphans, legacy flags).
_TOUCHED = (
    """CREATE TEMP TABLE chk_audit ON COMMIT DROP AS
       SELECT id, business_id, entity_type, entity_id, booking_id,
              old_values->>'slot_id' AS old_slot, new_values->>'slot_id' AS new_slot
         FROM public.booking_audit_log WHERE id > %(watermark)s OR id = ANY(%(gaps)s)""",
    """CREATE TEMP TABLE chk_slots ON COMMIT DROP AS
       SELECT business_id, entity_id AS id FROM chk_audit WHERE entity_type = 'slot'
       UNION SELECT business_id, old_slot::uuid FROM chk_audit WHERE old_slot IS NOT NULL
       UNION SELECT business_id, new_slot::uuid FROM chk_audit WHERE new_slot IS NOT NULL""",
    """CREATE TEMP TABLE chk_bookings ON COMMIT DROP AS
       SELECT business_id, booking_id AS id FROM chk_audit WHERE booking_id IS NOT NULL
       UNION SELECT b.business_id, b.id FROM public.bookings b
              WHERE (b.business_id, b.slot_id) IN (SELECT business_id, entity_id FROM chk_audit
                                                   WHERE entity_type = 'slot')""",
    """INSERT INTO chk_slots SELECT b.business_id, b.slot_id FROM public.bookings b
        WHERE (b.business_id, b.id) IN (SELECT * FROM chk_bookings)
       UNION SELECT r.business_id, r.slot_id FROM public.booking_resources r
        WHERE (r.business_id, r.booking_id) IN (SELECT * FROM chk_bookings)""",
    """CREATE TEMP TABLE chk_waitlist ON COMMIT DROP AS
       SELECT business_id, entity_id AS id FROM chk_audit WHERE entity_type = 'waitlist'""",
    "ANALYZE chk_slots",
    "ANALYZE chk_bookings",
)

# A rule's findings, one row per subject: (business_id, subject_id, detail).
_FOUND = """
SELECT DISTINCT ON (v.business_id, v.{subject}) v.business_id, v.{subject}::text AS subject_id, to_jsonb(v) AS detail
  FROM ({rule}) v WHERE v.{subject} IS NOT NULL ORDER BY v.business_id, v.{subject}
"""

# One check's pass: its findings, one per subject, added or refreshed; the subjects in scope that
# it no longer finds, removed. Counts (found, removed, added) come back.
_APPLY = """
WITH found AS MATERIALIZED ({found}),
gone AS (DELETE FROM integrity_violations iv
          WHERE iv.check_name = {check} AND iv.subject_kind = {kind} AND {in_scope}
            AND NOT EXISTS (SELECT 1 FROM found f WHERE f.business_id = iv.business_id
                                                    AND f.subject_id = iv.subject_id)
          RETURNING 1),
up AS (INSERT INTO integrity_violations AS iv (check_name, suite, business_id, subject_kind, subject_id, detail,
                                               first_seen, last_seen)
       SELECT {check}, {suite}, f.business_id, {kind}, f.subject_id, f.detail, {now}, {now} FROM found f
       ON CONFLICT (check_name, business_id, subject_kind, subject_id)
       DO UPDATE SET detail = EXCLUDED.detail, last_seen = EXCLUDED.last_seen
       RETURNING (xmax = 0) AS added)
SELECT (SELECT count(*) FROM found), (SELECT count(*) FROM gone), (SELECT count(*) FROM up WHERE added)
"""


@dataclass(frozen=True, slots=True)
class PassReport:
    """What one pass did: its kind, what it read, what it found, added and removed, and how long it took."""

    mode: str
    audit_rows: int
    found: int
    added: int
    removed: int
    seconds: float
    watermark: int | None = None


def utc_now() -> datetime:
    return datetime.now(UTC)


def plain_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextmanager
def checker_connection(url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection whose transactions are REPEATABLE READ (each one snapshot) and whose locks are its session's."""
    with psycopg.connect(
        plain_url(url), options=SESSION_OPTIONS, connect_timeout=5, application_name=APPLICATION_NAME, autocommit=True
    ) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        yield conn


def take_lock(conn: psycopg.Connection[Any], lock: str) -> None:
    """Wait for `lock` and hold it for the rest of the session."""
    conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (lock,))


@contextmanager
def pass_transaction(url: str, *, lock: str = RULES_LOCK) -> Iterator[psycopg.Connection[Any]]:
    """One connection holding `lock`, then one REPEATABLE READ transaction, committed when the block ends cleanly.

    The lock is taken before the transaction's first statement, so its snapshot sees everything
    the pass it waited for committed.
    """
    with checker_connection(url) as conn:
        take_lock(conn, lock)
        with conn.transaction():
            yield conn


def incremental_checks() -> list[Check]:
    """The rules an incremental pass runs: those judging a slot, booking or waitlist entry."""
    return [c for c in CHECKS if c.table in _TOUCHED_BATCH and c.severity == "error"]


def whole_table_checks() -> list[Check]:
    """The rules an incremental pass runs on whole tables (not audited, judged by time too)."""
    return [c for c in CHECKS if c.table in _WHOLE_EVERY_PASS and c.severity == "error"]


def full_checks() -> list[Check]:
    """The rules a full sweep runs (the chain is walked by checks/chain.py); information is no violation."""
    return [c for c in CHECKS if c.table in SUBJECTS and c.severity == "error"]


def incremental_pass(url: str, *, clock: Clock = utc_now) -> PassReport:
    """Check the subjects the audit rows since the watermark touched; move the watermark."""
    started = time.perf_counter()
    now = clock()
    found = added = removed = 0
    with pass_transaction(url) as conn:
        watermark = _watermark(conn)
        if watermark is None:  # never swept: start at today's end of the audit trail
            watermark = _audit_head(conn)
        gaps = _gaps(conn)
        for statement in _TOUCHED:
            conn.execute(statement, {"watermark": watermark, "gaps": gaps})
        row = conn.execute("SELECT count(*), max(id) FROM chk_audit WHERE id > %s", (watermark,)).fetchone()
        assert row is not None
        audit_rows, head = int(row[0]), row[1]
        _record_gaps(conn, watermark, head, now)
        if audit_rows or gaps:
            for statement in _SHADOWS:
                conn.execute(statement)
            for check in incremental_checks():
                f, r, a = _apply(conn, check, now, scope="touched")
                found, removed, added = found + f, removed + r, added + a
            for name in _SHADOWED:
                conn.execute(sql.SQL("DROP VIEW pg_temp.{}").format(sql.Identifier(name)))
        for check in whole_table_checks():
            f, r, a = _apply(conn, check, now, scope="all")
            found, removed, added = found + f, removed + r, added + a
        new_watermark = max(watermark, head or watermark)
        seconds = time.perf_counter() - started
        record_pass(conn, "incremental", now, seconds, watermark=new_watermark)
    return PassReport("incremental", audit_rows, found, added, removed, seconds, new_watermark)


def full_pass(
    url: str,
    *,
    clock: Clock = utc_now,
    checks: Sequence[Check] | None = None,
    before_apply: Callable[[], object] | None = None,
) -> PassReport:
    """Run every rule on whole tables and replace each check's open set with what it finds.

    Found in one snapshot without the lock, so incremental passes go on while the rules read
    whole tables; then applied under the lock, leaving alone every subject an incremental pass
    judges from a newer snapshot: those touched by audit rows after the incremental watermark the
    sweep saw (or among its gaps). The outbox's rules (not audited, judged by time) are run
    again under the lock, as an incremental pass runs them. `before_apply` runs between the two
    (tests change data and pass incrementally there, while the sweep's snapshot grows old).
    """
    started = time.perf_counter()
    now = clock()
    chosen = full_checks() if checks is None else list(checks)
    found = added = removed = 0
    with checker_connection(url) as conn:
        with conn.transaction():
            head, watermark, gaps = _audit_head(conn), _watermark(conn), _gaps(conn)
            conn.execute(_SWEEP_TABLE)
            for check in chosen:
                if check.table in _TOUCHED_BATCH:
                    conn.execute(sql.SQL(_SWEEP_INSERT).format(check=sql.Literal(check.name), found=_found(check)))
        if before_apply is not None:
            before_apply()
        take_lock(conn, RULES_LOCK)
        with conn.transaction():
            for statement in _TOUCHED:
                conn.execute(statement, {"watermark": head if watermark is None else watermark, "gaps": gaps})
            for check in chosen:
                f, r, a = _apply(conn, check, now, scope="untouched")
                found, removed, added = found + f, removed + r, added + a
            seconds = time.perf_counter() - started
            record_pass(conn, "full", now, seconds)
            # A first sweep starts the incremental watermark at the audit trail it has seen.
            if _watermark(conn) is None:
                record_pass(conn, "incremental", now, 0.0, watermark=head, count=False)
    return PassReport("full", 0, found, added, removed, seconds)


# The sweep's findings, kept past its snapshot's transaction for the apply under the lock.
_SWEEP_TABLE = (
    "CREATE TEMP TABLE chk_swept (check_name text NOT NULL, business_id uuid NOT NULL, subject_id text NOT NULL,"
    " detail jsonb NOT NULL)"
)
_SWEEP_INSERT = "INSERT INTO chk_swept SELECT {check}, f.* FROM ({found}) f"


def _found(check: Check, batch: sql.Composable | None = None) -> sql.Composed:
    _kind, subject = SUBJECTS[check.table]
    table = sql.SQL("public.{}").format(sql.Identifier(check.table))
    return sql.SQL(_FOUND).format(
        rule=sql.SQL(check.sql).format(batch=table if batch is None else batch), subject=sql.Identifier(subject)
    )


def _touched(check: Check, alias: str) -> sql.Composed:
    """Whether row `alias` (business_id, subject_id) is a subject the audit rows since the watermark touched."""
    batch_sql, key = _TOUCHED_BATCH[check.table]
    return sql.SQL(
        "(({a}.business_id, {a}.subject_id) IN (SELECT s.business_id, s.{key}::text FROM ({batch}) s))"
    ).format(a=sql.Identifier(alias), key=sql.Identifier(key), batch=sql.SQL(batch_sql))


def _apply(conn: psycopg.Connection[Any], check: Check, now: datetime, *, scope: Scope) -> tuple[int, int, int]:
    """Store one check's findings for `scope`; (found, removed, added).

    touched: the rule on the touched subjects (an incremental pass). untouched: the sweep's
    findings (chk_swept) for every other subject. all: the rule on whole tables, every subject.
    """
    kind, _subject = SUBJECTS[check.table]
    found: sql.Composable = _found(check)
    in_scope: sql.Composable = sql.SQL("true")
    if scope == "touched":
        found = _found(check, sql.SQL("({})").format(sql.SQL(_TOUCHED_BATCH[check.table][0])))
        in_scope = _touched(check, "iv")
    elif scope == "untouched" and check.table in _TOUCHED_BATCH:
        found = sql.SQL(
            "SELECT w.business_id, w.subject_id, w.detail FROM chk_swept w"
            " WHERE w.check_name = {check} AND NOT {touched}"
        ).format(check=sql.Literal(check.name), touched=_touched(check, "w"))
        in_scope = sql.SQL("NOT {}").format(_touched(check, "iv"))
    query = sql.SQL(_APPLY).format(
        found=found,
        check=sql.Literal(check.name),
        suite=sql.Literal(check.suite),
        kind=sql.Literal(kind),
        in_scope=in_scope,
        now=sql.Literal(now),
    )
    row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def _gaps(conn: psycopg.Connection[Any]) -> list[int]:
    return [r[0] for r in conn.execute("SELECT audit_id FROM checker_audit_gaps ORDER BY audit_id")]


def _watermark(conn: psycopg.Connection[Any]) -> int | None:
    row = conn.execute("SELECT audit_watermark FROM checker_state WHERE mode = 'incremental'").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def _audit_head(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT coalesce(max(id), 0) FROM public.booking_audit_log").fetchone()
    return int(row[0]) if row else 0


def _record_gaps(conn: psycopg.Connection[Any], watermark: int, head: int | None, now: datetime) -> None:
    """Forget the gaps now read or given up; keep the ids below the new head not yet visible."""
    conn.execute(
        "DELETE FROM checker_audit_gaps g"
        " WHERE g.noticed_at < %s OR EXISTS (SELECT 1 FROM chk_audit a WHERE a.id = g.audit_id)",
        (now - GAP_TTL,),
    )
    if head is not None and head > watermark + 1:
        conn.execute(
            "INSERT INTO checker_audit_gaps (audit_id, noticed_at)"
            " SELECT i, %s FROM generate_series(%s::bigint + 1, %s::bigint - 1) i"
            " WHERE NOT EXISTS (SELECT 1 FROM chk_audit a WHERE a.id = i) ON CONFLICT DO NOTHING",
            (now, watermark, head),
        )


def record_pass(
    conn: psycopg.Connection[Any],
    mode: str,
    now: datetime,
    seconds: float,
    *,
    watermark: int | None = None,
    count: bool = True,
) -> None:
    """Store that a pass of `mode` finished (and, for the incremental pass, its new watermark)."""
    conn.execute(
        "INSERT INTO checker_state AS s (mode, audit_watermark, last_pass_at, last_duration_seconds, passes)"
        " VALUES (%(mode)s, %(wm)s, %(now)s, %(sec)s, %(n)s)"
        " ON CONFLICT (mode) DO UPDATE SET audit_watermark = coalesce(EXCLUDED.audit_watermark, s.audit_watermark),"
        " last_pass_at = CASE WHEN %(count)s THEN EXCLUDED.last_pass_at ELSE s.last_pass_at END,"
        " last_duration_seconds = CASE WHEN %(count)s THEN EXCLUDED.last_duration_seconds"
        " ELSE s.last_duration_seconds END, passes = s.passes + EXCLUDED.passes",
        {
            "mode": mode,
            "wm": watermark,
            "now": now if count else None,
            "sec": seconds if count else None,
            "n": int(count),
            "count": count,
        },
    )


def open_count(url: str) -> int:
    """How many violations the checker holds open, all checks and businesses."""
    with psycopg.connect(plain_url(url), connect_timeout=5) as conn:
        row = conn.execute("SELECT count(*) FROM integrity_violations").fetchone()
    return int(row[0]) if row else 0


def record_errors(url: str, mode: str, errors: int, message: str, now: datetime) -> None:
    """Add `errors` failed passes of `mode` to the stored count (raises if the database is down)."""
    with psycopg.connect(plain_url(url), connect_timeout=5, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO checker_state AS s (mode, errors, last_error, last_error_at) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (mode) DO UPDATE SET errors = s.errors + EXCLUDED.errors,"
            " last_error = EXCLUDED.last_error, last_error_at = EXCLUDED.last_error_at",
            (mode, errors, message[:500], now),
        )
