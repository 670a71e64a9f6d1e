"""End to end from the rows: a violation written with raw SQL by the table owner pages by business, with its ids.

A real `booking checker --every 1s`, the exporter, Prometheus (1s scrape and evaluation, the
shipped rules) and Alertmanager (the shipped routes, impatient) on one database. The clean data
(a world as tests/checks builds it, and one small shop per kind) must raise no alert, not even a
pending one, over many evaluation cycles; then one violation of every kind is written, each in
its own business at once, and each must reach the webhook as BookingIntegrityViolation naming
the business and carrying the offending id in its `ids` annotation. The write-to-receiver times
are printed (run with -s); the latency at the shipped intervals is bench/detection_latency.py's.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from checks.runner import run_all

from booking_core import connect
from tests.checks.conftest import build_world
from tests.conftest import scratch_database
from tests.metrics import detection
from tests.metrics.conftest import require_binary

CLEAN_WINDOW = 25  # seconds of 1s evaluations; longer than every rule's `for` among the integrity alerts


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    params = urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query?{params}", timeout=5) as response:
        result: list[dict[str, Any]] = json.loads(response.read())["data"]["result"]
    return result


def wait_for_series(prometheus: str, promql: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not query(prometheus, promql):
        assert time.monotonic() < deadline, f"Prometheus never had {promql}"
        time.sleep(0.5)


@pytest.fixture
def database(admin_url: str) -> Iterator[str]:
    require_binary("prometheus")
    require_binary("prometheus-alertmanager")
    with scratch_database(admin_url, "booking_detection", migrated=False) as url:
        yield url


@pytest.mark.slow
def test_every_kind_of_raw_sql_violation_pages_naming_the_business_and_ids_and_clean_data_pages_nothing(
    database: str, tmp_path: Path
) -> None:
    with connect(database) as system:
        world = build_world(system, database)
        targets = {kind: detection.prepare_target(system) for kind in detection.KINDS}
    # The scheduled stored run, clean: without one BookingIntegrityChecksStale would be pending.
    assert all(r.violation_count == 0 for r in run_all(database, triggered_by="test").results)
    names = detection.business_names(database)

    with detection.pipeline(database, tmp_path, every="1s", interval="1s", impatient=True) as p:
        wait_for_series(p.prometheus, 'booking_checker_last_pass_timestamp_seconds{mode="full"}')
        time.sleep(CLEAN_WINDOW)
        window = f"[{CLEAN_WINDOW - 2}s]"
        assert query(p.prometheus, f"count_over_time(ALERTS{window})") == [], "clean data raised an alert"
        # ...and the window did watch: scrapes answered, the checker passed, every business was served.
        scrapes = query(p.prometheus, f'count_over_time(up{{job="booking"}}{window})')
        assert scrapes and float(scrapes[0]["value"][1]) >= 10
        passes = query(
            p.prometheus, f'changes(booking_checker_last_pass_timestamp_seconds{{mode="incremental"}}{window})'
        )
        assert passes and float(passes[0]["value"][1]) >= 5
        served = query(p.prometheus, "count(booking_business_frozen)")
        assert served and int(served[0]["value"][1]) == len(world.businesses) + len(targets)
        assert p.webhook.seen == [] and p.webhook.alerts.empty()

        faults = [detection.inject(database, kind, business) for kind, business in targets.items()]
        got = detection.received(p.webhook, faults, names, timeout=120)
        # The overbooking is written with the seat trigger off: the counter agrees with capacity,
        # the rows do not. The overbooking alert pages from the checker's rows, for that business only.
        overbooked = detection.businesses_paged(p.webhook, "BookingOverbookingDetected", timeout=60)

    missing = [(f.kind, f.check) for f in faults if f not in got]
    assert not missing, f"never paged: {missing}; checker log:\n{(tmp_path / 'checker.log').read_text()[-2000:]}"
    for fault, alert in got.items():
        assert alert["labels"]["alertname"] == "BookingIntegrityViolation"
        assert alert["labels"]["business"] == names[fault.business_id]
        assert fault.subject in alert["annotations"]["ids"], (fault, alert["annotations"])
        assert alert["annotations"]["runbook_url"] == "docs/runbooks/BookingIntegrityViolation.md"
    assert overbooked == {names[f.business_id] for f in faults if f.kind == "overbooking"}, overbooked
    latency = {f.kind: round(got[f]["received_at"] - f.written_at, 1) for f in faults}
    print(f"write -> receiver (s), 1s scrape and evaluation, rule `for` 15s, group_wait 1s: {latency}")
