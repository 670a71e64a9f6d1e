"""`booking demo` as a user runs it: ready, interrupted, gone; refused while one runs or a port is taken."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from tests.conftest import create_database, drop_database

BOOKING = str(Path(sys.executable).parent / "booking")
SMALL = ["--anchor", "2026-03-02", "--history-days", "10", "--ahead-days", "5"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def demo_env(admin_url: str, tmp_path: Path) -> Iterator[tuple[dict[str, str], str]]:
    url = create_database(admin_url, prefix="demo_cli")
    env = os.environ | {"BOOKING_DATABASE_URL": url, "BOOKING_DATA_DIR": str(tmp_path / "data")}
    try:
        yield env, url
    finally:
        drop_database(admin_url, url)


def _lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put("<eof>")

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_for(lines: queue.Queue[str], prefix: str) -> list[str]:
    seen: list[str] = []
    while True:
        line = lines.get(timeout=240)
        seen.append(line)
        if line.startswith(prefix) or line == "<eof>":
            return seen


def _businesses(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM businesses").fetchone()
    return int(row[0]) if row else -1


def _swept(url: str, timeout: float = 120) -> bool:
    """Wait for the checker's first full sweep and a later incremental pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT bool_and(last_pass_at IS NOT NULL) AND count(*) = 2 FROM checker_state"
                " WHERE mode IN ('full', 'incremental')"
            ).fetchone()
        if row and row[0]:
            return True
        time.sleep(1)
    return False


def _open_violations(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT check_name, subject_kind, subject_id FROM integrity_violations").fetchall()


def test_booking_demo_starts_reports_ready_and_stops_cleanly_on_ctrl_c(demo_env):
    env, url = demo_env
    login_port = _free_port()
    ports = ["--port-dashboard", str(_free_port()), "--port-metrics", str(_free_port())]
    cmd = [BOOKING, "demo", *SMALL, *ports, "--port-login", str(login_port)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as proc:
        try:
            seen = _wait_for(_lines(proc), "ready:")
            assert seen[-1].startswith("ready:"), seen
            assert any(line.startswith("generated ") for line in seen)
            assert any("continuous checker" in line for line in seen), seen
            # Retention: a policy per business, run once at the start (docs/personal-data.md).
            assert any("retention: a policy for each of 3 businesses" in line for line in seen), seen
            with psycopg.connect(url) as conn:
                ran = conn.execute(
                    "SELECT count(DISTINCT p.business_id), count(r.id) FROM retention_policies p"
                    " JOIN retention_runs r ON r.business_id = p.business_id AND NOT r.dry_run"
                ).fetchone()
            assert ran == (3, 3)
            # The login: a person of each role per business, and an admin, each a member as printed.
            people = [line.strip() for line in seen if line.strip().endswith(")") and "@demo.test (" in line]
            assert len(people) == 3 * 3 + 1, seen
            with psycopg.connect(url) as conn:
                held = conn.execute(
                    "SELECT m.person, m.role::text, coalesce(' of ' || b.name, ' of memberships')"
                    " FROM memberships m LEFT JOIN businesses b ON b.id = m.business_id"
                ).fetchall()
            assert sorted(people) == sorted(f"{p} ({r}{of})" for p, r, of in held)
            with urllib.request.urlopen(f"http://127.0.0.1:{login_port}/.well-known/openid-configuration") as r:
                assert json.load(r)["issuer"] == f"http://127.0.0.1:{login_port}"
            children = psutil.Process(proc.pid).children(recursive=True)
            # The checker sweeps the demo's data: nothing in it is a violation (no false page).
            assert _swept(url) and _open_violations(url) == []

            second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)
            assert second.returncode != 0
            assert second.stderr.count("\n") == 1 and "already running" in second.stderr

            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"left running: {[p.pid for p in alive]}"
    assert _businesses(url) == 3


def test_booking_demo_refuses_a_taken_port_before_writing_anything(demo_env):
    env, url = demo_env
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        cmd = [BOOKING, "demo", *SMALL, "--port-metrics", port, "--port-dashboard", str(_free_port())]
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and f"port {port}" in result.stderr and "--port-metrics" in result.stderr
    assert not _migrated(url), "the refused demo touched the database"


def _migrated(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT to_regclass('public.businesses') IS NOT NULL").fetchone()
    return bool(row and row[0])
