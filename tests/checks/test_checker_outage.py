"""`booking check --every` keeps going across a database outage: backoff, one line per failure, metrics.

A throwaway PostgreSQL cluster (tests/pgcluster.py: initdb / pg_ctl of the installed server) is stopped under the
running checker and started again; the checker must stay up, say each failed attempt in one
line, expose its failures on --metrics-port, and store a good run once the server is back.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.metrics.conftest import free_port
from tests.pgcluster import Cluster, NoBinaries

BOOKING = str(Path(sys.executable).with_name("booking"))
ONE_CHECK = "party_size_out_of_range"  # the quickest check: the test is about the loop, not the rules


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    import psycopg

    from booking_core import connect

    try:
        c = Cluster.create()
    except NoBinaries as exc:
        if IN_CI:
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    try:
        with psycopg.connect(c.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE booking")
        connect(c.url("booking")).close()  # migrated
        yield c
    finally:
        c.destroy()


def lines(stream: object) -> queue.Queue[str]:
    """The stream's lines, read on a thread (a blocking readline must not hang the test)."""
    q: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:  # type: ignore[attr-defined]
            q.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return q


def next_run(out: queue.Queue[str], *, status: str, within: float = 300) -> dict[str, object]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            run: dict[str, object] = json.loads(out.get(timeout=5))
        except queue.Empty:
            continue
        if run["status"] == status:
            return run
    raise AssertionError(f"no {status} run within {within}s")


def metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return {k: float(v) for k, v in (line.split() for line in text.splitlines() if line.startswith("booking_checker"))}


@pytest.mark.slow
def test_the_checker_survives_a_database_outage_and_recovers(cluster: Cluster) -> None:
    port = free_port()
    env = {**os.environ, "BOOKING_DATABASE_URL": cluster.url("booking")}
    args = [BOOKING, "check", "--every", "1s", "--only", ONE_CHECK, "--json", "--metrics-port", str(port)]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = lines(proc.stdout), lines(proc.stderr)
        first = next_run(out, status="passed")
        assert metrics(port)["booking_checker_consecutive_failures"] == 0

        cluster.stop()
        failures = [err.get(timeout=120) for _ in range(2)]  # backoff: one line per failed attempt
        assert all(f.startswith("error: integrity checks did not run (") for f in failures), failures
        assert all(f.count("\n") == 1 and "Traceback" not in f for f in failures)
        down = metrics(port)
        assert down["booking_checker_consecutive_failures"] >= 2 and proc.poll() is None

        cluster.start()
        back = next_run(out, status="passed")
        up = metrics(port)
    finally:
        proc.terminate()
        _, rest = proc.communicate(timeout=60)
    assert back["run_id"] != first["run_id"]
    assert up["booking_checker_consecutive_failures"] == 0 and up["booking_checker_failures_total"] >= 2
    assert (
        up["booking_checker_last_success_timestamp_seconds"] >= down["booking_checker_last_attempt_timestamp_seconds"]
    )
    assert "Traceback" not in rest
