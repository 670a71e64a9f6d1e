"""The checker's audit hash chain verification: incremental from the last verified link per business, or the full walk.

Each business's last verified link (seq, audit id, hash) is kept in audit_chain_verified; a pass
walks only the links sealed after it (audit_chain_verify_from() in sql/checker.sql) and moves it
forward to the last good link. A broken link is an open violation of the chain check
(`audit_chain_broken`, subject the audit row of that link); the head stays before it, so every
pass finds it again until it is repaired. The full walk starts every business from the first link
and replaces the check's set wholesale.

A link already verified can only break by an UPDATE or DELETE of the two append-only tables,
which their refusal triggers forbid: whoever does it disabled them. PostgreSQL counts those
(pg_stat_user_tables, whatever the triggers); when the count moved since the last pass, the
pass also looks at every row written since then (its xmin) and at missing rows and links, and
re-verifies those links. That look reads the tables once, so it runs only when something
edited or deleted history, and finds it within a pass.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, LiteralString

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from checks.checker import (
    CHAIN_CHECK,
    CHAIN_LOCK,
    Clock,
    PassReport,
    pass_transaction,
    plain_url,
    record_pass,
    utc_now,
)

_SUITE = "audit_completeness"

_TAMPER_COUNT = """
SELECT coalesce(sum(n_tup_upd + n_tup_del), 0)::bigint FROM pg_stat_user_tables
 WHERE schemaname = 'public' AND relname IN ('booking_audit_log', 'audit_chain')"""

# Links whose audit row or link was written (or rewritten) since transaction id :since, links
# whose row is gone, and links after a missing one; each with what is wrong, if anything.
_SUSPECT_LINKS = """
WITH recent AS (
  SELECT business_id, id AS audit_id FROM public.booking_audit_log
   WHERE age(xmin) <= %(span)s
  UNION SELECT business_id, audit_id FROM audit_chain WHERE age(xmin) <= %(span)s
  UNION SELECT c.business_id, c.audit_id FROM audit_chain c
   WHERE NOT EXISTS (SELECT 1 FROM public.booking_audit_log a WHERE a.business_id = c.business_id AND a.id = c.audit_id)
  UNION SELECT l.business_id, l.audit_id FROM (
    SELECT business_id, audit_id, seq, lag(seq) OVER (PARTITION BY business_id ORDER BY seq) AS before,
           prev_hash, lag(hash) OVER (PARTITION BY business_id ORDER BY seq) AS before_hash
      FROM audit_chain) l
   WHERE l.seq <> coalesce(l.before, 0) + 1 OR l.prev_hash <> coalesce(l.before_hash, '\\x'::bytea))
SELECT c.business_id, c.audit_id,
       CASE WHEN a.id IS NULL THEN 'audit row deleted'
            WHEN c.seq <> coalesce(p.seq, 0) + 1 THEN 'link missing before this sequence number'
            WHEN c.prev_hash <> coalesce(p.hash, '\\x'::bytea) THEN 'previous-hash does not match the link before'
            WHEN audit_row_hash(c.prev_hash, a) <> c.hash THEN 'audit row altered after sealing'
       END AS problem, c.seq
  FROM recent r
  JOIN audit_chain c ON c.business_id = r.business_id AND c.audit_id = r.audit_id
  LEFT JOIN public.booking_audit_log a ON a.business_id = c.business_id AND a.id = c.audit_id
  LEFT JOIN LATERAL (SELECT p.seq, p.hash FROM audit_chain p WHERE p.business_id = c.business_id AND p.seq < c.seq
                      ORDER BY p.seq DESC LIMIT 1) p ON true
