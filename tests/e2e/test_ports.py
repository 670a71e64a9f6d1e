"""Ports: a restart binds at once although the last process left TIME_WAIT sockets; a busy port names its holder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import pytest

from booking_core.ports import PortInUse, holder, require_free
from tests.conftest import IN_CI

# A server that accepts one connection and closes it first (so the server side goes to
# TIME_WAIT), then exits: what a dashboard or exporter leaves behind when it is restarted.
SERVER = textwrap.dedent("""
    import socket, sys
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen()
    print(s.getsockname()[1], flush=True)
    conn, _ = s.accept()
    conn.close()
    s.close()
""")


def time_wait_port() -> int:
    """A port with a connection in TIME_WAIT and nobody listening."""
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    port = int(server.stdout.readline())
    client = socket.create_connection(("127.0.0.1", port))
    assert server.wait(timeout=30) == 0
    server.stdout.close()
    client.recv(1)  # the server's FIN has arrived: it closed first
    client.close()
    return port


def in_time_wait(port: int) -> bool:
    from pathlib import Path

    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(f"{port:04X}" == f.split()[1].rsplit(":", 1)[1] and f.split()[3] == "06" for f in lines)


def test_a_port_left_in_time_wait_binds_at_once() -> None:
    if not os.path.exists("/proc/net/tcp"):  # the test reads TIME_WAIT there (Linux)
        if IN_CI:
            pytest.fail("/proc/net/tcp is missing: this test needs Linux")
        pytest.skip("reads TIME_WAIT from /proc/net/tcp (Linux)")
    port = time_wait_port()
    assert in_time_wait(port)
    # Without SO_REUSEADDR (the old probe) the port reads as taken: the test can fail.
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", port))
    require_free("127.0.0.1", port)  # the probe's view: free, as for the server about to bind it


def test_a_busy_port_names_the_process_that_holds_it() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert holder(port)[0] == os.getpid()
        with pytest.raises(PortInUse, match=rf"port {port} on 127.0.0.1 is in use by .* \(pid {os.getpid()}\)"):
            require_free("127.0.0.1", port, flag="--port-metrics")


def test_the_exporter_restarts_on_its_port_at_once(database_url: str) -> None:
    """`booking exporter` stopped after serving a scrape, then started again on the same port."""
    import urllib.request

    from tests.metrics.conftest import free_port

    port = free_port()
    booking = os.path.join(os.path.dirname(sys.executable), "booking")
    env = {**os.environ, "BOOKING_DATABASE_URL": database_url}
    for _ in range(2):
        proc = subprocess.Popen([booking, "exporter", "--port", str(port)], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("exporter on"), proc.stderr.read() if proc.stderr else line
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
                assert r.status == 200
        finally:
            proc.terminate()
            proc.communicate(timeout=30)  # closes the pipes too
