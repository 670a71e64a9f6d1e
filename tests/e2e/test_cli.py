"""The `booking` command as a user runs it: real subprocesses, one-line errors, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.factories import Shop
from tests.integration.test_schedules import MONDAY

BOOKING = str(Path(sys.executable).parent / "booking")


def run(*args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    if url:
        env["BOOKING_DATABASE_URL"] = url
    return subprocess.run([BOOKING, *args], capture_output=True, text=True, env=env, timeout=120, check=False)


def test_an_unreachable_database_is_one_line_and_exit_3():
    result = run("db", "status", url="postgresql://postgres@127.0.0.1:1/nowhere")
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: cannot reach the database")
    assert "Traceback" not in result.stderr


def test_a_url_that_is_not_postgresql_is_refused_in_one_line():
    result = run("db", "upgrade", url="sqlite:///x.db")
    assert (
        result.returncode == 2
        and result.stderr == "error: BOOKING_DATABASE_URL must be a postgresql:// URL, got sqlite://\n"
    )


def test_upgrade_is_idempotent_and_status_reports_the_schema(database_url):
    assert "already current" in run("db", "upgrade", url=database_url).stdout
    status = run("db", "status", url=database_url)
    assert status.returncode == 0 and "newest" in status.stdout


def test_an_unmigrated_database_is_named_as_such(admin_url):
    from tests.conftest import create_database, drop_database

    url = create_database(admin_url)
    try:
        result = run("audit", "verify", url=url)
        assert result.returncode == 3 and "run `booking db upgrade`" in result.stderr
    finally:
        drop_database(admin_url, url)


def test_audit_seal_and_verify_report_every_business_and_exit_1_on_a_broken_chain(admin_url):
    # Its own database: other tests break chains on purpose in the shared one.
    import psycopg

    from booking_core import connect
    from tests.conftest import create_database, drop_database

    url = create_database(admin_url)
    try:
        with connect(url) as system:
            shop = Shop.create(system, now=MONDAY)
            booking = shop.book(shop.first_slot())
            shop.book(shop.first_slot(), customer=1)
        sealed = run("audit", "seal", url=url)
        assert sealed.returncode == 0 and sealed.stdout.startswith("sealed ")
        verified = run("audit", "verify", url=url)
        assert verified.returncode == 0 and "BROKEN" not in verified.stdout
        with psycopg.connect(url) as conn:
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute("UPDATE booking_audit_log SET performed_by_id = 'forged' WHERE booking_id = %s", (booking.id,))
        broken = run("audit", "verify", url=url)
        assert broken.returncode == 1 and "BROKEN" in broken.stdout
    finally:
        drop_database(admin_url, url)


def test_unknown_options_are_one_line_usage_errors_not_tracebacks():
    result = run("db", "upgrade", "--frobnicate")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == "error: No such option: --frobnicate (see `booking db upgrade --help`)\n"


def test_waitlist_expire_runs_against_a_migrated_database(database_url):
    result = run("waitlist", "expire", url=database_url)
    assert result.returncode == 0 and result.stdout.startswith("expired ")


def test_a_bad_option_value_is_one_line_naming_the_option():
    result = run("seed", "--bookings", "zero")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: Invalid value for '--bookings'") and "Traceback" not in result.stderr


def test_help_exits_zero():
    assert run("--help").returncode == 0
