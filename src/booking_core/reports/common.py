"""What the read models share: the page scope, frames, the booking reference, SQL pieces of several readers.

Dates are a business's local calendar dates (time_slots.local_date is the wall-clock date of the
slot's instant in the business's timezone), so every figure is in the business's own time zone.

What a person reads carries names, never ids: businesses, customers, services and resources by
name, slots by local date and time, bookings by their short reference (`booking_ref`). Frames hold
strings, never UUID objects (which a browser table would show as bytes); a full id is kept only
where a link needs it (a `booking_id` text column the pages hide) and in export files.

Queries are SQL text with bound parameters. A piece several queries need (which bookings count as
cancelled, a slot's label, the reference) is written once here as a `psycopg.sql` fragment and
put into a query's text by name with `compose`; values never go into the text, they are bound.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any, Literal

import pandas as pd
from psycopg import sql
from sqlalchemy import Connection, TextClause, text

from booking_core.domain.errors import InvalidInput

Grain = Literal["day", "week", "month"]
GRAINS: tuple[Grain, ...] = ("day", "week", "month")
UUID_RE = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_HEX8 = re.compile(r"[0-9A-F]{8}")


def compose(template: str, **parts: sql.Composable) -> TextClause:
    """A query from its text and named fragments (`{name}`); `:name` stays a bound parameter."""
    return as_text(sql.SQL(template).format(**parts))


def as_text(query: sql.Composable) -> TextClause:
    """A composed query as SQLAlchemy text (fragments are constants or quoted by psycopg, never raw input)."""
    return text(query.as_string(None))


def frame(conn: Connection, stmt: TextClause, params: dict[str, Any] | None = None) -> pd.DataFrame:
    result = conn.execute(stmt, params or {})
    return pd.DataFrame(result.all(), columns=list(result.keys()))


def check_grain(grain: str) -> Grain:
    for known in GRAINS:
        if grain == known:
            return known
    raise InvalidInput(f"unknown grain {grain!r}: use one of {', '.join(GRAINS)}")


@dataclass(frozen=True, slots=True)
class Scope:
    """One business, an inclusive range of its local dates, and optionally one service."""

    business_id: uuid.UUID
    start: date
    end: date
    service_id: uuid.UUID | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InvalidInput("the date range ends before it starts: pick an end on or after the start")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Scope:
        """The period of the same length just before this one."""
        return replace(self, start=self.start - timedelta(days=self.days), end=self.start - timedelta(days=1))

    def params(self) -> dict[str, Any]:
        service = str(self.service_id) if self.service_id else None
        return {"b": self.business_id, "start": self.start, "end": self.end, "service": service}


def ratio(part: float, whole: float) -> float | None:
    """part / whole; None (no data, not 0) when the whole is 0, e.g. a rate over no bookings."""
    return part / whole if whole else None


# ---------------------------------------------------------------- the booking reference
def booking_ref(booking_id: uuid.UUID | str) -> str:
    """A booking's short reference, as every page and export shows it: its id's last 8 hex digits, `7F3A-91C2`.

    The last digits, not the first: ids are UUIDv7, whose first 12 digits are a millisecond timestamp
    (every booking of the same minute starts alike), while the last 8 are random. A reference names
    a booking among a business's bookings with the customer and slot beside it; it is not a key
    (two bookings of a large history can share one), so lookups by reference list every match.
    """
    digits = uuid.UUID(str(booking_id)).hex[-8:].upper()
    return f"{digits[:4]}-{digits[4:]}"


def parse_booking_ref(typed: str) -> str | None:
    """A reference as typed (any case, with or without the dash) as `booking_ref` prints it; None if it is not one."""
    digits = typed.strip().replace("-", "").upper()
    return f"{digits[:4]}-{digits[4:]}" if _HEX8.fullmatch(digits) else None


def ref(alias: str, column: str) -> sql.Composed:
    """`booking_ref` in SQL, for a uuid column."""
    col = sql.Identifier(alias, column)
    return sql.SQL("upper(substr({c}::text, 29, 4) || '-' || substr({c}::text, 33, 4))").format(c=col)


def slot_label(alias: str) -> sql.Composed:
    """A slot as a person names it: its local date and start time (`2030-01-10 14:00`)."""
    return sql.SQL("to_char({d}, 'YYYY-MM-DD') || ' ' || to_char({t}, 'HH24:MI')").format(
        d=sql.Identifier(alias, "local_date"), t=sql.Identifier(alias, "local_start")
    )


def in_local_range(column: sql.Composable) -> sql.Composed:
    """`column` (a timestamptz) within the scope's local dates of business z."""
    return sql.SQL(
        "{c} >= (CAST(:start AS date)::timestamp AT TIME ZONE z.timezone)"
        " AND {c} < ((CAST(:end AS date) + 1)::timestamp AT TIME ZONE z.timezone)"
    ).format(c=column)


# ---------------------------------------------------------------- slots and bookings of a scope
# The starts_at window is implied by the local dates (no time zone is more than 14 h off UTC); it is
# there so the planner can use the (business_id, starts_at) index and estimate the slots it gets.
def starts_window(first: str, last: str) -> sql.Composed:
    # timestamptz against timestamptz: that comparison is leakproof, so under row security the
    # planner still reads starts_at's statistics (against a timestamp it may not, guesses one row,
    # and a year of a business's slots took 0.85 s instead of 0.23 s).
    return sql.SQL(
        "s.starts_at >= CAST(CAST({d0} AS date) - interval '1 day' AS timestamptz)"
        " AND s.starts_at < CAST(CAST({d1} AS date) + interval '2 days' AS timestamptz)"
    ).format(d0=sql.SQL(":" + first), d1=sql.SQL(":" + last))


SERVICE_FILTER = sql.SQL("(CAST(:service AS uuid) IS NULL OR s.service_id = CAST(:service AS uuid))")
SLOT_SCOPE = sql.SQL("s.business_id = :b AND s.local_date BETWEEN :start AND :end AND {w} AND {f}").format(
    w=starts_window("start", "end"), f=SERVICE_FILTER
)


# A booking was cancelled (or no-show) if it is in that state, or was refunded from it.
def _was(status: str) -> sql.Composed:
    return sql.SQL(
        "(b.status = {s} OR (b.status = 'refunded' AND EXISTS (SELECT 1 FROM booking_state_transitions t"
        " WHERE t.business_id = b.business_id AND t.booking_id = b.id AND t.to_status = {s})))"
    ).format(s=sql.Literal(status))


CANCELLED = _was("cancelled")
NO_SHOW = _was("no_show")
