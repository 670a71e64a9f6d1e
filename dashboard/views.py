"""Pure presentation helpers: number formats, period-over-period deltas, before/after diffs of audit rows, and
names in place of ids (a person never reads a bare UUID: a name where one exists, else a short reference)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

import pandas as pd

from booking_core.reports.common import booking_ref

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def readable(value: Any, names: Mapping[str, str] | None = None) -> Any:
    """`value` with every id in it (a UUID, or a UUID string) read as its name, else as its short reference.

    Dicts and lists are walked (the detail of an integrity sample, an audit row's values).
    """
    if isinstance(value, uuid.UUID):
        value = str(value)
    if isinstance(value, str) and UUID.fullmatch(value):
        return (names or {}).get(value.lower(), booking_ref(value))
    if isinstance(value, dict):
        return {k: readable(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [readable(v, names) for v in value]
    return value


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


def rate_metric(now: float | None, before: float | None, *, lower_is_better: bool = False) -> dict[str, Any]:
    """`st.metric` value, delta and colour of a rate against the period before: `metric(label, **rate_metric(..))`."""
    return {
        "value": pct(now),
        "delta": delta_pct_points(now, before),
        "delta_color": "inverse" if lower_is_better else "normal",
    }


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


def timeline_diffs(timeline: pd.DataFrame, names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per changed field of each audit row of a booking's timeline; ids read as `names` (see `readable`)."""
    rows = [
        {
            "audit_id": r.id,
            "when": r.occurred_local,
            "action": r.action,
            "actor": f"{r.actor_type}: {r.actor}",
            "field": field,
            "before": _text(readable(before, names)),
            "after": _text(readable(after, names)),
        }
        for r in timeline.itertuples()
        for field, before, after in audit_diff(r.old_values, r.new_values)
    ]
    return pd.DataFrame(rows, columns=["audit_id", "when", "action", "actor", "field", "before", "after"])


def _text(v: Any) -> str:
    return "" if v is None else v if isinstance(v, str) else json.dumps(v)
