"""The alert rules and example configs, checked and unit-tested by the real promtool and amtool."""

from __future__ import annotations

import subprocess

import yaml  # type: ignore[import-untyped]

from tests.metrics.conftest import METRICS_DIR, require_binary


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=METRICS_DIR)


def test_promtool_accepts_the_alert_rules() -> None:
    done = run(require_binary("promtool"), "check", "rules", "alerts.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_fires_and_stays_quiet_as_its_promtool_unit_tests_expect() -> None:
    done = run(require_binary("promtool"), "test", "rules", "alerts_test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_a_for_a_severity_a_summary_and_a_firing_unit_test() -> None:
    rules = [r for g in yaml.safe_load((METRICS_DIR / "alerts.yml").read_text())["groups"] for r in g["rules"]]
    tests = yaml.safe_load((METRICS_DIR / "alerts_test.yml").read_text())["tests"]
    fired = {c["alertname"] for t in tests for c in t["alert_rule_test"] if c["exp_alerts"]}
    quiet = {c["alertname"] for t in tests for c in t["alert_rule_test"] if not c["exp_alerts"]}
    for rule in rules:
        assert rule.get("for"), rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
    names = {r["alert"] for r in rules}
    assert names - fired == set()
    assert names - quiet == set()


def test_the_example_prometheus_config_is_valid_and_loads_the_rules() -> None:
    done = run(require_binary("promtool"), "check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 rule files found" in done.stdout


def test_the_example_alertmanager_config_is_valid() -> None:
    done = run(require_binary("amtool"), "check-config", "alertmanager.yml")
    assert done.returncode == 0, done.stdout + done.stderr
