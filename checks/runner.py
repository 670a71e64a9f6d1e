"""Run the integrity suites with Great Expectations against PostgreSQL and store every run.

The rules live in booking_core.reports.integrity (one SQL per rule); here each becomes a
named expectation in its suite, validated on its table by GE's SQL datasource (the SQL runs
in PostgreSQL, only a sample of offending rows comes back), and the outcome is written to
integrity_check_runs / integrity_check_results for the dashboard and the exporter.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import text

from booking_core.adapters.db import Database
from booking_core.domain.errors import BookingError, DatabaseUnavailable, InvalidInput
from booking_core.reports.integrity import SESSION_OPTIONS, Check, select_checks, violations_query

Status = Literal["passed", "failed", "errored"]

# GE prints a traceback through logging's last resort when it cannot render data docs; the
# runner reports that itself in one line (RunSummary.docs_error).
logging.getLogger("great_expectations").addHandler(logging.NullHandler())


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check in one run."""

    name: str
    suite: str
    description: str
    severity: str
    status: Status
    violation_count: int
    sample: list[dict[str, Any]]
    error: str | None = None


@dataclass(slots=True)
class RunSummary:
    """One stored run: its id, when, how long, and every check's result."""

    run_id: uuid.UUID
    started_at: datetime
    duration_seconds: float
    results: list[CheckResult] = field(default_factory=list)
    docs_index: Path | None = None
    docs_error: str | None = None  # data docs were asked for and could not be written

    @property
    def violations(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def errored(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "errored"]

    @property
    def status(self) -> Status:
        if self.errored:
            return "errored"
        return "failed" if self.violations else "passed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": str(self.run_id),
            "started_at": self.started_at.isoformat(),
            "duration_seconds": round(self.duration_seconds, 3),
            "status": self.status,
            "docs_error": self.docs_error,
            "checks": [asdict(r) for r in self.results],
        }


def run_all(
    database_url: str,
    only: list[str] | None = None,
    *,
    business_ids: Sequence[uuid.UUID] = (),
    docs_dir: Path | None = None,
    triggered_by: str = "cli",
) -> RunSummary:
    """Run the named checks (all by default), store the run, return its summary.

    Raises KeyError for an unknown check or suite name, InvalidInput for a `docs_dir` that
    cannot be written (before anything is stored), DatabaseUnavailable when the database
    cannot be reached or is not migrated. `business_ids` scopes every rule to those tenants.
    A check whose query fails is stored as errored, never as passed; a run with an errored
    check is stored as errored (readers keep the last good result beside it). Data docs that
    fail to render do not change any check's result: `docs_error` says why.
    """
    checks = select_checks(only)
    if docs_dir is not None:
        prepare_docs_dir(docs_dir)
    db = Database(database_url, pool_size=1)
    try:
        db.require_migrated()
        started = datetime.now(UTC)
        clock = time.perf_counter()
        run_id = _start_run(db, started, triggered_by)
        results, docs_index, docs_error = _validate(db.url, checks, business_ids=business_ids, docs_dir=docs_dir)
        summary = RunSummary(run_id, started, time.perf_counter() - clock, results, docs_index, docs_error)
        _finish_run_retrying(db, summary)
        return summary
    finally:
        db.dispose()


def prepare_docs_dir(docs_dir: Path) -> None:
    """Create the data docs folder and prove it writable, or raise InvalidInput (one line, what to do)."""
    try:
        docs_dir.mkdir(parents=True, exist_ok=True)
        probe = docs_dir / ".booking-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InvalidInput(
            f"cannot write data docs to {docs_dir}: {exc.strerror or exc}: pass --docs a folder you can write"
        ) from None


# ---------------------------------------------------------------------- storage
def _start_run(db: Database, started: datetime, triggered_by: str) -> uuid.UUID:
    run_id = uuid.uuid4()
    with db.connect() as conn, conn.begin():
        conn.execute(
            text(
                "INSERT INTO integrity_check_runs (id, started_at, status, triggered_by)"
                " VALUES (:id, :t, 'running', :by)"
            ),
            {"id": run_id, "t": started, "by": triggered_by},
        )
    return run_id


