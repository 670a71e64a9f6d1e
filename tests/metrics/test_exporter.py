"""The exporter's HTTP server and `booking exporter`: /metrics, /health, a taken port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from metrics.exporter import PortInUse, serve

from tests.conftest import create_database, drop_database
from tests.metrics.conftest import free_port, record_run

NOW = datetime(2030, 3, 4, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def fresh_url(admin_url: str) -> Iterator[str]:
    """A migrated database of its own, so 'no check has ever run' is true."""
    from booking_core import connect

    url = create_database(admin_url, prefix="booking_exporter")
    connect(url).close()
    yield url
    drop_database(admin_url, url)


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers["Content-Type"], r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read().decode()


@pytest.fixture
def exporter(fresh_url: str) -> Iterator[str]:
    port = free_port()
    stop = serve(fresh_url, port, clock=lambda: NOW, max_check_age=3600)
    yield f"http://127.0.0.1:{port}"
    stop()


def test_metrics_are_served_in_the_prometheus_text_format(exporter: str) -> None:
    code, ctype, body = get(exporter + "/metrics")
    assert code == 200
    assert ctype.startswith("text/plain; version=0.0.4")
    assert "booking_database_up 1.0" in body


def test_health_follows_the_age_of_the_last_check_run(exporter: str, fresh_url: str) -> None:
    code, ctype, body = get(exporter + "/health")
    assert (code, ctype) == (503, "application/json")
    assert "never run" in json.loads(body)["reason"]

    record_run(fresh_url, at=NOW - timedelta(hours=3), results={"overbooked_slot": 0})
    code, _, body = get(exporter + "/health")
    assert code == 503
    assert json.loads(body)["reason"].startswith("last good integrity check run is 10800s old")

    record_run(fresh_url, at=NOW - timedelta(minutes=5), results={"overbooked_slot": 0})
    code, _, body = get(exporter + "/health")
    assert code == 200
    assert json.loads(body) | {"last_check_run": "-", "last_good_check_run": "-"} == {
        "database": "up", "status": "ok", "last_check_run": "-", "last_good_check_run": "-",
        "last_check_age_seconds": 300.0, "last_check_status": "passed",
        # The dispatcher's backlog and circuits: reported, not a reason to be unhealthy.
        "notifications": {"pending": 0, "due": 0, "oldest_pending_seconds": None, "oldest_due_seconds": None,
                          "dead": 0, "dead_recent": 0},
        "circuits": [],
    }  # fmt: skip


def test_health_is_503_with_a_reason_when_the_database_is_down() -> None:
    port = free_port()
    stop = serve(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere", port)
    try:
        code, _, body = get(f"http://127.0.0.1:{port}/health")
        metrics = get(f"http://127.0.0.1:{port}/metrics")
    finally:
        stop()
    assert code == 503
    assert json.loads(body)["database"] == "down"
    assert json.loads(body)["reason"].startswith("database: ")
    assert metrics[0] == 200 and "booking_database_up 0.0" in metrics[2]


def test_an_errored_run_is_reported_and_never_counts_as_a_fresh_check(admin_url: str) -> None:
    from booking_core import connect

    url = create_database(admin_url, prefix="booking_exporter")
    connect(url).close()
    port = free_port()
    stop = serve(url, port, clock=lambda: NOW, max_check_age=3600)
    try:
        record_run(url, at=NOW - timedelta(minutes=1), results={"overbooked_slot": "connection lost"})
        code, _, body = get(f"http://127.0.0.1:{port}/health")
        assert code == 503 and json.loads(body)["last_check_status"] == "errored"
        assert "no integrity check run has completed without errors" in json.loads(body)["reason"]

        good = NOW - timedelta(hours=2)
        record_run(url, at=good, results={"overbooked_slot": 0})
        code, _, body = get(f"http://127.0.0.1:{port}/health")
        assert code == 503 and json.loads(body)["last_good_check_run"] == good.isoformat()
        assert json.loads(body)["reason"].endswith("(the latest run errored)")
        metrics = get(f"http://127.0.0.1:{port}/metrics")[2]
    finally:
        stop()
        drop_database(admin_url, url)
    assert "booking_integrity_last_run_errored 1.0" in metrics
    (line,) = [m for m in metrics.splitlines() if m.startswith("booking_integrity_last_good_run_timestamp_seconds ")]
    assert float(line.split()[1]) == good.timestamp()


def test_serving_on_a_taken_port_is_a_typed_error(exporter: str, fresh_url: str) -> None:
    port = int(exporter.rsplit(":", 1)[1])
    with pytest.raises(PortInUse, match=f"port {port} on 127.0.0.1 is in use"):
        serve(fresh_url, port)


def test_booking_exporter_on_a_taken_port_prints_one_line_and_exits_non_zero(exporter: str, fresh_url: str) -> None:
    port = exporter.rsplit(":", 1)[1]
    booking = Path(sys.executable).with_name("booking")
    env = {**os.environ, "BOOKING_DATABASE_URL": fresh_url}
    done = subprocess.run([str(booking), "exporter", "--port", port], capture_output=True,
                          text=True, env=env, timeout=60)  # fmt: skip
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1
    assert f"port {port} on 127.0.0.1 is in use" in done.stderr
    assert "Traceback" not in done.stderr
