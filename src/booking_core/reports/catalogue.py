"""What the filters offer: businesses, a business's services, the dates its slots span."""

from __future__ import annotations

import uuid
from datetime import date

import pandas as pd
from sqlalchemy import Connection, text

from booking_core.reports.common import frame

_BUSINESSES = text(
    "SELECT id, name, timezone, currency, frozen_at, frozen_by, frozen_reason FROM businesses ORDER BY name, id"
)
_SERVICES = text("SELECT id, name FROM services WHERE business_id = :b ORDER BY name")
_SLOT_DATES = text("SELECT min(local_date), max(local_date) FROM time_slots WHERE business_id = :b")


def businesses(conn: Connection) -> pd.DataFrame:
    return frame(conn, _BUSINESSES)


def services(conn: Connection, business_id: uuid.UUID) -> pd.DataFrame:
    return frame(conn, _SERVICES, {"b": business_id})


def slot_date_range(conn: Connection, business_id: uuid.UUID) -> tuple[date | None, date | None]:
    """The first and last local date with a slot (both None for a business without slots)."""
    row = conn.execute(_SLOT_DATES, {"b": business_id}).one()
    return row[0], row[1]
