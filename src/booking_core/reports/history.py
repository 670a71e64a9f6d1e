"""Booking history as the exporter writes it: which bookings (ExportFilter), their columns, rows in chunks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from psycopg import sql
from sqlalchemy import Connection, text
from sqlalchemy.dialects.postgresql import psycopg
from sqlalchemy.engine import Dialect

from booking_core.domain.errors import InvalidInput
from booking_core.reports.common import compose, frame, ref


@dataclass(frozen=True, slots=True)
class ExportFilter:
    """Which bookings an export holds: None means all businesses / no bound / every status."""

    business_id: uuid.UUID | None = None
    start: date | None = None
    end: date | None = None
    statuses: tuple[str, ...] | None = None
    include_legacy: bool = True

    def params(self) -> dict[str, Any]:
        return {
            "b": str(self.business_id) if self.business_id else None,
            "start": self.start,
            "end": self.end,
            "statuses": list(self.statuses) if self.statuses else None,
            "legacy": self.include_legacy,
        }


EXPORT_COLUMNS: tuple[str, ...] = (
    "business",
    "timezone",
    "booking_id",
    "status",
    "party_size",
    "service",
    "resource",
    "customer",
    "customer_email",
    "slot_date",
    "slot_time",
    "slot_starts_local",
    "legacy_slot",
    "payment_method",
    "payment_status",
    "amount",
    "paid_amount",
    "refunded_amount",
    "cancellation_fee",
    "refund_due",
    "currency",
    "created_local",
    "updated_local",
    "cancelled_local",
    "cancel_reason",
    "cancelled_by",
    "booking_ref",
)

_WHERE = sql.SQL("""
 WHERE (CAST(:b AS uuid) IS NULL OR b.business_id = CAST(:b AS uuid))
   AND (CAST(:start AS date) IS NULL OR s.local_date >= CAST(:start AS date))
   AND (CAST(:end AS date) IS NULL OR s.local_date <= CAST(:end AS date))
   AND (CAST(:statuses AS text[]) IS NULL OR b.status::text = ANY (CAST(:statuses AS text[])))
   AND (CAST(:legacy AS boolean) OR NOT s.is_legacy)""")

_SELECT = sql.SQL("""
SELECT z.name AS business, z.timezone, b.id::text AS booking_id, b.status::text AS status, b.party_size,
       sv.name AS service, r.name AS resource, c.name AS customer, c.email AS customer_email,
       s.local_date AS slot_date, s.local_start AS slot_time,
       s.starts_at AT TIME ZONE z.timezone AS slot_starts_local, s.is_legacy AS legacy_slot,
       b.payment_method::text AS payment_method, b.payment_status::text AS payment_status,
       b.amount, b.paid_amount, b.refunded_amount, b.cancellation_fee, b.refund_due,
       b.currency::text AS currency,
       b.created_at AT TIME ZONE z.timezone AS created_local,
       b.updated_at AT TIME ZONE z.timezone AS updated_local,
       t.occurred_at AT TIME ZONE z.timezone AS cancelled_local, t.reason AS cancel_reason,
       t.actor_type::text AS cancelled_by, {booking_ref} AS booking_ref
  FROM bookings b
  JOIN businesses z ON z.id = b.business_id
  JOIN time_slots s ON s.business_id = b.business_id AND s.id = b.slot_id
  JOIN services sv ON sv.business_id = s.business_id AND sv.id = s.service_id
  JOIN resources r ON r.business_id = s.business_id AND r.id = s.resource_id
  JOIN {customers} c ON c.business_id = b.business_id AND c.id = b.customer_id
  LEFT JOIN booking_state_transitions t ON t.business_id = b.business_id AND t.booking_id = b.id
        AND t.to_status = 'cancelled'""")

_COUNT = compose(
    "SELECT count(*) FROM bookings b JOIN time_slots s ON s.business_id = b.business_id AND s.id = b.slot_id{where}",
    where=_WHERE,
)
# `customers` is the table for the library's roles and, for a person's reader (booking_reader, the
# member views first in its search path), the view masked by their role (docs/access.md).
_SELECT_ALL = _SELECT.format(booking_ref=ref("b", "id"), customers=sql.Identifier("customers"))
# No order: a preview takes the first rows found, rather than walking the key order to find them.
_PREVIEW = compose("{select}{where} LIMIT :limit", select=_SELECT_ALL, where=_WHERE)
# The same query for psycopg's own cursor: SQLAlchemy's compiler writes its placeholders as %(name)s.
_PSYCOPG: Dialect = psycopg.dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy leaves it unannotated
_ROWS = str(compose("{select}{where}", select=_SELECT_ALL, where=_WHERE).compile(dialect=_PSYCOPG))

_BUSINESS_BY_NAME = text("SELECT id FROM businesses WHERE name = :n")


def export_count(conn: Connection, where: ExportFilter) -> int:
    return int(conn.execute(_COUNT, where.params()).scalar_one())


def export_rows(conn: Connection, where: ExportFilter, *, chunk_rows: int = 50_000) -> Iterator[Sequence[Any]]:
    """Booking history in chunks of rows (tuples in EXPORT_COLUMNS order) from a server-side cursor.

    The cursor is psycopg's own (a named cursor on the connection's transaction): a million rows
    through SQLAlchemy's Row objects cost more than the query itself. Rows come in no set order.
    """
    raw: Any = conn.connection.driver_connection
    # Plan for all rows, not the first 10% (a cursor's default), and keep the hash joins in memory.
    conn.exec_driver_sql("SET LOCAL cursor_tuple_fraction = 1.0")
    with raw.cursor(name="booking_export") as cur:
        cur.itersize = chunk_rows
        cur.execute(_ROWS, where.params())
        while chunk := cur.fetchmany(chunk_rows):
            yield chunk


def export_frame(conn: Connection, where: ExportFilter, *, limit: int) -> pd.DataFrame:
    """Up to `limit` rows of the export, as a frame (the export page's preview)."""
    return frame(conn, _PREVIEW, where.params() | {"limit": limit})


def business_by_name(conn: Connection, name: str) -> uuid.UUID:
    rows = conn.execute(_BUSINESS_BY_NAME, {"n": name}).all()
    if not rows:
        raise InvalidInput(f"no business is named {name!r}: names are case-sensitive")
    if len(rows) > 1:
        raise InvalidInput(f"{len(rows)} businesses are named {name!r}: rename one to export it alone")
    return uuid.UUID(str(rows[0][0]))