def _finish_run_retrying(db: Database, summary: RunSummary) -> None:
    """Store the outcome, retrying a lost connection for a while: a run that outlived a short
    outage is kept (stored as it is, errored checks included) rather than lost as 'running'.
    Storing twice cannot happen: the results and the status change commit together."""
    import stamina

    def retryable(exc: Exception) -> bool:
        return isinstance(exc, DatabaseUnavailable) or (isinstance(exc, BookingError) and exc.retryable)

    for attempt in stamina.retry_context(on=retryable, attempts=6, timeout=30.0, wait_initial=0.5, wait_max=5.0):
        with attempt:
            _finish_run(db, summary)


def _finish_run(db: Database, summary: RunSummary) -> None:
    with db.connect() as conn, conn.begin():
        conn.execute(
            text(
                "INSERT INTO integrity_check_results (run_id, check_name, suite, description,"
                " status, violation_count, sample, error)"
                " VALUES (:run, :name, :suite, :description, :status, :count,"
                " CAST(:sample AS jsonb), :error)"
            ),
            [
                {
                    "run": summary.run_id,
                    "name": r.name,
                    "suite": r.suite,
                    "description": r.description,
                    "status": r.status,
                    "count": r.violation_count,
                    "sample": json.dumps(r.sample),
                    "error": r.error,
                }
                for r in summary.results
            ],
        )
        conn.execute(
            text(
                "UPDATE integrity_check_runs SET finished_at = :end, duration_seconds = :d, status = :s WHERE id = :id"
            ),
            {
                "end": datetime.now(UTC),
                "d": summary.duration_seconds,
                "s": summary.status,
                "id": summary.run_id,
            },
        )


# ---------------------------------------------------------------------- Great Expectations
def _validate(
    url: str, checks: list[Check], *, business_ids: Sequence[uuid.UUID], docs_dir: Path | None
) -> tuple[list[CheckResult], Path | None, str | None]:
    """Run the checks as GE suites in one checkpoint; one result per check, in `checks` order,
    then the data docs (their failure is reported, it does not touch the results)."""
    source = None
    try:
        context, checkpoint, source = _build(url, checks, business_ids=business_ids)
        outcome = checkpoint.run()
    except Exception as exc:  # GE itself failed: every check errored, none passed
        message = _one_line(exc)
        return [_errored(c, message) for c in checks], None, None
    finally:
        _dispose(source)
    by_name: dict[str, Any] = {}
    for suite_result in outcome.run_results.values():
        for r in suite_result.results:
            by_name[r.expectation_config.meta["check"]] = r
    results = [_result(c, by_name[c.name]) if c.name in by_name else _errored(c, "not run") for c in checks]
    if docs_dir is None:
        return results, None, None
    docs_index, docs_error = _build_docs(context, docs_dir)
    return results, docs_index, docs_error


