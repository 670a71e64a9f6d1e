"""The continuous checker: an incremental pass against a full sweep on the same data, and chain verification
of one day's audit rows against the full walk. Not a test: it measures and prints.

Run: `python -m bench.checker [--bookings 20000] [--changes 20] [--repeats 5] [--database-url URL] [--keep]`.

Without --database-url it creates `bench_checker_<random>`, migrates it and fills it with
`booking seed --bookings N` (booking_demo.seed.bulk_seed, audit sealed). Then, after one warm-up:
  full         checks.checker.full_pass: every rule on whole tables, each check's set replaced
  incremental  checks.checker.incremental_pass after `--changes` bookings were cancelled through the
               library (their audit rows, payments, seats): the rules over the touched subjects
alternated `--repeats` times; the medians and the ratio full / incremental. Then the chain:
  walk         checks.chain.chain_pass(full=True): every business's chain from its first link
  day          checks.chain.chain_pass after each business's verified head was set back by one day
               of audit rows (occurred_at): the links sealed in that day are verified
and, once each, the tamper look: the xmin scan of both audit tables (an edit with every trigger off,
no note) and the look at the links a tamper note names (an edit with the refusal trigger off).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg
from checks.chain import chain_pass
from checks.checker import full_pass, incremental_pass, plain_url

from bench.checks_bench import create_seeded, drop, sizes
from bench.cli import seeded_parser

_REWIND_ONE_DAY = """
UPDATE audit_chain_verified v SET seq = h.seq, audit_id = h.audit_id, hash = h.hash
  FROM (SELECT DISTINCT ON (c.business_id) c.business_id, c.seq, c.audit_id, c.hash
          FROM audit_chain c JOIN booking_audit_log a ON a.business_id = c.business_id AND a.id = c.audit_id
          JOIN (SELECT business_id, max(occurred_at) AS newest FROM booking_audit_log GROUP BY business_id) m
            ON m.business_id = c.business_id
         WHERE a.occurred_at < m.newest - interval '1 day'
         ORDER BY c.business_id, c.seq DESC) h
 WHERE v.business_id = h.business_id
RETURNING (SELECT count(*) FROM audit_chain c WHERE c.business_id = v.business_id AND c.seq > h.seq)"""


def cancel_some(url: str, n: int) -> int:
    """Cancel `n` live future bookings through the library (what a few seconds of traffic writes)."""
    from booking_core import Actor
    from booking_core.bootstrap import connect

    with psycopg.connect(plain_url(url)) as conn:
        rows = conn.execute(
            "SELECT b.business_id, b.id FROM bookings b JOIN time_slots s ON s.business_id = b.business_id"
            " AND s.id = b.slot_id WHERE b.status = 'confirmed' AND s.starts_at > now() ORDER BY b.id DESC LIMIT %s",
            (n,),
        ).fetchall()
    admin = Actor.admin("bench")
    with connect(url, migrate=False) as system:
        for business, booking in rows:
            system.cancel(business, booking, actor=admin, reason="bench", now=datetime.now(UTC))
    return len(rows)


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _set_newest_audit_actor(url: str, reason: str | None, *, audit_id: int | None = None) -> tuple[int, str | None]:
    """Set the actor id of the newest link's audit row of the longest verified chain, its refusal trigger off.

    Returns the row's id and the actor id it had, to put back.
    """
    with psycopg.connect(plain_url(url), autocommit=True) as conn:
        if audit_id is None:
            row = conn.execute(
                "SELECT max(audit_id) FROM audit_chain WHERE business_id ="
                " (SELECT business_id FROM audit_chain_verified ORDER BY seq DESC LIMIT 1)"
            ).fetchone()
            assert row is not None
            audit_id = int(row[0])
        with conn.transaction():
            before = conn.execute("SELECT performed_by_id FROM booking_audit_log WHERE id = %s", (audit_id,)).fetchone()
            conn.execute("ALTER TABLE booking_audit_log DISABLE TRIGGER booking_audit_log_append_only")
            conn.execute("UPDATE booking_audit_log SET performed_by_id = %s WHERE id = %s", (reason, audit_id))
            conn.execute("ALTER TABLE booking_audit_log ENABLE TRIGGER booking_audit_log_append_only")
        conn.execute("SELECT pg_stat_force_next_flush()")  # the statistics now, so the next pass sees the edit
    return audit_id, (before[0] if before else None)


def main() -> None:
    args = seeded_parser(__doc__, bookings=20_000, changes=20, repeats=5).parse_args()
    url = args.database_url or create_seeded(args.bookings, prefix="bench_checker", anchor=datetime.now(UTC))
    try:
        print(sizes(plain_url(url)))
        full_pass(url)  # warm-up, and the watermark starts at the end of the audit trail
        incremental_pass(url)
        fulls, incs, audit_rows = [], [], []
        for _ in range(args.repeats):
            fulls.append(timed(lambda: full_pass(url)))
            cancel_some(url, args.changes)
            started = time.perf_counter()
            report = incremental_pass(url)
            incs.append(time.perf_counter() - started)
            audit_rows.append(report.audit_rows)
        full, inc = statistics.median(fulls), statistics.median(incs)
        print(f"rules  full sweep      median {full * 1000:8.1f} ms  runs {[round(t * 1000) for t in fulls]}")
        print(
            f"rules  incremental     median {inc * 1000:8.1f} ms  runs {[round(t * 1000) for t in incs]}"
            f"  ({args.changes} cancellations, audit rows read {audit_rows})"
        )
        print(f"rules  full / incremental = {full / inc:.1f}x")

        chain_pass(url, full=True)  # warm-up
        walks, days, links = [], [], []
        for _ in range(args.repeats):
            walks.append(timed(lambda: chain_pass(url, full=True)))
            with psycopg.connect(plain_url(url), autocommit=True) as conn:
                links.append(sum(int(r[0]) for r in conn.execute(_REWIND_ONE_DAY).fetchall()))
            days.append(timed(lambda: chain_pass(url)))
        walk, day = statistics.median(walks), statistics.median(days)
        print(f"chain  full walk       median {walk * 1000:8.1f} ms  runs {[round(t * 1000) for t in walks]}")
        print(
            f"chain  one day         median {day * 1000:8.1f} ms  runs {[round(t * 1000) for t in days]}"
            f"  (links of the last day: {links[0]})"
        )
        print(f"chain  full walk / one day = {walk / day:.1f}x")
        with psycopg.connect(plain_url(url), autocommit=True) as conn:
            conn.execute("UPDATE checker_state SET tamper_counter = -1 WHERE mode = 'chain'")
        print(
            f"chain  tamper look (xmin scan of both audit tables, once): {timed(lambda: chain_pass(url)) * 1000:.1f} ms"
        )
        # An edit with the refusal trigger off is noted (audit_tamper_log): the look judges the
        # noted links only. The row is put back and a pass clears it, leaving the database as found.
        edited, reason = _set_newest_audit_actor(url, "edited by the benchmark")
        noted = timed(lambda: chain_pass(url))
        print(f"chain  tamper look, a noted edit (judges the noted links): {noted * 1000:.1f} ms")
        _set_newest_audit_actor(url, reason, audit_id=edited)
        chain_pass(url)
    finally:
        if not args.database_url and not args.keep:
            drop(url)
        elif not args.database_url:
            print(f"kept {url}")


if __name__ == "__main__":
    main()
