"""The checker's audit hash chain verification: incremental from the last verified link per business, or the full walk.

Each business's last verified link (seq, audit id, hash) is kept in audit_chain_verified; a pass
walks only the links sealed after it (audit_chain_verify_from() in sql/checker.sql) and moves it
forward to the last good link. A broken link is an open violation of the chain check
(`audit_chain_broken`, subject the audit row of that link); the head stays before it, so every
pass finds it again until it is repaired. The full walk starts every business from the first link
and judges every link again.

A pass reads in one snapshot without the lock (the walk, and the tamper look below) and applies
under the chain lock, judging again in a snapshot taken under it every link whose verdict would
change something: so the full walk, minutes long on millions of links, never holds up the pass
every few seconds, and neither revives a repair nor clears a break made after its snapshot.

A link already verified can only break by an UPDATE or DELETE of the two append-only tables,
which their refusal triggers forbid: whoever does it disabled them. PostgreSQL counts those
(pg_stat_user_tables, whatever the triggers), and a trigger of their own notes each one in
audit_tamper_log (migration 0007). When the count moved since the last pass, the pass looks
again: at the links noted since, when the notes account for every change counted; otherwise
(every trigger was off) at every row written since then (its xmin) and at missing rows and
links, reading both tables once. Either finds an edit within a pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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
    checker_connection,
    plain_url,
    record_pass,
    take_lock,
    utc_now,
)

_SUITE = "audit_completeness"

_TAMPER_COUNT = """
SELECT coalesce(sum(n_tup_upd + n_tup_del), 0)::bigint FROM pg_stat_user_tables
 WHERE schemaname = 'public' AND relname IN ('booking_audit_log', 'audit_chain')"""

# What is wrong with each link in `judged` (business_id, audit_id), if anything, now. Each link
# is looked up by index (LATERAL ... LIMIT 1 keeps the planner from hashing whole tables for a
# few links: it guessed 134 rows a link and read the 5M-row audit log, 7 s at 1M bookings).
_VERDICT = """
SELECT c.business_id, c.audit_id,
       CASE WHEN (x.a).id IS NULL THEN 'audit row deleted'
            WHEN c.seq <> coalesce(p.seq, 0) + 1 THEN 'link missing before this sequence number'
            WHEN c.prev_hash <> coalesce(p.hash, '\\x'::bytea) THEN 'previous-hash does not match the link before'
            WHEN audit_row_hash(c.prev_hash, x.a) <> c.hash THEN 'audit row altered after sealing'
       END AS problem, c.seq
  FROM judged r
  JOIN LATERAL (SELECT * FROM audit_chain c WHERE c.business_id = r.business_id AND c.audit_id = r.audit_id
                 LIMIT 1) c ON true
  LEFT JOIN LATERAL (SELECT a FROM public.booking_audit_log a WHERE a.business_id = c.business_id AND a.id = c.audit_id
                      LIMIT 1) x ON true
  LEFT JOIN LATERAL (SELECT p.seq, p.hash FROM audit_chain p WHERE p.business_id = c.business_id AND p.seq < c.seq
                      ORDER BY p.seq DESC LIMIT 1) p ON true
"""

# Links whose audit row or link was written (or rewritten) by a transaction since :since, links
# whose row is gone, and links after a missing one: read from both tables whole.
_SCANNED = """
  SELECT business_id, id AS audit_id FROM public.booking_audit_log WHERE age(xmin) <= age(%(since)s::text::xid)
  UNION SELECT business_id, audit_id FROM audit_chain WHERE age(xmin) <= age(%(since)s::text::xid)
  UNION SELECT c.business_id, c.audit_id FROM audit_chain c
   WHERE NOT EXISTS (SELECT 1 FROM public.booking_audit_log a WHERE a.business_id = c.business_id AND a.id = c.audit_id)
  UNION SELECT l.business_id, l.audit_id FROM (
    SELECT business_id, audit_id, seq, lag(seq) OVER (PARTITION BY business_id ORDER BY seq) AS before,
           prev_hash, lag(hash) OVER (PARTITION BY business_id ORDER BY seq) AS before_hash
      FROM audit_chain) l
   WHERE l.seq <> coalesce(l.before, 0) + 1 OR l.prev_hash <> coalesce(l.before_hash, '\\x'::bytea)
