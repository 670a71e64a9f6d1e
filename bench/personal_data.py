"""The cost of erasure and retention (issue 17), each beside a plain DELETE of the same rows in the same run.

Run: `python -m bench.personal_data --database-url URL [--repeats 5] [--share 0.10]` on a seeded database
(`booking seed --bookings 1000000`); it is migrated first. Erasures cannot be undone, so every repeat
erases another customer, and the database keeps them erased. Measured:

  erase one customer   `BookingSystem.erase_customer` (forced: the seed's customers hold paid bookings
                       ahead), a customer with the median number of bookings each repeat, through the
                       public API (one transaction: find the customer, clear every table, log and audit);
                       beside it, the same rows DELETEd in one transaction with triggers off (superuser,
                       session_replication_role = replica), rolled back. Target: < 1 s.
  retention run        a policy whose inactive-customer window erases about `--share` of the customers,
                       run dry (`retention_run(..., dry_run => true)` does the whole work in a subtransaction
                       and rolls it back, so repeats measure the same work), in rows cleared per second;
                       beside it, a plain DELETE of the same rows, rolled back. Then once for real.

An erasure's reference runs before it, after an untimed pass over the same rows (both sides read warm
pages); the retention run's sides alternate. Medians of the repeats. Nothing asserts a time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import psycopg

BOOKING = [sys.executable, "-c", "from booking_core.cli import main; main()"]

# The rows customer_erase() clears for the customers `c` (uuid[]) of business `b`, deleted instead.
_DELETE_SAME_ROWS = """
WITH bk AS (SELECT id FROM bookings WHERE business_id = %(b)s AND customer_id = ANY (%(c)s)),
     ent AS (SELECT id FROM waitlist_entries WHERE business_id = %(b)s AND customer_id = ANY (%(c)s)
             UNION ALL SELECT id FROM booking_series WHERE business_id = %(b)s AND customer_id = ANY (%(c)s)),
     a AS (DELETE FROM booking_audit_log WHERE business_id = %(b)s
             AND (reason_nonce IS NOT NULL OR client_nonce IS NOT NULL)
             AND id IN (SELECT x.id FROM booking_audit_log x WHERE x.business_id = %(b)s
                         AND x.booking_id IN (SELECT id FROM bk)
                        UNION ALL
                        SELECT x.id FROM booking_audit_log x WHERE x.business_id = %(b)s
                         AND x.entity_type IN ('waitlist', 'series') AND x.entity_id IN (SELECT id FROM ent))
           RETURNING 1),
     t AS (DELETE FROM booking_state_transitions WHERE business_id = %(b)s AND booking_id IN (SELECT id FROM bk)
             AND reason IS NOT NULL RETURNING 1),
     r AS (DELETE FROM refunds WHERE business_id = %(b)s AND payment_id IN (
             SELECT id FROM payments WHERE business_id = %(b)s AND booking_id IN (SELECT id FROM bk)) RETURNING 1),
     p AS (DELETE FROM payments WHERE business_id = %(b)s AND booking_id IN (SELECT id FROM bk)
             AND failure_reason IS NOT NULL RETURNING 1),
     d AS (DELETE FROM notification_deliveries WHERE business_id = %(b)s AND outbox_id IN (
             SELECT id FROM notification_outbox WHERE business_id = %(b)s AND customer_id = ANY (%(c)s)) RETURNING 1),
     o AS (DELETE FROM notification_outbox WHERE business_id = %(b)s AND customer_id = ANY (%(c)s) RETURNING 1),
     cu AS (DELETE FROM customers WHERE business_id = %(b)s AND id = ANY (%(c)s) RETURNING 1)
SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM t) + (SELECT count(*) FROM r) + (SELECT count(*) FROM p)
     + (SELECT count(*) FROM d) + (SELECT count(*) FROM o) + (SELECT count(*) FROM cu)
"""


def plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def delete_same_rows(url: str, business: uuid.UUID, customers: list[uuid.UUID]) -> tuple[float, int]:
    """The plain-SQL reference: the same rows deleted, triggers and foreign keys off, rolled back."""
    with psycopg.connect(plain(url)) as conn:
        conn.execute("SET LOCAL session_replication_role = replica")
        start = time.perf_counter()
        (rows,) = conn.execute(_DELETE_SAME_ROWS, {"b": business, "c": customers}).fetchone()  # type: ignore[misc]
        took = time.perf_counter() - start
        conn.rollback()
    return took, int(rows)


def median_customers(url: str, n: int) -> list[tuple[uuid.UUID, uuid.UUID, int]]:
    """`n` customers (not erased) with the median number of bookings, spread over the businesses."""
    with psycopg.connect(plain(url)) as conn:
        rows = conn.execute(
            "WITH per AS (SELECT b.business_id, b.customer_id, count(*) AS n FROM bookings b"
            "  JOIN customers c ON c.business_id = b.business_id AND c.id = b.customer_id AND c.erased_at IS NULL"
            "  GROUP BY 1, 2),"
            " mid AS (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY n) AS m FROM per)"
            " SELECT business_id, customer_id, n FROM per, mid WHERE n = mid.m ORDER BY md5(customer_id::text)"
            " LIMIT %s",
            (n,),
        ).fetchall()
    return [(b, c, n) for b, c, n in rows]


def erase_one(url: str, business: uuid.UUID, customer: uuid.UUID) -> tuple[float, dict[str, int]]:
    from booking_core import Actor, connect

    with connect(url, migrate=False) as system:
        with system.db.connect():  # a warm pool: the erasure, not the first connection, is timed
            pass
        start = time.perf_counter()
        e = system.erase_customer(business, customer_id=customer, force=True, actor=Actor.admin("bench"))
        return time.perf_counter() - start, e.cleared


def biggest_business(url: str) -> uuid.UUID:
    with psycopg.connect(plain(url)) as conn:
        (b,) = conn.execute(  # type: ignore[misc]
            "SELECT business_id FROM bookings GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
    return uuid.UUID(str(b))


def inactive_window(url: str, business: uuid.UUID, share: float, now: datetime) -> tuple[int, list[uuid.UUID]]:
    """The inactive-customer window (months) whose erasure is closest to `share` of the business's customers."""
    best: tuple[float, int, list[uuid.UUID]] | None = None
    with psycopg.connect(plain(url)) as conn:
        (total,) = conn.execute(  # type: ignore[misc]
            "SELECT count(*) FROM customers WHERE business_id = %s AND erased_at IS NULL", (business,)
        ).fetchone()
        for months in range(1, 37):
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT * FROM customers_inactive_since(%s, %s::timestamptz - make_interval(months => %s))",
                    (business, now, months),
                )
            ]
            gap = abs(len(ids) / max(total, 1) - share)
            if best is None or gap < best[0]:
                best = (gap, months, ids)
    assert best is not None
    return best[1], best[2]


