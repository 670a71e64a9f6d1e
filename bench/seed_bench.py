"""Benchmark `booking seed --bookings N` on a fresh embedded PostgreSQL, beside PostgreSQL's own COPY of the rows.

Each run: a new data directory and embedded server; `booking seed` runs as a subprocess
(wall time; peak memory of the seed process from getrusage of children); then the rows it
wrote are dumped to files and loaded with plain COPY into a fresh database of the same
schema (triggers off, indexes on, like the seed's own load): the reference, measured in
the same run on the same server. Prints the medians and the ratio seed / COPY.

    python -m bench.seed_bench --bookings 100000 --runs 3
    python -m bench.seed_bench --bookings 1000000 --runs 1
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from bench.cli import numeric_options

TABLES = (
    "customers",
    "time_slots",
    "bookings",
    "booking_state_transitions",
    "payments",
    "refunds",
    "booking_audit_log",
    "audit_chain",
)
BOOKING = str(Path(sys.executable).parent / "booking")


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def run_seed(url: str, bookings: int, seed: int) -> tuple[float, float, str]:
    """Wall seconds, peak RSS of the seed process in MiB, and its report line."""
    env = os.environ | {"BOOKING_DATABASE_URL": url}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    done = subprocess.run(
        [BOOKING, "seed", "--bookings", str(bookings), "--seed", str(seed)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - t
    if done.returncode != 0:
        sys.exit(f"booking seed failed: {done.stderr.strip()}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak_kib <= before:
        print("note: peak memory not above an earlier child's; reporting the running maximum", file=sys.stderr)
    return wall, peak_kib / 1024, done.stdout.strip().splitlines()[-1]


def _with_database(url: str, name: str) -> str:
    base, _, query = _plain(url).partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")


def reference_copy(url: str, workdir: Path) -> float:
    """Dump the seeded tables to files, load them with COPY into a fresh migrated database: seconds."""
    from booking_core import connect

    files = {}
    with psycopg.connect(_plain(url)) as src:
        for table in TABLES:
            path = workdir / f"{table}.copy"
            with path.open("wb") as f, src.cursor().copy(f"COPY {table} TO STDOUT") as cp:
                for chunk in cp:
                    f.write(chunk)
            files[table] = path
    admin = _with_database(url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS booking_reference")
        conn.execute("CREATE DATABASE booking_reference")
    ref_url = _with_database(url, "booking_reference")
    connect(ref_url).close()  # migrate: the same schema, indexes and triggers
    with psycopg.connect(ref_url) as dst:
        t = time.perf_counter()
        with dst.transaction():
            dst.execute("SET LOCAL session_replication_role = replica")
            for table, path in files.items():
                with path.open("rb") as f, dst.cursor().copy(f"COPY {table} FROM STDIN") as cp:
                    while block := f.read(1 << 20):
                        cp.write(block)
        return time.perf_counter() - t


def one_run(bookings: int, seed: int) -> tuple[float, float, float, str]:
    from booking_core import connect
    from booking_core.adapters.embedded import start_embedded

    with tempfile.TemporaryDirectory(prefix="seed-bench-", ignore_cleanup_errors=True) as tmp:
        data_dir = Path(tmp)
        os.chmod(data_dir, 0o755)
        url, server = start_embedded(data_dir)
        try:
            connect(url).close()  # migrate before timing
            wall, peak, line = run_seed(url, bookings, seed)
            ref = reference_copy(url, data_dir)
        finally:
            server.cleanup()
            # The stopping server may still write into its folder while the context removes it.
            shutil.rmtree(data_dir, ignore_errors=True)
    return wall, peak, ref, line


def main() -> None:
    args = numeric_options(__doc__, bookings=100_000, runs=3, seed=1)
    walls, peaks, refs = [], [], []
    for i in range(args.runs):
        wall, peak, ref, line = one_run(args.bookings, args.seed)
        walls.append(wall)
        peaks.append(peak)
        refs.append(ref)
        print(
            f"run {i + 1}: seed {wall:.1f} s, peak {peak:.0f} MiB, COPY of the same rows {ref:.1f} s"
            f" (ratio {wall / ref:.1f}x)\n  {line}"
        )
    wall, ref = statistics.median(walls), statistics.median(refs)
    print(
        f"\nbooking seed --bookings {args.bookings:,}: median {wall:.1f} s wall, peak {max(peaks):.0f} MiB;"
        f" PostgreSQL COPY of the same rows from files: median {ref:.1f} s; ratio {wall / ref:.1f}x"
        f" ({args.runs} run{'s' if args.runs > 1 else ''})"
    )


if __name__ == "__main__":
    main()
