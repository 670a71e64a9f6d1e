"""Audit log: filter by booking, actor, action, channel and time; a booking's timeline with before/after diffs;
the state of the business's audit hash chain."""

from __future__ import annotations

import uuid

import pandas as pd
import streamlit as st
from dashboard.views import timeline_diffs

from booking_core.domain.errors import InvalidInput
from booking_core.reports import audit
from booking_core.reports.audit import AuditFilter
from dashboard import data, filters

ACTOR_TYPES = ("", "customer", "admin", "system", "database")
CHANNELS = ("", "api", "ui", "cli", "batch", "sql")


def _booking_param(sel: filters.Selection) -> pd.Series | None:
    """The booking the URL or the box names (its reference as shown, or its full id), resolved in the business."""
    raw = st.text_input(
        "Booking", value=st.query_params.get("booking", ""), placeholder="7F3A-91C2", key="a_booking"
    ).strip()
    if not raw:
        st.query_params.pop("booking", None)
        return None
    try:
        found = data.query(audit.find_bookings, sel.scope.business_id, raw)
    except InvalidInput as exc:
        st.warning(f"{exc}: showing every booking.")
        return None
    st.query_params["booking"] = raw
    if found.empty:
        st.warning(f"{sel.name} has no booking {raw}: showing every booking.")
        return None
    if len(found) > 1:  # a reference is short: more than one booking can carry it
        labels = {r.booking_id: f"{r.booking} · {r.customer} · {r.slot} ({r.status})" for r in found.itertuples()}
        chosen = st.selectbox(
            f"{len(found)} bookings carry {raw}", list(labels), format_func=labels.__getitem__, key="a_which"
        )
        return found.loc[found["booking_id"] == chosen].iloc[0]
    return found.iloc[0]


def _filter(sel: filters.Selection) -> tuple[AuditFilter, pd.Series | None]:
    cols = st.columns([3, 2, 2, 2, 2])
    with cols[0]:
        booking = _booking_param(sel)
    actor_type = cols[1].selectbox("Actor type", ACTOR_TYPES, format_func=lambda a: a or "any", key="a_type")
    actor_id = cols[2].text_input("Actor", placeholder="customer name or admin id", key="a_actor").strip()
    action = cols[3].text_input("Action starts with", placeholder="booking.status", key="a_action").strip()
    channel = cols[4].selectbox("Channel", CHANNELS, format_func=lambda c: c or "any", key="a_channel")
    where = AuditFilter(
        booking_id=None if booking is None else uuid.UUID(booking["booking_id"]),
        actor_type=actor_type or None,
        actor_id=actor_id or None,
        action=action or None,
        channel=channel or None,
    )
    return where, booking


def _timeline(sel: filters.Selection, booking: pd.Series) -> None:
    st.subheader(f"Timeline of booking {booking['booking']}")
    st.caption(f"{booking['customer']} · slot {booking['slot']} ({sel.timezone}) · now {booking['status']}")
    filters.record_customers(sel, "audit timeline", booking.to_frame().T)
    booking_id = uuid.UUID(booking["booking_id"])
    timeline = data.query(audit.booking_timeline, sel.scope.business_id, booking_id)
    if timeline.empty:
        st.info("This business has no audit rows for that booking.")
        return
    diffs = timeline_diffs(timeline, data.query(audit.timeline_names, sel.scope.business_id, booking_id))
    st.metric("Changes recorded", f"{len(timeline):,}")
    st.dataframe(diffs, hide_index=True, column_config={"when": f"when ({sel.timezone})"})


def _chain(sel: filters.Selection) -> None:
    st.subheader("Audit hash chain")
    # Walking the chain reads every sealed row, so it runs when asked, not on every visit.
    if not st.button("Verify the chain", key="a_verify"):
        st.caption("Verification walks every sealed audit row of the business.")
        return
    state = data.query(audit.audit_chain_state, sel.scope.business_id)
    cols = st.columns(3)
    cols[0].metric("Links", f"{state.links:,}")
    cols[1].metric("Unsealed rows", f"{state.unsealed:,}")
    cols[2].metric("Chain", "intact" if state.first_bad_seq is None else "BROKEN")
    if state.first_bad_seq is not None:
        st.error(f"Broken at link {state.first_bad_seq}: {state.problem}")


def render(sel: filters.Selection) -> None:
    where, booking = _filter(sel)
    if booking is not None:
        _timeline(sel, booking)
    rows = data.query(audit.audit_log, sel.scope, where)
    st.subheader("Audit rows (newest first, at most 500)")
    if rows.empty:
        st.info("No audit rows match these filters in this date range.")
    else:
        filters.record_customers(sel, "audit", rows)
        st.dataframe(
            filters.with_timeline_links(rows, sel),
            hide_index=True,
            column_config={
                "occurred_local": f"when ({sel.timezone})",
                "timeline": st.column_config.LinkColumn("timeline", display_text="open timeline"),
            },
        )
    _chain(sel)


filters.page("Audit log", render)
