"""The demo dataset: deterministic for a seed, sound by every invariant, and the faults break it on purpose."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from booking_core import connect
from booking_demo.faults import FAULTS, inject_all
from booking_demo.generator import DemoConfig, dataset_facts, generate_demo
from tests.conftest import create_database, drop_database
from tests.demo.invariants import violations

# A short period keeps the test quick; it still crosses the restaurant's schedule change
# (half-way) and the capacity reduction (half a day before the anchor).
CONFIG = DemoConfig(seed=11, anchor=datetime(2026, 3, 2, tzinfo=UTC), history_days=42, ahead_days=10)


@dataclass
class Generated:
    url: str
    stats: Counter[str]
    facts: dict[str, Any]


def _generate(admin_url: str, config: DemoConfig) -> Generated:
    url = create_database(admin_url, prefix="demo_test")
    with connect(url) as system:
        stats = generate_demo(system, config, progress=False)
        return Generated(url, stats, dataset_facts(system))


@pytest.fixture(scope="module")
def runs(admin_url: str) -> Iterator[tuple[Generated, Generated, Generated]]:
    made = [_generate(admin_url, CONFIG), _generate(admin_url, CONFIG), _generate(admin_url, replace(CONFIG, seed=12))]
    try:
        yield made[0], made[1], made[2]
    finally:
        for g in made:
            drop_database(admin_url, g.url)


def test_the_same_seed_generates_the_same_dataset(runs):
    first, second, _other = runs
    assert first.facts == second.facts
    assert first.stats == second.stats


def test_another_seed_generates_another_dataset(runs):
    first, _second, other = runs
    assert first.facts["bookings_by_status_day"] != other.facts["bookings_by_status_day"]


def test_the_demo_dataset_keeps_every_invariant_of_the_core(runs):
    first, _second, _other = runs
    assert violations(first.url) == dict.fromkeys(violations(first.url), 0)


def test_the_demo_dataset_passes_every_integrity_check(runs):
    # Clean demo data (no --with-faults) must not page anyone: every check passes.
    from checks.runner import run_all

    _first, second, _other = runs
    summary = run_all(second.url, triggered_by="test")
    assert [(r.name, r.status) for r in summary.results if r.status != "passed"] == []


def test_the_demo_dataset_has_every_kind_of_event(runs):
    first, _second, _other = runs
    statuses = {row[1] for row in first.facts["bookings_by_status_day"]}
    assert {"completed", "cancelled", "no_show", "confirmed"} <= statuses
    payments = {row[1] for row in first.facts["payments"]}
    assert {"paid", "failed"} <= payments
    assert payments & {"refunded", "partially_refunded"}
    assert first.facts["refusals"], "no booking attempt was refused"
    legacy = [row for row in first.facts["slots"] if row[1]]
    assert legacy, "the restaurant's schedule change left no legacy slots"
    s = first.stats
    assert s["rescheduled"] and s["capacity_reductions"] and s["checked_in"] and s["audit_rows_sealed"]
    businesses = {row[0] for row in first.facts["bookings_by_status_day"]}
    assert len(businesses) == 3


def test_the_generated_history_carries_its_simulated_times(runs):
    first, _second, _other = runs
    with psycopg.connect(first.url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        first_event, last_event = conn.execute(
            "SELECT min(occurred_at), max(occurred_at) FROM booking_state_transitions"
        ).fetchone()  # type: ignore[misc]
    assert CONFIG.start - timedelta(days=2) <= first_event < CONFIG.start + timedelta(days=3)
    assert last_event < CONFIG.anchor


def test_each_fault_breaks_the_invariant_it_is_named_for(runs):
    _first, _second, other = runs
    expected = {
        "overbooked_slot": "over_capacity_unexplained",
        "payment_mismatch": "payment_status_mismatch",
        "audit_gap": "booking_without_created_audit",
        "illegal_transition": "transition_not_in_state_machine",
    }
    assert set(expected) <= set(FAULTS)
    lines = inject_all(other.url)
    assert len(lines) == len(FAULTS)
    after = violations(other.url)
    for fault, invariant in expected.items():
        assert after[invariant] >= 1, f"{fault} did not break {invariant}"
    with psycopg.connect(other.url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        orphans = conn.execute(
            "SELECT count(*) FROM bookings b WHERE NOT EXISTS"
            " (SELECT 1 FROM time_slots ts WHERE ts.business_id = b.business_id AND ts.id = b.slot_id)"
        ).fetchone()
    assert orphans == (1,)