"""


def chain_pass(url: str, *, clock: Clock = utc_now, full: bool = False) -> PassReport:
    """Verify every business's chain from its verified head (from the first link when `full`).

    Chain passes take their own lock: the rule passes go on meanwhile.
    """
    started = time.perf_counter()
    now = clock()
    with psycopg.connect(plain_url(url), connect_timeout=5, autocommit=True) as probe:
        row = probe.execute(_TAMPER_COUNT).fetchone()
        tamper_count = int(row[0]) if row else 0
    found = added = removed = walked = 0
    with pass_transaction(url, lock=CHAIN_LOCK) as conn:
        if full:
            before = _open_count(conn)
            conn.execute("DELETE FROM audit_chain_verified")
            conn.execute("DELETE FROM integrity_violations WHERE check_name = %s", (CHAIN_CHECK,))
        else:
            f, a, r = _tamper_scan(conn, tamper_count, now)
            found, added, removed = found + f, added + a, removed + r
        businesses = [r[0] for r in conn.execute("SELECT id FROM public.businesses ORDER BY id")]
        for business in businesses:
            links, f, a, r = _walk(conn, business, now)
            walked, found, added, removed = walked + links, found + f, added + a, removed + r
        if full:
            after = _open_count(conn)
            added, removed = max(0, after - before), max(0, before - after)
            _remember_tamper(conn, tamper_count)
        seconds = time.perf_counter() - started
        record_pass(conn, "chain", now, seconds)
    return PassReport("chain", walked, found, added, removed, seconds)


def _walk(conn: psycopg.Connection[Any], business: Any, now: datetime) -> tuple[int, int, int, int]:
    head = conn.execute(
        "SELECT seq, hash, audit_id FROM audit_chain_verified WHERE business_id = %s", (business,)
    ).fetchone()
    seq, digest, audit_id = (head[0], head[1], head[2]) if head else (0, b"", None)
    row = conn.execute(
        "SELECT links, last_seq, last_audit_id, last_hash, first_bad_seq, bad_audit_id, problem"
        " FROM audit_chain_verify_from(%s, %s, %s)",
        (business, seq, digest),
    ).fetchone()
    assert row is not None
    links, last_seq, last_audit, last_hash, bad_seq, bad_audit, problem = row
    last_audit = last_audit if last_audit is not None else audit_id
    end = bad_seq if bad_seq is not None else last_seq
    # The links walked are re-judged: the broken one is open, the others are clean now.
    removed = _clear(
        conn,
        "iv.business_id = %(b)s AND iv.subject_id IN (SELECT audit_id::text FROM audit_chain"
        " WHERE business_id = %(b)s AND seq > %(from)s AND seq <= %(to)s AND audit_id IS DISTINCT FROM %(bad)s)",
        {"b": business, "from": seq, "to": end, "bad": bad_audit},
    )
    added = 0
    if problem is not None:
        added = _open(
            conn, business, bad_audit, {"first_bad_seq": bad_seq, "audit_id": bad_audit, "problem": problem}, now
        )
    unverified = conn.execute(
        "SELECT count(*) FROM public.booking_audit_log WHERE business_id = %s AND id > %s",
        (business, last_audit if last_audit is not None else 0),
    ).fetchone()
    conn.execute(
        "INSERT INTO audit_chain_verified AS v (business_id, seq, audit_id, hash, verified_at, unverified_rows)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (business_id) DO UPDATE SET seq = EXCLUDED.seq,"
        " audit_id = EXCLUDED.audit_id, hash = EXCLUDED.hash, verified_at = EXCLUDED.verified_at,"
        " unverified_rows = EXCLUDED.unverified_rows",
        (business, last_seq, last_audit, last_hash, now, unverified[0] if unverified else 0),
    )
    return int(links), int(problem is not None), added, removed


def _tamper_scan(conn: psycopg.Connection[Any], tamper_count: int, now: datetime) -> tuple[int, int, int]:
    """Re-verify what was written or removed since the last look, when history was edited or deleted."""
    state = conn.execute("SELECT tamper_counter, tamper_xid FROM checker_state WHERE mode = 'chain'").fetchone()
    if state is not None and state[0] is not None and state[0] == tamper_count:
        return 0, 0, 0
    if state is None or state[0] is None:  # first look: the walk from the first link covers history
        _remember_tamper(conn, tamper_count)
        return 0, 0, 0
    span_row = conn.execute("SELECT pg_current_xact_id()::text::bigint - %s", (state[1],)).fetchone()
    span = int(span_row[0]) if span_row else 0
    found = added = removed = 0
    for business, audit_id, problem, seq in conn.execute(_SUSPECT_LINKS, {"span": min(span, 2**31 - 1)}).fetchall():
        if problem is None:
            removed += _clear(
                conn, "iv.business_id = %(b)s AND iv.subject_id = %(a)s", {"b": business, "a": str(audit_id)}
            )
        else:
            found += 1
            added += _open(
                conn, business, audit_id, {"first_bad_seq": seq, "audit_id": audit_id, "problem": problem}, now
            )
    _remember_tamper(conn, tamper_count)
    return found, added, removed


def _remember_tamper(conn: psycopg.Connection[Any], tamper_count: int) -> None:
    # From the oldest transaction still running: whatever it writes is looked at next time.
    conn.execute(
        "INSERT INTO checker_state AS s (mode, tamper_counter, tamper_xid)"
        " VALUES ('chain', %s, pg_snapshot_xmin(pg_current_snapshot())::text::bigint)"
        " ON CONFLICT (mode) DO UPDATE SET tamper_counter = EXCLUDED.tamper_counter, tamper_xid = EXCLUDED.tamper_xid",
        (tamper_count,),
    )


def _open(conn: psycopg.Connection[Any], business: Any, audit_id: Any, detail: dict[str, Any], now: datetime) -> int:
    row = conn.execute(
        "INSERT INTO integrity_violations AS iv (check_name, suite, business_id, subject_kind, subject_id, detail,"
        " first_seen, last_seen) VALUES (%s, %s, %s, 'audit', %s, %s, %s, %s)"
        " ON CONFLICT (check_name, business_id, subject_kind, subject_id)"
        " DO UPDATE SET detail = EXCLUDED.detail, last_seen = EXCLUDED.last_seen RETURNING (xmax = 0)",
        (CHAIN_CHECK, _SUITE, business, str(audit_id), Jsonb(detail), now, now),
    ).fetchone()
    return int(bool(row and row[0]))


def _clear(conn: psycopg.Connection[Any], where: LiteralString, params: dict[str, Any]) -> int:
    cur = conn.execute(
        sql.SQL(
            "DELETE FROM integrity_violations iv WHERE iv.check_name = %(check)s AND iv.subject_kind = 'audit' AND {}"
        ).format(sql.SQL(where)),
        {"check": CHAIN_CHECK, **params},
    )
    return cur.rowcount


def _open_count(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM integrity_violations WHERE check_name = %s", (CHAIN_CHECK,)).fetchone()
    return int(row[0]) if row else 0
