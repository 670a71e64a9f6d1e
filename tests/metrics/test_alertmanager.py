"""The shipped alertmanager.yml in a real Alertmanager: routing, grouping by business, inhibition.

Alerts are posted to Alertmanager's API with the labels alerts.yml gives them (severity, scope),
and what reaches the on-call webhook is read back, as in test_alerting_e2e.py (whose
Alertmanager and webhook helpers this reuses).
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.metrics.conftest import METRICS_DIR, require_binary
from tests.metrics.test_alerting_e2e import Webhook, _alertmanager

Labels = dict[str, str]


def rule_labels(alertname: str, **labels: str) -> Labels:
    """The labels Prometheus gives a firing `alertname` (from alerts.yml), plus the alert's own."""
    groups = yaml.safe_load((METRICS_DIR / "alerts.yml").read_text())["groups"]
    (rule,) = [r for g in groups for r in g["rules"] if r.get("alert") == alertname]
    return {"alertname": alertname, **rule["labels"], **labels}


class Alertmanager:
    def __init__(self, address: str, webhook: Webhook) -> None:
        self.api = f"http://{address}/api/v2"
        self.webhook = webhook

    def post(self, *alerts: Labels, resolved: bool = False) -> None:
        body: list[dict[str, Any]] = [{"labels": labels, "annotations": {}} for labels in alerts]
        if resolved:
            for alert in body:
                alert["endsAt"] = datetime.now(UTC).isoformat()
        request = urllib.request.Request(
            f"{self.api}/alerts",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.api}/{path}", timeout=5) as response:
            return json.loads(response.read())

    def received(self) -> list[tuple[str, str]]:
        """(alertname, status) of everything the webhook got so far, in order."""
        while not self.webhook.alerts.empty():
            self.webhook.seen.append(self.webhook.alerts.get_nowait())
        return [(a["labels"]["alertname"], a["status"]) for a in self.webhook.seen]


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    procs: list[subprocess.Popen[bytes]] = []
    webhook = Webhook()
    try:
        yield Alertmanager(_alertmanager(tmp_path, webhook, procs), webhook)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
        webhook.close()


def test_amtool_accepts_the_config_and_routes_every_alert_to_the_on_call_webhook() -> None:
    amtool = require_binary("amtool")
    done = subprocess.run(
        [amtool, "check-config", "alertmanager.yml"], capture_output=True, text=True, timeout=60, cwd=METRICS_DIR
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 inhibit rules" in done.stdout

    def route(receiver: str, labels: Labels) -> subprocess.CompletedProcess[str]:
        args = [f"{k}={v}" for k, v in labels.items()]
        test = ["config", "routes", "test", "--config.file=alertmanager.yml", f"--verify.receivers={receiver}"]
        return subprocess.run(
            [amtool, *test, *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=METRICS_DIR,
        )

    for labels in (
        rule_labels("BookingOverbookingDetected", business="Cafe A"),
        rule_labels("BookingCancellationSpike", business="Cafe A"),
        rule_labels("BookingDatabaseDown", instance="127.0.0.1:9108"),
    ):
        done = route("booking-oncall", labels)
        assert done.returncode == 0, done.stdout + done.stderr
    assert route("nobody", rule_labels("BookingDatabaseDown")).returncode == 1


def test_a_database_outage_inhibits_business_and_pipeline_alerts_until_it_resolves(alertmanager: Alertmanager) -> None:
    down = rule_labels("BookingDatabaseDown", instance="127.0.0.1:9108")
    overbooked = rule_labels("BookingOverbookingDetected", business="Cafe A")
    violation = rule_labels(
        "BookingIntegrityViolation", business="Cafe A", check="orphaned_booking", suite="orphaned_bookings"
    )
    scrape_errors = rule_labels("BookingScrapeErrors", instance="127.0.0.1:9108")
    alertmanager.post(down, overbooked, violation, scrape_errors)

    alertmanager.webhook.wait_for("BookingDatabaseDown", "firing", timeout=30)
    states = {a["labels"]["alertname"]: a["status"] for a in alertmanager.get("alerts")}
    assert states["BookingDatabaseDown"]["state"] == "active"
    for name in ("BookingOverbookingDetected", "BookingIntegrityViolation", "BookingScrapeErrors"):
        assert states[name]["state"] == "suppressed", name
        assert states[name]["inhibitedBy"], name
    assert alertmanager.received() == [("BookingDatabaseDown", "firing")]

    alertmanager.post(down, resolved=True)
    fired = alertmanager.webhook.wait_for("BookingOverbookingDetected", "firing", timeout=30)
    assert fired["labels"]["business"] == "Cafe A"
    alertmanager.webhook.wait_for("BookingIntegrityViolation", "firing", timeout=30)


def test_alerts_are_grouped_by_business_and_alert(alertmanager: Alertmanager) -> None:
    alertmanager.post(
        rule_labels("BookingOverbookingDetected", business="Cafe A"),
        rule_labels("BookingOverbookingDetected", business="Cafe B"),
        rule_labels("BookingIntegrityViolation", business="Cafe A", check="orphaned_booking", suite="orphaned"),
        rule_labels("BookingIntegrityViolation", business="Cafe A", check="overbooked_slot", suite="overbooking"),
        rule_labels("BookingScrapeSlow", instance="127.0.0.1:9108"),
    )
    expected = {
        ("BookingOverbookingDetected", "Cafe A"): 1,
        ("BookingOverbookingDetected", "Cafe B"): 1,
        ("BookingIntegrityViolation", "Cafe A"): 2,
        ("BookingScrapeSlow", None): 1,
    }

    def groups() -> dict[tuple[str, str | None], int]:
        return {
            (g["labels"]["alertname"], g["labels"].get("business")): len(g["alerts"])
            for g in alertmanager.get("alerts/groups")
        }

    # Alertmanager files posted alerts into groups asynchronously: wait (bounded) until all five are in.
    deadline = time.monotonic() + 30
    while sum(groups().values()) < 5 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert groups() == expected


def test_a_per_business_violation_inhibits_the_stored_runs_warning_for_the_same_check_only(
    alertmanager: Alertmanager,
) -> None:
    alertmanager.post(
        rule_labels("BookingIntegrityViolation", business="Cafe A", check="overbooked_slot", suite="overbooking"),
        rule_labels("BookingIntegrityRunFailed", check="overbooked_slot", suite="overbooking"),
        rule_labels("BookingIntegrityRunFailed", check="orphaned_booking", suite="orphaned_bookings"),
    )
    alertmanager.webhook.wait_for("BookingIntegrityRunFailed", "firing", timeout=30)
    states = {
        (a["labels"]["alertname"], a["labels"]["check"]): a["status"]["state"] for a in alertmanager.get("alerts")
    }
    assert states == {
        ("BookingIntegrityViolation", "overbooked_slot"): "active",
        ("BookingIntegrityRunFailed", "overbooked_slot"): "suppressed",
        ("BookingIntegrityRunFailed", "orphaned_booking"): "active",
    }
