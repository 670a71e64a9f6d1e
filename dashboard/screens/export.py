"""Export: booking history with its filters (cancelled and legacy included on request) as CSV, Parquet, Excel."""

from __future__ import annotations

import json

import streamlit as st
from sqlalchemy import text

from booking_core import export
from booking_core.reports import history
from booking_core.reports.engine import readonly_engine
from booking_core.reports.history import ExportFilter
from dashboard import data, filters

STATUSES = ("draft", "confirmed", "checked_in", "completed", "no_show", "cancelled", "refunded")
# Beyond this a browser download is slow and memory-hungry: `booking export` streams instead.
BROWSER_ROWS = 100_000
PREVIEW_ROWS = 20


def _filter(sel: filters.Selection) -> ExportFilter:
    statuses = st.multiselect("Statuses", STATUSES, default=list(STATUSES), key="e_statuses")
    legacy = st.checkbox("Include bookings in legacy slots", value=True, key="e_legacy")
    s = sel.scope
    return ExportFilter(
        business_id=s.business_id, start=s.start, end=s.end, statuses=tuple(statuses) or None, include_legacy=legacy
    )


def _downloads(where: ExportFilter, sel: filters.Selection, rows: int) -> None:
    url, person = data.database_url(), data.person()
    stem = f"bookings-{sel.name}-{sel.scope.start:%Y%m%d}-{sel.scope.end:%Y%m%d}".replace(" ", "_")

    def build(fmt: export.Format) -> bytes:
        # Runs on click, in its own thread: its own short-lived engine reading as the person (row
        # security, customers masked by their role), no Streamlit calls; the export is recorded.
        engine = readonly_engine(url, pool_size=1, person=person)
        try:
            with engine.connect() as conn:
                body = export.to_bytes(history.export_rows(conn, where), fmt)
                recorded: dict[str, object] = {"business": sel.name, "from": where.start, "to": where.end}
                recorded |= {"format": fmt, "statuses": list(where.statuses or ()), "legacy": where.include_legacy}
                conn.rollback()
                conn.execute(text("SET TRANSACTION READ WRITE"))
                conn.execute(
                    text("SELECT record_look('export', CAST(:filter AS jsonb), :rows)"),
                    {"filter": json.dumps(recorded, default=str), "rows": rows},
                )
                conn.commit()
                return body
        finally:
            engine.dispose()

    cols = st.columns(3)
    for col, (fmt, label) in zip(cols, (("csv", "CSV"), ("parquet", "Parquet"), ("xlsx", "Excel")), strict=True):
        col.download_button(
            f"Download {label}",
            data=lambda fmt=fmt: build(fmt),  # type: ignore[misc]
            file_name=f"{stem}.{fmt}",
            mime=export.MIME[fmt],
            key=f"e_{fmt}",
            on_click="ignore",
            icon=":material/download:",
        )


def render(sel: filters.Selection) -> None:
    where = _filter(sel)
    if where.statuses is None:
        st.info("Pick at least one status.")
        return
    rows = data.query(history.export_count, where)
    st.metric("Bookings to export", f"{rows:,}")
    if rows == 0:
        st.info("No bookings match these filters in this date range.")
        return
    preview = data.query(history.export_frame, where, limit=PREVIEW_ROWS)
    filters.record_customers(sel, "export preview", preview)
    # On screen a booking is its reference; the files keep the full booking_id too (a key to join on).
    shown = ["booking_ref", *(c for c in preview.columns if c not in ("booking_ref", "booking_id"))]
    st.dataframe(preview[shown], hide_index=True)
    if rows > BROWSER_ROWS:
        st.warning(
            f"{rows:,} rows are too many for the browser: run `booking export --format parquet "
            f"--out bookings.parquet --business '{sel.name}' --from {sel.scope.start} --to {sel.scope.end}`."
        )
        return
    _downloads(where, sel, rows)
    st.caption(f"Dates and times are {sel.timezone} local time; the `timezone` column says so in the file.")


filters.page("Export booking history", render)
