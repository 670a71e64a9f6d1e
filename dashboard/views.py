"""Pure presentation helpers: number formats, period-over-period deltas, before/after diffs of audit rows."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def money(x: float, currency: str) -> str:
    return f"{x:,.2f} {currency}"


def age(seconds: float | None) -> str:
    """A waiting time as a person reads it: 45 s, 12 min, 3.5 h, 2.0 d."""
    if seconds is None:
        return "n/a"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 172_800 else f"{seconds / 86_400:.1f} d"


def delta_pct_points(now: float | None, before: float | None) -> str | None:
    """Change of a rate in percentage points; None when either side has no data."""
    if now is None or before is None:
        return None
    return f"{(now - before) * 100:+.1f} pp"


def delta_count(now: float, before: float, fmt: str = "{:+,.0f}") -> str | None:
    return None if now == before == 0 else fmt.format(now - before)


def _parse(values: Any) -> dict[str, Any]:
    if values is None or (isinstance(values, float) and pd.isna(values)):
        return {}
    if isinstance(values, str):
        return dict(json.loads(values))
    return dict(values)


def audit_diff(old_values: Any, new_values: Any) -> list[tuple[str, Any, Any]]:
    """The fields an audit row changed, as (field, before, after), in field order."""
    old, new = _parse(old_values), _parse(new_values)
    keys = sorted(set(old) | set(new))
    return [(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]


def timeline_diffs(timeline: pd.DataFrame) -> pd.DataFrame:
    """One row per changed field of each audit row of a booking's timeline."""
    rows = [
        {
            "audit_id": r.id,
            "when": r.occurred_local,
            "action": r.action,
            "actor": f"{r.actor_type}:{r.actor_id}",
            "field": field,
            "before": _text(before),
            "after": _text(after),
        }
        for r in timeline.itertuples()
        for field, before, after in audit_diff(r.old_values, r.new_values)
    ]
    return pd.DataFrame(rows, columns=["audit_id", "when", "action", "actor", "field", "before", "after"])


def _text(v: Any) -> str:
    return "" if v is None else v if isinstance(v, str) else json.dumps(v)
