"""Detection latency: a violation written with raw SQL by the table owner, to the alert at the on-call webhook.

Not a test: it measures and prints. Run from the repository root:
`python -m bench.detection_latency [--bookings 20000 | --database-url URL] [--per-kind 20] [--spread 120] [--idle 60]
[--keep]` (a database given is used as it is and kept; its target shops are added to it).

The pipeline is the shipped one: `booking checker` (incremental every 5s, full sweep every 10 min),
the exporter, Prometheus with the shipped prometheus.yml (scrape and evaluation every 15s, the
shipped alerts.yml: BookingIntegrityViolation has `for: 15s`) and Alertmanager with the shipped
alertmanager.yml (group_wait 10s), its webhook pointed at a local receiver.

1. A new database bulk-seeded with `--bookings` (booking_demo.seed.bulk_seed, audit sealed) and
   one clean stored `booking check` run; plus `--per-kind` small target shops per kind of
   violation (one business per injected violation: each alert its own series and group).
2. Idle for `--idle` seconds once the checker's first sweep and first chain pass are scraped: the database's
   transactions/s (pg_stat_database), the checker's passes/s (checker_state), how often a checker
   backend is active (pg_stat_activity sampled every 0.25s), the checker process's CPU share (/proc).
3. Every kind (tests/metrics/detection.py: overbooking, seat drift, payment mismatch, orphan,
   audit edit, chain break, stuck outbox) written `--per-kind` times, at random moments over
   `--spread` seconds; the time from each commit to the first firing alert naming its check and
   business at the webhook. Median, p95 and max per kind; any other alert that fired is listed.
4. Prometheus's scrape_duration_seconds of the exporter over the whole run: median and p95.
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import psycopg
from checks.runner import run_all
from tests.metrics import detection
from tests.metrics.conftest import plain_url

from bench.checks_bench import ADMIN_URL, create_seeded, drop, sizes
from bench.cli import seeded_parser
from booking_core import connect


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def promql(prometheus: str, query: str) -> list[dict[str, Any]]:
    params = urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query?{params}", timeout=10) as response:
        result: list[dict[str, Any]] = json.loads(response.read())["data"]["result"]
    return result


def wait_for(prometheus: str, query: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not promql(prometheus, query):
        if time.monotonic() > deadline:
            raise SystemExit(f"Prometheus never had {query}")
        time.sleep(1)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _db_counters(url: str) -> tuple[int, int]:
    """(transactions committed or rolled back in this database, checker passes stored)."""
    with psycopg.connect(plain_url(url)) as conn:
        xacts = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        passes = conn.execute("SELECT coalesce(sum(passes), 0) FROM checker_state").fetchone()
    assert xacts is not None and passes is not None
    return int(xacts[0]), int(passes[0])


def idle_load(url: str, checker_pid: int, seconds: float) -> dict[str, float]:
    """The checker's load on an idle database over `seconds`.

    A pass is one transaction on its own connection, so the checker's transactions/s are its
    passes/s; the database's transactions/s add the exporter's (scrapes, history refreshes).
    """
    active = samples = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal active, samples
        # From the maintenance database: the sampler's own queries are not the checked database's.
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            while not stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'booking_checker'"
                    " AND state = 'active' AND datname = %s",
                    (url.rsplit("/", 1)[1],),
                ).fetchone()
                samples, active = samples + 1, active + int(bool(row and row[0]))
                stop.wait(0.25)

    xacts0, passes0 = _db_counters(url)
    cpu0, t0 = _cpu_seconds(checker_pid), time.monotonic()
    sampler = threading.Thread(target=sample)
    sampler.start()
    time.sleep(seconds)
    stop.set()
    sampler.join()
    xacts1, passes1 = _db_counters(url)
    wall = time.monotonic() - t0
    return {
        "seconds": wall,
        "database_xact_per_s": (xacts1 - xacts0) / wall,
        "checker_passes_per_s": (passes1 - passes0) / wall,
        "checker_backend_active_share": active / max(samples, 1),
        "checker_process_cpu_share": (_cpu_seconds(checker_pid) - cpu0) / wall,
    }


def make_targets(url: str, per_kind: int) -> dict[str, list[uuid.UUID]]:
    started = time.perf_counter()
    with connect(url) as system:
        targets = {kind: [detection.prepare_target(system) for _ in range(per_kind)] for kind in detection.KINDS}
    print(f"{per_kind * len(targets)} target shops in {time.perf_counter() - started:.0f}s")
    return targets


def inject_spread(url: str, targets: dict[str, list[uuid.UUID]], spread: float, seed: int) -> list[detection.Fault]:
    """Every (kind, business) written once, at random moments over `spread` seconds (the scrape phase varies)."""
    rng = random.Random(seed)
    plan = sorted((rng.uniform(0, spread), kind, biz) for kind, bizs in targets.items() for biz in bizs)
    start = time.monotonic()
    faults = []
    for at, kind, biz in plan:
        time.sleep(max(0.0, start + at - time.monotonic()))
        faults.append(detection.inject(url, kind, biz))
    return faults


def report(faults: list[detection.Fault], got: dict[detection.Fault, dict[str, Any]]) -> None:
    print(f"\n{'kind':<18}{'n':>4}{'paged':>7}{'median s':>10}{'p95 s':>8}{'max s':>8}")
    for kind in detection.KINDS:
        mine = [f for f in faults if f.kind == kind]
        waits = [got[f]["received_at"] - f.written_at for f in mine if f in got]
        if not waits:
            print(f"{kind:<18}{len(mine):>4}{0:>7}  never paged")
            continue
        med, top, worst = statistics.median(waits), p95(waits), max(waits)
        print(f"{kind:<18}{len(mine):>4}{len(waits):>7}{med:>10.1f}{top:>8.1f}{worst:>8.1f}")
    every = [got[f]["received_at"] - f.written_at for f in faults if f in got]
    if every:
        print(f"{'all':<18}{len(faults):>4}{len(every):>7}{statistics.median(every):>10.1f}{p95(every):>8.1f}")


def main() -> None:
    args = seeded_parser(__doc__, bookings=20_000, per_kind=20, spread=120.0, idle=60.0, seed=15).parse_args()

    url = args.database_url or create_seeded(args.bookings, prefix="bench_detection")
    try:
        print("rows:", sizes(url))
        t = time.perf_counter()
        summary = run_all(url, triggered_by="bench")
        dirty = {r.name: r.violation_count for r in summary.results if r.violation_count}
        print(f"stored check run in {time.perf_counter() - t:.0f}s, violations: {dirty or 'none'}")
        targets = make_targets(url, args.per_kind)
        names = detection.business_names(url)
        with (
            tempfile.TemporaryDirectory(prefix="bench_detection_") as tmp,
            detection.pipeline(url, Path(tmp), every="5s", interval=None, impatient=False) as p,
        ):
            began = time.time()
            print("pipeline: checker every 5s (full sweep 10m); Prometheus scrape and evaluation 15s; group_wait 10s")
            # Steady state: the first sweep and the first chain pass (with no verified head yet, the
            # whole walk) done; the idle load and the latencies are those of the passes after them.
            for mode in ("full", "chain"):
                wait_for(p.prometheus, f'booking_checker_last_pass_timestamp_seconds{{mode="{mode}"}}', timeout=900)
            load = idle_load(url, p.checker.pid, args.idle)
            print("idle:", {k: round(v, 4) for k, v in load.items()})
            quiet = list(p.webhook.seen)
            while not p.webhook.alerts.empty():
                quiet.append(p.webhook.alerts.get())
            print(f"alerts while idle: {[(a['labels']['alertname'], a['status']) for a in quiet] or 'none'}")
            faults = inject_spread(url, targets, args.spread, args.seed)
            got = detection.received(p.webhook, faults, names, timeout=300)
            report(faults, got)
            hit = {names[f.business_id] for f in faults}
            others: dict[tuple[str, str], set[str]] = {}
            wanted = {(f.check, names[f.business_id]) for f in faults}
            for a in p.webhook.seen:
                name, check, business = (a["labels"].get(k, "") for k in ("alertname", "check", "business"))
                if a["status"] == "firing" and (check, business) not in wanted:
                    others.setdefault((name, check), set()).add(business)
            # A write breaks more than its own check (a grown party: its price lock too); a page in
            # a business nothing was written to is a false one.
            for (name, check), businesses in sorted(others.items()):
                false = businesses - hit
                print(f"also fired: {name} {check} in {len(businesses - false)} written, {len(false)} other businesses")
            if not others:
                print("also fired: none")
            window = f"[{int(time.time() - began)}s]"
            for q in (0.5, 0.95):
                r = promql(p.prometheus, f'quantile_over_time({q}, scrape_duration_seconds{{job="booking"}}{window})')
                n = promql(p.prometheus, f'count_over_time(scrape_duration_seconds{{job="booking"}}{window})')
                print(f"scrape duration q{q}: {float(r[0]['value'][1]) * 1000:.0f} ms over {n[0]['value'][1]} scrapes")
    finally:
        if args.keep or args.database_url:
            print(f"kept {url}")
        else:
            drop(url)


if __name__ == "__main__":
    main()
