"""`booking check --every` keeps going across a database outage: backoff, one line per failure, metrics.

A throwaway PostgreSQL cluster (initdb / pg_ctl of the installed server) is stopped under the
running checker and started again; the checker must stay up, say each failed attempt in one
line, expose its failures on --metrics-port, and store a good run once the server is back.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.metrics.conftest import free_port

BOOKING = str(Path(sys.executable).with_name("booking"))
ONE_CHECK = "party_size_out_of_range"  # the quickest check: the test is about the loop, not the rules


def bindir() -> Path:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        if IN_CI:
            pytest.fail("pg_config is not installed (postgresql server package)")
        pytest.skip("pg_config is not installed")
    return Path(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True).stdout.strip())


class Cluster:
    """A PostgreSQL cluster of our own in a temporary folder, run as `postgres` when we are root."""

    def __init__(self) -> None:
        self.bin = bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="booking-outage-"))
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres")
        self._pg("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres", "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/booking"

    def _pg(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_user, str(self.bin / tool), *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg("pg_ctl", "-D", str(self.dir / "data"), "-o", options, "-l", str(self.dir / "log"), "-w", "start")

    def stop(self) -> None:
        self._pg("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate",
                        "stop"], capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    import psycopg

    from booking_core import connect

    c = Cluster()
    try:
        c.start()
        with psycopg.connect(c.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE booking")
        connect(c.url).close()  # migrated
        yield c
    finally:
        c.remove()


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
    env = {**os.environ, "BOOKING_DATABASE_URL": cluster.url}
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
