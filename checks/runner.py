"""Run the integrity suites with Great Expectations against PostgreSQL and store every run.

The rules live in booking_core.reports.integrity (one SQL per rule); here each becomes a
named expectation in its suite, validated on its table by GE's SQL datasource (the SQL runs
in PostgreSQL, only a sample of offending rows comes back), and the outcome is written to
integrity_check_runs / integrity_check_results for the dashboard and the exporter.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import text

from booking_core.adapters.db import Database
from booking_core.reports.integrity import SESSION_OPTIONS, Check, select_checks, violations_query

Status = Literal["passed", "failed", "errored"]


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

    Raises KeyError for an unknown check or suite name, DatabaseUnavailable when the
    database cannot be reached or is not migrated. `business_ids` scopes every rule to
    those tenants. A check whose query fails is stored as errored, never as passed.
    """
    checks = select_checks(only)
    db = Database(database_url, pool_size=1)
    try:
        db.require_migrated()
        started = datetime.now(UTC)
        clock = time.perf_counter()
        run_id = _start_run(db, started, triggered_by)
        results, docs_index = _validate(db.url, checks, business_ids=business_ids, docs_dir=docs_dir)
        summary = RunSummary(run_id, started, time.perf_counter() - clock, results, docs_index)
        _finish_run(db, summary)
        return summary
    finally:
        db.dispose()


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
                    "run": summary.run_id, "name": r.name, "suite": r.suite,
                    "description": r.description, "status": r.status, "count": r.violation_count,
                    "sample": json.dumps(r.sample), "error": r.error,
                }
                for r in summary.results
            ],
        )  # fmt: skip
        conn.execute(
            text(
                "UPDATE integrity_check_runs SET finished_at = :end, duration_seconds = :d,"
                " status = :s WHERE id = :id"
            ),
            {
                "end": datetime.now(UTC), "d": summary.duration_seconds,
                "s": summary.status, "id": summary.run_id,
            },
        )  # fmt: skip


# ---------------------------------------------------------------------- Great Expectations
def _validate(
    url: str, checks: list[Check], *, business_ids: Sequence[uuid.UUID], docs_dir: Path | None
) -> tuple[list[CheckResult], Path | None]:
    """Run the checks as GE suites in one checkpoint; one result per check, in `checks` order."""
    source = None
    try:
        checkpoint, source = _build(url, checks, business_ids=business_ids, docs_dir=docs_dir)
        outcome = checkpoint.run()
    except Exception as exc:  # GE itself failed: every check errored, none passed
        message = _one_line(exc)
        return [_errored(c, message) for c in checks], None
    finally:
        _dispose(source)
    by_name: dict[str, Any] = {}
    for suite_result in outcome.run_results.values():
        for r in suite_result.results:
            by_name[r.expectation_config.meta["check"]] = r
    results = [_result(c, by_name[c.name]) if c.name in by_name else _errored(c, "not run") for c in checks]
    docs_index = (docs_dir / "index.html") if docs_dir else None
    return results, docs_index


def _build(
    url: str, checks: list[Check], *, business_ids: Sequence[uuid.UUID], docs_dir: Path | None
) -> tuple[Any, Any]:
    """A checkpoint and its datasource in an ephemeral GE context: an asset per table, a suite per
    (suite, table), one named expectation per check."""
    import great_expectations as gx
    from great_expectations.checkpoint.actions import UpdateDataDocsAction
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.metadata_types import FailureSeverity

    from checks.expectation import ExpectNoIntegrityViolations

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    # GE's PostgreSQL datasource insists on a host in the URL; the embedded server is reached
    # through a socket (`...@/booking?host=/path`), which only the generic SQL datasource takes.
    add: Any = context.data_sources.add_postgres if _has_host(url) else context.data_sources.add_sql
    source = add("booking", connection_string=url, kwargs={"connect_args": {"options": SESSION_OPTIONS}})
    groups: dict[tuple[str, str], list[Check]] = {}
    for c in checks:
        groups.setdefault((c.suite, c.table), []).append(c)
    tables = {c.table for c in checks}
    batches = {t: source.add_table_asset(t, table_name=t).add_batch_definition_whole_table(t)
               for t in sorted(tables)}  # fmt: skip
    definitions = []
    for (suite_name, table), members in groups.items():
        split = len({c.table for c in checks if c.suite == suite_name}) > 1
        suite = context.suites.add(gx.ExpectationSuite(
            name=f"{suite_name}.{table}" if split else suite_name))  # fmt: skip
        for c in members:
            suite.add_expectation(ExpectNoIntegrityViolations(
                unexpected_rows_query=violations_query(c, business_ids=business_ids),
                description=c.description, meta={"check": c.name, "suite": c.suite},
                severity=FailureSeverity.INFO if c.severity == "info" else FailureSeverity.CRITICAL))  # fmt: skip
        definition = gx.ValidationDefinition(name=suite.name, data=batches[table], suite=suite)
        definitions.append(context.validation_definitions.add(definition))
    actions: list[Any] = []
    if docs_dir is not None:
        context.add_data_docs_site("integrity", {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(Path(docs_dir).resolve())},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        })  # fmt: skip
        actions.append(UpdateDataDocsAction(name="data_docs"))
    checkpoint = context.checkpoints.add(gx.Checkpoint(
        name="integrity", validation_definitions=definitions, actions=actions,
        result_format="COMPLETE"))  # fmt: skip
    return checkpoint, source


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
    failed = count > 0 and check.severity == "error"
    return CheckResult(check.name, check.suite, check.description, check.severity,
                       "failed" if failed else "passed", count, _sample(rows))  # fmt: skip


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


__all__ = ["CheckResult", "RunSummary", "run_all"]


def _has_host(url: str) -> bool:
    from sqlalchemy.engine import make_url

    return bool(make_url(url).host)
