"""End to end: a real Prometheus scrapes the exporter, a real Alertmanager pages a webhook.

An overbooking injected with raw SQL (triggers off) must reach the on-call webhook as
BookingOverbookingDetected, and the integrity checks' stored failure as BookingIntegrityRunFailed;
once the data is fixed and the checks pass again, both must resolve. Intervals are 1s so the
whole story fits in well under a minute; every wait is bounded.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml  # type: ignore[import-untyped]
from metrics.exporter import serve

from booking_core import connect
from tests.conftest import create_database, drop_database
from tests.factories import Shop
from tests.metrics.conftest import METRICS_DIR, free_port, plain_url, record_run, require_binary

Alert = dict[str, Any]
STORED_OR_CHECKER = ("BookingIntegrityRunFailed", "BookingIntegrityViolation")


class Webhook:
    """The on-call end of Alertmanager: every alert it posts, in order."""

    def __init__(self) -> None:
        self.alerts: queue.Queue[Alert] = queue.Queue()
        self.seen: list[Alert] = []
        inbox = self.alerts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                for alert in body["alerts"]:
                    alert["received_at"] = time.time()  # for the detection latency (test_detection_e2e)
                    inbox.put(alert)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, name: str | tuple[str, ...], status: str, timeout: float) -> Alert:
        """The first alert with this name (or any of these) and status, whenever it came (alerts interleave)."""
        names = (name,) if isinstance(name, str) else name
        deadline = time.monotonic() + timeout
        while True:
            for alert in self.seen:
                if alert["labels"]["alertname"] in names and alert["status"] == status:
                    return alert
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                self.seen.append(self.alerts.get(timeout=left))
            except queue.Empty:
                break
        got = [(a["labels"]["alertname"], a["status"]) for a in self.seen]
        raise AssertionError(f"no {status} {name} alert reached the webhook within {timeout}s; got {got}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Stack:
    url: str
    shop: Shop
    business: str
    webhook: Webhook
    prometheus: str


def _start(cmd: list[str], log: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        procs.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT))


def _stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """Ask every program to stop, then wait for each (killed after 10s)."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{url} exited early:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} not ready within {timeout}s:\n{log.read_text()[-2000:]}")


def _serve(program: str, args: list[str], log: Path, procs: list[subprocess.Popen[bytes]]) -> int:
    """Start a Prometheus program on a free local port and wait until it says it is ready; return the port."""
    port = free_port()
    _start([require_binary(program), *args, f"--web.listen-address=127.0.0.1:{port}"], log, procs)
    _wait_ready(f"http://127.0.0.1:{port}/-/ready", procs[-1], log)
    return port


def _alertmanager(tmp: Path, webhook: Webhook, procs: list[subprocess.Popen[bytes]], *, impatient: bool = True) -> str:
    """The shipped alertmanager.yml, pointed at the test webhook and (unless told) made impatient."""
    config = yaml.safe_load((METRICS_DIR / "alertmanager.yml").read_text())
    if impatient:
        config["route"].update(group_wait="1s", group_interval="1s", repeat_interval="1m")
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook.url
    (tmp / "alertmanager.yml").write_text(yaml.safe_dump(config))
    port = _serve(
        "prometheus-alertmanager",
        [f"--config.file={tmp / 'alertmanager.yml'}", f"--storage.path={tmp / 'am-data'}", "--cluster.listen-address="],
        tmp / "alertmanager.log",
        procs,
    )
    return f"127.0.0.1:{port}"