def retention_times(url: str, business: uuid.UUID, now: datetime, *, dry: bool) -> tuple[float, dict[str, int]]:
    with psycopg.connect(plain(url), autocommit=True) as conn:
        start = time.perf_counter()
        (cleared,) = conn.execute(  # type: ignore[misc]
            "SELECT cleared FROM retention_run(%s, %s, %s, 'bench', 'batch')", (business, now, dry)
        ).fetchone()
        return time.perf_counter() - start, {k: int(v) for k, v in cleared.items()}


def set_policy(url: str, business: uuid.UUID, months: int) -> None:
    with psycopg.connect(plain(url), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO retention_policies (business_id, erase_inactive_after_months, updated_at, updated_by)"
            " VALUES (%s, %s, now(), 'bench') ON CONFLICT (business_id) DO UPDATE"
            " SET erase_inactive_after_months = excluded.erase_inactive_after_months",
            (business, months),
        )


def run(args: argparse.Namespace) -> None:
    url = args.database_url
    subprocess.run([*BOOKING, "db", "upgrade"], env=os.environ | {"BOOKING_DATABASE_URL": url}, check=True)
    with psycopg.connect(plain(url)) as conn:
        (bookings,) = conn.execute("SELECT count(*) FROM bookings").fetchone()  # type: ignore[misc]
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at start; {bookings:,} bookings")

    erase_s, delete_s, touched = [], [], []
    for business, customer, n in median_customers(url, args.repeats):
        # An erasure cannot be repeated, and after it the rows no longer match the reference's
        # predicate: the reference runs first, after an untimed pass that warms both sides' pages.
        delete_same_rows(url, business, [customer])
        d, rows = delete_same_rows(url, business, [customer])
        e, cleared = erase_one(url, business, customer)
        erase_s.append(e)
        delete_s.append(d)
        touched.append(rows)
        print(f"  customer with {n} bookings: erase {e * 1000:.0f} ms ({sum(cleared.values())} rows), "
              f"DELETE of the same {rows} rows {d * 1000:.1f} ms")  # fmt: skip

    now = datetime.now(UTC)
    business = biggest_business(url)
    months, inactive = inactive_window(url, business, args.share, now)
    with psycopg.connect(plain(url)) as conn:
        (total,) = conn.execute(  # type: ignore[misc]
            "SELECT count(*) FROM customers WHERE business_id = %s AND erased_at IS NULL", (business,)
        ).fetchone()
    set_policy(url, business, months)
    print(f"  retention: {len(inactive)} of {total} customers ({len(inactive) / total:.1%}) inactive {months} months")
    run_s, ref_s, rows_cleared = [], [], 0
    for i in range(args.repeats):
        if i % 2:
            ref, ref_rows = delete_same_rows(url, business, inactive)
            t, cleared = retention_times(url, business, now, dry=True)
        else:
            t, cleared = retention_times(url, business, now, dry=True)
            ref, ref_rows = delete_same_rows(url, business, inactive)
        rows_cleared = sum(cleared.values())
        run_s.append(t)
        ref_s.append(ref)
        print(f"  retention (dry) {t:.2f} s, {rows_cleared} rows; DELETE of the same {ref_rows} rows {ref:.2f} s")
    real, real_cleared = retention_times(url, business, now, dry=False)
    print(f"  retention (real, once) {real:.2f} s, {sum(real_cleared.values())} rows: {real_cleared}")
    print(f"load average {os.getloadavg()[0]:.2f} at end\n")

    e, d = statistics.median(erase_s), statistics.median(delete_s)
    t, ref = statistics.median(run_s), statistics.median(ref_s)
    print("| measured | ours (median) | plain DELETE of the same rows (median) | ours vs DELETE |")
    print("|---|---:|---:|---:|")
    typical = statistics.median(touched)
    print(f"| erase one customer ({typical:.0f} rows), ms | {e * 1000:.0f} | {d * 1000:.1f} | {d / e:.2f}x |")
    print(f"| retention run, rows/s ({rows_cleared} rows, {len(inactive)} customers) | {rows_cleared / t:,.0f} | "
          f"{rows_cleared / ref:,.0f} | {ref / t:.2f}x |")  # fmt: skip
    print(f"| retention run, customers/s | {len(inactive) / t:,.0f} | {len(inactive) / ref:,.0f} | {ref / t:.2f}x |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--share", type=float, default=0.10, help="share of customers retention erases")
    run(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