"""

# The links the tamper notes not read at the last look name: the row's link, and for a link
# edited or deleted, the link after it (whose previous-hash or seq no longer fits).
_NOTED = """
  WITH noted AS (SELECT business_id, audit_id, seq FROM audit_tamper_log
                  WHERE NOT pg_visible_in_snapshot(xid, %(seen)s::pg_snapshot))
  SELECT c.business_id, c.audit_id FROM noted n
    JOIN audit_chain c ON c.business_id = n.business_id AND c.audit_id = n.audit_id
  UNION SELECT x.business_id, x.audit_id FROM noted n CROSS JOIN LATERAL (
    SELECT c.business_id, c.audit_id FROM audit_chain c WHERE c.business_id = n.business_id AND c.seq > n.seq
     ORDER BY c.seq LIMIT 1) x
"""

_NOTES = "SELECT count(*) FROM audit_tamper_log WHERE NOT pg_visible_in_snapshot(xid, %(seen)s::pg_snapshot)"

# Of the links `candidates` names, those wrong now or with a violation open.
_SUSPECTS = """
WITH judged AS ({candidates})
SELECT v.business_id, v.audit_id FROM ({verdict}) v
 WHERE v.problem IS NOT NULL OR EXISTS (
   SELECT 1 FROM integrity_violations iv WHERE iv.check_name = %(check)s AND iv.subject_kind = 'audit'
      AND iv.business_id = v.business_id AND iv.subject_id = v.audit_id::text)
"""

_JUDGE = sql.SQL(
    "WITH judged AS (SELECT * FROM unnest(%s::uuid[], %s::bigint[]) AS j(business_id, audit_id)) {}"
).format(sql.SQL(_VERDICT))

# The open violations on links a walk judged (seq in its range), and with `gone`, those whose link is gone;
# each looked up by the chain's (business, audit id) index.
_OPEN_IN_RANGES = """
SELECT iv.business_id, v.audit_id FROM integrity_violations iv
  JOIN unnest(%(businesses)s::uuid[], %(starts)s::bigint[], %(ends)s::bigint[]) AS r(business_id, start, stop)
    ON r.business_id = iv.business_id
  CROSS JOIN LATERAL (SELECT CASE WHEN iv.subject_id ~ '^[0-9]{1,18}$' THEN iv.subject_id::bigint END AS audit_id) v
 WHERE iv.check_name = %(check)s AND iv.subject_kind = 'audit' AND v.audit_id IS NOT NULL
   AND (EXISTS (SELECT 1 FROM audit_chain c WHERE c.business_id = iv.business_id AND c.audit_id = v.audit_id
                   AND c.seq > r.start AND c.seq <= r.stop)
        OR (%(gone)s AND NOT EXISTS (SELECT 1 FROM audit_chain c
                                      WHERE c.business_id = iv.business_id AND c.audit_id = v.audit_id)))
"""

Link = tuple[Any, int]  # (business_id, audit_id)
Verdict = tuple[str | None, int | None]  # (what is wrong or None, the link's seq)


@dataclass(frozen=True)
class Walked:
    """One business's walk: from the link after `start` through the last good link, and the first broken one."""

    business: Any
    start: int
    links: int
    last_seq: int
    last_audit: int | None
    last_hash: bytes
    bad_seq: int | None
    bad_audit: int | None

    @property
    def stop(self) -> int:
        """The last seq the walk judged (its broken link, if any)."""
        return self.bad_seq if self.bad_seq is not None else self.last_seq


def chain_pass(
    url: str, *, clock: Clock = utc_now, full: bool = False, before_apply: Callable[[], object] | None = None
) -> PassReport:
    """Verify every business's chain from its verified head (from the first link when `full`).

    Read in one snapshot without the lock: the walk, and the tamper look when history was
    edited. Then, under the chain lock, the broken links found, the links looked at again and
    the open violations in the ranges walked are judged again, and only that verdict opens or
    clears; a head moves forward, or back only to a break still there. `before_apply` runs
    between the two (tests write there, while the snapshot grows old).
    """
    started = time.perf_counter()
    now = clock()
    with psycopg.connect(plain_url(url), connect_timeout=5, autocommit=True) as probe:
        row = probe.execute(_TAMPER_COUNT).fetchone()
        tamper_count = int(row[0]) if row else 0
    with checker_connection(url) as conn:
        with conn.transaction():
            look = conn.execute(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint, pg_current_snapshot()::text"
            ).fetchone()
            assert look is not None
            heads = {} if full else _heads(conn)
            businesses = [r[0] for r in conn.execute("SELECT id FROM public.businesses ORDER BY id")]
            walks = [_walk(conn, business, heads.get(business)) for business in businesses]
            suspects = None if full else _tamper_look(conn, tamper_count)
        if before_apply is not None:
            before_apply()
        take_lock(conn, CHAIN_LOCK)
        with conn.transaction():
            verdicts = _judge(conn, _to_judge(conn, walks, suspects or [], gone=full))
            added = sum(
                _open(conn, link, problem, seq, now) for link, (problem, seq) in verdicts.items() if problem is not None
            )
            removed = _clear(conn, [link for link, (problem, _seq) in verdicts.items() if problem is None])
            for walk in walks:
                _move_head(conn, walk, verdicts, now)
            if suspects is not None:
                _remember_tamper(conn, tamper_count, *look)
            seconds = time.perf_counter() - started
            record_pass(conn, "chain", now, seconds)
    found = sum(1 for problem, _seq in verdicts.values() if problem is not None)
    return PassReport("chain", sum(w.links for w in walks), found, added, removed, seconds)


