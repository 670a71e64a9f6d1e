"""Overview: the numbers a manager opens the app for, each against the period of the same length before."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from dashboard.views import delta_count, money, rate_metric

from booking_core.reports import check_runs, overview
from booking_core.reports.overview import Figures
from dashboard import data, filters


def _booking_metrics(now: Figures, before: Figures, currency: str) -> None:
    cols = st.columns(5)
    cols[0].metric("Bookings", f"{now.bookings:,}", delta_count(now.bookings, before.bookings))
    cols[1].metric(
        "Utilization",
        **rate_metric(now.utilization, before.utilization),
        help="Seats booked / seats offered on the period's current (non-legacy) slots.",
    )
    cols[2].metric(
        "Cancellation rate",
        **rate_metric(now.cancellation_rate, before.cancellation_rate, lower_is_better=True),
        help="Bookings cancelled (refunded or not) / bookings on the period's slots.",
    )
    cols[3].metric("No-show rate", **rate_metric(now.no_show_rate, before.no_show_rate, lower_is_better=True))
    cols[4].metric(
        "Revenue",
        money(now.revenue, currency),
        delta_count(now.revenue, before.revenue, "{:+,.2f}"),
        help="Payments received minus refunds, for bookings on the period's slots.",
    )


def _integrity_metrics(runs: pd.DataFrame, timezone: str) -> None:
    cols = st.columns(2)
    if runs.empty:
        cols[0].metric("Open integrity violations", "n/a")
        cols[1].metric("Last check run", "never", help="Run `booking check` to store a run.")
        return
    last = runs.iloc[0]
    before = runs.iloc[1]["violations"] if len(runs) > 1 else last["violations"]
    cols[0].metric(
        "Open integrity violations",
        f"{int(last['violations']):,}",
        delta_count(int(last["violations"]), int(before)),
        delta_color="inverse",
        help="All businesses, from the latest stored check run, against the run before.",
    )
    started = pd.Timestamp(last["started_at"]).tz_convert(timezone)
    cols[1].metric(
        "Last check run",
        str(last["status"]),
        f"{started:%Y-%m-%d %H:%M} ({timezone})",
        delta_color="off",
        delta_arrow="off",
    )


def render(sel: filters.Selection) -> None:
    figures = data.query(overview.overview_figures, sel.scope)
    now, before = figures["current"], figures["previous"]
    prev = sel.scope.previous()
    if now.bookings == 0 and now.capacity == 0:
        st.info("No slots or bookings in this date range: pick other dates or another business.")
    else:
        st.caption(f"Against {prev.start:%Y-%m-%d} to {prev.end:%Y-%m-%d}.")
        _booking_metrics(now, before, sel.currency)
    st.subheader("Integrity")
    _integrity_metrics(data.query(check_runs.latest_check_runs, limit=2), sel.timezone)


filters.page("Overview", render)
