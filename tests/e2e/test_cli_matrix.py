"""Every `booking` command and subcommand with missing, malformed and impossible arguments.

Real subprocesses of the installed entry point, against real databases (migrated, empty, and
one nobody listens for). The rule each case holds (README, "Exit codes"): no traceback on any
stream; exactly one line on stderr, `error: ...`; exit 2 for bad input, 3 for the database.
A command without cases here fails `test_every_command_has_cases`, so new commands join the matrix.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import create_database, drop_database

BOOKING = str(Path(sys.executable).parent / "booking")
BAD_INPUT, DATABASE = 2, 3
NOWHERE = "postgresql://nobody@127.0.0.1:1/nowhere"
# Placeholders filled in at run time: {db} a migrated database, {empty} an unmigrated one,
# {nowhere} an unreachable server, {busy} a port this test process listens on, {file} a
# regular file (so "{file}/x" is a path whose folder is not a folder, whoever runs the test).
MIGRATED, EMPTY, DOWN = "{db}", "{empty}", NOWHERE


@dataclass(frozen=True)
class Case:
    command: str  # the command path after `booking`, e.g. "db status"
    args: tuple[str, ...]
    code: int
    url: str = MIGRATED
    says: str = ""  # a fragment the error line must contain

    @property
    def id(self) -> str:
        where = {MIGRATED: "", EMPTY: "@empty", DOWN: "@down"}[self.url]
        return f"{self.command or 'booking'}[{' '.join(self.args) or '-'}]{where}"


def c(command: str, *args: str, code: int = BAD_INPUT, url: str = MIGRATED, says: str = "") -> Case:
    return Case(command, args, code, url, says)


GROUPS = [c("", says="needs a command"), c("db", says="needs a command: one of status, upgrade"),
          c("audit", says="needs a command: one of seal, verify"), c("waitlist", says="one of expire"),
          c("idempotency", says="needs a command: one of purge"), c("incident", says="one of contacts"),
          c("users", says="needs a command: one of grant, list, revoke"),
          c("customers", says="needs a command: one of erase, erasures, export-data, reapply"),
          c("retention", says="needs a command: one of run, set, show"),
          c("no-such-command", says="No such command")]  # fmt: skip

# Per command: what it needs but lacks, values that do not parse, values that parse but cannot
# be, and the database unreachable or not migrated where the command reads it.
SPECIFIC = [
    # check
    c("check", "--only", "no_such_check", says="no_such_check"),
    c("check", "--every", "5x", says="--every '5x' is not a duration"),
    c("check", "--every", "0s", says="is not a duration"),
    c("check", "--every", "-1m", says="is not a duration"),
    c("check", "--business", "not-a-uuid", says="--business"),
    c("check", "--docs", "{file}/docs", says="cannot write data docs"),
    c("check", "--metrics-port", "70000", says="--metrics-port"),
    c("check", "--metrics-port", "9999", says="add --every"),
    c("check", "--only"),
    c("check", code=DATABASE, url=DOWN, says="cannot reach the database"),
    c("check", code=DATABASE, url=EMPTY, says="booking db upgrade"),
    # checker
    c("checker", "--every", "5x", says="--every '5x' is not a duration"),
    c("checker", "--full-every", "0s", says="--full-every '0s' is not a duration"),
    c("checker", "--once", "--full", says="give one"),
    c("checker", "--once", code=DATABASE, url=DOWN, says="cannot reach the database"),
    c("checker", "--once", code=DATABASE, url=EMPTY, says="booking db upgrade"),
    # export
    c("export", says="--out"),
    c("export", "--out", "/nonexistent/x.csv", says="/nonexistent does not exist"),
    c("export", "--out", "{file}/x.csv", says="is not a folder"),
    c("export", "--format", "csv", "--out", "{tmp}/x.parquet", says="does not match"),
    c("export", "--format", "doc", "--out", "{tmp}/x.doc", says="unknown format 'doc'"),
    c("export", "--out", "{tmp}/x.txt", says="cannot tell the format"),
    c("export", "--format", "csv", "--out", "{tmp}", says="is a folder"),
    c("export", "--out", "{tmp}/x.csv", "--from", "2024-13-01", says="--from"),
    c("export", "--out", "{tmp}/x.csv", "--from", "2024-02-01", "--to", "2024-01-01", says="swap them"),
    c("export", "--out", "{tmp}/x.csv", "--chunk-rows", "5", says="--chunk-rows"),
    c("export", "--out", "{tmp}/x.csv", "--business", "No Such Business"),
    c("export", "--out", "{tmp}/x.csv", "--as", "not-an-address", says="is not an e-mail address"),
    c("export", "--out", "{tmp}/x.csv", "--as", "nobody@example.com", says="is a member of no business"),
    c("export", "--out", "{tmp}/x.csv", code=DATABASE, url=DOWN, says="cannot reach the database"),
    # dashboard (the launcher: port and address are checked before Streamlit starts)
    c("dashboard", "--port", "0", says="--port"),
    c("dashboard", "--port", "99999", says="--port"),
    c("dashboard", "--port", "http", says="--port"),
    c("dashboard", "--port", "{busy}", says="pid {pid}"),
    c("dashboard", "--port", "{free}", "--address", "203.0.113.7", says="cannot listen on 203.0.113.7"),
    c("dashboard", "--port", "{free}", "--secrets", "/nonexistent/secrets.toml", says="no such file"),
    # demo
    c("demo", "--port-dashboard", "0", says="--port-dashboard"),
    c("demo", "--port-metrics", "99999", says="--port-metrics"),
    c("demo", "--port-login", "0", says="--port-login"),
    c("demo", "--seed", "abc", says="--seed"),
    c("demo", "--anchor", "2024-99-99", says="--anchor"),
    c("demo", "--scale", "100", says="--scale"),
    c("demo", "--port-dashboard", "{busy}", "--port-metrics", "{free}", says="pid {pid}"),
    c(
        "demo",
        "--port-dashboard",
        "{free}",
        "--port-metrics",
        "{free2}",
        code=DATABASE,
        url=DOWN,
        says="cannot reach the database",
    ),
    # seed
    c("seed", says="--bookings"),
    c("seed", "--bookings", "zero", says="--bookings"),
    c("seed", "--bookings", "0", says="--bookings"),
    c("seed", "--bookings", "5", "--anchor", "yesterday", says="--anchor"),
    c("seed", "--bookings", "5", code=DATABASE, url=DOWN, says="cannot reach the database"),
    # exporter
    c("exporter", "--port", "99999", says="--port"),
    c("exporter", "--port", "-1", says="--port"),
    c("exporter", "--port", "{busy}", says="pid {pid}"),
    c("exporter", "--max-check-age", "0", says="--max-check-age"),
    c("exporter", "--history-every", "-5", says="--history-every"),
    c("exporter", "--port", "{free}", code=DATABASE, url=DOWN, says="cannot reach the database"),
    c("exporter", "--port", "{free}", code=DATABASE, url=EMPTY, says="booking db upgrade"),
    # notify
    c("notify", says="no webhook"),
    c("notify", "--webhook", "ftp://example.org/x", says="http"),
    c("notify", "--webhook", "http://127.0.0.1:9/x", "--workers", "0", says="--workers"),
    c("notify", "--webhook", "http://127.0.0.1:9/x", "--interval", "5x", says="--interval"),
    c("notify", "--webhook", "http://127.0.0.1:9/x", "--timeout", "-1s", says="--timeout"),
    c("notify", "--webhook", "http://127.0.0.1:9/x", "--batch", "many", says="--batch"),
    c("notify", "--webhook", "http://127.0.0.1:9/x", "--batch", "0"),
    c(
        "notify",
        "--webhook",
        "http://127.0.0.1:9/x",
        "--once",
        code=DATABASE,
        url=DOWN,
        says="cannot reach the database",
    ),
    # health
    c("health", "--max-due-age", "5x", says="--max-due-age"),
    c("health", "--dead-window", "forever", says="--dead-window"),
    c("health", code=DATABASE, url=DOWN, says="cannot reach the database"),
    c("health", code=DATABASE, url=EMPTY, says="booking db upgrade"),
    # db, audit, waitlist
    c("db upgrade", "extra", says="unexpected extra argument"),
    c("db upgrade", code=DATABASE, url=DOWN, says="cannot reach the database"),
    c("db status", code=DATABASE, url=DOWN, says="cannot reach the database"),
    c("audit seal", code=DATABASE, url=DOWN, says="cannot reach the database"),
    c("audit seal", code=DATABASE, url=EMPTY, says="booking db upgrade"),
    c("audit verify", "extra", says="unexpected extra argument"),
    c("audit verify", code=DATABASE, url=DOWN, says="cannot reach the database"),
    c("audit verify", code=DATABASE, url=EMPTY, says="booking db upgrade"),
    c("waitlist expire", code=DATABASE, url=DOWN, says="cannot reach the database"),
    c("waitlist expire", code=DATABASE, url=EMPTY, says="booking db upgrade"),
    # idempotency
    c("idempotency purge", "--keep-days", "0", says="--keep-days"),
    c("idempotency purge", "--keep-days", "soon", says="--keep-days"),
    c("idempotency purge", code=DATABASE, url=DOWN, says="cannot reach the database"),
    c("idempotency purge", code=DATABASE, url=EMPTY, says="booking db upgrade"),
    # freeze, unfreeze, frozen
    c("freeze", "--reason", "incident", says="Missing argument 'business'"),
    c("freeze", "No Such Business", says="Missing option '--reason'"),
    c("freeze", "No Such Business", "--reason", "incident", says="no business named 'No Such Business'"),
    c("freeze", "00000000-0000-0000-0000-000000000001", "--reason", " ", says="needs a reason"),
    c("freeze", "x", "--reason", "incident", code=DATABASE, url=DOWN, says="cannot reach the database"),
    c("freeze", "x", "--reason", "incident", code=DATABASE, url=EMPTY, says="booking db upgrade"),
    c("unfreeze", "00000000-0000-0000-0000-000000000001", "--reason", "done", says="does not exist"),
    c("unfreeze", "x", "--reason", "done", code=DATABASE, url=DOWN, says="cannot reach the database"),
    c("frozen", "extra", says="unexpected extra argument"),
    c("frozen", code=DATABASE, url=DOWN, says="cannot reach the database"),
    # users
    c("users grant", says="Missing argument 'person'"),
    c("users grant", "a@example.com", "manager", says="Missing option '--reason'"),
    c(
        "users grant",
        "not-an-address",
        "manager",
        "--business",
        "00000000-0000-0000-0000-000000000001",
        "--reason",
        "x",
        says="is not an e-mail address",
    ),
    c(
        "users grant",
        "a@example.com",
        "owner",
        "--business",
        "00000000-0000-0000-0000-000000000001",
        "--reason",
        "x",
        says="is not a role",
    ),
    c(
        "users grant",
        "a@example.com",
        "admin",
        "--business",
        "00000000-0000-0000-0000-000000000001",
        "--reason",
        "x",
        says="drop --business",
    ),
    c("users grant", "a@example.com", "ops", "--reason", "x", says="pass --business"),
    c(
        "users grant",
        "a@example.com",
        "ops",
        "--business",
        "No Such Business",
        "--reason",
        "x",
        says="no business named",
    ),
    c(
        "users grant",
        "a@example.com",
        "ops",
        "--business",
        "00000000-0000-0000-0000-000000000001",
        "--reason",
        "x",
        says="does not exist",
    ),
    c(
        "users grant",
        "a@example.com",
        "admin",
        "--reason",
        "x",
        code=DATABASE,
        url=DOWN,
        says="cannot reach the database",
    ),
    c("users grant", "a@example.com", "admin", "--reason", "x", code=DATABASE, url=EMPTY, says="booking db upgrade"),
    c("users revoke", "a@example.com", says="Missing argument 'role'"),
    c("users revoke", "nobody@example.com", "admin", "--reason", "x", says="not granted"),
    c("users list", "--person", "not-an-address", says="is not an e-mail address"),
    c("users list", "--business", "No Such Business", says="no business named"),
    c("users list", code=DATABASE, url=DOWN, says="cannot reach the database"),
    # incident
    c("incident contacts", says="Missing argument 'business'"),
    c("incident contacts", "00000000-0000-0000-0000-000000000001", says="name what the incident touched"),
    c("incident contacts", "00000000-0000-0000-0000-000000000001", "--slot", "42", says="--slot '42' is not an id"),
    c("incident contacts", "x", "--from", "2030-01-01T10:00", "--to", "2030-01-02T10:00+00:00", says="no business"),
    c("incident contacts", "x", "--slot", "{file}", code=DATABASE, url=DOWN, says="cannot reach the database"),
    # customers (personal data, docs/personal-data.md)
    c("customers erase", says="Missing option '--business'"),
    c(
        "customers erase",
        "--business",
        "00000000-0000-0000-0000-000000000001",
        says="exactly one of: id, e-mail address, cancellation token",
    ),
    c(
        "customers erase",
        "--business",
        "00000000-0000-0000-0000-000000000001",
        "--id",
        "42",
        says="--id '42' is not an id",
    ),
    c(
        "customers erase",
        "--business",
        "00000000-0000-0000-0000-000000000001",
        "--email",
        "a@b.c",
        "--id",
        "00000000-0000-0000-0000-000000000001",
        says="exactly one",
    ),
    c(
        "customers erase",
        "--business",
        "00000000-0000-0000-0000-000000000001",
        "--token",
        "nope",
        says="is not a cancellation token",
    ),
    c(
        "customers erase",
        "--business",
        "00000000-0000-0000-0000-000000000001",
        "--email",
        "a@b.c",
        says="no customer of business",
    ),
    c("customers erase", "--business", "No Such Business", "--email", "a@b.c", says="no business named"),
    c(
        "customers erase",
        "--business",
        "00000000-0000-0000-0000-000000000001",
        "--email",
        "a@b.c",
        code=DATABASE,
        url=DOWN,
        says="cannot reach",
    ),
    c(
        "customers erase",
        "--business",
        "00000000-0000-0000-0000-000000000001",
        "--email",
        "a@b.c",
        code=DATABASE,
        url=EMPTY,
        says="booking db upgrade",
    ),
    c("customers export-data", "--business", "00000000-0000-0000-0000-000000000001", says="exactly one"),
    c(
        "customers export-data",
        "--business",
        "00000000-0000-0000-0000-000000000001",
        "--email",
        "a@b.c",
        says="no customer of business",
    ),
    c(
        "customers export-data",
        "--business",
        "00000000-0000-0000-0000-000000000001",
        "--id",
        "00000000-0000-0000-0000-000000000001",
        code=DATABASE,
        url=DOWN,
        says="cannot reach",
    ),
    c("customers erasures", "--business", "No Such Business", says="no business named"),
    c("customers erasures", code=DATABASE, url=DOWN, says="cannot reach the database"),
    c("customers reapply", says="Missing argument 'log_file'"),
    c("customers reapply", "/nonexistent/erasures.jsonl", says="cannot read /nonexistent/erasures.jsonl"),
    c("customers reapply", "{tmp}", says="cannot read"),
    c("customers reapply", "{file}", code=DATABASE, url=DOWN, says="cannot reach the database"),
    # retention
    c("retention set", says="Missing option '--business'"),
    c(
        "retention set",
        "--business",
        "00000000-0000-0000-0000-000000000001",
        "--drop-client-days",
        "0",
        says="--drop-client-days",
    ),
    c(
        "retention set",
        "--business",
        "00000000-0000-0000-0000-000000000001",
        "--purge-payloads-days",
        "x",
        says="--purge-payloads-days",
    ),
    c(
        "retention set",
        "--business",
        "00000000-0000-0000-0000-000000000001",
        "--erase-inactive-months",
        "6",
        says="does not exist",
    ),
    c(
        "retention set",
        "--business",
        "00000000-0000-0000-0000-000000000001",
        code=DATABASE,
        url=DOWN,
        says="cannot reach the database",
    ),
    c("retention run", "--business", "00000000-0000-0000-0000-000000000001", says="does not exist"),
    c("retention run", "--business", "No Such Business", says="no business named"),
    c("retention run", "--dry-run", code=DATABASE, url=EMPTY, says="booking db upgrade"),
    c("retention show", code=DATABASE, url=DOWN, says="cannot reach the database"),
]


def leaf_commands() -> set[str]:
    """Every runnable command path, read from the installed entry point's command tree."""
    import typer

    from booking_core.cli import app, load_plugins

    load_plugins()
    paths: set[str] = set()

    def walk(command: object, prefix: str) -> None:
        subs = getattr(command, "commands", None)
        if subs is None:
            paths.add(prefix)
            return
        for name, sub in subs.items():
            walk(sub, f"{prefix} {name}".strip())

    walk(typer.main.get_command(app), "")
    return paths


