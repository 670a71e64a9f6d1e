"""Runs are stored and read back; `booking check` exit codes; the rules' SQL stays GE-compatible."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from checks.cli import parse_interval
from checks.runner import run_all
from psycopg import sql
from sqlalchemy import create_engine, text

from booking_core.config import sqlalchemy_url
from booking_core.reports.check_runs import check_history, latest_results, latest_run
from booking_core.reports.integrity import CHECKS, select_checks
from tests.checks.conftest import World, inject
from tests.conftest import create_database, drop_database

BOOKING = str(Path(sys.executable).with_name("booking"))


def booking_check(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BOOKING_DATABASE_URL": url}
    return subprocess.run([BOOKING, "check", *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def conn(database_url: str) -> Iterator[object]:
    engine = create_engine(sqlalchemy_url(database_url))
    with engine.connect() as c:
        yield c
    engine.dispose()


# ---------------------------------------------------------------------- the rules
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.name)
def test_each_rule_names_its_batch_once_and_joins_so_ge_can_substitute_it(check: object) -> None:
    sql = check.sql  # type: ignore[attr-defined]
    assert sql.count("{batch}") == 1 and re.search(r"\bJOIN\b", sql)
    assert re.sub(r"\{batch\}", "", sql).count("{") == 0  # GE formats the query: no other braces
    assert check.description and check.suite and check.table  # type: ignore[attr-defined]


def test_selecting_by_suite_or_check_and_refusing_unknown_names() -> None:
    assert [c.name for c in select_checks(["overbooking"])] == [
        "overbooked_slot",
        "over_committed_by_reduction",
        "seat_counter_drift",
    ]
    assert [c.name for c in select_checks(["orphaned_booking"])] == ["orphaned_booking"]
    with pytest.raises(KeyError):
        select_checks(["no_such_check"])


def test_the_set_based_money_agrees_with_what_the_triggers_derive(world: World, conn: object) -> None:
    from booking_core.reports import rules_money

    rows = rules_money.MONEY_FROM_ROWS.as_string(None).replace("{batch}", "bookings")
    query = sql.SQL(
        "SELECT count(*) FROM ({rows}) m WHERE ({derived}, m.paid, m.refunded)"
        " IS DISTINCT FROM (booking_payment_status(m.business_id, m.booking_id), m.paid_amount, m.refunded_amount)"
        " AND m.business_id = ANY(:world)"  # other tests' worlds in this database carry injected faults
    ).format(rows=sql.SQL(rows), derived=rules_money.DERIVED_STATUS)
    disagreements = conn.execute(  # type: ignore[attr-defined]
        text(query.as_string(None)), {"world": world.businesses}
    ).scalar_one()
    compared = conn.execute(  # type: ignore[attr-defined]
        text("SELECT count(DISTINCT booking_id) FROM payments WHERE business_id = ANY(:world)"),
        {"world": world.businesses},
    ).scalar_one()
    assert compared >= 4 and disagreements == 0


def test_intervals_read_like_durations() -> None:
    assert [parse_interval(v) for v in ("30s", "5m", "1h", "90")] == [30, 300, 3600, 90]
    for bad in ("", "5x", "-1m", "0s"):
        with pytest.raises(ValueError):
            parse_interval(bad)


# ---------------------------------------------------------------------- stored runs
def test_a_run_is_stored_and_read_back(world: World, conn: object) -> None:
    inject(world.url, "UPDATE bookings SET status = 'no_show' WHERE id = %(b)s", b=world.ids["confirmed"])
    summary = run_all(world.url, business_ids=world.businesses, triggered_by="test")
    run = latest_run(conn)  # type: ignore[arg-type]
    assert run is not None and run.id == summary.run_id and run.status == "failed"
    assert run.duration_seconds == pytest.approx(summary.duration_seconds)
    results = {r.check_name: r for r in latest_results(conn)}  # type: ignore[arg-type]
    stored = results["status_not_last_transition"]
    assert (stored.status, stored.violation_count, stored.run_id) == ("failed", 1, summary.run_id)
    assert stored.sample[0]["booking_id"] == str(world.ids["confirmed"])
    assert stored.sample[0]["business_id"] == str(world.shop.business_id)
    assert results["overbooked_slot"].status == "passed" and results["overbooked_slot"].severity == "error"
    history = check_history(conn, "status_not_last_transition", 5)  # type: ignore[arg-type]
    assert history[0].run_id == summary.run_id


def test_an_only_run_keeps_the_other_checks_latest_results(world: World, conn: object) -> None:
    full = run_all(world.url, business_ids=world.businesses)
    partial = run_all(world.url, ["hygiene"], business_ids=world.businesses)
    assert {r.suite for r in partial.results} == {"hygiene"}
    results = {r.check_name: r.run_id for r in latest_results(conn)}  # type: ignore[arg-type]
    assert results["party_size_out_of_range"] == partial.run_id and results["overbooked_slot"] == full.run_id


def test_a_check_whose_query_fails_is_stored_as_errored_never_passed(own_world: World) -> None:
    good = run_all(own_world.url, ["audit_chain_broken"])
    inject(own_world.url, "DROP FUNCTION audit_verify(uuid)", bypass_triggers=False)
    summary = run_all(own_world.url)
    (broken,) = [r for r in summary.results if r.status == "errored"]
    assert broken.name == "audit_chain_broken" and "audit_verify" in (broken.error or "")
    assert summary.status == "errored" and not summary.violations
    engine = create_engine(sqlalchemy_url(own_world.url))
    with engine.connect() as c:
        row = c.execute(
            text("SELECT status, error FROM integrity_check_results WHERE run_id = :r AND check_name = :n"),
            {"r": summary.run_id, "n": "audit_chain_broken"},
        ).one()
        assert row.status == "errored" and row.error
        # The readers say the newest run errored, and keep the last good run and result beside it.
        run = latest_run(c)
        assert run is not None and (run.id, run.status, run.errored) == (summary.run_id, "errored", True)
        assert run.last_good_run_id == good.run_id
        result = {r.check_name: r for r in latest_results(c)}["audit_chain_broken"]
        assert (result.status, result.run_id) == ("errored", summary.run_id)
        assert (result.last_good_status, result.last_good_run_id) == ("passed", good.run_id)
        cli = booking_check(own_world.url, "--only", "audit_completeness")
    engine.dispose()
    assert cli.returncode == 4, cli.stderr


# ---------------------------------------------------------------------- the command
def test_booking_check_exits_1_naming_the_violation_and_0_when_clean(world: World) -> None:
    scope = [a for b in world.businesses for a in ("--business", str(b))]
    clean = booking_check(world.url, *scope, "--json")
    assert clean.returncode == 0, clean.stderr
    assert json.loads(clean.stdout)["status"] == "passed"
    inject(world.url, "UPDATE time_slots SET max_capacity = 1 WHERE id = %(s)s", s=world.ids["fri_slot"])
    broken = booking_check(world.url, *scope, "--only", "overbooking")
    assert broken.returncode == 1
    assert "overbooked_slot" in broken.stdout and str(world.ids["fri_slot"]) in broken.stdout


def test_booking_check_builds_data_docs(world: World, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    done = booking_check(
        world.url, "--business", str(world.shop.business_id), "--only", "time_sanity", "--docs", str(docs)
    )
    assert done.returncode == 0, done.stderr
    assert (docs / "index.html").is_file() and list((docs / "validations").rglob("*.html"))


def test_an_unwritable_docs_folder_exits_2_in_one_line_and_stores_no_run(database_url: str, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    engine = create_engine(sqlalchemy_url(database_url))
    count = text("SELECT count(*) FROM integrity_check_runs")
    with engine.connect() as c:
        before = c.execute(count).scalar_one()
    done = booking_check(database_url, "--only", "hygiene", "--docs", str(not_a_folder / "docs"))
    with engine.connect() as c:
        after = c.execute(count).scalar_one()
    engine.dispose()
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stdout + done.stderr
    assert done.stderr.startswith(f"error: cannot write data docs to {not_a_folder / 'docs'}")
    assert after == before


def test_an_unknown_check_name_exits_2_with_one_line(database_url: str) -> None:
    done = booking_check(database_url, "--only", "no_such_check")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "no_such_check" in done.stderr and "Traceback" not in done.stderr


def test_an_unreachable_database_exits_3_with_one_line() -> None:
    done = booking_check("postgresql://nobody@127.0.0.1:1/nowhere")
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1 and "cannot reach the database" in done.stderr


def test_an_unmigrated_database_exits_3_with_one_line(admin_url: str) -> None:
    url = create_database(admin_url, prefix="booking_empty")
    try:
        done = booking_check(url)
    finally:
        drop_database(admin_url, url)
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1 and "booking db upgrade" in done.stderr


def test_booking_check_every_keeps_running_and_storing_runs(world: World) -> None:
    env = {**os.environ, "BOOKING_DATABASE_URL": world.url}
    args = [BOOKING, "check", "--every", "1s", "--only", "hygiene", "--json", "--business", str(world.shop.business_id)]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        runs = [json.loads(proc.stdout.readline()) for _ in range(2)]
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    assert runs[0]["run_id"] != runs[1]["run_id"] and {r["status"] for r in runs} == {"passed"}
