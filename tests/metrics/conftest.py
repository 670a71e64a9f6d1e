"""Fixtures for the exporter tests: the real Prometheus binaries, and stored check runs."""

from __future__ import annotations

import json
import shutil
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.conftest import IN_CI

METRICS_DIR = Path(__file__).resolve().parents[2] / "metrics"
RecordRun = Callable[..., uuid.UUID]


def require_binary(name: str) -> str:
    """The binary's path; skips when missing, except under CI where a missing part fails."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian package prometheus / prometheus-alertmanager)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def plain_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def record_run(
    url: str,
    *,
    at: datetime,
    results: dict[str, int | str],
    suite: str = "overbooking",
    duration: float = 1.5,
) -> uuid.UUID:
    """Store a finished check run the way the checks runner does: violations, or an error text."""
    run_id = uuid.uuid4()
    failed = any(isinstance(v, int) and v > 0 for v in results.values())
    errored = any(isinstance(v, str) for v in results.values())
    status = "errored" if errored else "failed" if failed else "passed"
    with psycopg.connect(plain_url(url), autocommit=True) as conn, conn.transaction():
        conn.execute(
            "INSERT INTO integrity_check_runs"
            " (id, started_at, finished_at, duration_seconds, status) VALUES (%s, %s, %s, %s, %s)",
            (run_id, at - timedelta(seconds=duration), at, duration, status),
        )
        for name, outcome in results.items():
            error = outcome if isinstance(outcome, str) else None
            count = outcome if isinstance(outcome, int) else 0
            conn.execute(
                "INSERT INTO integrity_check_results (run_id, check_name, suite, description,"
                " status, violation_count, sample, error, duration_seconds)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    run_id,
                    name,
                    suite,
                    f"{name} holds",
                    "errored" if error else "failed" if count else "passed",
                    count,
                    json.dumps([]),
                    error,
                    duration / 2,
                ),
            )
    return run_id
