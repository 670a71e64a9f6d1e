"""The tables whose whole rows the services read, as SQLAlchemy Core: a record's fields are the columns read.

Statements built from these bind every value as a parameter; the column lists come from the
dataclasses of booking_core.domain.model, so a field added there is read everywhere at once
(but a field marked NOT_A_COLUMN, such as a just-made booking's cancellation token).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Row,
    Select,
    TableClause,
    Update,
    and_,
    cast,
    column,
    select,
    table,
    update,
)
from sqlalchemy.types import UserDefinedType

from booking_core.adapters.db import Database
from booking_core.domain.errors import NotFound
from booking_core.domain.model import Booking, Payment, Slot, WaitlistEntry, column_fields


class PgEnum(UserDefinedType[str]):
    """A PostgreSQL enum type by name: values compared with or written to it are cast to it."""

    cache_ok = True

    def __init__(self, name: str) -> None:
        self.name = name

    def get_col_spec(self, **_kw: Any) -> str:
        return self.name

    def bind_expression(self, bindvalue: BindParameter[str]) -> ColumnElement[str]:
        return cast(bindvalue, self)


def _table(name: str, record: type[Any], **types: Any) -> TableClause:
    return table(name, *(column(f.name, types.get(f.name)) for f in column_fields(record)))


BOOKINGS = _table(
    "bookings",
    Booking,
    status=PgEnum("booking_status"),
    payment_method=PgEnum("payment_method"),
    payment_status=PgEnum("payment_status"),
)
PAYMENTS = _table("payments", Payment, status=PgEnum("payment_status"))
SLOTS = _table("time_slots", Slot)
WAITLIST_ENTRIES = _table("waitlist_entries", WaitlistEntry)

#: The booking columns in record order, for readers outside the services (bench/hot_slot.py).
BOOKING_COLUMNS = ", ".join(c.name for c in BOOKINGS.c)


def of_business(records: TableClause, business_id: uuid.UUID, *where: ColumnElement[bool]) -> Select[Any]:
    """Whole rows of one business's `records` matching `where`."""
    return select(*records.c).where(and_(records.c.business_id == business_id, *where))


def by_id(records: TableClause, business_id: uuid.UUID, record_id: uuid.UUID) -> Select[Any]:
    """The whole row of one record of a business."""
    return of_business(records, business_id, records.c.id == record_id)


def change(records: TableClause, business_id: uuid.UUID, record_id: uuid.UUID, values: dict[str, Any]) -> Update:
    """Set `values` (columns of the table, read by the record or not) on one record of a business; returns its row."""
    written = table(
        records.name, *(column(c.name) for c in records.c), *(column(k) for k in values if k not in records.c)
    )
    return (
        update(written)
        .where(written.c.business_id == business_id, written.c.id == record_id)
        .values(values)
        .returning(*(written.c[c.name] for c in records.c))
    )


def read_by_id(
    db: Database,
    records: TableClause,
    business_id: uuid.UUID,
    record_id: uuid.UUID,
    *,
    missing: Callable[[uuid.UUID], NotFound],
) -> Row[Any]:
    """One record's whole row, outside any unit of work (a read); `missing(record_id)` is raised if there is none."""
    with db.connect() as conn:
        row = conn.execute(by_id(records, business_id, record_id)).one_or_none()
    if row is None:
        raise missing(record_id)
    return row


def read_all(db: Database, statement: Select[Any]) -> Sequence[Row[Any]]:
    """Every row of a read, outside any unit of work."""
    with db.connect() as conn:
        return conn.execute(statement).all()