LEAVES = sorted(leaf_commands())
# Every command also gets: an unknown option, and `--help` is not an error.
CASES = [*GROUPS, *SPECIFIC, *(c(cmd, "--frobnicate", says="No such option: --frobnicate") for cmd in LEAVES)]


def test_every_command_has_cases() -> None:
    covered = {case.command for case in SPECIFIC}
    assert set(LEAVES) - covered == set(), "add missing/malformed/impossible cases for these commands"
    for group in ("", "db", "audit", "waitlist", "idempotency", "incident", "users", "customers", "retention"):
        assert any(case.command == group for case in GROUPS)


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str
    args: list[str]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def outcomes(
    admin_url: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Outcome]]:
    """Run every case once, one per CPU at a time (each is a fresh process: Python and Typer start-up)."""
    empty = create_database(admin_url, prefix="booking_matrix_empty")
    tmp = tmp_path_factory.mktemp("matrix")
    a_file = tmp / "a-file"
    a_file.write_text("")
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    values = {
        "{tmp}": str(tmp), "{file}": str(a_file), "{busy}": str(holder.getsockname()[1]),
        "{free}": str(free_port()), "{free2}": str(free_port()), "{pid}": str(os.getpid()),
    }  # fmt: skip
    urls = {MIGRATED: database_url, EMPTY: empty, DOWN: NOWHERE}

    def fill(text: str) -> str:
        for key, value in values.items():
            text = text.replace(key, value)
        return text

    def run(case: Case) -> Outcome:
        args = [BOOKING, *case.command.split(), *(fill(a) for a in case.args)]
        env = {**os.environ, "BOOKING_DATABASE_URL": urls[case.url], "COLUMNS": "200"}
        env.pop("BOOKING_WEBHOOK_URL", None)
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120, check=False)
        return Outcome(done.returncode, done.stdout, done.stderr, args)

    try:
        with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
            results = dict(zip((case.id for case in CASES), pool.map(run, CASES), strict=True))
        yield results
    finally:
        holder.close()
        drop_database(admin_url, empty)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_a_bad_command_line_is_one_line_and_its_documented_exit_code(case: Case, outcomes: dict[str, Outcome]) -> None:
    done = outcomes[case.id]
    shown = f"{' '.join(done.args)}\nrc={done.code}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "Traceback" not in done.stdout + done.stderr, shown
    assert done.code == case.code, shown
    assert done.stderr.endswith("\n") and done.stderr.count("\n") == 1, shown
    assert done.stderr.startswith("error: "), shown
    says = case.says.replace("{pid}", str(os.getpid()))  # the busy port's holder is this test process
    assert says in done.stderr, shown


@pytest.mark.parametrize("command", ["", *LEAVES], ids=lambda cmd: cmd or "booking")
def test_help_is_not_an_error(command: str) -> None:
    done = subprocess.run([BOOKING, *command.split(), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "" and "Usage" in done.stdout