def _heads(conn: psycopg.Connection[Any]) -> dict[Any, tuple[int, bytes, int | None]]:
    rows = conn.execute("SELECT business_id, seq, hash, audit_id FROM audit_chain_verified").fetchall()
    return {b: (int(seq), bytes(digest), audit_id) for b, seq, digest, audit_id in rows}


def _walk(conn: psycopg.Connection[Any], business: Any, head: tuple[int, bytes, int | None] | None) -> Walked:
    seq, digest, audit_id = head if head is not None else (0, b"", None)
    row = conn.execute(
        "SELECT links, last_seq, last_audit_id, last_hash, first_bad_seq, bad_audit_id"
        " FROM audit_chain_verify_from(%s, %s, %s)",
        (business, seq, digest),
    ).fetchone()
    assert row is not None
    links, last_seq, last_audit, last_hash, bad_seq, bad_audit = row
    return Walked(
        business,
        seq,
        int(links),
        int(last_seq),
        last_audit if last_audit is not None else audit_id,
        bytes(last_hash),
        bad_seq,
        bad_audit,
    )


def _tamper_look(conn: psycopg.Connection[Any], tamper_count: int) -> list[Link] | None:
    """The links to judge again when history was edited or deleted since the last look; None: nothing moved.

    When PostgreSQL counted no more edits and deletions than the tamper notes added since the
    last look, every one was noted: the links noted are judged. Otherwise (every trigger was
    off, or the statistics were reset) both tables are read for rows written since then.
    """
    state = conn.execute(
        "SELECT tamper_counter, tamper_xid, tamper_snapshot::text FROM checker_state WHERE mode = 'chain'"
    ).fetchone()
    if state is not None and state[0] is not None and state[0] == tamper_count:
        return None
    if state is None or state[0] is None:  # first look: the walk from the first link covers history
        return []
    conn.execute("SET LOCAL jit = off")  # compiling the look costs more (0.4 s) than the few links it judges
    counted, since, seen = tamper_count - int(state[0]), str(int(state[1]) % 2**32), state[2]
    noted = _one_int(conn, _NOTES, {"seen": seen}) if seen is not None else -1
    candidates = _NOTED if seen is not None and 0 <= counted <= noted else _SCANNED
    query = sql.SQL(_SUSPECTS).format(candidates=sql.SQL(candidates), verdict=sql.SQL(_VERDICT))
    rows = conn.execute(query, {"since": since, "seen": seen, "check": CHAIN_CHECK}).fetchall()
    return [(b, int(a)) for b, a in rows]


def _to_judge(conn: psycopg.Connection[Any], walks: list[Walked], suspects: list[Link], *, gone: bool) -> set[Link]:
    links = {(w.business, w.bad_audit) for w in walks if w.bad_audit is not None} | set(suspects)
    rows = conn.execute(
        _OPEN_IN_RANGES,
        {
            "businesses": [w.business for w in walks],
            "starts": [w.start for w in walks],
            "ends": [w.stop for w in walks],
            "check": CHAIN_CHECK,
            "gone": gone,
        },
    ).fetchall()
    return links | {(b, int(a)) for b, a in rows}


