"""The alert rules and example configs, checked and unit-tested by the real promtool and amtool."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from tests.metrics.conftest import METRICS_DIR, require_binary

REPO = METRICS_DIR.parent
UNIT_TESTS = ("alerts_test.yml", "alerts_test_seasonal.yml")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=METRICS_DIR)


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((METRICS_DIR / "alerts.yml").read_text())["groups"]
    return [r for g in groups for r in g["rules"] if "alert" in r]


def unit_tests() -> list[dict[str, Any]]:
    return [t for name in UNIT_TESTS for t in yaml.safe_load((METRICS_DIR / name).read_text())["tests"]]


def test_promtool_accepts_the_alert_rules() -> None:
    done = run(require_binary("promtool"), "check", "rules", "alerts.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_fires_and_stays_quiet_as_its_promtool_unit_tests_expect() -> None:
    done = run(require_binary("promtool"), "test", "rules", *UNIT_TESTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == len(UNIT_TESTS), done.stdout


def test_every_alert_has_a_for_a_severity_a_scope_a_summary_and_firing_and_quiet_unit_tests() -> None:
    checks = [c for t in unit_tests() for c in t.get("alert_rule_test", [])]
    fired = {c["alertname"] for c in checks if c["exp_alerts"]}
    quiet = {c["alertname"] for c in checks if not c["exp_alerts"]}
    for rule in rules():
        assert rule.get("for"), rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["labels"]["scope"] in ("business", "pipeline", "outage"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
    names = {r["alert"] for r in rules()}
    assert names - fired == set()
    assert names - quiet == set()


def test_every_alert_links_its_runbook_and_the_runbook_is_about_that_alert() -> None:
    for rule in rules():
        name = rule["alert"]
        assert rule["annotations"].get("runbook_url") == f"docs/runbooks/{name}.md", name
        runbook = REPO / rule["annotations"]["runbook_url"]
        assert runbook.is_file(), runbook
        assert runbook.read_text().startswith(f"# {name}\n"), runbook
    documented = {p.stem for p in (REPO / "docs" / "runbooks").glob("*.md")} - {"README"}
    assert documented == {r["alert"] for r in rules()}


def test_every_command_a_runbook_tells_ops_to_run_exists_or_is_marked_planned() -> None:
    """`booking <command> ...` in a runbook must be a command of the CLI, unless marked (planned)."""
    booking = str(Path(sys.executable).with_name("booking"))
    commands = set(re.findall(r"^│ (\w+) ", run(booking, "--help").stdout, re.MULTILINE))
    assert {"check", "exporter", "health"} <= commands
    for runbook in sorted((REPO / "docs" / "runbooks").glob("*.md")):
        for line in runbook.read_text().splitlines():
            for command in re.findall(r"`booking ([a-z]+)", line):
                assert command in commands or "(planned)" in line, f"{runbook.name}: {line}"


def test_every_business_alert_is_per_business_and_every_other_is_per_instance_or_check() -> None:
    for rule in rules():
        expr, scope = " ".join(rule["expr"].split()), rule["labels"]["scope"]
        if scope == "business":
            assert re.match(r"^\(?\s*(max|sum) by \(([a-z]+, )*business\)", expr) or expr.startswith("( business:"), (
                rule["alert"]
            )
            # Held through an outage: the firing alert itself keeps it while its data is not served.
            assert f'ALERTS{{alertname="{rule["alert"]}", alertstate="firing"}}' in expr, rule["alert"]
        else:
            assert re.search(r"by \((instance|check, suite)", expr), rule["alert"]


def test_the_integrity_alert_names_the_business_and_carries_the_ids_and_the_dashboard_link() -> None:
    (violation,) = [r for r in rules() if r["alert"] == "BookingIntegrityViolation"]
    assert "by (check, suite, business) (booking_integrity_violations)" in violation["expr"]
    assert "booking_integrity_violation_ids_info" in violation["annotations"]["ids"]
    assert violation["annotations"]["dashboard_url"].startswith("http://127.0.0.1:8501/integrity?check=")


def test_the_example_prometheus_config_is_valid_and_loads_the_rules() -> None:
    done = run(require_binary("promtool"), "check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 rule files found" in done.stdout


def test_the_example_alertmanager_config_is_valid() -> None:
    done = run(require_binary("amtool"), "check-config", "alertmanager.yml")
    assert done.returncode == 0, done.stdout + done.stderr
