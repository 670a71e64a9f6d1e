"""The one Great Expectations expectation every integrity rule runs as: no rows may break the rule.

Importing this module imports great_expectations (slow: seconds), so only the runner does.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

# GX phones home unless told not to; a checker on an ops box must not.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

from great_expectations.expectations.core.unexpected_rows_expectation import UnexpectedRowsExpectation


class ExpectNoIntegrityViolations(UnexpectedRowsExpectation):
    """An UnexpectedRowsExpectation whose query returns its own violation count and a sample.

    The stock expectation runs the rule twice (COUNT(*) over it, then its rows). The rule
    queries here carry `count(*) OVER ()` and a LIMIT (reports.integrity.violations_query),
    so one execution gives both: the suite costs what the plain SQL costs.
    """

    metric_dependencies: ClassVar[tuple[str, ...]] = ("unexpected_rows_query.table",)

    def _validate(
        self,
        metrics: dict[str, Any],
        runtime_configuration: dict[str, Any] | None = None,
        execution_engine: Any = None,
    ) -> dict[str, Any]:
        rows: list[dict[str, Any]] = metrics["unexpected_rows_query.table"]
        count = int(rows[0]["violation_count"]) if rows else 0
        return {
            "success": count == 0,
            "result": {"observed_value": count, "details": {"unexpected_rows": rows}},
        }