def _judge(conn: psycopg.Connection[Any], links: Iterable[Link]) -> dict[Link, Verdict]:
    """Each link's verdict in this snapshot; a link no longer there has nothing wrong (its neighbour shows the gap)."""
    chosen = sorted(links, key=lambda link: (str(link[0]), link[1]))
    verdicts: dict[Link, Verdict] = {link: (None, None) for link in chosen}
    if chosen:
        rows = conn.execute(_JUDGE, ([b for b, _a in chosen], [a for _b, a in chosen])).fetchall()
        verdicts.update({(b, int(a)): (problem, int(seq)) for b, a, problem, seq in rows})
    return verdicts


def _move_head(conn: psycopg.Connection[Any], walk: Walked, verdicts: dict[Link, Verdict], now: datetime) -> None:
    """Forward to the walk's last good link; back to it only when the break after it is still there."""
    broken = walk.bad_audit is not None and verdicts[(walk.business, walk.bad_audit)][0] is not None
    row = conn.execute("SELECT seq, audit_id FROM audit_chain_verified WHERE business_id = %s", (walk.business,))
    current = row.fetchone()
    moves = current is None or broken or walk.last_seq >= current[0]
    audit_id = walk.last_audit if moves or current is None else current[1]
    unverified = _one_int(
        conn,
        "SELECT count(*) FROM public.booking_audit_log WHERE business_id = %s AND id > %s",
        (walk.business, audit_id if audit_id is not None else 0),
    )
    if not moves:  # a newer pass verified further since this one's snapshot
        conn.execute(
            "UPDATE audit_chain_verified SET unverified_rows = %s WHERE business_id = %s", (unverified, walk.business)
        )
        return
    conn.execute(
        "INSERT INTO audit_chain_verified AS v (business_id, seq, audit_id, hash, verified_at, unverified_rows)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (business_id) DO UPDATE SET seq = EXCLUDED.seq,"
        " audit_id = EXCLUDED.audit_id, hash = EXCLUDED.hash, verified_at = EXCLUDED.verified_at,"
        " unverified_rows = EXCLUDED.unverified_rows",
        (walk.business, walk.last_seq, walk.last_audit, walk.last_hash, now, unverified),
    )


def _remember_tamper(conn: psycopg.Connection[Any], tamper_count: int, xid: int, snapshot: str) -> None:
    """The count looked at, and the look's snapshot: the next look reads what it did not see."""
    conn.execute(
        "INSERT INTO checker_state AS s (mode, tamper_counter, tamper_xid, tamper_snapshot)"
        " VALUES ('chain', %s, %s, %s::pg_snapshot) ON CONFLICT (mode) DO UPDATE"
        " SET tamper_counter = EXCLUDED.tamper_counter, tamper_xid = EXCLUDED.tamper_xid,"
        " tamper_snapshot = EXCLUDED.tamper_snapshot",
        (tamper_count, xid, snapshot),
    )


def _open(conn: psycopg.Connection[Any], link: Link, problem: str, seq: int | None, now: datetime) -> int:
    business, audit_id = link
    row = conn.execute(
        "INSERT INTO integrity_violations AS iv (check_name, suite, business_id, subject_kind, subject_id, detail,"
        " first_seen, last_seen) VALUES (%s, %s, %s, 'audit', %s, %s, %s, %s)"
        " ON CONFLICT (check_name, business_id, subject_kind, subject_id)"
        " DO UPDATE SET detail = EXCLUDED.detail, last_seen = greatest(iv.last_seen, EXCLUDED.last_seen)"
        " RETURNING (xmax = 0)",
        (
            CHAIN_CHECK,
            _SUITE,
            business,
            str(audit_id),
            Jsonb({"first_bad_seq": seq, "audit_id": audit_id, "problem": problem}),
            now,
            now,
        ),
    ).fetchone()
    return int(bool(row and row[0]))


def _clear(conn: psycopg.Connection[Any], links: list[Link]) -> int:
    if not links:
        return 0
    cur = conn.execute(
        "DELETE FROM integrity_violations iv USING unnest(%s::uuid[], %s::text[]) AS k(business_id, subject_id)"
        " WHERE iv.check_name = %s AND iv.subject_kind = 'audit' AND iv.business_id = k.business_id"
        " AND iv.subject_id = k.subject_id",
        ([b for b, _a in links], [str(a) for _b, a in links], CHAIN_CHECK),
    )
    return cur.rowcount


def _one_int(conn: psycopg.Connection[Any], query: LiteralString, params: tuple[Any, ...] | dict[str, Any] = ()) -> int:
    row = conn.execute(query, params).fetchone()
    return int(row[0]) if row else 0
