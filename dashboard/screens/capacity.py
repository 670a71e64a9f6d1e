"""Capacity utilization: over time, weekday x hour, by service and resource, and the slots ops must act on."""

from __future__ import annotations

from typing import Any

import streamlit as st

from booking_core.reports import capacity
from booking_core.reports.common import GRAINS
from dashboard import charts, data, filters


def _grain() -> str:
    wanted = st.query_params.get("grain", "day")
    grain = st.segmented_control("Per", GRAINS, default=wanted if wanted in GRAINS else "day", key="grain")
    grain = grain or "day"
    st.query_params["grain"] = grain
    return grain


def _to_contact(sel: filters.Selection) -> None:
    st.subheader("Over-committed and legacy slots: future bookings to contact")
    df = data.query(capacity.slots_to_contact, sel.scope, now=data.now_minute())
    if df.empty:
        st.success("No future booking sits in an over-committed or legacy slot.")
        return
    st.metric("Bookings to contact", f"{len(df):,}")
    filters.record_customers(sel, "capacity", df)
    st.dataframe(
        filters.with_timeline_links(df, sel),
        hide_index=True,
        column_config={
            "slot_date": f"slot date ({sel.timezone})",
            "slot_time": f"slot time ({sel.timezone})",
            "timeline": st.column_config.LinkColumn("timeline", display_text="open timeline"),
        },
    )


def render(sel: filters.Selection) -> None:
    grain = _grain()
    over_time = data.query(capacity.utilization_over_time, sel.scope, grain=grain)
    if over_time.empty:
        st.info("No current slots in this date range: pick other dates, another service or business.")
    else:
        total = over_time["seats"].sum() / max(over_time["capacity"].sum(), 1)
        st.metric("Utilization", f"{total:.1%}", help="Seats booked / seats offered (legacy slots excluded).")
        st.plotly_chart(charts.utilization_line(over_time, grain=grain, timezone=sel.timezone))
        st.subheader(f"Weekday x hour ({sel.timezone})")
        heat = data.query(capacity.utilization_heatmap, sel.scope)
        st.plotly_chart(charts.utilization_heatmap(heat, timezone=sel.timezone))
        left, right = st.columns(2)
        dimensions: tuple[tuple[Any, capacity.Dimension], ...] = ((left, "service"), (right, "resource"))
        for col, dim in dimensions:
            with col:
                st.subheader(f"By {dim}")
                st.plotly_chart(
                    charts.utilization_bars(data.query(capacity.utilization_by, sel.scope, dim), dimension=dim)
                )
    _to_contact(sel)


filters.page("Capacity utilization", render)
