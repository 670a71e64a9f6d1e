"""Cancellation patterns: rates over time, lead time before the slot, by service/weekday/hour, reason and actor."""

from __future__ import annotations

import streamlit as st
from dashboard.views import delta_count, rate_metric

from booking_core.reports import cancellations, overview
from booking_core.reports.common import GRAINS
from dashboard import charts, data, filters


def _summary(sel: filters.Selection) -> bool:
    figures = data.query(overview.overview_figures, sel.scope)
    now, before = figures["current"], figures["previous"]
    if now.bookings == 0:
        st.info("No bookings in this date range: pick other dates, another service or business.")
        return False
    prev = sel.scope.previous()
    cols = st.columns(3)
    cols[0].metric(
        "Cancellations", f"{now.cancelled:,}", delta_count(now.cancelled, before.cancelled), delta_color="inverse"
    )
    cols[1].metric(
        "Cancellation rate", **rate_metric(now.cancellation_rate, before.cancellation_rate, lower_is_better=True)
    )
    cols[2].metric("No-show rate", **rate_metric(now.no_show_rate, before.no_show_rate, lower_is_better=True))
    st.caption(f"Changes against {prev.start:%Y-%m-%d} to {prev.end:%Y-%m-%d}.")
    return True


def _over_time(sel: filters.Selection) -> None:
    wanted = st.query_params.get("grain", "week")
    grain = st.segmented_control("Per", GRAINS, default=wanted if wanted in GRAINS else "week", key="c_grain")
    grain = grain or "week"
    st.query_params["grain"] = grain
    df = data.query(cancellations.cancellation_rates_over_time, sel.scope, grain=grain)
    st.plotly_chart(charts.rates_over_time(df, grain=grain, timezone=sel.timezone))


def _breakdowns(sel: filters.Selection) -> None:
    st.subheader("Lead time before the slot")
    lead = data.query(cancellations.cancellation_lead_times, sel.scope)
    if lead.empty:
        st.info("No cancellations in this date range.")
        return
    st.plotly_chart(charts.counts_bar(lead, x="lead_time"))
    tabs = st.tabs(["By service", "By weekday", f"By hour ({sel.timezone})"])
    breakdowns = data.query(cancellations.cancellation_breakdowns, sel.scope)
    for tab, dim in zip(tabs, ("service", "weekday", "hour"), strict=True):
        with tab:
            st.plotly_chart(charts.rate_bars(breakdowns[dim], dimension=dim))
    causes = data.query(cancellations.cancellation_causes, sel.scope)
    left, right = st.columns(2)
    with left:
        st.subheader("By reason")
        st.dataframe(causes["reason"], hide_index=True)
    with right:
        st.subheader("By who cancelled")
        st.plotly_chart(charts.counts_bar(causes["cancelled_by"], x="cancelled_by"))


def render(sel: filters.Selection) -> None:
    if _summary(sel):
        _over_time(sel)
        _breakdowns(sel)


filters.page("Cancellation patterns", render)