def _build_docs(context: Any, docs_dir: Path) -> tuple[Path | None, str | None]:
    """Render the run's data docs (from the context's stored results) into `docs_dir`:
    (index, None), or (None, why not)."""
    index = Path(docs_dir).resolve() / "index.html"
    try:
        context.add_data_docs_site(
            "integrity",
            {
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(Path(docs_dir).resolve()),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        context.build_data_docs(site_names=["integrity"])
    except Exception as exc:
        return None, f"data docs not written to {docs_dir}: {_one_line(exc)}"
    if not index.is_file():  # GE logs a rendering failure and carries on
        return None, f"data docs not written to {docs_dir}: check that the folder is writable and has space"
    return Path(docs_dir) / "index.html", None


def _build(url: str, checks: list[Check], *, business_ids: Sequence[uuid.UUID]) -> tuple[Any, Any, Any]:
    """An ephemeral GE context, its checkpoint and its datasource: an asset per table, a suite per
    (suite, table), one named expectation per check."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.metadata_types import FailureSeverity

    from checks.expectation import ExpectNoIntegrityViolations

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    # GE's PostgreSQL datasource insists on a host in the URL; the embedded server is reached
    # through a socket (`...@/booking?host=/path`), which only the generic SQL datasource takes.
    # GE warns that the generic one is generic: chosen on purpose, so not a warning to pass on.
    add: Any = context.data_sources.add_postgres if _has_host(url) else context.data_sources.add_sql
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="You are using a generic SQLDatasource")
        source = add("booking", connection_string=url, kwargs={"connect_args": {"options": SESSION_OPTIONS}})
    groups: dict[tuple[str, str], list[Check]] = {}
    for c in checks:
        groups.setdefault((c.suite, c.table), []).append(c)
    tables = {c.table for c in checks}
    batches = {t: source.add_table_asset(t, table_name=t).add_batch_definition_whole_table(t) for t in sorted(tables)}
    definitions = []
    for (suite_name, table), members in groups.items():
        split = len({c.table for c in checks if c.suite == suite_name}) > 1
        suite = context.suites.add(gx.ExpectationSuite(name=f"{suite_name}.{table}" if split else suite_name))
        for c in members:
            suite.add_expectation(
                ExpectNoIntegrityViolations(
                    unexpected_rows_query=violations_query(c, business_ids=business_ids),
                    description=c.description,
                    meta={"check": c.name, "suite": c.suite},
                    severity=FailureSeverity.INFO if c.severity == "info" else FailureSeverity.CRITICAL,
                )
            )
        definition = gx.ValidationDefinition(name=suite.name, data=batches[table], suite=suite)
        definitions.append(context.validation_definitions.add(definition))
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(name="integrity", validation_definitions=definitions, actions=[], result_format="COMPLETE")
    )
    return context, checkpoint, source


def _dispose(source: Any) -> None:
    """Close GE's pooled connections now: GE never does, and they would outlive the run."""
    if source is None:
        return
    source.get_execution_engine().engine.dispose()
    source.get_engine().dispose()


def _result(check: Check, r: Any) -> CheckResult:
    error = _error_of(r.exception_info)
    observed = (r.result or {}).get("observed_value")
    if error is not None or observed is None:
        return _errored(check, error or "the check returned no result")
    rows = (r.result.get("details") or {}).get("unexpected_rows") or []
    count = int(observed)
    # An information check (severity info) reports what it found but never fails the run.
    status: Status = "failed" if count > 0 and check.severity == "error" else "passed"
    return CheckResult(check.name, check.suite, check.description, check.severity, status, count, _sample(rows))


def _errored(check: Check, message: str) -> CheckResult:
    return CheckResult(check.name, check.suite, check.description, check.severity, "errored", 0, [], message)


def _error_of(info: Any) -> str | None:
    """GE reports an exception either flat or keyed by the metric that raised it."""
    if not info:
        return None
    if isinstance(info, dict) and "raised_exception" in info:
        return _first_line(info.get("exception_message")) if info["raised_exception"] else None
    for value in dict(info).values():
        if isinstance(value, dict) and value.get("raised_exception", True):
            return _first_line(value.get("exception_message")) or "the check's query failed"
    return None


def _sample(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """JSON-ready rows (ids and times as strings), without the window count column."""
    clean = [{k: v for k, v in row.items() if k != "violation_count"} for row in rows]
    loaded: list[dict[str, Any]] = json.loads(json.dumps(clean, default=str))
    return loaded


def _first_line(message: object) -> str | None:
    if message is None:
        return None
    text_ = str(message).strip()
    # SQLAlchemy appends the statement and a link; the first line says what went wrong.
    return text_.splitlines()[0][:500] if text_ else None


def _one_line(exc: BaseException) -> str:
    return _first_line(f"{type(exc).__name__}: {exc}") or type(exc).__name__


__all__ = ["CheckResult", "RunSummary", "prepare_docs_dir", "run_all"]


def _has_host(url: str) -> bool:
    from sqlalchemy.engine import make_url

    return bool(make_url(url).host)