def _prometheus(
    tmp: Path, exporter: str, alertmanager: str, procs: list[subprocess.Popen[bytes]], *, interval: str | None = "1s"
) -> str:
    """The shipped prometheus.yml at `interval` (None: the shipped intervals), the real rules, the test's ports."""
    config = yaml.safe_load((METRICS_DIR / "prometheus.yml").read_text())
    config["rule_files"] = [str(METRICS_DIR / "alerts.yml")]
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [alertmanager]
    job = config["scrape_configs"][0]
    if interval is not None:
        config["global"].update(scrape_interval=interval, evaluation_interval=interval)
        job["scrape_timeout"] = interval
    job["static_configs"][0]["targets"] = [exporter]
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = _serve(
        "prometheus",
        [f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'prom-data'}"],
        tmp / "prometheus.log",
        procs,
    )
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def stack(admin_url: str, tmp_path: Path) -> Iterator[Stack]:
    require_binary("prometheus")
    require_binary("prometheus-alertmanager")
    url = create_database(admin_url, prefix="booking_alerting")
    procs: list[subprocess.Popen[bytes]] = []
    stops: list[Callable[[], None]] = []
    webhook = Webhook()
    try:
        with connect(url) as system:
            shop = Shop.create(system, now=datetime.now(UTC) - timedelta(hours=1))
            port = free_port()
            stops.append(serve(url, port))
            alertmanager = _alertmanager(tmp_path, webhook, procs)
            prometheus = _prometheus(tmp_path, f"127.0.0.1:{port}", alertmanager, procs)
            name = _business_name(url, shop.business_id)
            yield Stack(url, shop, name, webhook, prometheus)
    finally:
        _stop_all(procs)
        for stop in stops:
            stop()
        webhook.close()
        drop_database(admin_url, url)


def _business_name(url: str, business_id: uuid.UUID) -> str:
    with psycopg.connect(plain_url(url)) as conn:
        row = conn.execute("SELECT name FROM businesses WHERE id = %s", (business_id,)).fetchone()
    assert row is not None
    return str(row[0])


def _set_capacity_behind_the_databases_back(url: str, slot_id: uuid.UUID, capacity: int) -> None:
    # Superuser with triggers off: no capacity-change record, no audit row - a real bypass.
    with psycopg.connect(plain_url(url), autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE time_slots SET max_capacity = %s WHERE id = %s", (capacity, slot_id))


def _run_checks(url: str, overbooked: int) -> None:
    """Store a run of the overbooking suite: through the checks runner when it is installed."""
    try:
        from checks.runner import run_all
    except ImportError:
        record_run(url, at=datetime.now(UTC), results={"overbooked_slot": overbooked})
        return
    summary = run_all(url, ["overbooking"], triggered_by="test")
    found = {r.name: r.violation_count for r in summary.results}
    assert found["overbooked_slot"] == overbooked, summary.to_dict()


def test_an_injected_overbooking_pages_on_call_and_resolves_once_fixed(stack: Stack) -> None:
    shop = stack.shop
    now = datetime.now(UTC)
    slot = shop.slots(days=14, now=now)[0]
    shop.book(slot, party=4, now=now)
    _set_capacity_behind_the_databases_back(stack.url, slot.id, 2)
    _run_checks(stack.url, overbooked=1)

    fired = stack.webhook.wait_for("BookingOverbookingDetected", "firing", timeout=45)
    assert fired["labels"]["business"] == stack.business
    assert fired["labels"]["severity"] == "critical"
    assert "1 slot(s) hold more seats than capacity" in fired["annotations"]["summary"]
    # A stored run's failure is BookingIntegrityRunFailed; the continuous checker's per-business
    # BookingIntegrityViolation for the same check inhibits it wherever the checker runs.
    check = stack.webhook.wait_for(STORED_OR_CHECKER, "firing", timeout=20)
    assert check["labels"]["check"] == "overbooked_slot"

    _set_capacity_behind_the_databases_back(stack.url, slot.id, slot.max_capacity)
    _run_checks(stack.url, overbooked=0)
    resolved = stack.webhook.wait_for("BookingOverbookingDetected", "resolved", timeout=30)
    assert resolved["labels"]["business"] == stack.business
    stack.webhook.wait_for(STORED_OR_CHECKER, "resolved", timeout=20)
