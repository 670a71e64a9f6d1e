"""`booking checker` on the command line: one pass with --once / --full, its exit codes, a bad option in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.checks.conftest import World, inject

BOOKING = str(Path(sys.executable).with_name("booking"))


def booking_checker(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BOOKING_DATABASE_URL": url}
    return subprocess.run([BOOKING, "checker", *args], env=env, capture_output=True, text=True, timeout=300)


def test_full_then_once_report_their_passes_and_exit_1_while_violations_are_open(world: World) -> None:
    inject(world.url, "UPDATE time_slots SET max_capacity = 1 WHERE id = %(s)s", s=world.ids["fri_slot"])
    full = booking_checker(world.url, "--full")
    assert full.returncode == 1, full.stderr
    assert full.stdout.startswith("full: ") and "chain: " in full.stdout
    once = booking_checker(world.url, "--once")
    assert once.returncode == 1, once.stderr  # still open: the sweep found it, nothing fixed it
    assert "incremental: " in once.stdout and "audit rows read" in once.stdout


def test_a_bad_interval_is_one_line_and_exit_2(world: World) -> None:
    bad = booking_checker(world.url, "--every", "5x")
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "--every '5x'" in bad.stderr
